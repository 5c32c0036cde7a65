"""Signed scores (issue 26): which way each word pushes, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

from lafa_pipeline.apps import cli
from lafa_pipeline.apps.render import spans, words_html
from lafa_pipeline.base_methods import MethodParams, attribute, attribute_raw
from lafa_pipeline.card import tuning_text
from lafa_pipeline.faithfulness.evaluate import Predictor, evaluate_explainer, mask_string, target_index
from lafa_pipeline.faithfulness.metrics import faithfulness
from lafa_pipeline.faithfulness.tuning import objective_values, prepare_texts, tune_explainer, word_scores
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.model_adapter import ModelAdapter

from .test_base_methods import batch, hand_grad, output_of  # noqa: F401  # the fixture and helpers
from .tiny import TEXTS


def test_input_grad_signed_is_the_sum_of_h_times_the_gradient(batch, model):  # noqa: F811
    ids, mask, types = batch
    targets = torch.tensor([1, 0, 1])
    embeds = model.get_input_embeddings()(ids).detach()
    expected = (embeds * hand_grad(model, embeds, mask, types, targets)).sum(-1) * mask
    signed = attribute(ModelAdapter(model), "input_grad", ids, mask, targets, types, signed=True)
    torch.testing.assert_close(signed, expected, rtol=1e-4, atol=1e-6)
    assert (signed < 0).any() and (signed > 0).any()  # directions both ways: the check is not vacuous
    magnitude = attribute(ModelAdapter(model), "input_grad", ids, mask, targets, types)
    torch.testing.assert_close(
        magnitude, ((embeds * hand_grad(model, embeds, mask, types, targets)) ** 2).sum(-1) * mask
    )


def test_integrated_grad_signed_scores_sum_to_the_output_change(batch, model):  # noqa: F811
    ids, mask, types = batch
    targets = torch.tensor([0, 1, 0])
    params = MethodParams(steps=400, internal_batch_size=512)
    signed = attribute(ModelAdapter(model), "integrated_grad", ids, mask, targets, types, params, signed=True)
    embeds = model.get_input_embeddings()(ids).detach()
    with torch.no_grad():
        full = output_of(model, embeds, mask, types).gather(1, targets.view(-1, 1)).flatten()
        zero = output_of(model, torch.zeros_like(embeds), mask, types).gather(1, targets.view(-1, 1)).flatten()
    assert (full - zero).abs().min() > 1e-3
    torch.testing.assert_close(signed.sum(1), full - zero, rtol=0.02, atol=1e-4)
    raw = attribute_raw(ModelAdapter(model), "integrated_grad", ids, mask, targets, types, params)
    torch.testing.assert_close(signed, raw.sum(-1) * mask)


def test_a_method_without_a_direction_refuses(batch, model, tokenizer, index):  # noqa: F811
    ids, mask, types = batch
    with pytest.raises(ValueError, match="smooth_grad has no direction.*input_grad"):
        attribute(ModelAdapter(model), "smooth_grad", ids, mask, torch.tensor([0, 1, 0]), types, signed=True)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
    with pytest.raises(ValueError, match="no direction"):
        explainer("good film", signed=True)  # LAFA on smooth_grad
    with pytest.raises(ValueError, match="signed must be True or False"):
        explainer("good film", method="input_grad", signed="yes")


@pytest.fixture
def signed_explainer(model, tokenizer, index):
    return pipeline(
        "feature-attribution",
        model=model,
        tokenizer=tokenizer,
        index=index,
        lafa_config=index.config.replace(base_method="input_grad", lam=0.5),
    )


@pytest.mark.parametrize("aggregation", ["normalized", "paper", "median"])
def test_signed_lafa_aggregates_the_neighbors_signed_scores(signed_explainer, model, tokenizer, aggregation):
    """Signed LAFA recomputed by hand: the text's signed InputGrad scores and each neighbor's signed
    InputGrad scores towards the text's target (computed here, outside the index), combined by the
    aggregation's formula in units of the mean absolute score; the lazy index keeps the neighbors'
    signed scores; lambda = 0 is the signed base exactly."""
    lam = {"normalized": 0.6, "paper": 0.44, "median": 0.6}[aggregation]
    config = signed_explainer.lafa_config.replace(aggregation=aggregation, kernel="cosine", lam=lam)
    explainer = pipeline(
        "feature-attribution",
        model=model,
        tokenizer=tokenizer,
        index=signed_explainer.index.for_base_method(config),
        lafa_config=config,
    )
    text = "the acting was good , awful plot"
    r = explainer(text, signed=True, aggregation_strategy="none")
    assert r["signed"] and r["neighbors"]
    adapter = ModelAdapter(model)
    target = model.config.label2id[r["target"]]
    enc = tokenizer(text, return_tensors="pt")
    own = attribute(
        adapter,
        "input_grad",
        enc["input_ids"],
        enc["attention_mask"],
        torch.tensor([target]),
        enc["token_type_ids"],
        signed=True,
    )[0][1:-1]
    ids = enc["input_ids"][0][1:-1]
    table = adapter.embedding.weight.detach()
    kernels, relatives, signs = [], [], []
    for n in r["neighbors"]:
        ref_ids = torch.tensor(explainer.index.token_ids(n["index"])).unsqueeze(0)
        ref_signed = attribute(
            adapter,
            "input_grad",
            ref_ids,
            torch.ones_like(ref_ids),
            torch.tensor([target]),
            torch.zeros_like(ref_ids),
            signed=True,
        )[0]
        np.testing.assert_allclose(
            explainer.index.cached_scores(n["index"], target, signed=True), ref_signed.numpy(), rtol=1e-4, atol=1e-7
        )  # kept by the lazy index
        keep = torch.from_numpy(~explainer.index.special_mask(n["index"]))
        n_ids, n_scores = ref_ids[0][keep], ref_signed[keep]
        k = torch.nn.functional.cosine_similarity(table[ids][:, None], table[n_ids][None], dim=-1)
        if aggregation == "paper":  # eq. 7 on signed scores: sum_t s_t k(w_i, t) / T_j, averaged over neighbors
            relatives.append(k @ n_scores / len(n_ids))
        else:
            kernels.append(k.clamp(min=0))
            relatives.append(n_scores / n_scores.abs().mean())
        signs.append(bool((n_scores < 0).any()))
    if aggregation == "paper":
        expected = own + lam * torch.stack(relatives).mean(0)  # no floor at zero: signed scores
    else:
        k, rel = torch.cat(kernels, 1), torch.cat(relatives)
        if aggregation == "normalized":
            estimate = (k @ rel) / k.sum(1)
        else:  # the kernel-weighted median: the smallest value whose cumulative weight reaches half
            order = torch.argsort(rel)
            cumulative = torch.cumsum(k[:, order], 1)
            estimate = torch.stack([rel[order][int((c >= c[-1] / 2).nonzero()[0])] for c in cumulative])
        scale = own.abs().mean()
        expected = scale * ((1 - lam) * own / scale + lam * estimate)
    got = torch.tensor([t["score"] for t in r["tokens"]])  # special tokens are not reported
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    assert any(signs) and (expected < 0).any() and (expected > 0).any()  # directions both ways: not vacuous
    zero = explainer(text, signed=True, lam=0.0, aggregation_strategy="none")
    base = explainer(text, method="input_grad", signed=True, aggregation_strategy="none")
    assert [t["score"] for t in zero["tokens"]] == pytest.approx([t["score"] for t in base["tokens"]], rel=1e-5)
    for n in r["neighbors"]:  # reported neighbor words: their signed scores, as the text's
        assert min(t["score"] for t in n["tokens"]) < 0 or n["tokens"] == []


def test_signed_rendering_and_cli(signed_explainer, tmp_path, capsys):
    text = "the acting was good , awful plot"
    result = signed_explainer(text, method="input_grad", signed=True)
    levels = [level for _, level in spans(text, result["tokens"]) if level is not None]
    assert max(abs(v) for v in levels) == 1.0
    if min(levels) < 0:
        assert "rgba(37, 99, 235" in words_html(text, result["tokens"])  # blue: pushes away
    repo = tmp_path / "repo"
    signed_explainer.save_pretrained(repo)
    assert (
        cli.main(["explain", "--model", str(repo), "--signed", "--method", "occlusion", "--color", "always", text]) == 0
    )
    out = capsys.readouterr().out
    assert "(signed scores)" in out and "blue: pushes away" in out
    assert cli.main(["explain", "--model", str(repo), "--signed", "--method", "simple_grad", text]) == 2
    assert "no direction" in capsys.readouterr().err


def test_signed_tuning_measures_the_words_signed_explain_gives(signed_explainer):
    """``lafa tune --signed`` scores each setting on the very words ``signed=True`` reports: the signed
    base method at lambda = 0, LAFA's signed scores above it, another base method with a direction
    signed too, and one without a direction by its magnitudes."""
    items = prepare_texts(signed_explainer, TEXTS[:3], show_progress=False, signed=True)
    own = signed_explainer.lafa_config
    for config, method, signed in [
        (own.replace(lam=0.0), "input_grad", True),
        (own, "lafa", True),
        (own.replace(lam=0.0, base_method="integrated_grad"), "integrated_grad", True),
        (own.replace(lam=0.0, base_method="smooth_grad"), "smooth_grad", False),
    ]:
        lafa = Lafa(signed_explainer.model, signed_explainer.index, config)
        for item in items:
            words = word_scores(signed_explainer, lafa, item, signed=True)
            expected = signed_explainer(item.text, method=method, signed=signed)["tokens"]
            assert [w["score"] for w in words] == pytest.approx([w["score"] for w in expected], rel=1e-4, abs=1e-9)
    assert any(min(w["score"] for w in word_scores(signed_explainer, lafa, i, signed=True)) >= 0 for i in items)
    assert any(
        min(w["score"] for w in signed_explainer(i.text, method="input_grad", signed=True)["tokens"]) < 0 for i in items
    )  # words pushing away exist: ranking them last is what signed changes


def test_signed_tuning_and_evaluation_record_what_they_measured(signed_explainer):
    result = tune_explainer(
        signed_explainer,
        TEXTS,
        folds=0,
        layers=[signed_explainer.lafa_config.layer],
        base_methods=["input_grad", "smooth_grad"],
        rounds=1,
        steps=4,
        show_progress=False,
        max_tokens=None,
        signed=True,
    )
    assert result.report.signed is True and "signed scores (the repo now explains" in result.summary()
    assert "explains with signed scores by default" in tuning_text(result.config.tuning)  # the model card says so
    assert result.config.signed  # the tuned repo explains the way it was tuned
    assert result.best_value >= max(v for v in result.report.base_methods.values() if v is not None)
    # the pick's value, measured afresh on the same texts with signed scores
    items = prepare_texts(signed_explainer, TEXTS, show_progress=False, signed=True)
    predict = Predictor(signed_explainer.model, signed_explainer.tokenizer)
    mask = mask_string(signed_explainer.tokenizer)
    values = objective_values(
        signed_explainer, {result.config.layer: result.index}, result.config, items, predict, mask, 4, signed=True
    )
    assert np.mean(values) == pytest.approx(result.best_value, abs=1e-6)
    with pytest.raises(ValueError, match="signed must be True or False"):
        tune_explainer(signed_explainer, TEXTS, signed="yes", show_progress=False)
    assert not signed_explainer.lafa_config.signed  # a repo explaining magnitudes is still tuned signed by default
    by_default = tune_explainer(
        signed_explainer, TEXTS[:6], folds=0, layers=[1], rounds=1, steps=2, show_progress=False
    )
    assert by_default.config.signed and by_default.report.signed
    unsigned = tune_explainer(
        signed_explainer, TEXTS[:6], folds=0, layers=[1], rounds=1, steps=2, show_progress=False, signed=False
    )
    assert not unsigned.config.signed and not unsigned.report.signed

    methods = ["lafa", "input_grad", "smooth_grad"]
    signed = evaluate_explainer(signed_explainer, TEXTS[:4], methods=methods, signed=True, show_progress=False)
    plain = evaluate_explainer(signed_explainer, TEXTS[:4], methods=methods, show_progress=False)
    assert signed.signed == ["lafa", "input_grad"] and plain.signed == []
    assert "input_grad (signed)" in signed.table() and "smooth_grad (signed)" not in signed.table()
    for metric, values in plain.per_text["smooth_grad"].items():  # no direction: measured as before
        assert signed.per_text["smooth_grad"][metric] == pytest.approx(values, abs=1e-6)
    assert all(r.get("signed") for r in signed.results["input_grad"])
    for text, result in zip(TEXTS[:4], signed.results["input_grad"]):
        target = target_index(signed_explainer, result)
        f = faithfulness(predict, text, result["tokens"], None, target, 10, mask)
        assert signed.per_text["input_grad"]["deletion_auc"][TEXTS.index(text)] == pytest.approx(f.deletion_auc)


def test_a_repo_tuned_signed_explains_signed_by_default(signed_explainer, tmp_path, capsys):
    """``LafaConfig.signed`` is the repo's default: kept through save and load, given up by a call's own
    ``signed=False``, and never forced on a method without a direction."""
    text = "the acting was good , awful plot"
    signed_explainer.lafa_config = signed_explainer.lafa.config = signed_explainer.lafa_config.replace(signed=True)
    repo = tmp_path / "repo"
    signed_explainer.save_pretrained(repo)
    loaded = pipeline("feature-attribution", model=str(repo), trust_remote_code=True)
    assert loaded.lafa_config.signed
    by_default = loaded(text)
    assert by_default["signed"] and by_default["tokens"] == loaded(text, signed=True)["tokens"]
    magnitudes = loaded(text, signed=False)
    assert "signed" not in magnitudes and min(t["score"] for t in magnitudes["tokens"]) >= 0
    assert min(t["score"] for t in by_default["tokens"]) < 0  # the default really is signed
    assert "signed" not in loaded(text, method="smooth_grad")  # no direction: magnitudes, no error
    report = evaluate_explainer(loaded, [text], methods=["lafa", "smooth_grad"], show_progress=False)
    assert report.signed == ["lafa"]  # evaluated as it explains
    assert evaluate_explainer(loaded, [text], methods=["lafa"], signed=False, show_progress=False).signed == []
    assert cli.main(["explain", "--model", str(repo), "--no-signed", "--color", "never", text]) == 0
    assert "(signed scores)" not in capsys.readouterr().out
    assert cli.main(["explain", "--model", str(repo), "--color", "never", text]) == 0
    assert "(signed scores)" in capsys.readouterr().out
