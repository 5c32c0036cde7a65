"""How the embedded default's neighbors' share trades faithfulness to the model against agreement with people.

    python evaluation/lambda_check.py [--start 60] [--texts 240] [--lams 0.1 0.25 0.5 0.75 1]
        [--neighbors 10 20] [--data-dir ../shared/data]

LAFA mixes a text's own scores with its neighbors' (lambda: their share; ``n_neighbors``: how many).
For each lambda and neighbor count, this measures LAFA minus occlusion (the default's base) on the
four faithfulness metrics (paired, 95 % bootstrap CI; positive = LAFA better, deletion and
sufficiency flipped), and with ``--data-dir`` the per-sentence Pearson with the PTB gold word scores,
next to the two base methods closest to the gold (occlusion, IntegratedGrad [PAD]).

Texts: shipped SST-2 dev sentences ``--start`` .. ``--start + --texts``; the default 60 .. 300 skips
the default's tuning texts (0 .. 60, ``default_tune.py``) and its held-out checks (300 on,
``default_check.py``). Gold: SST test sentences 300 .. 600 outside the objective study's sample, after
the 300 that ``default_check.py`` holds out. Writes ``evaluation/lambda_check.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from default_check import ci_text, gold_agreement, gold_trees, open_default  # evaluation/ is first on sys.path

from lafa_pipeline import evaluate_explainer
from lafa_pipeline.faithfulness.metrics import paired
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.metric_registry import METRIC_REGISTRY

METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")
GOLD_BASES = ("occlusion", "integrated_grad_pad")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=60)
    parser.add_argument("--texts", type=int, default=240)
    parser.add_argument("--lams", type=float, nargs="+", default=[0.1, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--neighbors", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--data-dir", help="folder with sst/test.txt (the gold columns)")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "lambda_check.md"))
    args = parser.parse_args()
    start = time.perf_counter()
    explainer, texts = open_default(args.start, args.texts)
    cfg = explainer.lafa_config
    settings = [(lam, k) for k in args.neighbors for lam in args.lams]
    occlusion = evaluate_explainer(explainer, texts, methods=["occlusion"]).per_text["occlusion"]
    # The lazy index keeps the neighbors' occlusion scores from one setting to the next.
    lafa = {
        (lam, k): evaluate_explainer(explainer, texts, methods=["lafa"], lam=lam, n_neighbors=k).per_text["lafa"]
        for lam, k in settings
    }
    gold: dict = {}
    if args.data_dir:
        rest = gold_trees(args.data_dir, 300, 300)  # after the 300 default_check.py holds out
        gold = {m: gold_agreement(explainer, rest, method=m) for m in GOLD_BASES}
        gold.update(
            {(lam, k): gold_agreement(explainer, rest, method="lafa", lam=lam, n_neighbors=k) for lam, k in settings}
        )
    name = {s: f"LAFA, lambda {s[0]:g}, {s[1]} neighbors" for s in settings}
    command = shlex.join(["python", "evaluation/lambda_check.py", *sys.argv[1:]])
    lines = [
        "# The neighbors' share against faithfulness and gold: the default's LAFA minus occlusion",
        "",
        f"`{command}` ({time.perf_counter() - start:.0f} s, 2 CPU threads). The default's settings otherwise (layer "
        f"{cfg.layer}, {cfg.aggregation}, {cfg.kernel}, {cfg.neighbor_weighting} weighting; its own are lambda "
        f"{cfg.lam:g}, {cfg.n_neighbors} neighbors); {len(texts)} shipped SST-2 dev sentences from {args.start}. "
        "Means, then LAFA minus occlusion with 95 % bootstrap CIs (positive = LAFA better; deletion and "
        "sufficiency flipped).",
        "",
        "| method | " + " | ".join(METRICS) + " |",
        "| --- |" + " ---: |" * len(METRICS),
        "| occlusion | " + " | ".join(f"{np.mean(occlusion[m]):.4f}" for m in METRICS) + " |",
    ]
    for s, values in lafa.items():
        lines.append(f"| {name[s]} | " + " | ".join(f"{np.mean(values[m]):.4f}" for m in METRICS) + " |")
    lines += ["", "| LAFA minus occlusion | " + " | ".join(METRICS) + " |", "| --- |" + " --- |" * len(METRICS)]
    for s, values in lafa.items():
        cells = []
        for metric in METRICS:
            sign = METRIC_REGISTRY.get(metric).sign
            cells.append(ci_text(paired(sign * np.asarray(values[metric]), sign * np.asarray(occlusion[metric]))))
        lines.append(f"| {name[s]} | " + " | ".join(cells) + " |")
    if gold:
        lines += [
            "",
            f"Gold: per-sentence Pearson with the PTB word scores on {len(rest)} SST test sentences (300 .. 600 "
            "outside the objective study's sample).",
            "",
            "| method | Pearson | " + " | ".join(f"minus {m}" for m in GOLD_BASES) + " |",
            "| --- | ---: |" + " --- |" * len(GOLD_BASES),
        ]
        for key, values in gold.items():
            label = name.get(key, key)
            cells = ["" if key == m else ci_text(paired(values, gold[m])) for m in GOLD_BASES]
            lines.append(f"| {label} | {np.nanmean(values):.4f} | " + " | ".join(cells) + " |")
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
