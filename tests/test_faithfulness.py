"""Issue 10: the normalized aggregation, the faithfulness metrics, `lafa evaluate --data` and `lafa tune`."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import pipeline

from lafa_pipeline import LafaConfig, load_explainer
from lafa_pipeline.aggregation import NeighborScores, expectation, normalized_lafa
from lafa_pipeline.apps import cli
from lafa_pipeline.card import tuning_text
from lafa_pipeline.faithfulness.evaluate import evaluate_explainer, rationale_values
from lafa_pipeline.faithfulness.metrics import auprc, faithfulness, kept_text, masked_text
from lafa_pipeline.faithfulness.tuning import objective_values, prepare_texts, tune_explainer
from lafa_pipeline.tuning_report import TuningReport

from .tiny import TEXTS, rig_objective

EYE = torch.eye(10)


def embed(ids):
    return EYE[ids]


def _neighbors(draw_scores):
    return [
        NeighborScores(torch.tensor([1, 2, 3]), torch.tensor(draw_scores[:3])),
        NeighborScores(torch.tensor([2, 4]), torch.tensor(draw_scores[3:5])),
    ]


positive = st.floats(0.01, 100.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(positive, min_size=3, max_size=3),
    st.lists(positive, min_size=5, max_size=5),
    st.floats(0.01, 1e4),
    st.floats(0.01, 1e4),
    st.floats(0.0, 1.0),
)
def test_normalized_aggregation_is_scale_free(own, nb, c_own, c_nb, lam):
    """Scaling the text's scores scales the result; scaling a neighbor's scores changes nothing."""
    q = torch.tensor([1, 2, 5])
    own_t = torch.tensor(own, dtype=torch.float64)
    neighbors = _neighbors(nb)
    out = normalized_lafa(own_t, q, EYE[q], neighbors, embed, "indicator", {}, lam)
    scaled_own = normalized_lafa(own_t * c_own, q, EYE[q], neighbors, embed, "indicator", {}, lam)
    scaled_nb = normalized_lafa(
        own_t, q, EYE[q], [NeighborScores(n.token_ids, n.scores * c_nb) for n in neighbors], embed, "indicator", {}, lam
    )
    assert torch.allclose(scaled_own, out * c_own, rtol=1e-6)
    assert torch.allclose(scaled_nb, out, rtol=1e-6)
    assert (out >= 0).all()
    # token 5 occurs in no neighbor: it keeps its own score
    assert math.isclose(float(out[2]), own[2], rel_tol=1e-6)


def test_normalized_aggregation_known_values_and_lambda_zero():
    own = torch.tensor([1.0, 3.0])  # mean 2 -> relative 0.5, 1.5
    q = torch.tensor([1, 2])
    # token 1 in two neighbors with relative scores 2.0 (scores [4, 0] mean 2) and 0.5 (scores [1, 3] mean 2)
    nbs = [
        NeighborScores(torch.tensor([1, 7]), torch.tensor([4.0, 0.0])),
        NeighborScores(torch.tensor([1, 8]), torch.tensor([1.0, 3.0])),
    ]
    out = normalized_lafa(own, q, EYE[q], nbs, embed, "indicator", {}, lam=1.0)
    assert torch.allclose(out, torch.tensor([2 * 1.25, 3.0]))  # mean of 2.0 and 0.5 = 1.25, times the text's mean
    weighted = normalized_lafa(own, q, EYE[q], nbs, embed, "indicator", {}, lam=1.0, weights=[3.0, 1.0])
    assert torch.allclose(weighted, torch.tensor([2 * (3 * 2.0 + 0.5) / 4, 3.0]))
    assert torch.equal(normalized_lafa(own, q, EYE[q], nbs, embed, "indicator", {}, lam=0.0), own)


def test_frequent_tokens_gain_in_eq7_but_not_when_normalized():
    """A token present in every neighbor with a low score ('a') overtakes a content word under eq. 7's sum
    when neighbors' scores dwarf the text's; the normalized mean keeps the text's own ranking."""
    own = torch.tensor([1e-4, 1e-3])  # token 1 = "a", token 2 = "great": great ranks first
    q = torch.tensor([1, 2])
    nbs = [NeighborScores(torch.tensor([1, 1, 1, 3]), torch.tensor([0.2, 0.2, 0.2, 1.0])) for _ in range(3)]
    paper = own + 0.44 * expectation(q, EYE[q], nbs, embed, "indicator", {})
    assert paper[0] > paper[1]
    normalized = normalized_lafa(own, q, EYE[q], nbs, embed, "indicator", {}, lam=0.5)
    assert normalized[1] > normalized[0]


def test_normalized_lambda_outside_unit_interval_is_refused():
    with pytest.raises(ValueError, match="lam must be in \\[0, 1\\] with aggregation 'normalized'"):
        LafaConfig(aggregation="normalized", lam=1.5)


def test_masking_helpers_and_metrics_by_hand():
    text, words = "a good day", [{"start": 0, "end": 1}, {"start": 2, "end": 6}, {"start": 7, "end": 10}]
    assert masked_text(text, words, [0.1, 0.9, 0.5], 0.5, "[M]") == "a [M] [M]"
    assert kept_text(text, words, [0.1, 0.9, 0.5], 0.3, "[M]") == "[M] good [M]"
    assert kept_text(text, words, [0.1, 0.9, 0.5], 1.0, "[M]") == text
    # p(target) = 0.1 + 0.6 * [good present] + 0.3 * [day present]
    predict = lambda ts: np.array([[0.1 + 0.6 * ("good" in t) + 0.3 * ("day" in t)] for t in ts])  # noqa: E731
    f = faithfulness(predict, text, words, [0.1, 0.9, 0.5], target=0, steps=3)
    # deletion: 1.0, 0.4, 0.1, 0.1 -> trapezoid mean = (0.7 + 0.25 + 0.1) / 3; insertion: 0.1, 0.7, 1.0, 1.0
    assert math.isclose(f.deletion_auc, (0.7 + 0.25 + 0.1) / 3)
    assert math.isclose(f.insertion_auc, (0.4 + 0.85 + 1.0) / 3)
    # ERASER bins 1/5/10/20/50 %: remove 1, 1, 1, 1, 2 words -> drops 0.6 x4 and 0.9; keep the same counts
    assert math.isclose(f.comprehensiveness, (4 * 0.6 + 0.9) / 5)
    assert math.isclose(f.sufficiency, (4 * (1.0 - 0.7) + 0.0) / 5)
    assert math.isclose(auprc([0.3, 0.2, 0.1], [0, 1, 1]), (1 / 2 + 2 / 3) / 2)
    # regression: the value moves up when "good" goes; distance from the full value is what counts
    value = lambda ts: np.array([[5.0 - 3.0 * ("good" in t)] for t in ts])  # noqa: E731
    r = faithfulness(value, text, words, [0.1, 0.9, 0.5], target=0, steps=3, regression=True)
    # -|v - 2|: deletion 0, -3, -3, -3 -> (-1.5 - 3 - 3) / 3; insertion -3, 0, 0, 0 -> (-1.5 + 0 + 0) / 3
    assert math.isclose(r.deletion_auc, -7.5 / 3) and math.isclose(r.insertion_auc, -0.5)
    assert r.insertion_minus_deletion > 0 and math.isclose(r.comprehensiveness, 3.0) and r.sufficiency == 0
    assert rationale_values("Good!", [{"token": "a"}, {"token": "good"}]) == [0.0, 1.0]


@pytest.fixture(scope="module")
def explainer(model, tokenizer, index):
    return pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


def test_evaluate_explainer_reports_every_method(explainer):
    report = evaluate_explainer(
        explainer,
        TEXTS[:4],
        methods=["lafa", "smooth_grad", "random"],
        rationales=["good", "bad", "great", "awful"],
        show_progress=False,
    )
    assert set(report.per_text) == {"lafa", "smooth_grad", "random"}
    for values in report.per_text.values():
        assert len(values["deletion_auc"]) == 4 and all(0 <= v <= 1 for v in values["insertion_auc"])
        assert values["token_auc"][0] in (0.0, 0.5, 1.0) or 0 <= values["token_auc"][0] <= 1
    same = report.compare("smooth_grad", "smooth_grad", "deletion_auc")
    assert same["mean_diff"] == 0.0
    assert "| lafa |" in report.table()
    assert set(report.seconds_per_text) == {"lafa", "smooth_grad", "random"}
    assert all(s > 0 for s in report.seconds_per_text.values())
    assert "s/text" in report.table().splitlines()[0]
    assert report.to_dict()["seconds_per_text"] == report.seconds_per_text


def test_tuning_never_loses_to_the_base_method_on_its_texts(explainer):
    result = tune_explainer(explainer, TEXTS, rounds=1, steps=4, show_progress=False)
    assert result.best_value >= result.base_value
    assert any(t["lam"] == 0.0 for t in result.trials)
    # the reported value is what the chosen setting really scores on the same texts (signed: the default)
    assert result.report.signed
    items = prepare_texts(explainer, TEXTS, show_progress=False, signed=True)
    from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string

    predict = Predictor(explainer.model, explainer.tokenizer)
    again = np.mean(
        objective_values(
            explainer,
            {result.config.layer: result.index},
            result.config,
            items,
            predict,
            mask_string(explainer.tokenizer),
            4,
            signed=True,
        )
    )
    # float32 model outputs: texts scored in another order differ in the 7th digit
    assert math.isclose(again, result.best_value, rel_tol=1e-6, abs_tol=1e-9)
    assert result.report.gain == pytest.approx(result.best_value - result.base_value)
    # a small index: every layer was a candidate, and the result's index is searched at the chosen layer
    layers = range(explainer.model.config.num_hidden_layers + 1)
    assert {t["layer"] for t in result.trials} == set(layers)
    assert result.index.config.layer == result.config.layer and result.index.config.eps == result.config.eps


def test_an_index_at_other_layers(explainer):
    """At its own layer ``at_layers`` gives back the index's vectors (same search, same eps); at another
    layer the vectors are that layer's pooled states, the references and cached scores are shared."""
    from lafa_pipeline.model_adapter import ModelAdapter

    index = explainer.index
    own = index.config.layer
    other = 0 if own else 1
    relayered = index.at_layers(explainer.model, [own, other], batch_size=3, show_progress=False)
    again = relayered[own]
    n = len(index)
    np.testing.assert_allclose(again.faiss_index.reconstruct_n(0, n), index.faiss_index.reconstruct_n(0, n), atol=1e-5)
    assert again.config.eps == pytest.approx(index.config.eps, rel=1e-5)
    adapter = ModelAdapter(explainer.model)
    ids, types = index.sequence(2)
    _, pooled = adapter.predict(
        ids[None],
        torch.ones_like(ids)[None],
        types[None] if adapter.uses_token_types else None,
        layer=other,
        pooling=index.config.pooling,
    )
    found = relayered[other].search(pooled.numpy(), 1, labels=None, use_eps=False)[0]
    assert found[0][0] == 2 and found[0][1] == pytest.approx(0.0, abs=1e-3)
    assert relayered[other].arrays is index.arrays and relayered[other].config.layer == other
    with pytest.raises(ValueError, match="layers must be layer numbers in 0..2"):
        tune_explainer(explainer, TEXTS, layers=[7], show_progress=False)


def test_tuning_keeps_the_base_method_when_the_choice_loses_on_held_out_texts(explainer, monkeypatch):
    """Objective values rigged per text: any lambda > 0 gains on the tuning texts and loses on the held-out
    ones, so the chosen setting must give way to lambda = 0; with the signs reversed nothing changes."""

    n_held = round(0.3 * len(TEXTS))
    order = list(range(len(TEXTS)))
    random.Random(0).shuffle(order)  # the tuner's split: the first n_held of its shuffled order are held out
    held_texts = {TEXTS[i] for i in order[:n_held]}
    for held_sign, keeps_base in ((-1.0, True), (1.0, False)):

        def rigged(expl, indexes, config, items, predict, mask, steps, sign=held_sign, **_):
            return [
                0.0 if config.lam == 0 else (sign if item.text in held_texts else 1.0) * (0.1 + config.lam)
                for item in items
            ]

        rig_objective(monkeypatch, rigged)
        result = tune_explainer(explainer, TEXTS, holdout=0.3, rounds=1, steps=4, show_progress=False)
        assert result.holdout.gain.n == n_held and (result.holdout.gain.mean_diff < 0) == keeps_base
        assert result.report.kept_base is keeps_base and (result.config.lam == 0.0) is keeps_base
        assert ("kept the base method alone" in result.summary()) is keeps_base
        assert ("the base method alone is used" in tuning_text(result.config.tuning)) is keeps_base  # model card


def test_cross_validated_tuning_rejects_a_pick_driven_by_one_text(explainer, monkeypatch):
    """Rigged per text: lambda > 0 gains hugely on one text and loses a little on every other one. On all
    texts the mean gains, so the search picks lambda > 0; cross-validated, each fold that trains with the
    outlier loses on its own texts, and the fold without it picks lambda = 0, so the base must be kept.
    With the signs reversed (one big loss, small gains elsewhere) the pick survives the check."""

    outlier = TEXTS[3]
    for big, small, keeps_base in ((20.0, -1.0, True), (-2.0, 1.0, False)):

        def rigged(expl, indexes, config, items, predict, mask, steps, big=big, small=small, **_):
            return [config.lam * (big if item.text == outlier else small) for item in items]

        rig_objective(monkeypatch, rigged)
        result = tune_explainer(explainer, TEXTS, folds=3, rounds=1, steps=4, show_progress=False)
        tuning = result.report
        assert result.holdout.gain.n == len(TEXTS) and result.holdout.folds == 3  # every text checked once
        assert len(tuning.fold_picks) == 3 and tuning.tuning_texts == len(TEXTS)
        assert tuning.settings_with_folds >= tuning.settings_tried == len(result.trials)
        assert tuning.kept_base is keeps_base and (result.config.lam == 0.0) is keeps_base
        assert (tuning.rejected is not None) is keeps_base
        assert "cross-validated (3 folds" in result.summary()
        assert "Cross-validated (3 folds" in tuning_text(result.config.tuning)
        # The estimate is the fold picks' values on their own folds minus the base's, recomputed here.
        order = list(range(len(TEXTS)))
        random.Random(0).shuffle(order)
        diffs = []
        for f, pick in enumerate(tuning.fold_picks):
            for i in order[f::3]:
                diffs.append(
                    rigged(None, None, SimpleNamespace(**pick), [SimpleNamespace(text=TEXTS[i])], None, None, 4)[0]
                )  # the base method's value is 0
        assert result.holdout.gain.mean_diff == pytest.approx(np.mean(diffs))
    with pytest.raises(ValueError, match="choose one check"):
        tune_explainer(explainer, TEXTS, folds=3, holdout=0.3, show_progress=False)


def test_cli_evaluate_and_tune_on_a_csv(explainer, tmp_path, capsys):
    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    assert "squared and summed over the embedding dimension" in (repo / "README.md").read_text()  # magnitudes
    data = tmp_path / "texts.csv"
    data.write_text("text,why\n" + "\n".join(f"{t},{t.split()[0]}" for t in TEXTS if "," not in t) + "\n")
    assert (
        cli.main(
            [
                "evaluate",
                "--data",
                str(data),
                "--model",
                str(repo),
                "--methods",
                "lafa",
                "smooth_grad",
                "--rationale-column",
                "why",
                "--steps",
                "4",
                "--json-output",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| smooth_grad |" in out and "lafa - smooth_grad" in out and "token_auc" in out
    assert json.loads((tmp_path / "e.json").read_text())["n_texts"] == 14
    assert (
        cli.main(
            ["tune", "--data", str(data), "--model", str(repo), "--rounds", "1", "--steps", "4", "--holdout", "0.3"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "chosen:" in out and "held out (4 texts)" in out
    saved = LafaConfig.load(repo)
    report = TuningReport.from_dict(saved.tuning)  # the record saved with the repo reads back typed, losslessly
    assert report.tuning_texts == 10 and report.gain >= 0
    assert json.dumps(report.to_dict(), sort_keys=True) == json.dumps(saved.tuning, sort_keys=True)
    assert "Chosen by `lafa tune` on 10 texts" in (repo / "README.md").read_text()
    reloaded = pipeline("feature-attribution", model=str(repo), trust_remote_code=True)
    assert reloaded.lafa_config.aggregation == saved.aggregation and reloaded("good film")["method"] == "lafa"


def test_cli_evaluate_reads_signed_with_the_magnitude_reading_beside_it(explainer, tmp_path, capsys):
    """A repo explaining signed: the signed table, then the methods with a direction by magnitude, each
    equal to ``evaluate_explainer`` asked for that reading."""
    config = explainer.lafa_config.replace(base_method="input_grad", aggregation="normalized", lam=0.5, signed=True)
    explainer.use_settings(config, explainer.index.for_base_method(config))
    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    assert "Token scores are signed by default" in (repo / "README.md").read_text()  # the card says how it explains
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS[:6]) + "\n")
    args = ["evaluate", "--data", str(data), "--model", str(repo), "--methods", "lafa", "input_grad", "simple_grad"]
    assert cli.main([*args, "--steps", "4", "--json-output", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    signed_part, magnitude_part = out.split("read by magnitude")
    assert "| lafa (signed) |" in signed_part and "| simple_grad |" in signed_part
    assert "| lafa |" in magnitude_part and "simple_grad" not in magnitude_part  # measured so already
    saved = json.loads((tmp_path / "e.json").read_text())
    for reading, signed in (("signed", True), ("magnitude", False)):
        methods = ["lafa", "input_grad"] if not signed else ["lafa", "input_grad", "simple_grad"]
        expected = evaluate_explainer(
            load_explainer(str(repo)), TEXTS[:6], methods=methods, steps=4, signed=signed, show_progress=False
        )
        assert set(saved[reading]["per_text"]) == set(methods)
        for method, metrics in expected.per_text.items():
            for metric, values in metrics.items():
                assert saved[reading]["per_text"][method][metric] == pytest.approx(values, abs=1e-6)
    assert cli.main([*args, "--steps", "4", "--no-magnitude-reading"]) == 0
    assert "read by magnitude" not in capsys.readouterr().out


def test_cli_tune_that_moves_the_layer_rewrites_the_repo(explainer, tmp_path, monkeypatch, capsys):
    """When tuning picks another layer, the repo's index files are rewritten for it (the whole repo,
    atomically): the reloaded repo searches the new layer's pooled states with that layer's eps."""

    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    own = explainer.index.config.layer
    wanted = 0 if own else 1
    rig_objective(
        monkeypatch,
        lambda expl, indexes, config, items, *a, **_: [float(config.layer == wanted and config.lam > 0)] * len(items),
    )
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS) + "\n")
    assert (
        cli.main(
            [
                "tune",
                "--data",
                str(data),
                "--model",
                str(repo),
                "--rounds",
                "1",
                "--steps",
                "2",
                "--holdout",
                "0",
                "--layers",
                f"{own},{wanted}",
            ]
        )
        == 0
    )
    saved = LafaConfig.load(repo)
    assert saved.layer == wanted and saved.lam > 0
    reloaded = pipeline("feature-attribution", model=str(repo), trust_remote_code=True)
    expected = explainer.index.at_layers(explainer.model, [wanted], show_progress=False)[wanted]
    assert reloaded.index.config.layer == wanted and reloaded.index.config.eps == pytest.approx(expected.config.eps)
    n = len(expected)
    np.testing.assert_allclose(
        reloaded.index.faiss_index.reconstruct_n(0, n), expected.faiss_index.reconstruct_n(0, n), atol=1e-5
    )
    assert reloaded("good film")["method"] == "lafa"
    assert cli.main(["tune", "--data", str(data), "--model", str(repo), "--layers", "first"]) == 2
    assert "layers must be 'auto' or a list of layer numbers" in capsys.readouterr().err
