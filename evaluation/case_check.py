"""Issue 24's per-case verdict: on each case of the evaluation, LAFA as ``lafa tune`` sets it (no gold)
against the best other method on every faithfulness metric, on texts the tuning did not see.

    python evaluation/case_check.py --data-dir ../shared/data [--cases laptops,webnlg,nyt,sst] [--tune 50] [--held 100]

The full ``lafa evaluate`` run does this too (its ``faithfulness`` section) after scoring every method
on every query against the gold, which takes about three hours of two cores; this script keeps only
the faithfulness part. Per case it fine-tunes the case's model and indexes its references exactly as
``lafa evaluate`` does (``prepare_case``, sharing its cache), runs ``lafa tune`` with its defaults on the
first ``--tune`` test texts, and measures every method on the next ``--held``. Sequential IntegratedGrad
is left out: at ``steps`` gradients per word it took over ten seconds a text here, more than every other
method together (``lafa evaluate --methods sequential_integrated_grad`` measures it). Cases are written
as they finish, to ``evaluation/case_check.md`` and ``.json`` (``--signed``: ``case_check_signed``, every method
with a direction tuned and measured by its signed scores); ``--keep sst`` takes a case from that
``.json`` instead of running it again (a long run stopped part way, or a change that cannot alter
that case's search).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lafa_pipeline.build.default_model import lafa_home
from lafa_pipeline.card import verdict
from lafa_pipeline.faithfulness.evaluate import method_names
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.paper.evaluation import faithfulness_check
from lafa_pipeline.paper.prepare import prepare_case
from lafa_pipeline.paper.specs import RunSizes
from lafa_pipeline.paper.tuning import settings_of, tune_without_gold

METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")
LEFT_OUT = ("lafa", "sequential_integrated_grad")
HERE = Path(__file__).resolve().parent


def check_case(
    name: str, data_dir: str, tune: int, held: int, cache: Path, sizes: RunSizes, signed: bool = False
) -> dict:
    """``lafa tune`` on the first ``tune`` test texts of case ``name``, every method on the next ``held``
    (``signed``: tuned and measured with signed scores where a method has a direction)."""
    started = time.perf_counter()
    prepared = prepare_case(name, data_dir, sizes, cache, show_progress=True)
    texts = prepared.case.texts_in_order
    if len(texts) < tune + 2:
        raise ValueError(f"Case {name!r} has {len(texts)} test texts, too few for --tune {tune}")
    prepare_seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    tuned = tune_without_gold(
        prepared.model,
        prepared.tokenizer,
        prepared.index,
        texts[:tune],
        show_progress=True,
        rounds=sizes.tune_rounds,
        steps=sizes.tune_steps,
        folds=sizes.tune_folds,
        signed=signed,
    )
    tune_seconds = time.perf_counter() - t0
    others = [m for m in method_names() if m not in LEFT_OUT]
    t0 = time.perf_counter()
    check = faithfulness_check(
        prepared.model,
        prepared.tokenizer,
        tuned,
        texts[tune : tune + held],
        show_progress=True,
        methods=others,
        signed=signed,
    )
    return {
        "case": name,
        "code": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip(),
        "quality": prepared.quality,
        "settings": settings_of(tuned.config),
        "tuning": tuned.config.tuning,
        "tune_texts": tune,
        "seconds": {
            "prepare": round(prepare_seconds, 1),
            "tune": round(tune_seconds, 1),
            "check": round(time.perf_counter() - t0, 1),
        },
        **check,
    }


def case_lines(result: dict) -> list[str]:
    s = result["settings"]
    lines = [
        f"## {result['case']}",
        "",
        f"Model quality: {json.dumps(result['quality'])}. `lafa tune` on the first {result['tune_texts']} test "
        f"texts chose LAFA on **{s['base_method']}** ({s['aggregation']}, layer {s['layer']}, {s['kernel']}, "
        f"lambda {s['lam']}, {s['n_neighbors']} neighbors, {s['neighbor_weighting']} weighting); measured on the "
        f"next {result['texts']} texts. Seconds: {json.dumps(result['seconds'])}. Code: commit {result['code']}."
        + (
            f" Signed scores (`--signed`) for {', '.join(result['signed'])}; the others by magnitude."
            if result.get("signed")
            else ""
        ),
        "",
        result["table"],
        "",
        "| metric | best other method | LAFA minus it | verdict | LAFA minus its base |",
        "| --- | --- | --- | --- | --- |",
    ]
    verdicts = []
    for metric in METRICS:
        c = result["comparisons"][metric]
        vs_best, vs_base = c["vs_best"], c["vs_base"]
        v = verdict(*vs_best["ci95"])
        verdicts.append(v)
        lines.append(
            f"| {metric} | {c['best']} | {vs_best['mean_diff']:+.4f} [{vs_best['ci95'][0]:+.4f}, "
            f"{vs_best['ci95'][1]:+.4f}] | {v} | {vs_base['mean_diff']:+.4f} [{vs_base['ci95'][0]:+.4f}, "
            f"{vs_base['ci95'][1]:+.4f}] |"
        )
    met = "worse" not in verdicts and verdicts.count("better") >= 2
    lines += [
        "",
        f"Done-when (no metric worse than the best other method, better on at least two): "
        f"**{'met' if met else 'missed'}** ({', '.join(f'{m} {v}' for m, v in zip(METRICS, verdicts))}).",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with sst/, sst2/, webnlg/, nyt/")
    parser.add_argument("--cases", default="laptops,webnlg,nyt,sst")
    parser.add_argument("--tune", type=int, default=50, help="test texts lafa tune tunes on (the first)")
    parser.add_argument("--held", type=int, default=100, help="held-out test texts after them")
    parser.add_argument(
        "--keep",
        default="",
        help="cases (comma-separated) read from the output's .json, written by an earlier run, instead of run again",
    )
    parser.add_argument("--quick", action="store_true", help="lafa evaluate --quick's sizes (a smoke run)")
    parser.add_argument(
        "--train",
        type=int,
        help="fine-tune the SST and relation models on at most this many training texts (default: all; SST's "
        "67,349 take some two hours on 2 CPU cores, 8,000 about two minutes, as the embedded default)",
    )
    parser.add_argument(
        "--signed",
        action="store_true",
        help="tune and measure signed scores (lafa tune --signed, lafa evaluate --signed) where a method has one",
    )
    parser.add_argument("--cache-dir", help="fine-tuned models and indexes (default $LAFA_HOME/evaluation)")
    parser.add_argument(
        "--output", help="path without suffix for .md and .json (default evaluation/case_check; --signed: _signed)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    cache = Path(args.cache_dir) if args.cache_dir else lafa_home() / "evaluation"
    out = Path(args.output or HERE / ("case_check_signed" if args.signed else "case_check"))
    keep = [c for c in args.keep.split(",") if c]
    kept = json.loads(out.with_suffix(".json").read_text()) if keep else {}
    if missing := [c for c in keep if c not in kept]:
        parser.error(f"--keep {','.join(missing)}: not in {out.with_suffix('.json')} (it has {', '.join(kept)})")
    command = shlex.join(["python", "evaluation/case_check.py", *sys.argv[1:]])
    kept_note = f" (cases {args.keep} from an earlier run, `--keep`)" if args.keep else ""
    names = args.cases.split(",")
    if outside := [c for c in keep if c not in names]:
        # the output holds the cases of --cases only, so a kept case left out of it would be dropped
        parser.error(f"--keep {','.join(outside)}: not among --cases {args.cases}; name kept cases there too")
    # Kept cases are written from the start, so a run stopped part way loses none of them.
    done: dict[str, dict] = {name: kept[name] for name in names if name in keep}
    sizes = RunSizes.quick() if args.quick else RunSizes()
    if args.train:
        sizes = dataclasses.replace(sizes, sst_train=args.train, relation_train=args.train)
    for name in names:
        if name not in done:
            done[name] = check_case(
                name,
                args.data_dir,
                args.tune,
                args.held,
                cache,
                sizes,
                args.signed,
            )
        lines = [
            "# LAFA as `lafa tune` sets it, per evaluation case, against every method",
            "",
            f"`{command}`, 2 CPU threads{kept_note}. "
            "Faithfulness to the model on held-out test texts; "
            "differences are LAFA minus the method, positive = LAFA better (deletion and sufficiency flipped), "
            "95 % paired bootstrap CI. Sequential IntegratedGrad is left out (see the script's docstring).",
            "",
        ]
        results = {n: done[n] for n in names if n in done}  # in --cases order
        for result in results.values():
            lines += case_lines(result)
        atomic_write_text(out.with_suffix(".md"), "\n".join(lines))
        slim = {k: {f: v for f, v in r.items() if f != "per_text"} for k, r in results.items()}
        atomic_write_text(out.with_suffix(".json"), json.dumps(slim, indent=1, default=float) + "\n")
        print("\n".join(case_lines(results[name])), flush=True)
    print(f"mean seconds per case: {np.mean([sum(r['seconds'].values()) for r in results.values()]):.0f}")


if __name__ == "__main__":
    main()
