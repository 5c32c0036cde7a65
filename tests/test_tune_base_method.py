"""``lafa tune`` chooses the base method too: every base alone is a candidate, and switching base
re-scores the references LAFA needs, equal to an index built for that base."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import pipeline

from lafa_pipeline import LafaIndex, load_explainer
from lafa_pipeline.faithfulness.tuning import tune_explainer
from lafa_pipeline.lafa import Lafa

from .compare import assert_same_results
from .tiny import INDEX_CONFIG, LABELS, TEXTS, rig_objective

BASES = ["smooth_grad", "integrated_grad", "simple_grad"]


def test_the_pick_is_never_below_the_best_base_method_alone(explainer):
    result = tune_explainer(
        explainer, TEXTS, folds=0, layers=[1], base_methods=BASES, rounds=1, steps=4, show_progress=False
    )
    alone = result.report.base_methods
    assert set(alone) == set(BASES)
    scored = {m: v for m, v in alone.items() if v is not None}  # None: raced out, clearly behind
    assert result.base_value == pytest.approx(max(scored.values()))
    assert result.best_value >= max(scored.values())
    assert {t["base_method"] for t in result.trials if t["lam"] == 0.0} == set(BASES)
    for method in set(alone) - set(scored):
        dropped = [t for t in result.trials if t["lam"] == 0.0 and t["base_method"] == method]
        assert all("dropped_after_texts" in t for t in dropped) and dropped
    with pytest.raises(ValueError, match="Unknown base method to tune 'nope'"):
        tune_explainer(explainer, TEXTS, folds=0, base_methods=["nope"], show_progress=False)


def test_a_new_base_method_scores_like_an_index_built_for_it(explainer, model, tokenizer, tmp_path, monkeypatch):
    """Rigged objective: integrated_grad with lambda 0.5 wins. The tuned explainer then equals one whose index
    was built for integrated_grad, saved and reloaded too; the repo's own index is left as it was."""
    own = explainer.index
    own_scores = own.arrays["cache_scores"].copy()

    def rigged(expl, indexes, config, items, predict, mask, steps, **_):
        assert indexes[config.layer].config.base_method == config.base_method  # scores of the right method
        win = config.base_method == "integrated_grad" and config.lam == 0.5
        return [1.0 if win else 0.0 for _ in items]

    rig_objective(monkeypatch, rigged)
    result = tune_explainer(
        explainer, TEXTS, folds=0, layers=[1], base_methods=BASES, rounds=1, steps=4, show_progress=False
    )
    monkeypatch.undo()
    assert (result.config.base_method, result.config.lam) == ("integrated_grad", 0.5)
    assert result.index.config.base_method == "integrated_grad" and result.index is not explainer.index
    result.apply(explainer)
    assert own.config.base_method == "smooth_grad" and (own.arrays["cache_scores"] == own_scores).all()
    built = LafaIndex.build(
        model,
        tokenizer,
        TEXTS,
        labels=LABELS,
        config=INDEX_CONFIG.replace(base_method="integrated_grad"),
        show_progress=False,
    )
    reference = pipeline(
        "feature-attribution", model=model, tokenizer=tokenizer, index=built, lafa_config=result.config.replace()
    )
    queries = ["good film , great acting", "the plot was boring and slow"]
    tuned = explainer(queries)
    assert all(r["base_method"] == "integrated_grad" for r in tuned)
    assert_same_results(
        [{**r, "live_neighbors": 0} for r in tuned], [{**r, "live_neighbors": 0} for r in reference(queries)]
    )
    explainer.save_pretrained(tmp_path / "tuned")
    again = load_explainer(str(tmp_path / "tuned"))
    assert again.lafa_config.base_method == "integrated_grad"
    assert_same_results(
        [{**r, "live_neighbors": 0} for r in again(queries)], [{**r, "live_neighbors": 0} for r in tuned]
    )


def test_the_tuner_scores_a_race_steps_references_before_its_texts(explainer, monkeypatch):
    """LAFA on a base method the index holds no scores of: the tuner fills the references a race step
    reads in one call per step (``Lafa.fill_scores``), so the texts, scored one at a time, compute none."""
    filled: list[int] = []
    live: list[int] = []
    fill, neighbor_scores = Lafa.fill_scores, Lafa._neighbor_scores

    def counting_fill(self, keys):
        filled.append(fill(self, keys))
        return filled[-1]

    def counting_live(self, neighbors, targets, live_scores, signed=False):
        found, counts = neighbor_scores(self, neighbors, targets, live_scores, signed)
        live.append(sum(counts))
        return found, counts

    monkeypatch.setattr(Lafa, "fill_scores", counting_fill)
    monkeypatch.setattr(Lafa, "_neighbor_scores", counting_live)
    result = tune_explainer(
        explainer,
        TEXTS,
        folds=0,
        layers=[1],
        base_methods=["integrated_grad", "smooth_grad"],
        max_base_methods=2,
        rounds=1,
        steps=4,
        early_stop=False,
        show_progress=False,
    )
    searched = [t for t in result.trials if t["base_method"] == "integrated_grad" and t["lam"] > 0]
    assert searched and sum(filled) > 0  # LAFA was searched on integrated_grad, its references filled
    assert live and sum(live) == 0


def test_cli_tune_prescore_scores_the_new_base_methods_references(
    explainer, model, tokenizer, tmp_path, monkeypatch, capsys
):
    """``lafa tune --prescore 1``: when the pick is a base method the index had no scores of, the saved
    repo holds every score a reference's own search reaches (as ``lafa build --lazy --prescore 1``),
    equal to an index built for that method; a share outside 0-1 is refused first."""
    from lafa_pipeline.apps import cli

    repo, out = tmp_path / "repo", tmp_path / "tuned"
    explainer.save_pretrained(repo)
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS) + "\n")
    args = ["tune", "--data", str(data), "--model", str(repo), "--folds", "0", "--layers", "1", "--rounds", "1"]
    args += ["--base-methods", ",".join(BASES), "--steps", "2", "--output", str(out)]
    assert cli.main([*args, "--prescore", "1.5"]) == 2
    rig_objective(
        monkeypatch,
        lambda expl, indexes, config, items, *a, **_: (
            [float(config.base_method == "integrated_grad" and config.lam == 0.5)] * len(items)
        ),
    )
    assert cli.main([*args, "--prescore", "1"]) == 0
    monkeypatch.undo()
    tuned = load_explainer(str(out))
    assert tuned.lafa_config.base_method == "integrated_grad"
    built = LafaIndex.build(
        model,
        tokenizer,
        TEXTS,
        labels=LABELS,
        config=INDEX_CONFIG.replace(base_method="integrated_grad"),
        show_progress=False,
        lazy=True,
    )
    reached = built.neighbor_counts(model, show_progress=False) > 0
    ready = tuned.index.arrays["cache_ready"].astype(bool)
    assert reached.any() and ready[reached].all()  # every reached row scored (and those the tuning read)
    built.score_missing(model, show_progress=False)
    for row in np.flatnonzero(ready):
        key = int(built.arrays["cache_ref"][row]), int(built.arrays["cache_target"][row])
        np.testing.assert_allclose(tuned.index.cached_scores(*key), built.cached_scores(*key), rtol=1e-4, atol=1e-7)
    # a base method alone (lambda 0) reads no neighbor's scores: nothing to prescore
    rig_objective(
        monkeypatch,
        lambda expl, indexes, config, items, *a, **_: [float(config.base_method == "integrated_grad")] * len(items),
    )
    capsys.readouterr()
    assert cli.main([*args[:-1], str(tmp_path / "alone"), "--prescore", "1"]) == 0
    assert "nothing to score, the pick is a base method alone" in capsys.readouterr().out


def test_cli_tune_in_place_keeps_the_scores_a_lazy_repo_index_gained(index, model, tokenizer, tmp_path, monkeypatch):
    """A repo whose index is lazy, tuned in place on its own base method and layer: the reference scores
    the tuning (and --prescore) computed are written back into the repo's index, not lost."""
    from lafa_pipeline.apps import cli

    lazy = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=INDEX_CONFIG, show_progress=False, lazy=True)
    repo = tmp_path / "repo"
    pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=lazy).save_pretrained(repo)
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS) + "\n")
    rig_objective(monkeypatch, lambda expl, indexes, config, items, *a, **_: [float(config.lam == 0.5)] * len(items))
    args = ["tune", "--data", str(data), "--model", str(repo), "--folds", "0", "--layers", "1", "--rounds", "1"]
    assert cli.main([*args, "--base-methods", "smooth_grad", "--steps", "2", "--prescore", "0.5"]) == 0
    monkeypatch.undo()
    again = load_explainer(str(repo))
    assert again.lafa_config.lam == 0.5 and again.lafa_config.base_method == "smooth_grad"
    total = len(again.index.arrays["cache_target"])
    assert 0 < total - again.index.missing_scores  # scores kept in the repo
    for row in np.flatnonzero(again.index.arrays["cache_ready"]):
        key = int(again.index.arrays["cache_ref"][row]), int(again.index.arrays["cache_target"][row])
        np.testing.assert_allclose(again.index.cached_scores(*key), index.cached_scores(*key), rtol=1e-4, atol=1e-7)


def test_auto_compares_every_signed_method_in_a_signed_tuning_and_the_default_set_otherwise(explainer):
    """The "auto" choice reads the registry: a signed tuning compares the methods with a direction, LIME and
    KernelSHAP too; a magnitude tuning the ones tuned by default; the repo's own always comes first."""
    from lafa_pipeline.base_methods import BASE_METHOD_REGISTRY
    from lafa_pipeline.config import indexable_base_methods
    from lafa_pipeline.faithfulness.tuning import base_method_choices

    entries = {m: BASE_METHOD_REGISTRY.get(m) for m in indexable_base_methods()}
    own = explainer.lafa_config.base_method
    signed = base_method_choices(explainer, "auto", signed=True)
    plain = base_method_choices(explainer, "auto")
    assert signed[0] == own == plain[0]
    assert {"lime", "kernel_shap", "occlusion", "integrated_grad_mask"} <= set(signed)
    assert all(entries[m].signed for m in signed[1:]) and not entries[own].signed  # the own one, whatever it is
    assert not {"simple_grad", "var_grad", "sequential_integrated_grad", "random"} & set(signed[1:])
    assert set(plain[1:]) == {m for m, e in entries.items() if e.tuned_by_default} - {own}
    assert base_method_choices(explainer, ["lime"], signed=True) == [own, "lime"]  # named: as named
