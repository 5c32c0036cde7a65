"""``lafa tune``: choose a LAFA repo's settings on your texts by faithfulness."""

from __future__ import annotations

import argparse
import os

from ..faithfulness.tuning.options import TuneOptions
from ..metric_registry import names
from .cli_explain import keep_new_scores
from .cli_inputs import CliError, check_share, load_texts
from .options import add_dataclass_arguments, dataclass_kwargs


def cmd_tune(args: argparse.Namespace) -> int:
    """``lafa tune``: tune the repo's settings on --data, then save them (in place, or to --output)."""
    from .. import load_explainer
    from ..build.default_model import default_repo_dir
    from ..faithfulness.tuning import tune_explainer

    check_share("--prescore", args.prescore)
    texts, _ = load_texts(args.data, args.text_column, None, args.split, args.limit, args.text_pair_column)
    folder = args.model or str(default_repo_dir())
    if args.output is None and not os.path.isdir(folder):
        raise CliError(f"{folder} is not a local folder: give --output to save the tuned repo")
    explainer = load_explainer(args.model)
    full = {"early_stop": not args.full_search, "every_aggregation_fully": args.full_search}
    result = tune_explainer(explainer, texts, TuneOptions(**dataclass_kwargs(args, TuneOptions), **full))
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
    add_dataclass_arguments(
        p,
        TuneOptions,
        exclude=("early_stop", "every_aggregation_fully", "show_progress"),
        # read when the parser is built: a metric registered by then is an objective to choose
        overrides={"objective": {"choices": names("faithfulness", objective=True)}},
        group="tuning options (TuneOptions)",
    )
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
        "--full-search",
        action="store_true",
        help="score every candidate on every text, search every aggregation over every setting and always "
        "cross-validate (TuneOptions' early_stop=False, every_aggregation_fully=True)",
    )
    p.set_defaults(func=cmd_tune)
