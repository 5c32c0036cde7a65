"""LAFA at chosen lambdas on a slice of a case's texts (by default the paper's aggregation past ``lafa
tune``'s grid, 0.1, 0.44, 1): exploratory, for deciding whether the tuner should extend a grid at its
open edge, or how a pick's gains and losses move with lambda (``--aggregation normalized``).

    python evaluation/paper_lambda.py --data-dir ../shared/data --case webnlg --texts 0:80 \
        --base integrated_grad_pad_mask --layer 1 --kernel laplacian --neighbors 20 --lams 1 3 10 30

Eq. 7 divides each neighbor's scores by its length and by the neighbor count, so lambda * E(w) is
small next to a token's own score at the paper's lambdas; where the tuner picks its largest lambda,
the best one may lie beyond. Per lambda: the objective ``all_four`` and LAFA minus its base on each
metric (positive = better, mean and 1.96 standard errors). Uses the case's cached model and index
(``prepare_case``); the base method's reference scores are computed as the neighbors need them and
shared between lambdas. Prints; nothing is written.
"""

from __future__ import annotations

import argparse
import warnings
from types import SimpleNamespace

import numpy as np
import torch

from lafa_pipeline.build.default_model import lafa_home
from lafa_pipeline.faithfulness.evaluate import evaluate_explainer
from lafa_pipeline.faithfulness.tune import METRIC_SIGNS, OBJECTIVES
from lafa_pipeline.feature_attribution import FeatureAttributionPipeline
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.paper.evaluation import RunSizes, prepare_case


def all_four(per_text: dict[str, list[float]]) -> np.ndarray:
    """``lafa tune``'s default objective per text (its formula reads the metrics as attributes: here arrays)."""
    return OBJECTIVES["all_four"](SimpleNamespace(**{k: np.asarray(v) for k, v in per_text.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with sst/, sst2/, webnlg/, nyt/")
    parser.add_argument("--case", default="webnlg", help="sst, webnlg, nyt or laptops")
    parser.add_argument("--texts", default="0:80", help="test texts start:stop, in the case's order")
    parser.add_argument("--base", default="integrated_grad_pad_mask", help="LAFA's base method")
    parser.add_argument("--layer", type=int, default=1, help="hidden layer the neighbors are searched at")
    parser.add_argument("--kernel", default="laplacian")
    parser.add_argument("--neighbors", type=int, default=20)
    parser.add_argument("--aggregation", default="paper", help="paper, normalized or median")
    parser.add_argument("--weighting", default="uniform", help="neighbor weighting of the mixing aggregations")
    parser.add_argument("--lams", type=float, nargs="+", default=[1.0, 3.0, 10.0, 30.0])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    start, stop = (int(v) for v in args.texts.split(":"))
    prepared = prepare_case(args.case, args.data_dir, RunSizes(), lafa_home() / "evaluation", show_progress=False)
    texts = prepared.case.texts_in_order[start:stop]
    index = prepared.index
    if args.layer != index.config.layer:
        index = index.at_layers(prepared.model, [args.layer], show_progress=False)[args.layer]
    config = index.config.replace(
        base_method=args.base,
        aggregation=args.aggregation,
        layer=args.layer,
        kernel=args.kernel,
        n_neighbors=args.neighbors,
        neighbor_scale="none",
        neighbor_weighting=args.weighting,
    )
    index = index.for_base_method(config)
    explainer = FeatureAttributionPipeline(model=prepared.model, tokenizer=prepared.tokenizer, index=index)
    base: dict[str, list[float]] | None = None
    for lam in args.lams:
        setting = config.replace(lam=lam)
        explainer.index, explainer.lafa_config, index.config = index, setting, setting
        explainer.lafa = Lafa(explainer.model, index, setting)
        report = evaluate_explainer(
            explainer, texts, methods=["lafa"] + ([args.base] if base is None else []), show_progress=False
        )
        base = base or report.per_text[args.base]
        lafa = report.per_text["lafa"]
        parts = []
        for metric, sign in METRIC_SIGNS.items():
            diff = sign * (np.asarray(lafa[metric]) - np.asarray(base[metric]))
            parts.append(f"{metric} {diff.mean():+.4f} ± {1.96 * diff.std(ddof=1) / np.sqrt(len(diff)):.4f}")
        objective = f"all_four {all_four(lafa).mean():.4f} (base {all_four(base).mean():.4f})"
        print(f"lambda {lam:g}: {objective}; " + "; ".join(parts), flush=True)


if __name__ == "__main__":
    main()
