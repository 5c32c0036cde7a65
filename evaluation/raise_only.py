"""Exploratory: does a "raise-only" mix keep LAFA's deletion and comprehensiveness gains without its
insertion and sufficiency losses?

Hypothesis (from NYT and laptops, ``case_check.md``): the mix demotes some of the text's own top
words towards what like words score in the neighbors, and insertion and sufficiency, which read the
top words first, pay for it. The raise-only mix moves a token only upwards::

    raise_only = own + lambda * max(0, E - own)        (E: the normalized aggregation's estimate)

so no token falls below its own score. Each setting ``AGGREGATION:LAMBDA`` is measured on the same
texts; printed: every setting minus the base method, and minus the first setting (positive = better,
mean and 1.96 standard errors). Nothing is written.

Result (NYT, the command below; the case has 50 texts there): the hypothesis does not hold. At
matched gains (raise-only at lambda .5 against the normalized mix at .25) insertion is lost as much
(difference -.0005 +- .0035), so the mix was not made a library aggregation (``docs/results.md``).

    python evaluation/raise_only.py --data-dir ../shared/data --case nyt --texts 200:360 \
        --base integrated_grad_mask --layer 5 --kernel cubic --neighbors 20 \
        --settings normalized:0.25 raise_only:0.25 raise_only:0.5 raise_only:1
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings

import numpy as np
import torch

from lafa_pipeline.aggregation import AGGREGATION_REGISTRY
from lafa_pipeline.build.default_model import lafa_home
from lafa_pipeline.faithfulness.evaluate import evaluate_explainer
from lafa_pipeline.faithfulness.tune import METRIC_SIGNS
from lafa_pipeline.feature_attribution import FeatureAttributionPipeline
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.paper.evaluation import RunSizes, prepare_case

_normalized = AGGREGATION_REGISTRY.get("normalized")


def _raise_only(own, *args):
    """The normalized estimate at lambda = 1 (E, with the text's own score where no neighbor has mass),
    then only the part above the token's own score, scaled by lambda (the 7th of ``args``)."""
    args = list(args)
    lam = args[6]
    args[6] = 1.0
    expected = _normalized.combine(own, *args)
    own = own.detach()
    return own + lam * (expected - own).clamp(min=0)


AGGREGATION_REGISTRY.register("raise_only", dataclasses.replace(_normalized, combine=_raise_only))


def _line(name: str, ours: dict[str, list[float]], other: dict[str, list[float]]) -> str:
    parts = []
    for metric, sign in METRIC_SIGNS.items():
        diff = sign * (np.asarray(ours[metric]) - np.asarray(other[metric]))
        parts.append(f"{metric} {diff.mean():+.4f} ± {1.96 * diff.std(ddof=1) / np.sqrt(len(diff)):.4f}")
    return f"  minus {name}: " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with sst/, sst2/, webnlg/, nyt/")
    parser.add_argument("--case", default="nyt", help="sst, webnlg, nyt or laptops")
    parser.add_argument("--texts", default="200:360", help="test texts start:stop, in the case's order")
    parser.add_argument("--base", default="integrated_grad_mask", help="LAFA's base method")
    parser.add_argument("--layer", type=int, default=5, help="hidden layer the neighbors are searched at")
    parser.add_argument("--kernel", default="cubic")
    parser.add_argument("--neighbors", type=int, default=20)
    parser.add_argument("--settings", nargs="+", default=["normalized:0.25", "raise_only:0.25", "raise_only:1"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    start, stop = (int(v) for v in args.texts.split(":"))
    prepared = prepare_case(args.case, args.data_dir, RunSizes(), lafa_home() / "evaluation", show_progress=False)
    texts = prepared.case.texts_in_order[start:stop]
    print(f"{args.case}: texts {start}:{start + len(texts)}", flush=True)
    index = prepared.index
    if args.layer != index.config.layer:
        index = index.at_layers(prepared.model, [args.layer], show_progress=False)[args.layer]
    config = index.config.replace(
        base_method=args.base,
        layer=args.layer,
        kernel=args.kernel,
        n_neighbors=args.neighbors,
        neighbor_scale="none",
        neighbor_weighting="uniform",
    )
    index = index.for_base_method(config)
    explainer = FeatureAttributionPipeline(model=prepared.model, tokenizer=prepared.tokenizer, index=index)
    base: dict[str, list[float]] | None = None
    first: tuple[str, dict[str, list[float]]] | None = None
    for item in args.settings:
        aggregation, lam = item.split(":")
        setting = config.replace(aggregation=aggregation, lam=float(lam))
        explainer.index, explainer.lafa_config, index.config = index, setting, setting
        explainer.lafa = Lafa(explainer.model, index, setting)
        report = evaluate_explainer(
            explainer, texts, methods=["lafa"] + ([args.base] if base is None else []), show_progress=False
        )
        base = base or report.per_text[args.base]
        lafa = report.per_text["lafa"]
        print(item, flush=True)
        print(_line(args.base, lafa, base), flush=True)
        if first is not None:
            print(_line(first[0], lafa, first[1]), flush=True)
        first = first or (item, lafa)


if __name__ == "__main__":
    main()
