"""The perturbation baselines (occlusion, LIME, KernelSHAP) against values computed another way, and as LAFA's base."""

from __future__ import annotations

import pytest
import torch
from captum.attr import KernelShap, Lime
from transformers import pipeline

from lafa_pipeline import LafaIndex
from lafa_pipeline.base_methods import MethodParams, attribute_raw, text_generator
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import INDEX_CONFIG, LABELS, TEXTS


@pytest.fixture()
def batch(tokenizer):
    enc = tokenizer(["the acting was good", "awful plot ."], padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def probability(model, ids, mask, types, target, embeds=None):
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids) if embeds is None else embeds
        logits = model(inputs_embeds=embeds, attention_mask=mask, token_type_ids=types).logits
    return float(torch.softmax(logits, -1)[0, target])


@pytest.mark.parametrize(
    ("side", "params"),
    [
        ("right", MethodParams()),  # every variant of both texts in one pass
        ("right", MethodParams(internal_batch_size=3, tokens_per_pass=12)),  # passes split within a text
        ("left", MethodParams(internal_batch_size=4)),  # left padding: real tokens gathered wherever they are
    ],
)
def test_occlusion_is_the_drop_when_each_token_becomes_pad(model, tokenizer, side, params):
    """Each text alone, unpadded, by hand, against occlusion packed across the texts into passes."""
    tokenizer.padding_side = side
    enc = tokenizer(["the acting was good", "awful plot .", "loved it"], padding=True, return_tensors="pt")
    tokenizer.padding_side = "right"
    ids, mask, types = enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
    targets = torch.tensor([1, 0, 1])
    got = attribute_raw(ModelAdapter(model), "occlusion", ids, mask, targets, types, params)
    pad_id = model.config.pad_token_id or 0
    for b in range(3):
        real = mask[b].bool()
        n = int(real.sum())
        one = (ids[b : b + 1, real], mask[b : b + 1, real], types[b : b + 1, real])
        full = probability(model, *one, int(targets[b]))
        for t in range(n):
            changed = one[0].clone()
            changed[0, t] = pad_id
            drop = full - probability(model, changed, one[1], one[2], int(targets[b]))
            assert float(got[b, real][t, 0]) == pytest.approx(drop, abs=1e-6)
        assert (got[b, ~real] == 0).all()


@pytest.mark.parametrize(("name", "captum_class"), [("lime", Lime), ("kernel_shap", KernelShap)])
def test_lime_and_kernel_shap_are_captums_over_tokens_seeded_by_the_text(model, batch, name, captum_class):
    ids, mask, types = batch
    targets = torch.tensor([1, 0])
    params = MethodParams(samples=30)
    adapter = ModelAdapter(model)
    got = attribute_raw(adapter, name, ids, mask, targets, types, params)
    for b in range(2):
        n = int(mask[b].sum())
        embeds = adapter.embed(ids[b : b + 1, :n]).detach()
        pad = adapter.embed(torch.full_like(ids[b : b + 1, :n], adapter.pad_id)).detach()
        torch.manual_seed(text_generator(ids[b], mask[b], params.seed).initial_seed())
        expected = captum_class(adapter.forward).attribute(
            embeds,
            baselines=pad,
            target=int(targets[b]),
            additional_forward_args=(mask[b : b + 1, :n], types[b : b + 1, :n]),
            feature_mask=torch.arange(n).view(1, -1, 1).expand_as(embeds),
            n_samples=params.samples,
        )
        torch.testing.assert_close(got[b, :n, 0], expected[0, :, 0].float())
        alone = attribute_raw(
            adapter, name, ids[b : b + 1], mask[b : b + 1], targets[b : b + 1], types[b : b + 1], params
        )
        torch.testing.assert_close(alone[0, :n], got[b, :n])  # a text's scores do not depend on its batch


def test_occlusion_as_lafas_base(model, tokenizer):
    config = INDEX_CONFIG.replace(base_method="occlusion", aggregation="normalized", kernel="cosine", lam=0.5)
    index = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=config, show_progress=False)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
    lafa, alone = explainer(TEXTS[4]), explainer(TEXTS[4], method="occlusion")
    assert lafa["base_method"] == "occlusion" and lafa["neighbors"]
    assert [w["score"] for w in lafa["tokens"]] != [w["score"] for w in alone["tokens"]]
    zero = explainer(TEXTS[4], lam=0.0)
    assert [w["score"] for w in zero["tokens"]] == pytest.approx([w["score"] for w in alone["tokens"]], rel=1e-6)
