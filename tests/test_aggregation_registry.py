"""Aggregations are registry entries: a new one is picked up by validation, LAFA, the CLI and ``lafa tune``;
the median entry against values computed by hand."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import pipeline

from lafa_pipeline import LafaConfig
from lafa_pipeline.aggregation import (
    AGGREGATION_REGISTRY,
    Aggregation,
    AggregationInputs,
    NeighborScores,
    median_lafa,
    normalized_lafa,
)
from lafa_pipeline.apps import cli
from lafa_pipeline.faithfulness.tuning import tune_explainer

from .tiny import TEXTS

EYE = torch.eye(8, dtype=torch.float64)


def embed(ids):
    return EYE[ids]


def test_median_by_hand_and_lambda_zero():
    # word 1 in three neighbors, relative scores (score / the neighbor's mean) 0.5, 1.0 and 1.6;
    # word 2 in one neighbor (relative 1.5); word 5 in none
    nbs = [
        NeighborScores(torch.tensor([1, 3]), torch.tensor([1.0, 3.0], dtype=torch.float64)),
        NeighborScores(torch.tensor([1]), torch.tensor([4.0], dtype=torch.float64)),
        NeighborScores(torch.tensor([1, 2, 4]), torch.tensor([4.0, 1.0, 0.5], dtype=torch.float64) * 2 / 1.0),
    ]
    relative_3 = (torch.tensor([4.0, 1.0, 0.5]) / torch.tensor([4.0, 1.0, 0.5]).mean()).tolist()
    own = torch.tensor([2.0, 1.0, 3.0], dtype=torch.float64)  # mean 2: relative 1, 0.5, 1.5
    q = torch.tensor([1, 2, 5])
    out = median_lafa(own, q, EYE[q], nbs, embed, "indicator", {}, lam=1.0)
    word1 = sorted([0.5, 1.0, relative_3[0]])[1]  # equal weights: the middle value
    assert out.tolist() == pytest.approx([2.0 * word1, 2.0 * relative_3[1], 3.0])
    assert torch.equal(median_lafa(own, q, EYE[q], nbs, embed, "indicator", {}, lam=0.0), own)
    # a neighbor's weight counts as that many copies of its scores: 3:1 weights put the median on the first
    weighted = median_lafa(own, q, EYE[q], nbs[:2], embed, "indicator", {}, lam=1.0, weights=[3.0, 1.0])
    assert float(weighted[0]) == pytest.approx(2.0 * 0.5)
    # one neighbor: the median and the mean agree
    single = [nbs[1]]
    assert torch.allclose(
        median_lafa(own, q, EYE[q], single, embed, "cosine", {}, 0.5),
        normalized_lafa(own, q, EYE[q], single, embed, "cosine", {}, 0.5),
    )


@pytest.fixture
def halfway():
    """A throwaway aggregation: each word token moves towards the mean of the text's word tokens
    (lambda = 2: all the way), special tokens keep their scores; lambda in [0, 2]."""

    def combine(x: AggregationInputs):
        own, lam = x.scores, x.lam
        counted = torch.ones_like(own, dtype=torch.bool) if x.counted is None else x.counted
        out = own.clone()
        out[counted] = (1 - lam / 2) * own[counted] + lam / 2 * own[counted].mean()
        return out

    AGGREGATION_REGISTRY.register(
        "halfway", Aggregation(combine, (0.0, 2.0), "twice the step", {"lam": (1.0, 2.0)}, tuning_start_lam=1.0)
    )
    yield "halfway"
    AGGREGATION_REGISTRY.remove("halfway")


def test_a_registered_aggregation_is_validated_explained_offered_and_tuned(halfway, model, tokenizer, index):
    assert LafaConfig(aggregation=halfway, lam=1.5).lam == 1.5
    with pytest.raises(ValueError, match=r"lam must be in \[0, 2\] with aggregation 'halfway' \(twice the step\)"):
        LafaConfig(aggregation=halfway, lam=2.5)
    with pytest.raises(ValueError, match="valid choices: normalized, paper, median, halfway"):
        LafaConfig(aggregation="nope")

    config = dataclasses.replace(index.config, aggregation=halfway, lam=2.0)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index, lafa_config=config)
    own = explainer(TEXTS[0], method=config.base_method)
    moved = explainer(TEXTS[0])
    scores = [w["score"] for w in own["tokens"]]
    mean = sum(scores) / len(scores)  # one subword per word in the tiny vocabulary: words are tokens
    assert [w["score"] for w in moved["tokens"]] == pytest.approx([mean] * len(scores), rel=1e-5)
    with pytest.raises(ValueError, match="with aggregation 'halfway'"):
        explainer(TEXTS[0], lam=3)

    build = cli.build_parser()._subparsers._group_actions[0].choices["build"]
    action = next(a for a in build._actions if a.dest == "aggregation")
    assert halfway in action.choices

    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
    result = tune_explainer(
        explainer, TEXTS, folds=0, layers=[index.config.layer], rounds=1, steps=4, show_progress=False
    )
    tried = {(t["aggregation"], t["lam"]) for t in result.trials}
    assert {("halfway", 1.0), ("halfway", 2.0)} <= tried and ("median", 0.5) in tried


def test_a_setting_an_aggregation_searches_is_a_tuned_field():
    """The tuner's settings are read from the aggregations' search spaces: an aggregation that searches a
    setting no other does (here the eps quantile) makes it tuned, so candidates that differ only there
    are cached apart and the pick saves it; taking the aggregation out drops it again."""
    from lafa_pipeline.faithfulness.tuning import setting_key, tuned_fields, tuned_settings

    base = LafaConfig()
    assert "quantile" not in tuned_fields()
    entry = AGGREGATION_REGISTRY.get("normalized")
    AGGREGATION_REGISTRY.register("quantile_demo", dataclasses.replace(entry, search_space={"quantile": (0.2, 0.6)}))
    try:
        assert "quantile" in tuned_fields() and tuned_settings(base)["quantile"] == base.quantile
        assert setting_key(base.replace(quantile=0.2)) != setting_key(base.replace(quantile=0.6))
    finally:
        AGGREGATION_REGISTRY.remove("quantile_demo")
    assert "quantile" not in tuned_fields()
    assert setting_key(base.replace(quantile=0.2)) == setting_key(base.replace(quantile=0.6))
