"""`lafa tune` variants on the SST case: what each chooses without gold, and what that does to the
agreement with SST's gold word scores on the items outside its tuning texts.

    python evaluation/tune_variants.py --data-dir ../shared/data --cache-dir ~/.cache/lafa_pipeline/evaluation

Uses the SST case's fine-tuned model and index from ``lafa evaluate``'s cache (trained if missing),
the same 1,000 test texts and first 100 tuning texts as the evaluation. Variants: ``current`` (no
check), ``holdout`` (30 % held out, the base kept when the choice loses there), ``cv`` (3-fold
cross-validation of the whole tuning, the base kept when it loses there: `lafa tune`'s default),
``logodds`` (the objective on log-odds instead of probabilities), ``normalized`` (the
normalized aggregation only). Prints, per variant, the chosen settings and LAFA minus SmoothGrad
and minus IntegratedGrad (mean Pearson, 95 % bootstrap CI over held-out items). ``--tune-texts N``
tunes on the first N texts instead of 100; ``--score-settings JSON`` prints the no-gold objective of
given settings beside the base method's on the tuning texts, and their gold differences (does the
objective see what gold sees?).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from lafa_pipeline.aggregation import AGGREGATION_REGISTRY
from lafa_pipeline.faithfulness import tune as tuning
from lafa_pipeline.faithfulness.evaluate import Predictor
from lafa_pipeline.faithfulness.metrics import paired
from lafa_pipeline.faithfulness.tune import tune_explainer
from lafa_pipeline.feature_attribution import FeatureAttributionPipeline
from lafa_pipeline.paper import evaluation as ev

VARIANTS = ("current", "holdout", "cv", "logodds", "normalized")


class LogOdds(Predictor):
    """The model's log-odds log(p / (1 - p)) per class instead of its probabilities."""

    def __call__(self, texts):
        p = np.clip(super().__call__(texts), 1e-6, 1 - 1e-6)
        return np.log(p) - np.log1p(-p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--cache-dir", default=None, help="lafa evaluate's cache (default: $LAFA_HOME/evaluation)")
    parser.add_argument("--variants", nargs="*", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--tune-texts", type=int, default=None, help="tuning texts (default: the evaluation's 100)")
    parser.add_argument(
        "--score-settings",
        default=None,
        help="JSON settings (as in results.json's tuned_settings) "
        "whose objective on the tuning texts to print beside the base method's, no tuning",
    )
    args = parser.parse_args()
    from lafa_pipeline.build.default_model import lafa_home

    sizes = ev.RunSizes()
    cache = Path(args.cache_dir) if args.cache_dir else lafa_home() / "evaluation"
    prepared = ev.prepare_case("sst", args.data_dir, sizes, cache, True)
    case, spec, model, tokenizer, index = (
        prepared.case,
        prepared.spec,
        prepared.model,
        prepared.tokenizer,
        prepared.index,
    )
    explainer = ev.CaseExplainer(case, model, tokenizer, index)
    queries = list(range(len(case.queries)))
    texts = case.texts_in_order[: args.tune_texts or sizes.tune_texts]
    tune_set = set(texts)
    held = [i for i, it in enumerate(case.items) if case.queries[it.query].text not in tune_set]
    base_scores, _, _ = explainer.scores(queries, "smooth_grad", desc="smooth_grad")
    base = explainer.item_values(base_scores, spec.metric)
    scores_of = {"smooth_grad": base_scores}

    def lafa_values(settings: dict) -> list[float]:
        """Gold values of LAFA with ``settings`` over the query scores of its own base method."""
        method = settings.setdefault("base_method", index.config.base_method)
        if method not in scores_of:
            scores_of[method] = explainer.scores(queries, method, desc=method)[0]
        return explainer.item_values(explainer.lafa_scores(queries, scores_of[method], settings)[0], spec.metric)

    ig = explainer.item_values(explainer.scores(queries, "integrated_grad", desc="integrated_grad")[0], spec.metric)
    pipe = FeatureAttributionPipeline(model=model, tokenizer=tokenizer, index=index)
    if args.score_settings:
        # Does the no-gold objective see what gold sees? Score the given settings on the tuning texts.
        settings = json.loads(args.score_settings)
        items = tuning.prepare_texts(pipe, texts, show_progress=False)
        predict, mask = Predictor(model, tokenizer, max_length=pipe.max_length), tuning.mask_string(tokenizer)
        config = index.config.replace(**{k: v for k, v in settings.items() if k != "quantile"})
        indexes = {
            settings["layer"]: explainer.index_for(settings["layer"], settings["quantile"]),
            index.config.layer: index,
        }
        values = tuning.objective_values(pipe, indexes, config, items, predict, mask, sizes.tune_steps)
        base_values = tuning.objective_values(
            pipe, indexes, index.config.replace(lam=0.0), items, predict, mask, sizes.tune_steps
        )
        d = paired(values, base_values)
        gold = lafa_values(settings)
        g, h = (paired([gold[i] for i in held], [other[i] for i in held]) for other in (base, ig))
        print(
            f"settings {settings}: objective {np.mean(values):.4f} vs base {np.mean(base_values):.4f} on "
            f"{len(texts)} tuning texts (gain {d['mean_diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]); "
            f"gold on {g['n']} held-out items: LAFA - SmoothGrad {g['mean_diff']:+.4f} [{g['ci95'][0]:+.4f}, "
            f"{g['ci95'][1]:+.4f}], LAFA - IntegratedGrad {h['mean_diff']:+.4f} [{h['ci95'][0]:+.4f}, "
            f"{h['ci95'][1]:+.4f}]",
            flush=True,
        )
    for variant in args.variants:
        start = time.perf_counter()
        saved_predictor, saved_paper = tuning.Predictor, AGGREGATION_REGISTRY.get("paper")
        try:
            if variant == "logodds":
                tuning.Predictor = LogOdds
            if variant == "normalized":  # the paper's eq. 7 only at the repo's own settings
                AGGREGATION_REGISTRY.replace("paper", dataclasses.replace(saved_paper, search_space={}))
            result = tune_explainer(
                pipe,
                texts,
                folds=3 if variant == "cv" else 0,
                holdout=0.3 if variant == "holdout" else 0.0,
                rounds=sizes.tune_rounds,
                steps=sizes.tune_steps,
                show_progress=False,
            )
        finally:
            tuning.Predictor = saved_predictor
            AGGREGATION_REGISTRY.replace("paper", saved_paper)
        settings = ev.settings_of(result.config)
        values = lafa_values(settings)
        lines = [
            f"{variant}: chose {settings}; objective {result.base_value:.4f} -> {result.best_value:.4f}"
            + (
                f"; held-out gain {result.holdout['mean_diff']:+.4f} {result.holdout['ci95']} on "
                f"{result.holdout['n']} texts, kept base: {result.config.tuning['kept_base']} (rejected: "
                f"{result.config.tuning['rejected']}; fold picks: {result.config.tuning.get('fold_picks')})"
                if result.holdout
                else ""
            )
            + f" ({time.perf_counter() - start:.0f} s)"
        ]
        for name, other in (("SmoothGrad", base), ("IntegratedGrad", ig)):
            d = paired([values[i] for i in held], [other[i] for i in held])
            lines.append(
                f"   LAFA - {name}: {d['mean_diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}] "
                f"({d['n']} held-out items)"
            )
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
