"""Issue 24's check on the embedded default: `lafa tune` with the base method among its settings, then
faithfulness on held-out SST-2 dev sentences against every base method compared, with 95 % CIs.

    python evaluation/tune_bases.py [--tune 40] [--held 120] [--bases smooth_grad,integrated_grad,occlusion]

Tunes on the first ``--tune`` shipped SST-2 dev sentences (no gold, one pass, no folds: the held-out
sentences are the check), explains sentences 100 .. 100 + ``--held`` with the tuned LAFA and with each
base alone, and prints the metrics table and LAFA minus each base (positive = LAFA better).
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from lafa_pipeline import evaluate_explainer, load_explainer, tune_explainer
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv

METRICS = ("insertion_minus_deletion", "deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", type=int, default=40, help="tuning sentences (the first of the dev file)")
    parser.add_argument("--held", type=int, default=120, help="held-out sentences (from the 101st on)")
    parser.add_argument("--bases", default="smooth_grad,integrated_grad,occlusion", help="base methods to tune over")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    dev = read_tsv(DEV_FILE)[0]
    tune_texts, held = dev[: args.tune], dev[100 : 100 + args.held]
    bases = args.bases.split(",")
    explainer = load_explainer()
    start = time.perf_counter()
    result = tune_explainer(
        explainer,
        tune_texts,
        folds=0,
        layers=[explainer.lafa_config.layer],
        rounds=1,
        steps=10,
        base_methods=bases,
        show_progress=False,
    )
    print(result.summary(), f"\ntuned in {time.perf_counter() - start:.0f} s", flush=True)
    result.apply(explainer)
    report = evaluate_explainer(explainer, held, methods=["lafa", *bases], show_progress=False)
    print(report.table())
    for other in bases:
        for metric in METRICS:
            c = report.compare("lafa", other, metric)
            print(f"lafa - {other} {metric}: {c['mean_diff']:+.4f} [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]")


if __name__ == "__main__":
    main()
