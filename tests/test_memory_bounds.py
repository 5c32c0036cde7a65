"""What bounds the gradient methods' memory: no forward/backward pass holds more than ``tokens_per_pass``
padded tokens (or one row), and pass sizes do not change a score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lafa_pipeline import LafaConfig, LafaIndex, host_memory
from lafa_pipeline.base_methods import MethodParams, attribute
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import tiny_model

TEXTS = [
    "good",
    "the acting was good",
    "awful plot , awful music , awful everything .",
    "loved the music , brilliant",
    "bad film",
]
METHODS = ["simple_grad", "smooth_grad", "var_grad", "shap_zero", "integrated_grad", "sequential_integrated_grad"]


@pytest.fixture(scope="module")
def batch(tokenizer):
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def scores_and_passes(model, method, batch, params):
    """The method's scores, and (rows, padded width) of every model call it made."""
    passes = []

    def record(module, args, kwargs):
        passes.append(tuple(kwargs["inputs_embeds"].shape[:2]))

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        ids, mask, types = batch
        scores = attribute(ModelAdapter(model), method, ids, mask, torch.tensor([0, 1, 0, 1, 1]), types, params)
    finally:
        handle.remove()
    return scores, passes


@pytest.mark.parametrize("method", METHODS)
def test_no_pass_holds_more_than_the_token_budget(method, batch):
    model = tiny_model()
    budget = 24  # two rows of the longest text (12 tokens), many of the shortest
    _, passes = scores_and_passes(
        model, method, batch, MethodParams(samples=6, steps=4, internal_batch_size=16, tokens_per_pass=budget)
    )
    assert passes
    assert all(rows * width <= budget or rows == 1 for rows, width in passes), passes
    # the budget is what cut them: without it the same method makes wider passes
    _, unbounded = scores_and_passes(model, method, batch, MethodParams(samples=6, steps=4, internal_batch_size=16))
    assert max(r * w for r, w in unbounded) > budget


@pytest.mark.parametrize("method", METHODS)
def test_pass_sizes_do_not_change_scores(method, batch):
    model = tiny_model()
    common = dict(samples=6, steps=4, sampling="iid", seed=2)
    wide, _ = scores_and_passes(
        model, method, batch, MethodParams(internal_batch_size=256, tokens_per_pass=10**6, **common)
    )
    narrow, passes = scores_and_passes(
        model, method, batch, MethodParams(internal_batch_size=5, tokens_per_pass=13, **common)
    )
    assert max(r for r, _ in passes) <= 5
    torch.testing.assert_close(narrow, wide, rtol=1e-4, atol=1e-6 * float(wide.abs().max()))


@pytest.mark.skipif(host_memory._TRIM is None or host_memory.resident_bytes() is None, reason="needs glibc and /proc")
def test_freed_memory_is_released_once_resident_memory_grows():
    host_memory._state["settled"] = None
    assert not host_memory.release_freed()  # the first pass after a release only settles the level
    assert not host_memory.release_freed()  # no growth: nothing to give back
    grown = np.ones(int(max(host_memory.resident_bytes() * host_memory.GROWTH, 2**28)), dtype=np.uint8)  # written
    assert host_memory.release_freed()
    del grown
    assert host_memory._state["settled"] is None and not host_memory.release_freed()


def test_index_build_and_other_layers_stay_within_the_token_budget(tokenizer):
    """Encoding references (no gradient), scoring them and re-encoding at other layers: every pass within budget."""
    model = tiny_model()
    passes = []
    handle = model.register_forward_pre_hook(
        lambda module, args, kwargs: passes.append(tuple(kwargs["inputs_embeds"].shape[:2])), with_kwargs=True
    )
    try:
        config = LafaConfig(base_method="smooth_grad", samples=3, layer=1, tokens_per_pass=20)
        index = LafaIndex.build(model, tokenizer, TEXTS * 4, config=config, show_progress=False)
        index.at_layers(model, [0, 2], show_progress=False)
    finally:
        handle.remove()
    assert len(passes) > len(TEXTS)
    assert all(rows * width <= 20 or rows == 1 for rows, width in passes), passes
