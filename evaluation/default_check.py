"""Issue 24's check of the embedded default against every base method, on sentences no choice saw.

    python evaluation/default_check.py [--texts 200] [--data-dir ../shared/data] [--no-signed]

Faithfulness (deletion, insertion, comprehensiveness, sufficiency) and seconds per text on shipped SST-2
dev sentences 300 .. 300 + ``--texts`` (the default was tuned on SST test sentences; earlier checks
used dev sentences 0 .. 220), for the default's LAFA and every base method users compare with; with
``--data-dir``, agreement with the gold word scores (per-sentence Pearson, |leaf label - 2| of the PTB
trees) on SST test sentences outside the tuning study's sample. LAFA minus each method, 95 % CIs.
Sequential IntegratedGrad is left out of this run: at `steps` gradients per token it took several
seconds a sentence here, against hundredths for the others (``lafa evaluate --methods
sequential_integrated_grad`` measures it). Writes ``evaluation/default_check.md``, and the differences
with the settings they were measured on to ``lafa_pipeline/data/default_check.json``, which the
default's model card shows (``default_model.held_out_check``), from a run read as the default
explains. Read signed (the default's way since issue 52), every method with a direction is measured by
its signed scores (``evaluate_explainer(signed=True)``), into ``evaluation/default_check_signed.md``;
``--no-signed`` reads every method by magnitude, into ``evaluation/default_check.md``. The gold is read
both ways: magnitudes against |leaf label - 2|, signed scores against leaf label - 2 turned towards
the explained class.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lafa_pipeline import evaluate_explainer, load_explainer
from lafa_pipeline.base_methods import has_direction
from lafa_pipeline.build.default_model import CHECK_FILE, DEV_FILE, read_tsv
from lafa_pipeline.faithfulness.metrics import paired, pearson
from lafa_pipeline.faithfulness.tuning import tuned_fields
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.paper.sst_trees import read_trees
from lafa_pipeline.words import scores_per_word

HELD_OUT_START = 300
"""The first shipped SST-2 dev sentence of the default's held-out checks (this one and ``peer_metrics.py``)."""
METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")
OTHERS = (
    "smooth_grad",
    "input_grad",
    "integrated_grad",
    "integrated_grad_pad",
    "integrated_grad_mask",
    "occlusion",
    "lime",
    "kernel_shap",
)


def open_default(start: int, count: int) -> tuple[Any, list[str]]:
    """The embedded default, as every check of it runs (warnings off, 2 CPU threads), and shipped SST-2
    dev sentences ``start`` .. ``start + count``."""
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    return load_explainer(), read_tsv(DEV_FILE)[0][start : start + count]


def gold_trees(data_dir: str, start: int, count: int) -> list:
    """SST test sentences with PTB word scores, ``start`` .. ``start + count`` of those outside
    ``objective_study.py``'s sample (which chose an earlier default)."""
    trees = read_trees(Path(data_dir) / "sst" / "test.txt")
    studied = {t.text for t in random.Random(0).sample(trees, 300)}
    return [t for t in trees if t.text not in studied][start : start + count]


def gold_agreement(explainer, trees: list, signed: bool = False, **call) -> list[float]:
    """Per-sentence Pearson of the explainer's word scores (``call``: its call arguments) with the gold:
    the magnitudes with |leaf label - 2|, or (``signed``) the signed scores with each word's leaf label
    minus neutral turned towards the explained class (``SstTree.signed_gold``)."""
    values = []
    for t in trees:
        result = explainer(t.text, signed=signed and has_direction(_base(explainer, call)), **call)
        gold = t.signed_gold(result["target"] == "positive") if signed else t.gold
        values.append(pearson(scores_per_word(list(t.spans), result["tokens"]), gold))
    return values


def _base(explainer, call: dict) -> str:
    method = call.get("method", "lafa")
    return explainer.lafa_config.base_method if method == "lafa" else method


def ci_text(c: dict) -> str:
    """A paired difference (``paired``, ``compare``) as "mean [low, high]"."""
    return f"{c['mean_diff']:+.4f} [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--gold-texts", type=int, default=300, help="SST test sentences for the gold check")
    parser.add_argument("--data-dir", help="folder with sst/test.txt (the gold check)")
    parser.add_argument(
        "--signed",
        action=argparse.BooleanOptionalAction,
        help="signed scores for every method with a direction (default: as the default explains)",
    )
    parser.add_argument("--output", help="default: evaluation/default_check_signed.md (--no-signed: default_check.md)")
    parser.add_argument(
        "--check-file",
        help=f"where the model card's record goes (default {CHECK_FILE}, from a run read as the default explains)",
    )
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    start = time.perf_counter()
    explainer, texts = open_default(HELD_OUT_START, args.texts)
    cfg = explainer.lafa_config
    signed = cfg.signed if args.signed is None else args.signed
    output = args.output or str(here / ("default_check_signed.md" if signed else "default_check.md"))
    check_file = args.check_file or (str(CHECK_FILE) if signed == cfg.signed else None)
    others = list(dict.fromkeys([cfg.base_method, *OTHERS]))  # LAFA's own base first, whatever it is
    report = evaluate_explainer(explainer, texts, methods=["lafa", *others], show_progress=False, signed=signed)
    command = shlex.join(["python", "evaluation/default_check.py", *sys.argv[1:]])
    lines = [
        "# The embedded default against every base method",
        "",
        f"`{command}` ({time.perf_counter() - start:.0f} s for the faithfulness part, 2 CPU threads). "
        "The default: LAFA on "
        f"{cfg.base_method} ({cfg.aggregation}, {cfg.kernel}, lambda {cfg.lam}, {cfg.n_neighbors} neighbors, "
        f"{cfg.neighbor_weighting} weighting). {args.texts} shipped SST-2 dev sentences ({HELD_OUT_START} on), "
        "not used by any choice. Differences are LAFA minus the method, positive = LAFA better (deletion and "
        "sufficiency flipped), 95 % bootstrap CI."
        + (f" Signed scores for {', '.join(report.signed)}; the others by magnitude." if signed else ""),
        "",
        report.table(),
        "",
        "| LAFA minus | " + " | ".join(METRICS) + " |",
        "|" + " --- |" * (len(METRICS) + 1),
    ]
    vs: dict[str, dict[str, list[float]]] = {other: {} for other in others}
    for other in others:
        cells = []
        for metric in METRICS:
            c = report.compare("lafa", other, metric)
            vs[other][metric] = [round(c["mean_diff"], 4), *(round(x, 4) for x in c["ci95"])]
            cells.append(ci_text(c))
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    if args.data_dir:
        rest = gold_trees(args.data_dir, 0, args.gold_texts)
        lines += [
            "",
            f"Gold: per-sentence Pearson with the PTB word scores on {len(rest)} SST test sentences outside the "
            "tuning study's sample: by magnitude (|leaf label - 2|, every method's magnitudes) and signed (leaf "
            "label - 2 turned towards the explained class, against the signed scores of every method with a "
            "direction; the others' magnitudes).",
            "",
            "| method | Pearson, magnitude | LAFA minus it | Pearson, signed | LAFA minus it |",
            "| --- | ---: | --- | ---: | --- |",
        ]
        gold = {
            (method, signed): gold_agreement(explainer, rest, signed=signed, method=method)
            for method in ["lafa", *others]
            for signed in (False, True)
        }
        for method in ["lafa", *others]:
            cells = []
            for signed, key in ((False, "gold_pearson"), (True, "gold_pearson_signed")):
                values = gold[(method, signed)]
                c = paired(gold[("lafa", signed)], values)
                cells += [f"{np.nanmean(values):.4f}", "" if method == "lafa" else ci_text(c)]
                if method != "lafa":
                    vs[method][key] = [round(c["mean_diff"], 4), *(round(x, 4) for x in c["ci95"])]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    atomic_write_text(output, "\n".join(lines) + "\n")
    texts_used = f"{args.texts} shipped SST-2 dev sentences {HELD_OUT_START} .. {HELD_OUT_START + args.texts}"
    if args.data_dir:
        texts_used += f" (gold_pearson: {len(rest)} SST test sentences with PTB word scores)"
    record = {
        "texts": texts_used + (", read signed" if signed else ", read by magnitude") + ", evaluation/default_check.py",
        "settings": {k: getattr(cfg, k) for k in tuned_fields()},
        "vs": vs,
    }
    if check_file:
        atomic_write_text(check_file, json.dumps(record, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
