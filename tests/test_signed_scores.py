"""Signed scores (issue 26): which way each word pushes, checked against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from transformers import pipeline

from lafa_pipeline.apps import cli
from lafa_pipeline.apps.render import spans, words_html
from lafa_pipeline.base_methods import MethodParams, attribute, attribute_raw
from lafa_pipeline.model_adapter import ModelAdapter

from .test_base_methods import batch, hand_grad, output_of  # noqa: F401  # the fixture and helpers


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


def test_lafa_signed_keeps_the_text_direction_and_lafa_magnitudes(signed_explainer):
    text = "the acting was good , awful plot"
    base = signed_explainer(text, method="input_grad", signed=True, aggregation_strategy="none")
    zero = signed_explainer(text, signed=True, lam=0.0, aggregation_strategy="none")
    assert base["signed"] and zero["signed"] and zero["method"] == "lafa"
    assert [t["score"] for t in zero["tokens"]] == pytest.approx([t["score"] for t in base["tokens"]], rel=1e-5)
    lafa = signed_explainer(text, signed=True, aggregation_strategy="none")
    lafa_magnitude = signed_explainer(text, aggregation_strategy="none")
    base_magnitude = signed_explainer(text, method="input_grad", aggregation_strategy="none")
    assert "signed" not in lafa_magnitude
    changed = 0
    for s, m, b, bm in zip(lafa["tokens"], lafa_magnitude["tokens"], base["tokens"], base_magnitude["tokens"]):
        assert s["score"] == pytest.approx(b["score"] * m["score"] / bm["score"], rel=1e-4, abs=1e-12)
        assert (s["score"] > 0) == (b["score"] > 0)
        changed += abs(m["score"] - bm["score"]) > 1e-6 * bm["score"]
    assert changed  # the neighbors moved some magnitudes: the scaling is tested, not skipped


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
