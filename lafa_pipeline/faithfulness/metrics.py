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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metric_registry import METRIC_REGISTRY, auprc, neighbor_precision, pearson, token_auc
from ..text_inputs import TextInput, segments

__all__ = [  # the gold metrics live in the registry's core module; measured here with the rest
    "ERASER_FRACTIONS",
    "Faithfulness",
    "MetricResult",
    "auprc",
    "deletion_curve",
    "faithfulness",
    "kept_text",
    "masked_text",
    "neighbor_precision",
    "paired",
    "pearson",
    "summarize",
    "token_auc",
]

# ERASER's bins (DeYoung et al. 2020, as ferret uses them): share of words kept or removed.
ERASER_FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)


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
    """Mean and std of ``values`` of the registered metric ``name``, with its direction."""
    metric = METRIC_REGISTRY.get(name)
    kept = [float(v) for v in values if not math.isnan(v)]
    mean = float(np.mean(kept)) if kept else float("nan")
    std = float(np.std(kept)) if kept else float("nan")
    return MetricResult(name, mean, std, len(kept), metric.higher_is_better, kept)


def paired(a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = 2000) -> dict:
    """Mean of a - b over items where both are defined, a 95 % bootstrap interval, and a's win share.

    >>> paired([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])["mean_diff"]
    1.0
    """
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(a_arr) | np.isnan(b_arr))
    diff = a_arr[keep] - b_arr[keep]
    if len(diff) == 0:
        return {"mean_diff": float("nan"), "ci95": [float("nan")] * 2, "wins": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    return {
        "mean_diff": float(diff.mean()),
        "ci95": [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))],
        "wins": float((diff > 0).mean()),
        "ties": float((diff == 0).mean()),
        "n": int(len(diff)),
    }


def masked_text(
    text: TextInput, words: Sequence[Mapping[str, Any]], scores: Sequence[float], fraction: float, mask: str
) -> TextInput:
    """``text`` with the top ``fraction`` of its words (by score; at least one if fraction > 0) replaced by ``mask``.

    A text pair (``{"text", "text_pair"}``, words with a ``segment``) is masked within both texts, its
    words ranked together, and stays a pair.
    """
    return _mask_top(text, words, scores, math.ceil(fraction * len(words)) if fraction > 0 else 0, mask)


def kept_text(
    text: TextInput, words: Sequence[Mapping[str, Any]], scores: Sequence[float], fraction: float, mask: str
) -> TextInput:
    """``text`` with only its top ``fraction`` of words kept (at least one if fraction > 0), the others masked."""
    keep = math.ceil(fraction * len(words)) if fraction > 0 else 0
    return _mask_top(text, words, [-s for s in scores], len(words) - keep, mask)


def _mask_top(
    text: TextInput, words: Sequence[Mapping[str, Any]], scores: Sequence[float], k: int, mask: str
) -> TextInput:
    """``text`` with its ``k`` top-scored words (ties: the earlier first) replaced by ``mask``; a pair's
    words are masked in the segment their offsets point into.

    >>> pair = {"text": "a b", "text_pair": "c"}
    >>> words = [{"start": 0, "end": 1, "segment": 0}, {"start": 2, "end": 3, "segment": 0},
    ...          {"start": 0, "end": 1, "segment": 1}]
    >>> _mask_top(pair, words, [0.1, 0.2, 0.9], 2, "_")
    {'text': 'a _', 'text_pair': '_'}
    """
    top = set(np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k].tolist())
    parts = segments(text)
    out: list[list[str]] = [[] for _ in parts]
    pos = [0] * len(parts)
    for i, w in enumerate(words):
        seg = int(w.get("segment", 0) or 0) if len(parts) > 1 else 0
        source = parts[seg]
        out[seg].append(source[pos[seg] : w["start"]])
        out[seg].append(mask if i in top else source[w["start"] : w["end"]])
        pos[seg] = w["end"]
    masked = ["".join(o) + part[p:] for o, part, p in zip(out, parts, pos)]
    return {"text": masked[0], "text_pair": masked[1]} if len(parts) > 1 else masked[0]


def deletion_curve(
    predict: Callable[[list], np.ndarray],
    text: TextInput,
    words: Sequence[Mapping[str, Any]],
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


@dataclass(frozen=True)
class Faithfulness:
    """Per-text faithfulness of word scores to the model, from masking words in score order.

    ``deletion_auc``: mean target probability as the top words are masked one step at a time (lower
    is better); ``insertion_auc``: the same as they are revealed in a fully masked text (higher is
    better); ``comprehensiveness`` / ``sufficiency`` (ERASER): probability drop when the top
    1/5/10/20/50 % of words are removed / are all that is kept (higher / lower is better).
    """

    deletion_auc: float
    insertion_auc: float
    comprehensiveness: float
    sufficiency: float

    @property
    def insertion_minus_deletion(self) -> float:
        """One number, higher is better (one of ``lafa tune``'s objectives)."""
        return self.insertion_auc - self.deletion_auc


def faithfulness(
    predict: Callable[[list], np.ndarray],
    text: TextInput,
    words: Sequence[Mapping[str, Any]],
    scores: Sequence[float] | None = None,
    target: int = 0,
    steps: int = 10,
    mask: str = "[MASK]",
    regression: bool = False,
) -> Faithfulness:
    """Deletion and insertion areas (``steps`` equal steps of words) and ERASER's two scores for one text.

    ``predict`` maps texts (or text pairs, masked within both texts) to class probabilities (rows) or
    regression values; the target's column is read. Areas are trapezoid means over the fractions 0,
    1/steps, ..., 1. For ``regression`` (where masking can move the value either way) the curves
    follow -|value - the full text's value|, so the same directions hold: deletion should fall fast,
    insertion rise fast.

    >>> words = [{"start": 0, "end": 4}, {"start": 5, "end": 8}]
    >>> predict = lambda texts: np.array([[0.0, 0.2 + 0.8 * ("good" in t)] for t in texts])
    >>> f = faithfulness(predict, "good day", words, [1.0, 0.0], target=1, steps=2)
    >>> round(f.deletion_auc, 3), round(f.insertion_auc, 3), round(f.comprehensiveness, 3), round(f.sufficiency, 3)
    (0.4, 0.8, 0.8, 0.0)
    """
    scores = [w["score"] for w in words] if scores is None else scores
    fractions = [i / steps for i in range(steps + 1)]
    deleted = [masked_text(text, words, scores, f, mask) for f in fractions]
    inserted = [kept_text(text, words, scores, f, mask) for f in fractions]
    removed = [masked_text(text, words, scores, f, mask) for f in ERASER_FRACTIONS]
    kept = [kept_text(text, words, scores, f, mask) for f in ERASER_FRACTIONS]
    batch = [text] + deleted + inserted + removed + kept
    out = np.asarray(predict(batch), dtype=float)
    p = out.reshape(len(batch), -1)[:, target]
    if regression:
        p = -np.abs(p - p[0])
    n = steps + 1
    full, dele, ins = p[0], p[1 : 1 + n], p[1 + n : 1 + 2 * n]
    rem, kep = p[1 + 2 * n : 1 + 2 * n + len(ERASER_FRACTIONS)], p[1 + 2 * n + len(ERASER_FRACTIONS) :]
    area = lambda ys: float(np.trapezoid(ys, dx=1.0 / steps))  # noqa: E731
    return Faithfulness(area(dele), area(ins), float(np.mean(full - rem)), float(np.mean(full - kep)))
