"""Signed neighbor scores in the index (issue 52): each reference's signed base scores towards each
cached class, equal to the signed base method run on it alone, however the index was made (built,
lazy, sharded, memory-mapped, reloaded), and filled on first use in an index saved before they were kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from lafa_pipeline import LafaIndex
from lafa_pipeline.base_methods import attribute
from lafa_pipeline.build.sharding import merge_shards, write_shard
from lafa_pipeline.index_files import ARRAYS_NAME
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import INDEX_CONFIG, LABELS, TEXTS

CONFIG = INDEX_CONFIG.replace(base_method="occlusion", cache_targets="all")
QUERIES = ["good acting and a fine story", "boring plot , bad music"]


@pytest.fixture(scope="module")
def occlusion_index(model, tokenizer):
    return LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=CONFIG, show_progress=False)


def signed_alone(model, index, ref: int, target: int) -> np.ndarray:
    """Reference ``ref``'s signed occlusion scores towards ``target``, computed outside the index."""
    ids = torch.from_numpy(index.token_ids(ref).astype(np.int64)).unsqueeze(0)
    return attribute(ModelAdapter(model), "occlusion", ids, torch.ones_like(ids), torch.tensor([target]), signed=True)[
        0
    ].numpy()


def keys(index) -> list[tuple[int, int]]:
    return list(zip(index.arrays["cache_ref"].tolist(), index.arrays["cache_target"].tolist()))


def assert_same_signed(index, other) -> None:
    for key in keys(index):
        np.testing.assert_allclose(
            index.cached_scores(*key, signed=True), other.cached_scores(*key, signed=True), rtol=1e-4, atol=1e-7
        )


def test_built_signed_scores_are_the_signed_base_method_of_each_reference(occlusion_index, model):
    both_ways = False
    for ref, target in keys(occlusion_index):
        signed = occlusion_index.cached_scores(ref, target, signed=True)
        np.testing.assert_allclose(signed, signed_alone(model, occlusion_index, ref, target), rtol=1e-4, atol=1e-7)
        # occlusion's S has one column, so its magnitude is its signed score squared: the two kinds agree
        np.testing.assert_allclose(occlusion_index.cached_scores(ref, target), signed**2, rtol=1e-4, atol=1e-9)
        both_ways |= bool((signed < 0).any() and (signed > 0).any())
    assert both_ways and occlusion_index.missing_scores == 0


def test_lazy_sharded_mapped_and_reloaded_indexes_hold_the_same_signed_scores(
    occlusion_index, model, tokenizer, tmp_path
):
    lazy = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=CONFIG, show_progress=False, lazy=True)
    assert lazy.cached_scores(0, 0, signed=True) is None and lazy.missing_scores == len(keys(lazy))
    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    Lafa(model, lazy).attribute(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], signed=True)
    filled = [key for key in keys(lazy) if lazy.cached_scores(*key, signed=True) is not None]
    assert filled and all(lazy.cached_scores(*key) is not None for key in filled)  # both kinds, from one pass
    lazy.score_missing(model, show_progress=False)
    assert_same_signed(lazy, occlusion_index)

    for k in range(2):
        write_shard(str(tmp_path / "shards"), k, 2, model, tokenizer, TEXTS, LABELS, CONFIG, show_progress=False)
    assert_same_signed(merge_shards(str(tmp_path / "shards"), 2, model, CONFIG, True), occlusion_index)

    occlusion_index.save_pretrained(tmp_path / "repo")
    for mmap in (False, True):
        assert_same_signed(LafaIndex.from_pretrained(tmp_path / "repo", mmap=mmap), occlusion_index)


def test_an_index_saved_before_signed_scores_loads_and_fills_them(occlusion_index, model, tokenizer, tmp_path):
    occlusion_index.save_pretrained(tmp_path)
    path = tmp_path / ARRAYS_NAME
    arrays = load_file(path)
    old = {k: v for k, v in arrays.items() if k not in ("cache_signed", "cache_signed_ready")}
    save_file(old, path)  # as an index written before signed scores were kept

    index = LafaIndex.from_pretrained(tmp_path)
    assert all(index.cached_scores(*key) is not None for key in keys(index))  # its magnitudes load
    assert index.cached_scores(0, LABELS[0], signed=True) is None and index.missing_scores == len(keys(index))
    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    first = Lafa(model, index).attribute(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], signed=True)
    assert sum(first.live_neighbors) > 0 and index.new_scores > 0  # scored on first use, and kept
    again = Lafa(model, index).attribute(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], signed=True)
    assert sum(again.live_neighbors) == 0
    torch.testing.assert_close(again.scores, first.scores)
    full = Lafa(model, occlusion_index).attribute(
        enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], signed=True
    )
    torch.testing.assert_close(first.scores, full.scores, rtol=1e-4, atol=1e-6)

    index.score_missing(model, show_progress=False)
    assert index.missing_scores == 0 and index.save_scores()
    assert_same_signed(LafaIndex.from_pretrained(tmp_path), occlusion_index)
