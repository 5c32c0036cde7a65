"""The metric registry is the one place a metric's direction, family and meaning live: evaluation, the
tuner's objectives and guard, the card and the CLI read it, so a metric registered by a user is measured,
tuned on and worded without another edit."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import lafa_pipeline
from lafa_pipeline.apps import cli
from lafa_pipeline.card import tuning_text
from lafa_pipeline.faithfulness.evaluate import Predictor, evaluate_explainer, mask_string
from lafa_pipeline.faithfulness.tuning import GoldWords, TuneOptions, objective_values, prepare_texts, tune_explainer
from lafa_pipeline.metric_registry import METRIC_REGISTRY, Metric, names, pearson, register_metric
from lafa_pipeline.words import scores_per_word

from .tiny import TEXTS

TOY = Metric(
    "toy_insertion",
    True,
    "faithfulness",
    lambda f: f.insertion_auc,
    "the insertion area alone",
    objective=True,
)


@pytest.fixture
def toy_metric():
    register_metric(TOY)
    yield TOY
    METRIC_REGISTRY.remove(TOY.name)


def test_a_registered_metric_is_an_objective_the_tuner_maximises(explainer, toy_metric):
    kwargs = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, max_tokens=None)
    result = tune_explainer(explainer, TEXTS, TuneOptions(objective=toy_metric.name, **kwargs))
    assert result.report.objective == toy_metric.name
    # the pick's value is the mean insertion area of its scores on the tuning texts, measured afresh
    items = prepare_texts(explainer, TEXTS, show_progress=False, signed=True)  # tuned signed, the default
    predict, mask = Predictor(explainer.model, explainer.tokenizer), mask_string(explainer.tokenizer)
    indexes = {result.config.layer: result.index}
    values = objective_values(explainer, indexes, result.config, items, predict, mask, 4, toy_metric.name, signed=True)
    assert np.mean(values) == pytest.approx(result.best_value, abs=1e-6)
    alone = [v for v in result.report.base_methods.values() if v is not None]
    assert result.best_value >= max(alone) - 1e-12  # never below a base method alone by its own objective
    assert "the insertion area alone, higher is better" in tuning_text(result.config.tuning)
    # the CLI offers it, and the evaluation reports it with its direction
    parsed = cli.build_parser().parse_args(["tune", "--data", "x.txt", "--objective", toy_metric.name])
    assert parsed.objective == toy_metric.name
    report = evaluate_explainer(explainer, TEXTS[:3], methods=["simple_grad"], steps=4, show_progress=False)
    assert f"{toy_metric.name} ↑" in report.table()
    assert report.per_text["simple_grad"][toy_metric.name] == report.per_text["simple_grad"]["insertion_auc"]


def test_only_faithfulness_metrics_can_be_objectives_and_families_are_checked():
    with pytest.raises(ValueError, match="only faithfulness metrics can be objectives"):
        register_metric(Metric("bad", True, "gold", lambda s, g: 0.0, "x", objective=True))
    with pytest.raises(ValueError, match="Unknown metric family 'made_up'; valid choices: faithfulness"):
        register_metric(Metric("bad", True, "made_up", lambda f: 0.0, "x"))
    assert "bad" not in METRIC_REGISTRY
    with pytest.raises(ValueError, match="Unknown objective 'token_auc'"):
        TuneOptions(objective="token_auc").checked()  # a gold metric needs gold the tuner does not have


def test_the_guard_reads_every_faithfulness_metric_that_is_not_an_objective():
    measured = names("faithfulness", objective=False)
    assert measured == ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")
    assert [METRIC_REGISTRY.get(m).sign for m in measured] == [-1.0, 1.0, 1.0, -1.0]
    assert all(not METRIC_REGISTRY.get(m).needs_gold for m in measured)
    assert all(METRIC_REGISTRY.get(m).needs_gold for m in names("gold"))


def test_one_definition_of_each_direction():
    """No module of the package keeps a table of metric directions beside the registry."""
    package = Path(lafa_pipeline.__file__).parent
    metric_names = set(METRIC_REGISTRY.names)
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict) and node.keys:
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                values = [v for v in node.values if isinstance(v, ast.Constant)]
                directions = values and all(isinstance(v.value, (bool, float)) for v in values)
                assert not (len(keys & metric_names) >= 2 and directions), f"{path.name}: a table of directions"


def _gold_words(text: str, seed: int) -> GoldWords:
    """Whitespace words of ``text`` with seeded gold values."""
    spans, start = [], 0
    for word in text.split():
        start = text.index(word, start)
        spans.append((start, start + len(word)))
        start += len(word)
    return GoldWords(spans, np.random.default_rng(seed).normal(size=len(spans)).tolist())


def test_the_tuner_tunes_on_gold_words_with_a_gold_metric(explainer):
    """The one tuner takes gold: each text's gold words and the class to explain; the pick's value is the
    mean Pearson of its scores, summed inside each gold word's span, against the gold, and that is what
    the pipeline explaining with the pick gives, text by text."""
    texts = [t for t in TEXTS if len(t.split()) > 2]
    gold = [_gold_words(t, i) for i, t in enumerate(texts)]
    targets = [i % 2 for i in range(len(texts))]
    options = TuneOptions(objective="pearson", folds=0, layers=[1], rounds=1, show_progress=False, max_tokens=None)
    with pytest.raises(ValueError, match="Unknown objective 'pearson'"):
        tune_explainer(explainer, texts, options)  # without gold there is nothing to compare with
    with pytest.raises(ValueError, match=f"2 gold for {len(texts)} texts"):
        tune_explainer(explainer, texts, options, gold=gold[:2])
    result = tune_explainer(explainer, texts, options, targets=targets, gold=gold)
    assert result.report.objective == "pearson" and result.report.settings_refused_by_guard == 0
    result.apply(explainer)
    by_pipeline = []
    for text, words, target in zip(texts, gold, targets):
        tokens = explainer(text, target=target, aggregation_strategy="none")["tokens"]
        by_pipeline.append(pearson(scores_per_word(words.spans, tokens), words.values))
    assert np.nanmean(by_pipeline) == pytest.approx(result.best_value, abs=1e-5)
    assert "Pearson correlation with gold word scores, higher is better" in tuning_text(result.config.tuning)
