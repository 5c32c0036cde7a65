"""Metrics against independent computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lafa_pipeline.faithfulness.metrics import (
    deletion_curve,
    masked_text,
    neighbor_precision,
    pearson,
    summarize,
    token_auc,
)

from .tiny import tiny_model


def auc_by_pairs(scores, gold):
    pairs = [(s, t) for (s, g), (t, h) in itertools.product(zip(scores, gold), repeat=2) if g == 1 and h == 0]
    return sum(1.0 if s > t else 0.5 if s == t else 0.0 for s, t in pairs) / len(pairs)


def test_token_auc_equals_pair_counting():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(3, 15))
        scores = rng.integers(0, 4, size=n).astype(float)  # ties included
        gold = rng.integers(0, 2, size=n)
        if gold.min() == gold.max():
            assert math.isnan(token_auc(scores, gold))
            continue
        assert token_auc(scores, gold) == pytest.approx(auc_by_pairs(scores, gold))
    assert token_auc([3, 2, 1], [0, 0, 1]) == 0.0


def test_pearson_equals_the_formula():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=12), rng.normal(size=12)
    expected = ((a - a.mean()) * (b - b.mean())).sum() / math.sqrt(
        ((a - a.mean()) ** 2).sum() * ((b - b.mean()) ** 2).sum()
    )
    assert pearson(a, b) == pytest.approx(expected)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="3 scores for 2 gold"):
        pearson([1, 2, 3], [1, 2])


def test_summary_and_precision():
    r = summarize("pearson", [0.2, 0.4, float("nan")])
    assert (r.mean, r.n, r.higher_is_better) == (pytest.approx(0.3), 2, True) and str(r) == "0.300 (0.100)"
    assert neighbor_precision(["pos", "neg", "pos", "pos"], "pos") == 0.75
    with pytest.raises(ValueError, match="Unknown metric 'f1'"):
        summarize("f1", [1.0])


def test_masking_and_deletion_curve(tokenizer):
    words = [
        {"token": w, "start": s, "end": s + len(w), "score": sc}
        for w, s, sc in (("the", 0, 0.1), ("acting", 4, 0.9), ("was", 11, 0.3), ("good", 15, 0.5))
    ]
    text = "the acting was good"
    assert masked_text(text, words, [w["score"] for w in words], 0.0, "[MASK]") == text
    assert masked_text(text, words, [w["score"] for w in words], 0.5, "[MASK]") == "the [MASK] was [MASK]"
    assert masked_text(text, words, [w["score"] for w in words], 0.1, "[MASK]") == "the [MASK] was good"
    model = tiny_model()

    def predict(texts):
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            return torch.softmax(model(**enc).logits, -1).numpy()

    curve = deletion_curve(predict, text, words, target=1, fractions=(0.0, 0.25, 0.5))
    p = predict([text, "the [MASK] was good", "the [MASK] was [MASK]"])[:, 1]
    lo = np.log(p / (1 - p))
    assert curve == pytest.approx([0.0, lo[0] - lo[1], lo[0] - lo[2]], abs=1e-6)
    values = lambda texts: np.array([[len(t)] for t in texts], dtype=float)  # noqa: E731
    assert deletion_curve(values, text, words, fractions=(0.5,), mode="mape") == pytest.approx(
        [abs(len("the [MASK] was [MASK]") - len(text)) / len(text)]
    )
    with pytest.raises(ValueError, match="Unknown deletion mode 'auc'"):
        deletion_curve(predict, text, words, mode="auc")
