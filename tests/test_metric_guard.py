"""``lafa tune``'s metric guard: a LAFA setting is chosen only if, on the tuning texts, it is at least as
good as the best base method alone on each of the four faithfulness metrics, not only on the objective
that averages them."""

from __future__ import annotations

import numpy as np
import pytest

from lafa_pipeline.apps import cli
from lafa_pipeline.card import tuning_text
from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string
from lafa_pipeline.faithfulness.metrics import Faithfulness
from lafa_pipeline.faithfulness.tuning import (
    faithfulness_values,
    prepare_texts,
    race,
    search,
    tune_explainer,
    tuned_fields,
)
from lafa_pipeline.metric_registry import METRIC_REGISTRY, names
from lafa_pipeline.tuning_report import TuningReport

from .tiny import TEXTS

KWARGS = dict(folds=0, layers=[1], rounds=1, steps=4, show_progress=False, base_methods=["smooth_grad"])


GUARDED = [METRIC_REGISTRY.get(m) for m in names("faithfulness", objective=False)]


def _rig(monkeypatch, insertion_loss: float) -> None:
    """Rigged metrics: every LAFA setting (lambda > 0) gains 0.2 x lambda on deletion and loses
    ``insertion_loss`` x lambda on insertion; the paper aggregation's lambda 0.1 loses nothing."""

    def rigged(expl, indexes, config, items, *args, **kwargs):
        lam = min(config.lam, 1.0)
        loss = 0.0 if (config.aggregation, config.lam) == ("paper", 0.1) else insertion_loss * lam
        return [Faithfulness(0.5 - 0.2 * lam, 0.5 - loss, 0.3, 0.2) for _ in items]

    monkeypatch.setattr(search, "faithfulness_values", rigged)


def test_a_setting_that_loses_a_metric_to_the_base_is_not_chosen(explainer, monkeypatch):
    """The objective prefers large lambdas (deletion gains more than insertion loses); the guard takes
    the one setting that loses nothing, and without the guard the objective's best is chosen."""
    _rig(monkeypatch, insertion_loss=0.05)
    unguarded = tune_explainer(explainer, TEXTS, metric_guard=False, **KWARGS)
    assert unguarded.config.lam > 0.1 and unguarded.report.metric_guard is False
    assert unguarded.report.settings_refused_by_guard == 0
    guarded = tune_explainer(explainer, TEXTS, **KWARGS)
    assert (guarded.config.aggregation, guarded.config.lam) == ("paper", 0.1)
    assert guarded.report.metric_guard is True and guarded.report.settings_refused_by_guard > 0
    assert guarded.best_value < unguarded.best_value  # what the guard costs on the objective
    assert "refused by the metric guard" in guarded.summary() and "refused" not in unguarded.summary()
    assert "not clearly below (2 standard errors) the best base" in tuning_text(guarded.config.tuning)
    assert "clearly below" not in tuning_text(unguarded.config.tuning)
    assert guarded.best_value > guarded.base_value


def test_without_a_loss_the_guard_changes_nothing(explainer, monkeypatch):
    _rig(monkeypatch, insertion_loss=0.0)
    unguarded = tune_explainer(explainer, TEXTS, metric_guard=False, **KWARGS)
    guarded = tune_explainer(explainer, TEXTS, **KWARGS)
    assert {k: getattr(guarded.config, k) for k in tuned_fields()} == {
        k: getattr(unguarded.config, k) for k in tuned_fields()
    }
    assert guarded.report.settings_refused_by_guard == 0


def test_a_loss_within_the_noise_is_not_refused(explainer, monkeypatch):
    """Insertion of every LAFA setting is a little lower on average than the base's (so a guard on means
    alone would refuse them all) but scattered +-0.2 around it from text to text: not clearly below,
    so the guard takes the objective's best, as without it."""

    def rigged(expl, indexes, config, items, *args, **kwargs):
        lam = min(config.lam, 1.0)
        noise = [0.2 * (-1) ** (TEXTS.index(item.text) + 1) * (lam > 0) for item in items]
        return [Faithfulness(0.5 - 0.2 * lam, 0.5 - 0.01 * lam + n, 0.3, 0.2) for n in noise]

    monkeypatch.setattr(search, "faithfulness_values", rigged)
    unguarded = tune_explainer(explainer, TEXTS, metric_guard=False, **KWARGS)
    guarded = tune_explainer(explainer, TEXTS, **KWARGS)
    assert guarded.config.lam > 0.1 and guarded.report.settings_refused_by_guard == 0
    assert {k: getattr(guarded.config, k) for k in tuned_fields()} == {
        k: getattr(unguarded.config, k) for k in tuned_fields()
    }
    chosen = guarded.config
    insertion = np.array([f.insertion_auc for f in rigged(None, None, chosen, prepare_texts(explainer, TEXTS, False))])
    assert insertion.mean() < 0.5  # its mean is below the base's 0.5: only the noise makes it a tie


def test_the_chosen_setting_is_never_clearly_below_the_best_base_alone_on_any_metric(explainer):
    """Not rigged (the tiny model's own masked outputs): the pick, re-measured on the tuning texts, is
    not clearly below (2 standard errors) any base method alone on any metric, or is a base method alone."""
    bases = ["smooth_grad", "simple_grad", "integrated_grad"]
    result = tune_explainer(explainer, TEXTS, **{**KWARGS, "base_methods": bases})
    items = prepare_texts(explainer, TEXTS, show_progress=False, signed=True)  # tuned signed, the default
    predict, mask = Predictor(explainer.model, explainer.tokenizer), mask_string(explainer.tokenizer)

    def per_text(config):
        indexes = {config.layer: result.index if config.lam > 0 else explainer.index}
        found = faithfulness_values(explainer, indexes, config, items, predict, mask, 4, signed=True)
        return np.array([[m.oriented(m.compute(f)) for m in GUARDED] for f in found])

    objective = {b: v for b, v in result.report.base_methods.items() if v is not None}
    best_base = explainer.lafa_config.replace(lam=0.0, base_method=max(objective, key=objective.get))
    if result.config.lam > 0:
        gains = per_text(result.config) - per_text(best_base)
        assert (gains.mean(axis=0) + 2.0 * gains.std(axis=0, ddof=1) / np.sqrt(len(gains)) >= 0).all()
    else:
        assert result.config.base_method in bases


def test_the_cli_can_turn_the_guard_off(explainer, tmp_path, monkeypatch):
    _rig(monkeypatch, insertion_loss=0.05)
    repo, data = tmp_path / "repo", tmp_path / "texts.txt"
    explainer.save_pretrained(repo)
    data.write_text("\n".join(TEXTS) + "\n")
    common = ["tune", "--data", str(data), "--model", str(repo), "--folds", "0", "--layers", "1", "--rounds", "1"]
    common += ["--base-methods", "smooth_grad", "--steps", "4"]
    for flag, lam_ok in (("--metric-guard", lambda lam: lam == 0.1), ("--no-metric-guard", lambda lam: lam > 0.1)):
        out = tmp_path / flag.strip("-")
        assert cli.main(common + [flag, "--output", str(out)]) == 0
        from lafa_pipeline import load_explainer

        config = load_explainer(str(out)).lafa_config
        saved = TuningReport.from_dict(config.tuning)  # the record saved with the repo reads back typed
        assert saved.metric_guard is (flag == "--metric-guard") and lam_ok(config.lam)


def test_the_cross_validated_check_refuses_a_loss_the_search_let_through(explainer, monkeypatch):
    """With the search's guard out of the way (every setting admissible), the search picks a setting that
    loses insertion; the folds' texts show the loss (each measured against its fold's base), so the
    check keeps the base method alone and says why. Without the guard the pick stands."""
    _rig(monkeypatch, insertion_loss=0.05)
    monkeypatch.setattr(race.Race, "admissible", lambda self, config: True)
    kwargs = {**KWARGS, "folds": 3}
    guarded = tune_explainer(explainer, TEXTS, **kwargs)
    tuning = guarded.report
    assert guarded.config.lam == 0 and tuning.kept_base and tuning.kept_base_for == ["insertion_auc"]
    rejected_lam = min(tuning.rejected["lam"], 1.0)
    held = tuning.held_out
    assert held.below == ["insertion_auc"] and held.metrics["insertion_auc"].n == len(TEXTS)
    # every fold picks the same setting on these rigged metrics: its loss and gain, per text, known exactly
    assert np.isclose(held.metrics["insertion_auc"].mean_diff, -0.05 * rejected_lam)
    assert np.isclose(held.metrics["deletion_auc"].mean_diff, 0.2 * rejected_lam)
    assert "clearly below the base method on insertion_auc" in guarded.summary()
    assert "clearly below the base method on insertion_auc" in tuning_text(guarded.config.tuning)
    unguarded = tune_explainer(explainer, TEXTS, metric_guard=False, **kwargs)
    assert unguarded.config.lam > 0 and not unguarded.report.kept_base


def test_guard_z_is_checked(explainer):
    for bad in (-1.0, "2", True):
        with pytest.raises(ValueError, match="guard_z"):
            tune_explainer(explainer, TEXTS, guard_z=bad, **KWARGS)
