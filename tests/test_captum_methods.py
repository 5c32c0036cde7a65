"""Issue 13 (part): LAFA over any Captum attribution or plain function, registered as a base method."""

from __future__ import annotations

import pytest
import torch
from captum.attr import DeepLift, InputXGradient, NoiseTunnel, Saliency
from transformers import pipeline

from lafa_pipeline import LafaConfig, LafaIndex
from lafa_pipeline.base_methods import (
    BASE_METHOD_REGISTRY,
    EmbeddingModel,
    MethodParams,
    attribute,
    attribute_raw,
    register_attribution,
)
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import LABELS, TEXTS


@pytest.fixture()
def registered():
    names = []

    def add(name, method, **kwargs):
        register_attribution(name, method, **kwargs)
        names.append(name)

    yield add
    for name in names:
        BASE_METHOD_REGISTRY.remove(name)


@pytest.fixture()
def batch(tokenizer):
    enc = tokenizer(["the acting was good", "awful plot ."], padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def test_captum_methods_equal_the_same_captum_call(model, batch, registered):
    ids, mask, types = batch
    adapter, targets = ModelAdapter(model), torch.tensor([1, 0])
    embeds = adapter.embed(ids).detach()
    registered("nt_saliency", lambda f: NoiseTunnel(Saliency(f)), nt_type="smoothgrad", nt_samples=3, stdevs=0.1)
    registered("deeplift", DeepLift)
    torch.manual_seed(7)
    ours = attribute_raw(adapter, "nt_saliency", ids, mask, targets, types, MethodParams())
    torch.manual_seed(7)
    direct = NoiseTunnel(Saliency(EmbeddingModel(adapter))).attribute(
        embeds.clone().requires_grad_(True),
        target=[1, 0],
        additional_forward_args=(mask, types),
        nt_type="smoothgrad",
        nt_samples=3,
        stdevs=0.1,
    )
    torch.testing.assert_close(ours, direct.detach())
    direct = DeepLift(EmbeddingModel(adapter)).attribute(
        embeds.clone().requires_grad_(True), target=[1, 0], additional_forward_args=(mask, types)
    )
    torch.testing.assert_close(attribute_raw(adapter, "deeplift", ids, mask, targets, types), direct.detach())


def test_a_plain_function_and_captum_classes_match_the_built_in_methods(model, batch, registered):
    ids, mask, types = batch
    adapter, targets = ModelAdapter(model), torch.tensor([0, 1])

    def doubled_gradient(forward, embeds, attention_mask, token_type_ids, targets):
        out = forward(embeds, attention_mask, token_type_ids).gather(1, targets.view(-1, 1)).sum()
        return 2 * torch.autograd.grad(out, embeds)[0]

    registered("doubled", doubled_gradient)
    registered("ixg", InputXGradient)
    simple = attribute(adapter, "simple_grad", ids, mask, targets, types)
    torch.testing.assert_close(attribute(adapter, "doubled", ids, mask, targets, types), 4 * simple)
    torch.testing.assert_close(
        attribute(adapter, "ixg", ids, mask, targets, types),
        attribute(adapter, "input_grad", ids, mask, targets, types),
    )


def test_an_index_caches_a_registered_method(model, tokenizer, registered):
    registered("deeplift", DeepLift)
    config = LafaConfig(layer=1, n_neighbors=4, quantile=0.9, base_method="deeplift")
    index = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=config, show_progress=False)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
    cached, live = explainer("the acting was good"), explainer("the acting was good", live_neighbors=True)
    assert cached["base_method"] == "deeplift" and cached["live_neighbors"] == 0 and live["live_neighbors"] > 0
    assert [t["score"] for t in cached["tokens"]] == pytest.approx([t["score"] for t in live["tokens"]], rel=1e-4)
    alone = explainer("the acting was good", method="deeplift")
    assert alone["method"] == "deeplift" and all(t["score"] >= 0 for t in alone["tokens"])
