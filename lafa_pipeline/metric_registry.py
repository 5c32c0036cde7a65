"""The metrics that measure an explanation, one registry entry each: name, direction, family, whether it
needs gold, what it means, and how it is computed (as ferret's evaluators carry their own metadata).

Evaluation, ``lafa tune``'s objectives and metric guard, the model card and the paper report all read
this registry, so a new metric is one ``register_metric`` call. Families and what ``compute`` takes:

- ``faithfulness``: the model's own output as words are masked; ``compute(f)`` reads a per-text
  measurement with ``deletion_auc``, ``insertion_auc``, ``comprehensiveness`` and ``sufficiency``
  (``faithfulness.metrics.Faithfulness``). The entries marked ``objective`` combine the others into one
  number that ``lafa tune`` can maximise; the rest are the metric guard's columns.
- ``gold``: agreement of word scores with gold word values; ``compute(scores, gold)``.
- ``deletion``: the paper's deletion curves (one value per masked fraction); ``compute(curve)``.
- ``neighbors``: whether the neighbors share the input's category; ``compute(labels, label)``.

This module is core (copied to the Hub with the pipeline), so it needs nothing outside numpy.

Example:
    >>> METRIC_REGISTRY.get("sufficiency").higher_is_better
    False
    >>> names("faithfulness", objective=False)
    ('deletion_auc', 'insertion_auc', 'comprehensiveness', 'sufficiency')
    >>> from types import SimpleNamespace
    >>> f = SimpleNamespace(deletion_auc=0.2, insertion_auc=0.8, comprehensiveness=0.5, sufficiency=0.1)
    >>> round(METRIC_REGISTRY.get("all_four").compute(f), 3)
    0.5
    >>> METRIC_REGISTRY.get("deletion_auc").oriented(0.2)  # positive = better, for every metric
    -0.2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .registry import Registry

FAMILIES = ("faithfulness", "gold", "deletion", "neighbors")


@dataclass(frozen=True)
class Metric:
    """One metric: its name, which way is better, its family (``FAMILIES``), what it means and its compute
    function (arguments by family, see the module docstring)."""

    name: str
    higher_is_better: bool
    family: str
    compute: Callable[..., float]
    description: str
    needs_gold: bool = False
    objective: bool = False
    """A faithfulness metric that combines the others into one number for ``lafa tune`` to maximise."""

    @property
    def sign(self) -> float:
        """+1 where higher is better, -1 where lower is: ``sign * value`` always grows with quality."""
        return 1.0 if self.higher_is_better else -1.0

    def oriented(self, value: float) -> float:
        """``value`` turned so that higher is better."""
        return self.sign * value

    @property
    def arrow(self) -> str:
        """The table header's mark of the better direction."""
        return "↑" if self.higher_is_better else "↓"


METRIC_REGISTRY: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (its family checked); returns it."""
    if metric.family not in FAMILIES:
        raise ValueError(f"Unknown metric family {metric.family!r}; valid choices: {', '.join(FAMILIES)}")
    if metric.objective and metric.family != "faithfulness":
        raise ValueError(f"metric {metric.name!r}: only faithfulness metrics can be objectives")
    return METRIC_REGISTRY.register(metric.name, metric)


def names(family: str, objective: bool | None = None) -> tuple[str, ...]:
    """The registered metrics of ``family`` in registration order (``objective``: only objectives, or
    only the others; None: both)."""
    return METRIC_REGISTRY.where(lambda m: m.family == family and (objective is None or m.objective == objective))


def token_auc(scores: Sequence[float], gold: Sequence[float]) -> float:
    """ROC AUC of the scores against binary gold words (case I): the probability that a gold word
    outscores a non-gold one, ties counting one half. NaN when gold has one class only.

    >>> token_auc([0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0])
    1.0
    """
    values, is_gold = np.asarray(scores, dtype=float), np.asarray(gold, dtype=bool)
    if len(values) != len(is_gold):
        raise ValueError(f"{len(values)} scores for {len(is_gold)} gold values")
    pos, neg = values[is_gold], values[~is_gold]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def pearson(scores: Sequence[float], gold: Sequence[float]) -> float:
    """Pearson correlation of word scores with gold word scores (case II); NaN if either is constant.

    >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
    0.9934
    """
    values, gold_values = np.asarray(scores, dtype=float), np.asarray(gold, dtype=float)
    if len(values) != len(gold_values):
        raise ValueError(f"{len(values)} scores for {len(gold_values)} gold values")
    if len(values) < 2 or values.std() == 0 or gold_values.std() == 0:
        return float("nan")
    return float(np.corrcoef(values, gold_values)[0, 1])


def auprc(scores: Sequence[float], gold: Sequence[float]) -> float:
    """Average precision of the scores against binary gold words (ties broken by position); NaN without positives.

    >>> round(auprc([0.9, 0.1, 0.8, 0.2], [1, 0, 0, 1]), 4)
    0.8333
    """
    values, is_gold = np.asarray(scores, dtype=float), np.asarray(gold, dtype=bool)
    if len(values) != len(is_gold):
        raise ValueError(f"{len(values)} scores for {len(is_gold)} gold values")
    if not is_gold.any():
        return float("nan")
    hits = is_gold[np.argsort(-values, kind="stable")]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].mean())


def neighbor_precision(neighbor_labels: Sequence, label) -> float:
    """Share of the neighbors whose category equals the input's (paper eq. 8); NaN without neighbors."""
    if len(neighbor_labels) == 0:
        return float("nan")
    return float(np.mean([n == label for n in neighbor_labels]))


def _binary(gold: Sequence[float]) -> list[int]:
    """Graded gold as gold words: a word is gold if its value is above zero."""
    return [int(g > 0) for g in gold]


def _curve_mean(curve: Sequence[float]) -> float:
    return float(np.mean(curve))


for _metric in (
    Metric(
        "deletion_auc",
        False,
        "faithfulness",
        lambda f: f.deletion_auc,
        "area under the explained output as the top words are masked step by step",
    ),
    Metric(
        "insertion_auc",
        True,
        "faithfulness",
        lambda f: f.insertion_auc,
        "area under the explained output as the top words are revealed in a fully masked text",
    ),
    Metric(
        "insertion_minus_deletion",
        True,
        "faithfulness",
        lambda f: f.insertion_auc - f.deletion_auc,
        "insertion minus deletion area of the explained probability",
        objective=True,
    ),
    Metric(
        "comprehensiveness",
        True,
        "faithfulness",
        lambda f: f.comprehensiveness,
        "ERASER's drop of the explained output when the top 1/5/10/20/50 % of words are removed",
    ),
    Metric(
        "sufficiency",
        False,
        "faithfulness",
        lambda f: f.sufficiency,
        "ERASER's drop of the explained output when only the top 1/5/10/20/50 % of words are kept",
    ),
    Metric(
        "comprehensiveness_minus_sufficiency",
        True,
        "faithfulness",
        lambda f: f.comprehensiveness - f.sufficiency,
        "ERASER's comprehensiveness minus sufficiency",
        objective=True,
    ),
    Metric(
        "all_four",
        True,
        "faithfulness",
        lambda f: 0.5 * (f.insertion_auc - f.deletion_auc + f.comprehensiveness - f.sufficiency),
        "the mean of insertion minus deletion and comprehensiveness minus sufficiency",
        objective=True,
    ),
    Metric(
        "token_auc",
        True,
        "gold",
        lambda scores, gold: token_auc(scores, _binary(gold)),
        "token AUC against gold words",
        needs_gold=True,
    ),
    Metric(
        "auprc",
        True,
        "gold",
        lambda scores, gold: auprc(scores, _binary(gold)),
        "average precision against gold words",
        needs_gold=True,
    ),
    Metric("pearson", True, "gold", pearson, "Pearson correlation with gold word scores", needs_gold=True),
    Metric(
        "deletion_log_odds_drop",
        True,
        "deletion",
        _curve_mean,
        "drop of the target's log-odds as the top words are masked, mean over fractions",
    ),
    Metric(
        "deletion_mape",
        True,
        "deletion",
        _curve_mean,
        "absolute percentage change of the predicted value as the top words are masked, mean over fractions",
    ),
    Metric(
        "neighbor_precision",
        True,
        "neighbors",
        neighbor_precision,
        "share of the neighbors in the input's category (paper eq. 8)",
        needs_gold=True,
    ),
):
    register_metric(_metric)
