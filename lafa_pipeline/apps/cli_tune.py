"""``lafa tune``: choose a LAFA repo's settings on your texts by faithfulness."""

from __future__ import annotations

import argparse
import os

from ..faithfulness.tune import (
    GUARD_Z,
    MAX_BASE_METHODS,
    MAX_TUNING_TOKENS,
    OBJECTIVE,
    OBJECTIVES,
    REFERENCE_BUDGET,
)
from .cli_explain import keep_new_scores
from .cli_inputs import CliError, check_share, load_texts


def cmd_tune(args: argparse.Namespace) -> int:
    """``lafa tune``: tune the repo's settings on --data, then save them (in place, or to --output)."""
    from .. import load_explainer
    from ..build.default_model import default_repo_dir
    from ..faithfulness.tune import tune_explainer

    check_share("--prescore", args.prescore)
    texts, _ = load_texts(args.data, args.text_column, None, args.split, args.limit, args.text_pair_column)
    folder = args.model or str(default_repo_dir())
    if args.output is None and not os.path.isdir(folder):
        raise CliError(f"{folder} is not a local folder: give --output to save the tuned repo")
    explainer = load_explainer(args.model)
    parts = args.layers.split(",")
    layers = [int(x) for x in parts] if all(x.strip().isdigit() for x in parts) else args.layers  # else: an error
    bases = args.base_methods if args.base_methods == "auto" else [b.strip() for b in args.base_methods.split(",")]
    result = tune_explainer(
        explainer,
        texts,
        folds=args.folds,
        holdout=args.holdout,
        layers=layers,
        base_methods=bases,
        rounds=args.rounds,
        steps=args.steps,
        objective=args.objective,
        max_base_methods=args.max_base_methods or None,
        early_stop=not args.full_search,
        every_aggregation_fully=args.full_search,
        max_tokens=args.max_tokens or None,
        reference_budget=args.reference_budget,
        signed=args.signed,
        metric_guard=args.metric_guard,
        guard_z=args.guard_z,
    )
    print(result.summary())
    layer_changed = result.index is not explainer.index  # another layer or base method: new index files
    result.apply(explainer)
    if args.prescore:
        if result.config.lam == 0:  # the base method alone reads no neighbor's scores
            print("--prescore: nothing to score, the pick is a base method alone (lambda 0)")
        elif explainer.index.missing_scores:
            filled = explainer.index.prescore(explainer.model, args.prescore)
            print(
                f"Prescored {filled} reference scores with {result.config.base_method} (the {args.prescore:.0%} "
                "most often a reference's neighbor)"
            )
        else:
            print(f"--prescore: the index holds every reference score of {result.config.base_method} already")
    if args.output or layer_changed:  # a new layer means new index files: the whole repo is rewritten
        explainer.save_pretrained(args.output or folder)
        print(f"Saved the tuned repo to {args.output or folder}")
    else:
        from ..feature_attribution import render_model_card
        from ..files import atomic_write_text

        result.config.save(folder)
        keep_new_scores(explainer)  # the repo's own index: the scores the tuning and --prescore made
        card = render_model_card(explainer)
        if card is not None:
            atomic_write_text(os.path.join(folder, "README.md"), card)
        print(f"Wrote the tuned settings to {os.path.join(folder, 'lafa_config.json')} and its model card")
    return 0


def add_tune(sub: argparse._SubParsersAction) -> None:
    """The ``lafa tune`` subcommand."""
    p = sub.add_parser(
        "tune",
        help="choose a LAFA repo's aggregation settings on your texts by faithfulness "
        "(no gold needed); lambda = 0, the base method alone, is always a candidate",
    )
    p.add_argument(
        "--data",
        required=True,
        help=".txt/.csv/.tsv/.json/.jsonl file or a datasets id (texts like "
        "those you will explain; a few hundred take minutes on a CPU)",
    )
    p.add_argument(
        "--model", help="LAFA repo folder (tuned in place) or Hub id (needs --output); default: the embedded default"
    )
    p.add_argument("--output", help="save the tuned repo here instead of updating the model folder in place")
    p.add_argument("--text-column", default="text", help="column holding the texts")
    p.add_argument(
        "--text-pair-column", help="a second text column: tune on text pairs (text, text_pair), as NLI models take them"
    )
    p.add_argument("--split", default="train", help="dataset split, for a datasets id")
    p.add_argument("--limit", type=int, default=300, help="use only the first N texts")
    _add_search_options(p)
    _add_choice_options(p)
    p.set_defaults(func=cmd_tune)


def _add_search_options(p: argparse.ArgumentParser) -> None:
    """What ``lafa tune`` searches and checks: folds, layers, base methods and the budgets that bound them."""
    p.add_argument(
        "--folds",
        type=int,
        help="cross-validate the tuning over this many folds and keep the base "
        "method alone unless it gains on texts it did not see (default 3; "
        "0: no check; skipped when the pick is a base method alone, unless --full-search)",
    )
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        help="instead of --folds: share of the texts kept out of tuning for that check (e.g. 0.3)",
    )
    p.add_argument(
        "--layers",
        default="auto",
        help="hidden layers to compare for the neighbor search, e.g. "
        "0,2,4 (0 = embedding output); 'auto' (default): every layer "
        "up to 50,000 references, else the repo's own",
    )
    p.add_argument(
        "--base-methods",
        default="auto",
        help="base methods LAFA may smooth, e.g. smooth_grad,integrated_grad (each is also tried alone); "
        "'auto' (default): the gradient methods and occlusion; a new one's reference scores are computed as "
        "needed and saved with the repo",
    )
    p.add_argument(
        "--max-base-methods",
        type=int,
        default=MAX_BASE_METHODS,
        help="search LAFA's settings on only this many base methods, the best alone (default "
        f"{MAX_BASE_METHODS}; 0: all): each needs its scores of the texts' neighbors",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=MAX_TUNING_TOKENS,
        help=f"tune on a seeded sample of the texts that fits in this many tokens (default {MAX_TUNING_TOKENS}, "
        "about 170 short sentences; 0: every text): the run's cost grows with the tokens tuned on",
    )
    p.add_argument(
        "--reference-budget",
        type=float,
        default=REFERENCE_BUDGET,
        help="search LAFA on a base method the index has no scores of only if scoring with it the references "
        "the search can read (the tuning texts' nearest ones at every layer searched) is estimated to cost "
        f"at most this many tokens of model work (default {REFERENCE_BUDGET:.0e}, "
        "about 15 minutes on 2 CPU cores, for each base searched; 'inf': no limit); every base method alone "
        "is compared anyway",
    )


def _add_choice_options(p: argparse.ArgumentParser) -> None:
    """How ``lafa tune`` scores and picks a setting, and what it fills in the tuned repo."""
    p.add_argument(
        "--prescore",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="when the tuned repo's index lacks reference scores (a base method it had none of, or a lazy "
        "index): score now this share (0-1) of those queries will need most (as `lafa build --lazy "
        "--prescore`), so that the first explanations do not pay for them; the tuning scored only those its "
        "search read",
    )
    p.add_argument(
        "--objective",
        default=OBJECTIVE,
        choices=tuple(OBJECTIVES),
        help=f"what is maximised per text (default {OBJECTIVE}; all_four: the mean of insertion - deletion "
        "and comprehensiveness - sufficiency)",
    )
    p.add_argument(
        "--full-search",
        action="store_true",
        help="score every candidate on every text, search every aggregation over every setting and always "
        "cross-validate (default: drop a candidate once it is clearly behind; aggregations after the repo's "
        "start from the best setting; no folds when the pick is a base method alone)",
    )
    p.add_argument(
        "--signed",
        action=argparse.BooleanOptionalAction,
        help="tune the scores signed=True gives (lafa explain --signed): the metrics mask the words that push "
        "towards the explained class first; base methods without a direction are measured by magnitude; the "
        "tuned repo then explains signed by default (default: as the repo explains now)",
    )
    p.add_argument(
        "--metric-guard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="choose a LAFA setting only if on the tuning texts it is not clearly below (--guard-z standard errors) "
        "the best base method alone on any of deletion, insertion, comprehensiveness and sufficiency, not only "
        "better on the objective, and keep it only if the cross-validated check finds no such loss either",
    )
    p.add_argument(
        "--guard-z",
        type=float,
        default=GUARD_Z,
        help=f"how many standard errors below zero a metric's mean difference must be for the guard to refuse "
        f"(default {GUARD_Z:g}; smaller refuses smaller losses, and more settings)",
    )
    p.add_argument("--rounds", type=int, default=2, help="coordinate-ascent rounds")
    p.add_argument("--steps", type=int, default=10, help="masking steps of the deletion/insertion curves")
