"""Faithfulness metrics of the paper's experiments, for users' own data too.

Each metric scores one text; ``summarize`` turns per-text values into mean (std) and carries
whether higher is better, like ferret's evaluators.

Example:
    >>> token_auc([0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0])
    1.0
    >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
    0.9934
    >>> summarize("token_auc", [1.0, 0.5, float("nan")]).mean
    0.75
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

HIGHER_IS_BETTER = {"token_auc": True, "pearson": True, "deletion_log_odds_drop": True, "deletion_mape": True,
                    "neighbour_precision": True}


@dataclass(frozen=True)
class MetricResult:
    """Mean and std of a metric over texts (NaN values, e.g. a text without gold words, left out)."""

    name: str
    mean: float
    std: float
    n: int
    higher_is_better: bool
    values: list[float] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return f"{self.mean:.3f} ({self.std:.3f})"


def summarize(name: str, values: Sequence[float]) -> MetricResult:
    kept = [float(v) for v in values if not math.isnan(v)]
    if name not in HIGHER_IS_BETTER:
        raise ValueError(f"Unknown metric {name!r}; valid: {', '.join(HIGHER_IS_BETTER)}")
    mean = float(np.mean(kept)) if kept else float("nan")
    std = float(np.std(kept)) if kept else float("nan")
    return MetricResult(name, mean, std, len(kept), HIGHER_IS_BETTER[name], kept)


def token_auc(scores: Sequence[float], gold: Sequence[int]) -> float:
    """ROC AUC of the scores against binary gold words (case I): the probability that a gold word
    outscores a non-gold one, ties counting one half. NaN when gold has one class only."""
    scores, gold = np.asarray(scores, dtype=float), np.asarray(gold, dtype=bool)
    if len(scores) != len(gold):
        raise ValueError(f"{len(scores)} scores for {len(gold)} gold values")
    pos, neg = scores[gold], scores[~gold]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def pearson(scores: Sequence[float], gold: Sequence[float]) -> float:
    """Pearson correlation of word scores with gold word scores (case II); NaN if either is constant."""
    scores, gold = np.asarray(scores, dtype=float), np.asarray(gold, dtype=float)
    if len(scores) != len(gold):
        raise ValueError(f"{len(scores)} scores for {len(gold)} gold values")
    if len(scores) < 2 or scores.std() == 0 or gold.std() == 0:
        return float("nan")
    return float(np.corrcoef(scores, gold)[0, 1])


def neighbour_precision(neighbour_labels: Sequence, label) -> float:
    """Share of the neighbours whose category equals the input's (paper eq. 8); NaN without neighbours."""
    if len(neighbour_labels) == 0:
        return float("nan")
    return float(np.mean([n == label for n in neighbour_labels]))


def masked_text(text: str, words: list[dict], scores: Sequence[float], fraction: float, mask: str) -> str:
    """``text`` with the top ``fraction`` of its words (by score; at least one if fraction > 0) replaced by ``mask``."""
    k = math.ceil(fraction * len(words)) if fraction > 0 else 0
    top = set(np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k].tolist())
    out, pos = [], 0
    for i, w in enumerate(words):
        out.append(text[pos:w["start"]])
        out.append(mask if i in top else text[w["start"]:w["end"]])
        pos = w["end"]
    out.append(text[pos:])
    return "".join(out)


def deletion_curve(
    predict: Callable[[list[str]], np.ndarray],
    text: str,
    words: list[dict],
    scores: Sequence[float] | None = None,
    target: int = 0,
    fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    mode: str = "log_odds",
    mask: str = "[MASK]",
) -> list[float]:
    """Change of the prediction as the top-scored words are masked, one value per fraction.

    ``predict`` maps texts to outputs: class probabilities (``mode="log_odds"``: drop in the target's
    log-odds, higher = more faithful) or values (``mode="mape"``: absolute percentage error of the
    new prediction against the unmasked one, as in the paper's case III). ``words`` are the
    pipeline's word entries; ``scores`` default to theirs.
    """
    if mode not in ("log_odds", "mape"):
        raise ValueError(f"Unknown deletion mode {mode!r}; valid: log_odds, mape")
    scores = [w["score"] for w in words] if scores is None else scores
    texts = [masked_text(text, words, scores, f, mask) for f in fractions]
    outputs = np.asarray(predict([text] + texts), dtype=float)
    if mode == "mape":
        base = outputs[0].reshape(-1)[target]
        return [float(abs(o.reshape(-1)[target] - base) / max(abs(base), 1e-12)) for o in outputs[1:]]
    p = np.clip(outputs[:, target], 1e-7, 1 - 1e-7)
    log_odds = np.log(p / (1 - p))
    return [float(log_odds[0] - lo) for lo in log_odds[1:]]
