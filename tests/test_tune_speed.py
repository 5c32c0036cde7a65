"""What makes ``lafa tune`` affordable changes nothing it should not: early dropping keeps the full
search's choice, settings that rank words alike share one measurement, lambda = 0 is the base method
read without a neighbor search, only the best base methods alone are searched with LAFA, the texts
tuned on fit the token budget, and a base method whose references cost more than the reference
budget is compared alone only."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from transformers import pipeline

from lafa_pipeline import LafaIndex
from lafa_pipeline.aggregation import AGGREGATION_REGISTRY
from lafa_pipeline.card import tuning_text
from lafa_pipeline.faithfulness import tuning as tune
from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string
from lafa_pipeline.faithfulness.metrics import faithfulness
from lafa_pipeline.faithfulness.tuning import TuneOptions, Tuner, faithfulness_values, prepare_texts, tune_explainer
from lafa_pipeline.faithfulness.tuning import texts as tuning_texts
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.metric_registry import METRIC_REGISTRY, names
from lafa_pipeline.model_adapter import ModelAdapter, counting_work, remembering_predictions
from lafa_pipeline.words import group_scores

from .tiny import TEXTS, rig_objective


def _choice(result):
    return {k: getattr(result.config, k) for k in tune.tuned_fields()}


@pytest.mark.parametrize("objective", names("faithfulness", objective=True))
def test_early_stopping_keeps_the_full_search_choice(explainer, objective):
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, objective=objective)
    kwargs["every_aggregation_fully"] = True  # racing alone (the aggregation shortcut: the next test)
    full = tune_explainer(explainer, TEXTS, early_stop=False, **kwargs)
    fast = tune_explainer(explainer, TEXTS, early_stop=True, **kwargs)
    assert _choice(fast) == _choice(full) and fast.best_value == pytest.approx(full.best_value)
    assert full.report.settings_dropped_early == 0
    assert fast.report.objective == objective and objective in fast.summary()
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

    rig_objective(monkeypatch, rigged)
    result = tune_explainer(explainer, TEXTS, folds=0, layers=[1], rounds=1, steps=4, show_progress=False)
    dropped = [t for t in result.trials if "dropped_after_texts" in t]
    assert all(t["dropped_after_texts"] < len(TEXTS) for t in dropped)
    rbf = [t for t in result.trials if t["kernel"] == "rbf"]
    assert rbf and all("dropped_after_texts" in t for t in rbf)
    assert all(n < len(TEXTS) for key, n in scored.items() if key[0] == "rbf")
    assert result.config.kernel != "rbf" and result.report.settings_dropped_early == len(dropped)


@pytest.mark.parametrize("median_wins", [False, True])
def test_later_aggregations_start_from_the_best_setting_and_search_fully_only_if_they_win(
    explainer, monkeypatch, median_wins
):
    """Rigged (the repo's aggregation is 'paper'): under 'paper' the cubic kernel with 10 neighbors is
    best. 'normalized' and 'median' then start from there and vary their own settings (lambda,
    weighting) only, since neither beats it; unless 'median' wins, which then searches the kernel and
    neighbors too, and is chosen."""

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        value = (config.kernel == "cubic") + (config.n_neighbors == 10) - 0.01 * config.lam
        bonus = 3.0 if median_wins and config.aggregation == "median" else -0.5 * (config.aggregation != "paper")
        return [value + bonus for _ in items]

    rig_objective(monkeypatch, rigged)
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=["smooth_grad"])
    assert explainer.lafa_config.aggregation == "paper"
    result = tune_explainer(explainer, TEXTS, **kwargs)
    later = [t for t in result.trials if t["aggregation"] != "paper" and t["lam"] > 0]
    assert {t["aggregation"] for t in later} == {"normalized", "median"}
    if median_wins:
        assert result.config.aggregation == "median" and (result.config.kernel, result.config.n_neighbors) == (
            "cubic",
            10,
        )
        assert {t["kernel"] for t in later if t["aggregation"] == "median"} > {"cubic"}  # searched fully
        assert all((t["kernel"], t["n_neighbors"]) == ("cubic", 10) for t in later if t["aggregation"] == "normalized")
    else:
        assert (result.config.aggregation, result.config.kernel, result.config.n_neighbors) == ("paper", "cubic", 10)
        assert all((t["kernel"], t["n_neighbors"]) == ("cubic", 10) for t in later)
    every = tune_explainer(explainer, TEXTS, every_aggregation_fully=True, **kwargs)
    assert len(every.trials) > len(result.trials) and _choice(every) == _choice(result)


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
    """Rigged: simple_grad is best alone, then integrated_grad, then smooth_grad (the repo's own), with
    per-text noise that keeps any of them from being clearly behind. With max_base_methods=2, no
    setting with lambda > 0 uses smooth_grad; with None, some do."""
    rank = {"simple_grad": 3.0, "integrated_grad": 2.0, "smooth_grad": 1.0}
    offset = {"simple_grad": 0, "integrated_grad": 1, "smooth_grad": 1}

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        noise = [3.0 if (TEXTS.index(i.text) + offset[config.base_method]) % 2 else -3.0 for i in items]
        return [rank[config.base_method] + config.lam + n for n in noise]

    rig_objective(monkeypatch, rigged)
    bases = ["smooth_grad", "integrated_grad", "simple_grad"]
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=bases)
    two = tune_explainer(explainer, TEXTS, max_base_methods=2, **kwargs)
    assert {t["base_method"] for t in two.trials if t["lam"] > 0} == {"simple_grad", "integrated_grad"}
    assert two.config.base_method == "simple_grad" and set(two.report.base_methods) == set(bases)
    every = tune_explainer(explainer, TEXTS, max_base_methods=None, **kwargs)
    assert {t["base_method"] for t in every.trials if t["lam"] > 0} == set(bases)
    with pytest.raises(ValueError, match="max_base_methods must be a positive integer"):
        tune_explainer(explainer, TEXTS, max_base_methods=0, show_progress=False)
    assert np.isfinite(two.best_value)


def test_a_base_method_clearly_behind_the_best_alone_is_not_searched_with_lafa(explainer, monkeypatch):
    """Rigged without noise: smooth_grad and integrated_grad alone are behind simple_grad on every text.
    Even with every base allowed (max_base_methods=None) only simple_grad is searched with LAFA, and the
    summary names the others; the full search (early_stop=False) still searches all three."""
    rank = {"simple_grad": 3.0, "integrated_grad": 2.0, "smooth_grad": 1.0}

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        return [rank[config.base_method] + config.lam for _ in items]

    rig_objective(monkeypatch, rigged)
    bases = ["smooth_grad", "integrated_grad", "simple_grad"]
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=bases)
    result = tune_explainer(explainer, TEXTS, max_base_methods=None, **kwargs)
    assert {t["base_method"] for t in result.trials if t["lam"] > 0} == {"simple_grad"}
    assert result.config.base_method == "simple_grad" and result.config.lam > 0
    assert result.report.behind_best_alone == ["smooth_grad", "integrated_grad"]
    assert "clearly behind the best base method alone: smooth_grad, integrated_grad" in result.summary()
    full = tune_explainer(explainer, TEXTS, max_base_methods=None, early_stop=False, **kwargs)
    assert {t["base_method"] for t in full.trials if t["lam"] > 0} == set(bases)


def test_the_model_card_words_every_objective():
    """The card (remote code, without the faithfulness package) words each objective from the core metric
    registry: every objective the tuner takes has its meaning in the card."""
    tuning = {"tuning_texts": 5, "settings_tried": 3, "tuned_value": 0.2, "base_value": 0.1, "gain": 0.1}
    for objective in names("faithfulness", objective=True):
        text = tuning_text({**tuning, "objective": objective})
        assert METRIC_REGISTRY.get(objective).description in text and "higher is better" in text


def test_a_base_method_far_behind_alone_stops_early(explainer, monkeypatch):
    """Rigged: simple_grad alone loses on every text; it is dropped before its last texts and reported as
    such (None), the others keep their full means."""
    scored: dict[str, int] = {}

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        if config.lam == 0:
            scored[config.base_method] = scored.get(config.base_method, 0) + len(items)
        return [-5.0 - 0.01 * i if config.base_method == "simple_grad" else 0.1 for i, _ in enumerate(items)]

    rig_objective(monkeypatch, rigged)
    bases = ["smooth_grad", "simple_grad", "integrated_grad"]
    result = tune_explainer(
        explainer, TEXTS, folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=bases
    )
    alone = result.report.base_methods
    assert alone["simple_grad"] is None and scored["simple_grad"] < len(TEXTS)
    assert alone["smooth_grad"] == pytest.approx(0.1) and alone["integrated_grad"] == pytest.approx(0.1)
    assert "simple_grad (dropped early)" in result.summary()
    from lafa_pipeline.card import tuning_text

    assert "simple_grad (dropped early, clearly behind)" in tuning_text(result.config.tuning)


def test_model_work_counts_token_positions_and_gradient_passes_thrice(model):
    """A forward pass over 3 texts of 5 positions is 15 tokens of work; a differentiated one 45;
    nested counts both see it, and nothing is counted outside a block."""
    adapter = ModelAdapter(model)
    embeds = adapter.embed(torch.randint(5, 20, (3, 5)))
    mask = torch.ones(3, 5, dtype=torch.long)
    with counting_work() as outer:
        with torch.no_grad():
            adapter.forward(embeds, mask)
        with counting_work() as inner:
            adapter.forward(embeds.detach().requires_grad_(True), mask).sum().backward()
    adapter.forward(embeds.detach(), mask)
    assert (outer.tokens, inner.tokens) == (15 + 45, 45)


def test_remembered_pooled_states_are_the_model_s_and_run_it_once(model):
    """Inside ``remembering_predictions`` a second call for the same inputs, layer and pooling runs
    no model pass and returns what a call outside the block computes; other inputs or another layer
    run the model, and calls without a layer (masked texts) are not kept."""
    adapter = ModelAdapter(model)
    ids, mask = torch.randint(5, 20, (2, 6)), torch.ones(2, 6, dtype=torch.long)
    fresh = adapter.predict(ids, mask, layer=1)
    with remembering_predictions() as memory, counting_work() as work:
        first = adapter.predict(ids, mask, layer=1)
        again = adapter.predict(ids.clone(), mask.clone(), layer=1)
        assert work.tokens == 12 and len(memory) == 1
        adapter.predict(ids, mask, layer=2)
        adapter.predict(ids.flip(1), mask, layer=1)
        adapter.predict(ids, mask)
        assert work.tokens == 12 * 4 and len(memory) == 3
    for a, b in zip((first, again), (fresh, fresh)):
        assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    with counting_work() as work:  # outside the block: the model runs again
        adapter.predict(ids, mask, layer=1)
    assert work.tokens == 12


def test_remembering_pooled_states_changes_no_value_of_the_search(explainer, monkeypatch):
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False)
    remembered = tune_explainer(explainer, TEXTS, **kwargs)
    monkeypatch.setattr(tune, "remembering_predictions", contextlib.nullcontext)
    recomputed = tune_explainer(explainer, TEXTS, **kwargs)
    objective = remembered.report.objective
    assert _choice(remembered) == _choice(recomputed) and len(remembered.trials) > 1
    assert [t[objective] for t in remembered.trials] == pytest.approx([t[objective] for t in recomputed.trials])


def test_folds_are_not_searched_when_the_pick_is_a_base_method_alone(explainer, monkeypatch):
    """Rigged: every LAFA setting loses to its base alone, so the pick is a base method alone; the
    folds could only overturn a LAFA pick, so they are skipped (and said so), except in the full
    search, which still cross-validates and reaches the same pick."""
    searches = []
    original = Tuner.search

    def counted(self, ids):
        searches.append(len(ids))
        return original(self, ids)

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        return [-config.lam for _ in items]

    monkeypatch.setattr(Tuner, "search", counted)
    rig_objective(monkeypatch, rigged)
    kwargs = dict(folds=3, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=["simple_grad"])
    fast = tune_explainer(explainer, TEXTS, **kwargs)
    assert searches == [len(TEXTS)] and fast.config.lam == 0.0 and fast.holdout is None
    tuning = fast.report
    assert tuning.folds_skipped == 3 and tuning.fold_picks is None and "fold_picks" not in fast.config.tuning
    assert "not cross-validated (3 folds)" in fast.summary()
    assert "Not cross-validated (3 folds)" in tuning_text(fast.config.tuning)
    searches.clear()
    full = tune_explainer(explainer, TEXTS, early_stop=False, **kwargs)
    assert len(searches) == 4 and full.holdout.folds == 3 and full.report.folds_skipped is None
    assert _choice(full) == _choice(fast)


def test_tuning_runs_on_a_seeded_sample_within_the_token_budget(explainer, monkeypatch):
    monkeypatch.setattr(tuning_texts, "MIN_TUNING_TEXTS", 4)
    rig_objective(monkeypatch, lambda expl, ix, config, items, *a, **k: [config.lam for _ in items])
    lengths = {t: len(explainer.tokenizer(t)["input_ids"]) for t in TEXTS}
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=["smooth_grad"])
    results = [tune_explainer(explainer, TEXTS, max_tokens=30, seed=seed, **kwargs) for seed in (0, 0, 1)]
    samples = [[TEXTS[i] for i in tune.sample_texts(explainer, TEXTS, 30, seed)] for seed in (0, 0, 1)]
    assert samples[0] == samples[1] != samples[2]  # seeded
    for sample, result in zip(samples, results):
        assert 4 <= len(sample) < len(TEXTS) and sum(lengths[t] for t in sample) <= 30
        assert result.n_texts == len(sample) and result.report.texts_given == len(TEXTS)
        assert f"sample of {len(sample)} of the {len(TEXTS)} texts" in result.summary()
        assert f"seeded sample of {len(sample)} of the {len(TEXTS)} given" in tuning_text(result.config.tuning)
    held = tune_explainer(explainer, TEXTS, holdout=0.25, **{**kwargs, "folds": None})  # no sample: all fit
    assert held.n_texts < len(TEXTS) and "sample" not in held.summary() + tuning_text(held.config.tuning)
    # the smallest sample still holds MIN_TUNING_TEXTS texts; None takes every text
    everything = list(range(len(TEXTS)))
    assert (
        len(tune.sample_texts(explainer, TEXTS, 1, 0)) == 4
        and tune.sample_texts(explainer, TEXTS, None, 0) == everything
    )
    with pytest.raises(ValueError, match="max_tokens must be a positive integer or None"):
        tune_explainer(explainer, TEXTS, max_tokens=0, show_progress=False)


def test_a_base_method_over_the_reference_budget_is_compared_alone_only(explainer, monkeypatch):
    """Rigged: integrated_grad is best alone and gains with lambda. Its estimated cost of scoring the
    references decides: just under the budget it is searched with LAFA, just over it only alone (and
    LAFA then starts from the repo's own base method); the estimate is its model work per token on
    the tuning texts times the tokens of the references the search can read that it has no scores of."""

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):  # noisy: neither clearly behind
        ig = config.base_method == "integrated_grad"
        noise = [3.0 if (TEXTS.index(i.text) + ig) % 2 else -3.0 for i in items]
        return [(2.0 if ig else 1.0) + config.lam + n for n in noise]

    rig_objective(monkeypatch, rigged)
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False)
    kwargs["base_methods"] = ["smooth_grad", "integrated_grad"]
    over = tune_explainer(explainer, TEXTS, reference_budget=0, **kwargs)
    cost = over.report.over_reference_budget["integrated_grad"]
    items = prepare_texts(explainer, TEXTS[:1], show_progress=False)  # what it measured: one text (rigged)
    config = explainer.lafa_config.replace(base_method="integrated_grad")
    lafa = Lafa(explainer.model, explainer.index, config)
    for item in items:
        tune.scores_for(explainer, item, lafa)
    per_token = sum(i.work["integrated_grad"] for i in items) / sum(i.inputs["attention_mask"].numel() for i in items)
    reachable = _tuner(explainer, TEXTS, kwargs["base_methods"], [1]).reachable_tokens("integrated_grad")
    assert cost == pytest.approx(per_token * reachable)
    assert {t["base_method"] for t in over.trials if t["lam"] > 0} == {"smooth_grad"}
    assert over.report.base_methods["integrated_grad"] == pytest.approx(2.0)  # compared alone
    assert "integrated_grad: compared alone only" in over.summary()
    assert "Compared alone only" in tuning_text(over.config.tuning) and "integrated_grad." in tuning_text(
        over.config.tuning
    )
    under = tune_explainer(explainer, TEXTS, reference_budget=cost * 1.01, **kwargs)
    assert not under.report.over_reference_budget and under.config.base_method == "integrated_grad"
    assert under.config.lam > 0
    just_over = tune_explainer(explainer, TEXTS, reference_budget=cost * 0.99, **kwargs)
    assert set(just_over.report.over_reference_budget) == {"integrated_grad"}
    with pytest.raises(ValueError, match="reference_budget must be a number >= 0 or None"):
        tune_explainer(explainer, TEXTS, reference_budget=-1, show_progress=False)


def _tuner(explainer, texts, bases, layers):
    """A tuner as ``tune_explainer`` sets one up (prepared texts, a lazy index per base and layer)."""
    start = explainer.lafa_config
    return Tuner(
        explainer,
        prepare_texts(explainer, texts, show_progress=False),
        tune.indexes_by_base(explainer, bases, layers, show_progress=False),
        [start.replace(lam=0.0, base_method=b) for b in bases],
        layers,
        TuneOptions(steps=4, rounds=1, max_base_methods=None, show_progress=False, reference_budget=None).checked(),
    )


def test_the_reference_budget_counts_the_references_the_search_can_read(model, tokenizer, explainer):
    """The estimate's tokens are those of the scores a search can read: on the 16-text index (8 a label)
    every same-label reference of the texts' targets is among their 20 nearest, so exactly those rows;
    on a 60-reference index two texts reach under half of it, and LAFA at every layer searched, with
    the most neighbors any setting takes, scores no row outside the estimate in the lazy copy."""
    tuner = _tuner(explainer, TEXTS[:3], ["smooth_grad", "integrated_grad"], [1, 2])
    index = explainer.index
    targets = {item.target for item in tuner.items}
    expected = sum(len(index.token_ids(r)) for r in range(len(index)) if index.labels(r)[0] in targets)
    assert tuner.reachable_tokens("integrated_grad") == expected

    rng = np.random.default_rng(0)
    words = "good bad film movie great awful plot acting fun boring dull brilliant".split()
    refs = [" ".join(rng.choice(words, size=int(rng.integers(2, 7)))) for _ in range(60)]
    big = LafaIndex.build(
        model, tokenizer, refs, labels=[i % 2 for i in range(60)], config=index.config, show_progress=False
    )
    wide = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=big)
    tuner = _tuner(wide, TEXTS[:2], ["smooth_grad", "integrated_grad"], [1, 2])
    estimate = tuner.reachable_tokens("integrated_grad")
    lazy = tuner.by_base["integrated_grad"]
    whole = lazy[1].missing_tokens
    assert 0 < estimate < whole / 2
    most = max(
        n
        for name in AGGREGATION_REGISTRY.names
        for n in AGGREGATION_REGISTRY.get(name).search_space.get("n_neighbors", ())
    )
    for layer, layer_index in lazy.items():
        config = wide.lafa_config.replace(base_method="integrated_grad", layer=layer, n_neighbors=most)
        lafa = Lafa(model, layer_index, config)
        for item in tuner.items:
            lafa.attribute(item.inputs["input_ids"], item.inputs["attention_mask"], targets=[item.target])
    assert 0 < whole - lazy[1].missing_tokens <= estimate
