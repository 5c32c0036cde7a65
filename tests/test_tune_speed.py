"""What makes ``lafa tune`` affordable changes nothing it should not: early dropping keeps the full
search's choice, settings that rank words alike share one measurement, lambda = 0 is the base method
read without a neighbor search, and only the best base methods alone are searched with LAFA."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import pipeline

from lafa_pipeline.faithfulness import tune
from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string
from lafa_pipeline.faithfulness.metrics import faithfulness
from lafa_pipeline.faithfulness.tune import OBJECTIVES, faithfulness_values, prepare_texts, tune_explainer
from lafa_pipeline.words import group_scores

from .tiny import TEXTS


@pytest.fixture
def explainer(model, tokenizer, index):
    return pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


def _choice(result):
    return {k: getattr(result.config, k) for k in tune.TUNED_FIELDS}


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_early_stopping_keeps_the_full_search_choice(explainer, objective):
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, objective=objective)
    full = tune_explainer(explainer, TEXTS, early_stop=False, **kwargs)
    fast = tune_explainer(explainer, TEXTS, early_stop=True, **kwargs)
    assert _choice(fast) == _choice(full) and fast.best_value == pytest.approx(full.best_value)
    assert full.config.tuning["settings_dropped_early"] == 0
    assert fast.config.tuning["objective"] == objective and objective in fast.summary()
    with pytest.raises(ValueError, match="Unknown objective 'nope'"):
        tune_explainer(explainer, TEXTS, objective="nope", show_progress=False)


def test_a_clearly_losing_setting_is_dropped_before_its_last_texts(explainer, monkeypatch):
    """Rigged: the kernel 'rbf' loses on every text. It must be dropped before every text is scored,
    reported as dropped, and never chosen (lower lambdas lose on every text too, and go the same way)."""
    scored: dict[tuple, int] = {}

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        key = (config.kernel, config.lam, config.aggregation, config.n_neighbors, config.neighbor_weighting)
        scored[key] = scored.get(key, 0) + len(items)
        return [-1.0 - 0.01 * i if config.kernel == "rbf" else 0.1 * config.lam for i, _ in enumerate(items)]

    monkeypatch.setattr(tune, "objective_values", rigged)
    result = tune_explainer(explainer, TEXTS, folds=0, layers=[1], rounds=1, steps=4, show_progress=False)
    dropped = [t for t in result.trials if "dropped_after_texts" in t]
    assert all(t["dropped_after_texts"] < len(TEXTS) for t in dropped)
    rbf = [t for t in result.trials if t["kernel"] == "rbf"]
    assert rbf and all("dropped_after_texts" in t for t in rbf)
    assert all(n < len(TEXTS) for key, n in scored.items() if key[0] == "rbf")
    assert result.config.kernel != "rbf" and result.config.tuning["settings_dropped_early"] == len(dropped)


def test_lambda_zero_is_the_base_method_and_equal_rankings_share_a_measurement(explainer):
    items = prepare_texts(explainer, TEXTS[:4], show_progress=False)
    predict = Predictor(explainer.model, explainer.tokenizer)
    mask = mask_string(explainer.tokenizer)
    indexes = {explainer.lafa_config.layer: explainer.index}
    config = explainer.lafa_config.replace(lam=0.0)
    zero = faithfulness_values(explainer, indexes, config, items, predict, mask, 4)
    for item, f in zip(items, zero):
        result = explainer(item.text, method=config.base_method)
        expected = faithfulness(predict, item.text, result["tokens"], None, item.target, 4, mask)
        assert f == expected  # the pipeline's base-method words, measured directly
    # another kernel changes nothing at lambda = 0: the same word order, the very same measurement
    other = faithfulness_values(explainer, indexes, config.replace(kernel="rbf"), items, predict, mask, 4)
    assert all(a is b for a, b in zip(zero, other))
    words = group_scores(items[0].meta, items[0].base_scores[0].tolist(), items[0].tokens, "word")
    assert len(items[0].by_ranking) == 1 and len(words) == len(next(iter(items[0].by_ranking))[0])


def test_only_the_best_base_methods_alone_are_searched(explainer, monkeypatch):
    """Rigged: simple_grad is best alone, then integrated_grad, then smooth_grad (the repo's own).
    With max_base_methods=2, no setting with lambda > 0 uses smooth_grad; with None, some do."""
    rank = {"simple_grad": 3.0, "integrated_grad": 2.0, "smooth_grad": 1.0}

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        return [rank[config.base_method] + config.lam for _ in items]

    monkeypatch.setattr(tune, "objective_values", rigged)
    bases = ["smooth_grad", "integrated_grad", "simple_grad"]
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=bases)
    two = tune_explainer(explainer, TEXTS, max_base_methods=2, **kwargs)
    assert {t["base_method"] for t in two.trials if t["lam"] > 0} == {"simple_grad", "integrated_grad"}
    assert two.config.base_method == "simple_grad" and set(two.config.tuning["base_methods"]) == set(bases)
    every = tune_explainer(explainer, TEXTS, max_base_methods=None, **kwargs)
    assert {t["base_method"] for t in every.trials if t["lam"] > 0} == set(bases)
    with pytest.raises(ValueError, match="max_base_methods must be a positive integer"):
        tune_explainer(explainer, TEXTS, max_base_methods=0, show_progress=False)
    assert np.isfinite(two.best_value)


def test_the_model_card_words_every_objective():
    """card.py is copied to the Hub as remote code without the faithfulness package, so it names the
    objectives itself: the two lists must agree."""
    from lafa_pipeline.card import OBJECTIVE_WORDS, tuning_text

    assert set(OBJECTIVE_WORDS) == set(OBJECTIVES)
    tuning = {"tuning_texts": 5, "settings_tried": 3, "objective": "all_four", "tuned_value": 0.2, "base_value": 0.1}
    assert "comprehensiveness minus sufficiency" in tuning_text({**tuning, "gain": 0.1})


def test_a_base_method_far_behind_alone_stops_early(explainer, monkeypatch):
    """Rigged: simple_grad alone loses on every text; it is dropped before its last texts and reported as
    such (None), the others keep their full means."""
    scored: dict[str, int] = {}

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        if config.lam == 0:
            scored[config.base_method] = scored.get(config.base_method, 0) + len(items)
        return [-5.0 - 0.01 * i if config.base_method == "simple_grad" else 0.1 for i, _ in enumerate(items)]

    monkeypatch.setattr(tune, "objective_values", rigged)
    bases = ["smooth_grad", "simple_grad", "integrated_grad"]
    result = tune_explainer(
        explainer, TEXTS, folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=bases
    )
    alone = result.config.tuning["base_methods"]
    assert alone["simple_grad"] is None and scored["simple_grad"] < len(TEXTS)
    assert alone["smooth_grad"] == pytest.approx(0.1) and alone["integrated_grad"] == pytest.approx(0.1)
    assert "simple_grad (dropped early)" in result.summary()
    from lafa_pipeline.card import tuning_text

    assert "simple_grad (dropped early, clearly behind)" in tuning_text(result.config.tuning)
