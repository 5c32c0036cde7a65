"""``lafa tune`` goes on past the largest lambda of an aggregation's grid while that keeps winning, up to
the aggregation's range (``tuning.LAM_STEP``), and only there."""

from __future__ import annotations

import pytest

from lafa_pipeline.aggregation import AGGREGATION_REGISTRY, MAX_PAPER_LAM
from lafa_pipeline.faithfulness.metrics import Faithfulness
from lafa_pipeline.faithfulness.tuning import LAM_STEP, search, tune_explainer

from .tiny import TEXTS

KWARGS = dict(folds=0, layers=[1], rounds=2, steps=4, show_progress=False, base_methods=["smooth_grad"])
PAPER_GRID = AGGREGATION_REGISTRY.get("paper").search_space["lam"]


def _rig(monkeypatch, gain) -> None:
    """Rigged metrics: the paper aggregation at lambda gains ``gain(lambda)`` on deletion, nothing else
    changes (so the metric guard passes every setting with a gain); other aggregations gain nothing."""

    def rigged(expl, indexes, config, items, *args, **kwargs):
        g = gain(config.lam) if config.aggregation == "paper" and config.lam > 0 else 0.0
        return [Faithfulness(0.5 - g, 0.5, 0.3, 0.2) for _ in items]

    monkeypatch.setattr(search, "faithfulness_values", rigged)


def _paper_lams(result) -> set[float]:
    return {t["lam"] for t in result.trials if t["aggregation"] == "paper"}


def test_a_best_lambda_past_the_grid_is_found(explainer, monkeypatch):
    """The gain peaks at lambda = 9, past the grid's largest (1): the search steps 3, 9, then 27 loses."""
    assert max(PAPER_GRID) * LAM_STEP**2 == pytest.approx(9.0)
    _rig(monkeypatch, lambda lam: 0.01 * (lam if lam <= 9 else 18 - lam))
    result = tune_explainer(explainer, TEXTS, **KWARGS)
    assert (result.config.aggregation, result.config.lam) == ("paper", pytest.approx(9.0))
    assert result.best_value == pytest.approx(result.base_value + 0.5 * 0.09)
    assert {3.0, 27.0} <= _paper_lams(result)  # powers of 3 are exact in floating point
    assert not any(lam > 27.5 for lam in _paper_lams(result))  # stopped at the first loss


def test_the_grid_is_not_extended_when_its_edge_does_not_win(explainer, monkeypatch):
    _rig(monkeypatch, lambda lam: 0.01 * (1 - abs(lam - 0.44)))
    result = tune_explainer(explainer, TEXTS, **KWARGS)
    assert (result.config.aggregation, result.config.lam) == ("paper", 0.44)
    assert max(_paper_lams(result)) == max(PAPER_GRID)


def test_the_extension_stops_at_the_aggregations_range(explainer, monkeypatch):
    """Gains that grow with lambda without end: the largest step within ``MAX_PAPER_LAM`` is chosen."""
    _rig(monkeypatch, lambda lam: 1e-6 * lam)
    result = tune_explainer(explainer, TEXTS, **KWARGS)
    top = max(PAPER_GRID)
    while top * LAM_STEP <= MAX_PAPER_LAM:
        top *= LAM_STEP
    assert result.config.aggregation == "paper" and result.config.lam == pytest.approx(top)
    assert max(_paper_lams(result)) <= MAX_PAPER_LAM
