"""How the embedded default's lambda trades LAFA's gain over occlusion between the faithfulness metrics.

    python evaluation/lambda_check.py [--start 0] [--texts 200] [--lams 0.05 0.1 0.15 0.25 0.5 0.75]

The default's LAFA (on occlusion, lambda 0.75 as ``lafa tune`` chose it) is ahead of occlusion alone
on deletion and comprehensiveness and slightly behind it on insertion (``default_check.md``,
``peer_metrics.md``). Lambda weighs the neighbors' scores against the text's own: this measures, per
lambda, LAFA minus occlusion on each metric (paired, 95 % bootstrap CI; positive = LAFA better,
deletion and sufficiency flipped), to see whether some lambda is at least level on every metric.

Texts: shipped SST-2 dev sentences ``--start`` .. ``--start + --texts``. The default's held-out checks
use 300 .. 500; the default 0 .. 200 keeps them out of this comparison, so a lambda picked from it
can still be checked there. Writes ``evaluation/lambda_check.md``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lafa_pipeline import evaluate_explainer, load_explainer
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv
from lafa_pipeline.faithfulness.metrics import HIGHER_IS_BETTER, paired
from lafa_pipeline.files import atomic_write_text

METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--lams", type=float, nargs="+", default=[0.05, 0.1, 0.15, 0.25, 0.5, 0.75])
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "lambda_check.md"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    start = time.perf_counter()
    explainer = load_explainer()
    texts = read_tsv(DEV_FILE)[0][args.start : args.start + args.texts]
    occlusion = evaluate_explainer(explainer, texts, methods=["occlusion"]).per_text["occlusion"]
    # The lazy index keeps the neighbors' occlusion scores from one lambda to the next.
    lafa = {lam: evaluate_explainer(explainer, texts, methods=["lafa"], lam=lam).per_text["lafa"] for lam in args.lams}
    cfg = explainer.lafa_config
    lines = [
        "# Lambda against the faithfulness metrics: the default's LAFA minus occlusion",
        "",
        f"`python evaluation/lambda_check.py --start {args.start} --texts {args.texts} --lams "
        + " ".join(f"{lam:g}" for lam in args.lams)
        + f"` ({time.perf_counter() - start:.0f} s, 2 CPU threads). The default's settings otherwise "
        f"({cfg.aggregation}, {cfg.kernel}, {cfg.n_neighbors} neighbors, {cfg.neighbor_weighting} weighting; "
        f"its lambda is {cfg.lam:g}); {len(texts)} shipped SST-2 dev sentences from {args.start}. Means, then "
        "LAFA minus occlusion with 95 % bootstrap CIs (positive = LAFA better; deletion and sufficiency flipped).",
        "",
        "| method | " + " | ".join(METRICS) + " |",
        "| --- |" + " ---: |" * len(METRICS),
        "| occlusion | " + " | ".join(f"{np.mean(occlusion[m]):.4f}" for m in METRICS) + " |",
    ]
    for lam, values in lafa.items():
        lines.append(f"| LAFA, lambda {lam:g} | " + " | ".join(f"{np.mean(values[m]):.4f}" for m in METRICS) + " |")
    lines += ["", "| LAFA minus occlusion | " + " | ".join(METRICS) + " |", "| --- |" + " --- |" * len(METRICS)]
    for lam, values in lafa.items():
        cells = []
        for metric in METRICS:
            sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
            c = paired(sign * np.asarray(values[metric]), sign * np.asarray(occlusion[metric]))
            cells.append(f"{c['mean_diff']:+.4f} [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]")
        lines.append(f"| lambda {lam:g} | " + " | ".join(cells) + " |")
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
