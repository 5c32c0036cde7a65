"""IntegratedGrad from one token baseline or from both: each of ``integrated_grad_pad``,
``integrated_grad_mask``, ``integrated_grad_pad_mask`` (the mean of the two paths) and the zero
baseline, alone (no LAFA), on a slice of a case's test texts, with paired CIs of the two-baseline
method against each single one.

    python evaluation/ig_baselines.py --data-dir ../shared/data --case webnlg --texts 80:250

Uses the case's model and index from ``prepare_case``'s cache (fine-tuned on first use). Prints a
Markdown table and the comparisons; nothing is written.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

from lafa_pipeline.build.default_model import lafa_home
from lafa_pipeline.faithfulness.evaluate import evaluate_explainer
from lafa_pipeline.faithfulness.tune import METRIC_SIGNS
from lafa_pipeline.feature_attribution import FeatureAttributionPipeline
from lafa_pipeline.paper.evaluation import RunSizes, prepare_case

METHODS = ("integrated_grad_pad", "integrated_grad_mask", "integrated_grad_pad_mask", "integrated_grad")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with sst/, sst2/, webnlg/, nyt/")
    parser.add_argument("--case", default="webnlg", help="sst, webnlg, nyt or laptops")
    parser.add_argument("--texts", default="80:250", help="test texts start:stop, in the case's order")
    parser.add_argument("--cache-dir", help="fine-tuned models and indexes (default $LAFA_HOME/evaluation)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    start, stop = (int(v) for v in args.texts.split(":"))
    cache = Path(args.cache_dir) if args.cache_dir else lafa_home() / "evaluation"
    prepared = prepare_case(args.case, args.data_dir, RunSizes(), cache, show_progress=True)
    explainer = FeatureAttributionPipeline(model=prepared.model, tokenizer=prepared.tokenizer, index=prepared.index)
    report = evaluate_explainer(explainer, prepared.case.texts_in_order[start:stop], methods=list(METHODS))
    print(report.table())
    print("\n| integrated_grad_pad_mask minus | metric | mean (positive = better) | 95 % CI |")
    print("| --- | --- | --- | --- |")
    for single in METHODS[:2]:
        for metric in METRIC_SIGNS:
            c = report.compare("integrated_grad_pad_mask", single, metric)
            print(f"| {single} | {metric} | {c['mean_diff']:+.4f} | [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}] |")


if __name__ == "__main__":
    main()
