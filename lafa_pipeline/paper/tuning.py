"""LAFA's tuning in the evaluation: the coordinate-wise search on the gold of the tuning texts (``tune``,
over stored base scores) and ``lafa tune`` as a user runs it, without gold (``tune_without_gold``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import KERNELS, NEIGHBOR_SCALES, LafaConfig
from ..faithfulness.metrics import summarize
from ..faithfulness.tuning import TuningResult, tune_explainer, tuned_settings
from ..index import LafaIndex
from .case_explainer import CaseExplainer
from .specs import CaseSpec


def tune(
    explainer: CaseExplainer, spec: CaseSpec, base: dict, queries: list[int], items: list[int], num_layers: int
) -> tuple[dict, list[dict]]:
    """Coordinate-wise search from the paper settings: neighbor scale, layer, quantile x neighbors,
    kernel, aggregation x lambda (x neighbor scale for eq. 7), then the kernel again."""
    best = settings_of(spec.lafa)
    records: list[dict] = []

    def value(settings: dict) -> tuple[float, float]:
        scores, found = explainer.lafa_scores(queries, base, settings)
        return summarize(spec.metric, explainer.item_values(scores, spec.metric, items)).mean, float(
            np.mean([found[q] for q in queries])
        )

    grids: list[tuple[str, list[dict[str, Any]]]] = [
        ("neighbor scale", [{"neighbor_scale": scale} for scale in NEIGHBOR_SCALES]),
        ("layer", [{"layer": layer} for layer in range(num_layers + 1)]),
        (
            "quantile x neighbors",
            [{"quantile": qu, "n_neighbors": k} for qu in (0.05, 0.2, 0.39, 0.6, 1.0) for k in (5, 10, 20)],
        ),
        ("kernel", [{"kernel": k} for k in KERNELS]),
        # E(w) divides by the neighbor's length, so it is small next to m_i: lambda goes up to 100.
        (
            "aggregation x lambda",
            [
                {"aggregation": "paper", "lam": lam, "neighbor_scale": scale}
                for scale in NEIGHBOR_SCALES
                for lam in (0.1, 0.44, 1.0, 3.0, 10.0, 30.0, 100.0)
            ]
            + [{"aggregation": "normalized", "lam": lam, "neighbor_scale": "none"} for lam in (0.25, 0.5, 0.75, 1.0)],
        ),
        ("kernel (again)", [{"kernel": k} for k in KERNELS]),
    ]
    for step, grid in grids:
        step_records = []
        for change in grid:
            settings = {**best, **change}
            mean, neighbors = value(settings)
            step_records.append({"step": step, **settings, spec.metric: mean, "neighbors_found": neighbors})
        winner = max(step_records, key=lambda r: (r[spec.metric], -abs(r["lam"] - 1.0)))
        best = {k: winner[k] for k in best}
        records += step_records
    return best, records


def settings_of(config: LafaConfig) -> dict:
    """The LAFA settings the tuning varies: ``lafa tune``'s (``tuned_settings``) and the quantile, which the
    gold tuning varies too (``lafa tune`` does not)."""
    return {**tuned_settings(config), "quantile": config.quantile}


def tune_without_gold(
    model,
    tokenizer,
    index: LafaIndex,
    texts: list[str],
    show_progress: bool,
    rounds: int = 2,
    steps: int = 10,
    folds: int = 3,
    signed: bool = False,
) -> TuningResult:
    """``lafa tune`` as a user runs it: the repo's (paper) settings as the start, the faithfulness
    objective on the model's own outputs, no gold labels; returns its ``TuningResult`` (``signed``:
    ``lafa tune --signed``)."""
    from ..feature_attribution import FeatureAttributionPipeline

    explainer = FeatureAttributionPipeline(model=model, tokenizer=tokenizer, index=index)
    return tune_explainer(
        explainer, texts, folds=folds, rounds=rounds, steps=steps, show_progress=show_progress, signed=signed
    )
