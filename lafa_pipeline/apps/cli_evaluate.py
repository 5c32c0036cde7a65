"""``lafa evaluate``: the faithfulness of every method on your texts, or the paper's experiments reproduced."""

from __future__ import annotations

import argparse
import functools
import json
import os
from typing import Any

from ..config import METHODS
from .cli_inputs import load_texts


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``lafa evaluate``: measure your texts (--data), or run or report the paper's experiments."""
    if args.data:
        return _evaluate_data(args)
    from ..paper.evaluation import run_evaluation
    from ..paper.report import rewrite_report

    if args.report_only:
        rewrite_report(args.output)
    else:
        run_evaluation(args.data_dir, args.output, cases=args.cases, quick=args.quick, cache_dir=args.cache_dir)
    print(f"Results: {os.path.join(args.output, 'README.md')}")
    return 0


def _rationale(value: Any) -> Any:
    """A rationale cell: a JSON list of per-word values, or the rationale words as text."""
    if isinstance(value, str) and value.strip().startswith("["):
        return json.loads(value)
    return value


def _evaluate_data(args: argparse.Namespace) -> int:
    """Print every method's faithfulness on the texts of --data, and how LAFA compares with its base."""
    from .. import load_explainer
    from ..faithfulness.evaluate import evaluate_explainer

    # load_texts' second column is the rationale here (it reads any one column beside the texts)
    texts, cells = load_texts(
        args.data, args.text_column, args.rationale_column, args.split, args.limit, args.text_pair_column
    )
    explainer = load_explainer(args.model)
    rationales = [_rationale(v) for v in cells] if cells is not None else None
    measure = functools.partial(
        evaluate_explainer, explainer, texts, rationales=rationales, steps=args.steps, batch_size=args.batch_size
    )
    report = measure(methods=args.methods, signed=args.signed)
    print(report.table())
    _print_comparisons(explainer, report)
    readings = {"signed" if report.signed else "magnitude": report.to_dict()}
    if report.signed and args.magnitude_reading:
        # Signed is how the peers read attributions; the paper's magnitudes are the other reading, shown
        # beside it for the methods with a direction (the others were measured by magnitude already).
        magnitudes = measure(methods=report.signed, signed=False)
        print("\nThe same methods read by magnitude (|score|, as the paper reads them):\n")
        print(magnitudes.table())
        _print_comparisons(explainer, magnitudes)
        readings["magnitude"] = magnitudes.to_dict()
    if args.json_output:
        from ..files import atomic_write_text

        record = readings if len(readings) > 1 else next(iter(readings.values()))
        atomic_write_text(args.json_output, json.dumps(record, indent=1) + "\n")
        print(f"Per-text values: {args.json_output}")
    return 0


def _print_comparisons(explainer, report) -> None:
    """LAFA minus its base method and minus the best other method of ``report``, with 95 % CIs."""
    if explainer.index is None or "lafa" not in report.per_text:
        return
    base = explainer.lafa_config.base_method
    others = [m for m in report.per_text if m not in ("lafa", "random")]
    best = max(others, key=lambda m: report.summary[m]["insertion_minus_deletion"].mean, default=None)
    print()
    for other in dict.fromkeys([base, best]):
        if other in report.per_text:
            c = report.compare("lafa", other)
            print(
                f"lafa - {other} (insertion_minus_deletion): {c['mean_diff']:+.4f}, 95 % CI "
                f"[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}], lafa better on {c['wins']:.0%} of {c['n']} texts"
            )


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    """The ``lafa evaluate`` subcommand."""
    from ..paper import CASES

    p = sub.add_parser(
        "evaluate",
        help="measure every method on your texts (--data), or reproduce the paper's experiments (--data-dir)",
    )
    p.add_argument(
        "--data",
        help="your texts: .txt/.csv/.tsv/.json/.jsonl file or a datasets id; prints faithfulness "
        "(deletion, insertion, comprehensiveness, sufficiency) of every method",
    )
    p.add_argument("--model", help="with --data: LAFA repo, folder or Hub id (default: the embedded default)")
    p.add_argument("--text-column", default="text", help="with --data: column holding the texts")
    p.add_argument(
        "--text-pair-column",
        help="with --data: a second text column; each row is measured as the pair (text, text_pair), "
        "words masked within both texts",
    )
    p.add_argument(
        "--rationale-column",
        help="with --data: gold rationale per text (the rationale words, or a JSON "
        "list with one value per word): adds token AUC, AUPRC, Pearson",
    )
    p.add_argument("--methods", nargs="+", choices=METHODS, help="with --data: default every available method")
    p.add_argument("--split", default="train", help="dataset split, for a datasets id")
    p.add_argument("--limit", type=int, help="use only the first N texts")
    p.add_argument("--steps", type=int, default=10, help="masking steps of the deletion/insertion curves")
    p.add_argument("--batch-size", type=int, default=8, help="with --data: texts per explainer call")
    p.add_argument(
        "--signed",
        action=argparse.BooleanOptionalAction,
        help="with --data: measure methods with a direction by their signed scores (the words pushing towards "
        "the explained class masked first, as ferret and Interpreto read signed scores); the others by magnitude "
        "(default: as the repo explains)",
    )
    p.add_argument(
        "--magnitude-reading",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --data, when reading signed: measure the methods with a direction by magnitude too and "
        "print that table beside the signed one (--no-magnitude-reading: signed only; half the time)",
    )
    p.add_argument(
        "--json-output",
        help="with --data: write per-text values and summaries to this JSON file (both readings: under "
        '"signed" and "magnitude")',
    )
    p.add_argument(
        "--data-dir",
        help="paper reproduction: folder with sst/, sst2/, webnlg/exact/, nyt/exact/ "
        "(e.g. ../shared/data); only the laptops case runs without it",
    )
    p.add_argument(
        "--output", default="evaluation", help="paper reproduction: results folder (README.md, results.json, plots)"
    )
    p.add_argument("--cases", nargs="+", choices=CASES, help="paper reproduction: default all")
    p.add_argument(
        "--quick",
        action="store_true",
        help="paper reproduction: a few dozen texts and small training "
        "sets, to check the path from data to tables in minutes",
    )
    p.add_argument(
        "--cache-dir", help="paper reproduction: fine-tuned models and indexes (default: $LAFA_HOME/evaluation)"
    )
    p.add_argument(
        "--report-only", action="store_true", help="paper reproduction: rewrite README.md and plots from results.json"
    )
    p.set_defaults(func=cmd_evaluate)
