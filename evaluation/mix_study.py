"""Does the way LAFA mixes a text's own scores with its neighbors' decide its faithfulness split?

    python evaluation/mix_study.py --data-dir ../shared/data [--case sst] [--first 120] [--texts 120]

On SST, ``lafa tune`` picks LAFA on occlusion with the normalized (additive) mix, and LAFA gains on
deletion and comprehensiveness while it tends to lose on insertion and sufficiency
(``evaluation/case_check.md``). An additive mix ``(1 - lambda) * own + lambda * E`` can raise a word the
model ignores in *this* text (own score near 0) because like words mattered in the neighbors, and
insertion and sufficiency reward exactly the words that move this text. The geometric mix
``own^(1 - lambda) * E^lambda`` (relative units, as ``normalized``) cannot: a word with no own effect
stays at zero, and the neighbors only re-rank words the text itself already marks. This script
registers the geometric mix as a trial aggregation (it is not in the library: it did not help, see
``evaluation/mix_study.md``), measures both mixes at each lambda against the base method alone on
texts outside the case check's tuning and held-out sets, with the other settings as ``lafa tune``
chose them there, and writes ``evaluation/mix_study.md``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from lafa_pipeline.aggregation import AGGREGATION_REGISTRY, Aggregation, normalized_lafa
from lafa_pipeline.build.default_model import lafa_home
from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string
from lafa_pipeline.faithfulness.metrics import paired
from lafa_pipeline.faithfulness.tune import METRIC_SIGNS, _indexes_by_base, faithfulness_values, prepare_texts
from lafa_pipeline.feature_attribution import FeatureAttributionPipeline
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.paper.evaluation import RunSizes, prepare_case

HERE = Path(__file__).resolve().parent
METRICS = METRIC_SIGNS  # oriented so that positive = better, as the metric guard reads them
LAMBDAS = (0.1, 0.25, 0.5, 0.75, 1.0)


def geometric(own, query_ids, query_embeds, neighbors, embed, kernel, kernel_params, lam, weights, counted, _scale):
    """own^(1 - lambda) * E^lambda in the text's units: E is normalized LAFA at lambda = 1 (the kernel mean
    of like tokens' relative scores, back in the text's units, whose unit cancels between the two powers);
    tokens without kernel mass and special tokens keep their own scores, as in ``normalized``."""
    if lam == 0:
        return own.detach().clone()
    expected = normalized_lafa(
        own, query_ids, query_embeds, neighbors, embed, kernel, kernel_params, 1.0, weights, counted
    )
    return own.detach().clamp(min=0) ** (1 - lam) * expected.clamp(min=0) ** lam


AGGREGATION_REGISTRY.register(
    "geometric", Aggregation(geometric, (0.0, 1.0), "the neighbors' share of a geometric mix")
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--case", default="sst")
    parser.add_argument("--first", type=int, default=120, help="first test text (the case check uses 0..119)")
    parser.add_argument("--texts", type=int, default=120)
    parser.add_argument("--aggregations", default="normalized,geometric")
    parser.add_argument("--cache-dir", help="fine-tuned models and indexes (default $LAFA_HOME/evaluation)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    cache = Path(args.cache_dir) if args.cache_dir else lafa_home() / "evaluation"
    settings = json.loads((HERE / "case_check.json").read_text())[args.case]["settings"]
    prepared = prepare_case(args.case, args.data_dir, RunSizes(), cache, show_progress=True)
    texts = prepared.case.texts_in_order[args.first : args.first + args.texts]
    explainer = FeatureAttributionPipeline(model=prepared.model, tokenizer=prepared.tokenizer, index=prepared.index)
    start = explainer.lafa_config
    base = settings["base_method"]
    bases = [start.base_method] + ([base] if base != start.base_method else [])
    by_base = _indexes_by_base(explainer, bases, [settings["layer"]], show_progress=True)
    items = prepare_texts(explainer, texts, show_progress=True)
    predict = Predictor(explainer.model, explainer.tokenizer, max_length=explainer.max_length)
    mask = mask_string(explainer.tokenizer)
    config = start.replace(**{k: v for k, v in settings.items() if k != "quantile"})

    def metrics(cfg) -> dict[str, np.ndarray]:
        found = faithfulness_values(explainer, by_base[base], cfg, items, predict, mask, steps=10)
        return {m: np.asarray([sign * getattr(f, m) for f in found]) for m, sign in METRICS.items()}

    alone = metrics(config.replace(lam=0.0))
    rows = []
    for aggregation in args.aggregations.split(","):
        for lam in LAMBDAS:
            values = metrics(config.replace(aggregation=aggregation, lam=lam))
            row = {"aggregation": aggregation, "lam": lam}
            for m in METRICS:
                row[m] = paired(list(values[m]), list(alone[m]))
            rows.append(row)
            print(aggregation, lam, {m: round(row[m]["mean_diff"], 4) for m in METRICS}, flush=True)
    shown = ", ".join(f"{k} {v}" for k, v in settings.items() if k not in ("base_method", "aggregation", "lam"))
    lines = [
        "# Additive or geometric mix: LAFA minus its base alone, per lambda",
        "",
        f"`python evaluation/mix_study.py --data-dir {args.data_dir} --case {args.case} --first {args.first} "
        f"--texts {args.texts}`: {len(items)} {args.case} test texts (not the case check's), LAFA on "
        f"**{base}** with {shown} (``lafa tune``'s pick in `case_check.md`). Differences are oriented so "
        "that positive = LAFA better (deletion and sufficiency flipped), mean and 95 % paired bootstrap CI.",
        "",
        "| aggregation | lambda | " + " | ".join(METRICS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in METRICS) + " |",
    ]
    for row in rows:
        cells = [f"{row[m]['mean_diff']:+.4f} [{row[m]['ci95'][0]:+.4f}, {row[m]['ci95'][1]:+.4f}]" for m in METRICS]
        lines.append(f"| {row['aggregation']} | {row['lam']} | " + " | ".join(cells) + " |")
    atomic_write_text(HERE / "mix_study.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
