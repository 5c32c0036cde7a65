"""LafaIndex: cached scores, eps, search against brute force, approximate indexes, files, fingerprints."""

from __future__ import annotations

import json
import os
import re

import faiss
import numpy as np
import pytest
import torch

from lafa_pipeline import LafaConfig, LafaIndex, index_types
from lafa_pipeline.base_methods import MethodParams, attribute
from lafa_pipeline.index_encoding import estimate_eps
from lafa_pipeline.index_files import ARRAYS_NAME, FAISS_NAME, INDEX_FILES, INDEX_META_NAME, TEXTS_NAME
from lafa_pipeline.index_types import check_index_params, choose_index
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import LABELS, TEXTS, tiny_model


def pooled(model, tokenizer, texts, layer):
    """Mean of layer states over real tokens, computed text by text."""
    out = []
    for t in texts:
        enc = tokenizer(t, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc, output_hidden_states=True).hidden_states[layer][0]
        out.append(h.mean(0).numpy())
    return np.stack(out)


def test_cached_scores_equal_single_text_attribution(index, model, tokenizer):
    adapter = ModelAdapter(model)
    params = MethodParams.from_config(index.config)
    for ref in (0, 5, 11):
        enc = tokenizer(TEXTS[ref], return_tensors="pt")
        expected = attribute(
            adapter,
            "smooth_grad",
            enc["input_ids"],
            enc["attention_mask"],
            torch.tensor([LABELS[ref]]),
            enc["token_type_ids"],
            params,
        )[0].numpy()
        np.testing.assert_allclose(
            index.cached_scores(ref, LABELS[ref]), expected, rtol=1e-4, atol=1e-4 * expected.max()
        )
        assert index.cached_scores(ref, 1 - LABELS[ref]) is None  # cache_targets="label"
        assert index.token_ids(ref).tolist() == enc["input_ids"][0].tolist()
        assert index.labels(ref) == [LABELS[ref]]


def test_eps_is_quantile_of_pairwise_distances():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(60, 5)).astype(np.float32)
    all_pairs = [np.linalg.norm(vectors[i] - vectors[j]) for i in range(60) for j in range(60) if i != j]
    exact = np.quantile(all_pairs, 0.39)
    assert abs(estimate_eps(vectors, 0.39, 200_000, 0) - exact) < 0.02 * exact


def test_search_matches_brute_force(index, model, tokenizer):
    vectors = pooled(model, tokenizer, TEXTS, index.config.layer)
    queries = pooled(model, tokenizer, ["good acting", "boring plot", "the music"], index.config.layer)
    eps = index.config.eps
    for labels in (None, [1, 0, 0]):
        got = index.search(queries, 4, labels)
        for q, result in enumerate(got):
            dist = np.linalg.norm(vectors - queries[q], axis=1)
            allowed = [r for r in np.argsort(dist, kind="stable") if labels is None or LABELS[r] == labels[q]][:4]
            expected = [int(r) for r in allowed if dist[r] < eps]
            assert [r for r, _ in result] == expected
            np.testing.assert_allclose([d for _, d in result], dist[expected], rtol=1e-4)


def neighbor_ids(index, queries, labels=None):
    return [[r for r, _ in row] for row in index.search(queries, 4, labels, use_eps=False)]


@pytest.mark.parametrize(
    "index_type,params",
    [
        ("hnsw", {"M": 8, "ef_search": 64}),
        ("ivf", {"nlist": 2, "nprobe": 2}),
        ("ivf_pq", {"nlist": 2, "nprobe": 2, "m": 4}),
        ("ivf_pq", {"nlist": 2, "nprobe": 2, "by_residual": True}),
        ("ivf_pq", {"nlist": 2, "nprobe": 2, "half_refine": True}),
    ],
)
def test_approximate_indexes_find_the_exact_neighbors(model, tokenizer, index, index_type, params, tmp_path):
    config = index.config.replace(index_type=index_type, index_params=params, eps=None, base_method="simple_grad")
    approx = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=config, show_progress=False)
    approx.save_pretrained(tmp_path)
    mapped = LafaIndex.from_pretrained(tmp_path, mmap=True)  # every type reads back memory-mapped
    queries = pooled(model, tokenizer, ["good acting", "boring plot"], config.layer)
    for labels in (None, [1, 0]):  # the label filter (a FAISS ID selector) reaches every index type
        assert neighbor_ids(approx, queries, labels) == neighbor_ids(index, queries, labels)
        assert neighbor_ids(mapped, queries, labels) == neighbor_ids(index, queries, labels)


def test_half_refine_keeps_the_reranking_vectors_in_float16():
    vectors = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
    kind = index_types.INDEX_TYPE_REGISTRY.get("ivf_pq")
    full, half = (kind.build(vectors, {"nlist": 8, "nprobe": 8, "half_refine": h}) for h in (False, True))
    assert half.refine_index.sa_code_size() * 2 == full.refine_index.sa_code_size() == 32 * 4
    exact = faiss.IndexFlatL2(32)
    exact.add(vectors)
    queries = vectors[:50] + 0.01
    truth = exact.search(queries, 10)[1]
    # every list probed and half the vectors re-ranked: the re-ranking vectors alone decide the order
    params = index_types.search_parameters("ivf_pq", {"nprobe": 8, "k_factor": 100})
    for built in (full, half):
        ids = built.search(queries, 10, params=params)[1]
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth)]) > 0.95


def test_approximate_chooses_by_size_and_saves_its_pick(model, tokenizer, index, tmp_path, monkeypatch):
    assert choose_index(index_types.EXACT_UP_TO)[0] == "flat"
    assert choose_index(index_types.EXACT_UP_TO + 1)[0] == "hnsw"
    kind, params = choose_index(1_000_000)
    assert kind == "ivf_pq" and 1 <= params["nprobe"] <= params["nlist"]
    check_index_params(kind, params)
    with pytest.raises(ValueError, match="chooses its own parameters.*ivf_pq"):
        LafaConfig(index_type="approximate", index_params={"nprobe": 4})
    # a small index with the thresholds lowered takes the large-index branch, end to end
    monkeypatch.setattr(index_types, "EXACT_UP_TO", 4)
    monkeypatch.setattr(index_types, "HNSW_UP_TO", 8)
    config = index.config.replace(index_type="approximate", index_params={}, eps=None, base_method="simple_grad")
    built = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=config, show_progress=False)
    assert built.config.index_type == "ivf_pq" and built.config.index_params == choose_index(len(TEXTS), 16)[1]
    built.save_pretrained(tmp_path)
    queries = pooled(model, tokenizer, ["good acting", "boring plot"], config.layer)
    for mmap in (False, True):
        loaded = LafaIndex.from_pretrained(tmp_path, mmap=mmap)
        assert loaded.config.index_type == "ivf_pq"
        ivf = faiss.extract_index_ivf(loaded.faiss_index)  # the defaults: codes of the vectors, dim/4 sub-quantizers
        assert not ivf.by_residual and faiss.downcast_index(ivf).pq.M == 16 // 4
        assert neighbor_ids(loaded, queries, [1, 0]) == neighbor_ids(index, queries, [1, 0])


def test_save_load_round_trip(index, tmp_path):
    written = index.save_pretrained(tmp_path)
    assert sorted(os.path.basename(p) for p in written) == sorted(INDEX_FILES)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    for mmap in (False, True):
        loaded = LafaIndex.from_pretrained(tmp_path, mmap=mmap)
        assert loaded.texts == index.texts and loaded.config == index.config and loaded.meta == index.meta
        for key, value in index.arrays.items():
            np.testing.assert_array_equal(loaded.arrays[key], value)
        queries = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
        assert loaded.search(queries, 3, use_eps=False) == index.search(queries, 3, use_eps=False)


@pytest.mark.parametrize("name", INDEX_FILES)
def test_missing_file_is_named(index, tmp_path, name):
    index.save_pretrained(tmp_path)
    os.remove(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=re.escape(name)):
        LafaIndex.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", [INDEX_META_NAME, FAISS_NAME, ARRAYS_NAME, TEXTS_NAME, "lafa_config.json"])
def test_corrupt_file_is_named(index, tmp_path, name):
    index.save_pretrained(tmp_path)
    (tmp_path / name).write_bytes(b"\x00\x01 not what it should be {")
    for mmap in (False, True):
        with pytest.raises(ValueError, match="corrupt.*" + re.escape(name)):
            LafaIndex.from_pretrained(tmp_path, mmap=mmap)


def _with_header(data: bytes, edit) -> bytes:
    """A safetensors file's bytes with its JSON header changed by ``edit``."""
    size = int.from_bytes(data[:8], "little")
    header = json.dumps(edit(json.loads(data[8 : 8 + size]))).encode()
    return len(header).to_bytes(8, "little") + header + data[8 + size :]


def test_truncated_or_inconsistent_arrays_are_named_when_mapped(index, tmp_path):
    index.save_pretrained(tmp_path)
    data = (tmp_path / ARRAYS_NAME).read_bytes()

    def first_tensor(change):
        def edit(header):
            name = next(k for k in header if k != "__metadata__")
            header[name] = change(header[name])
            return header

        return edit

    broken = [
        data[:-7],  # truncated data
        _with_header(data, lambda h: []),  # not an object
        _with_header(data, first_tensor(lambda t: {**t, "data_offsets": [-8, 0]})),
        _with_header(data, first_tensor(lambda t: {**t, "shape": ["x"]})),
        _with_header(data, first_tensor(lambda t: {k: v for k, v in t.items() if k != "data_offsets"})),
        _with_header(data, first_tensor(lambda t: {**t, "dtype": "F8_E4M3"})),
    ]
    for content in broken:
        (tmp_path / ARRAYS_NAME).write_bytes(content)
        for mmap in (False, True):
            with pytest.raises(ValueError, match="corrupt.*" + re.escape(ARRAYS_NAME)):
                LafaIndex.from_pretrained(tmp_path, mmap=mmap)


def test_disagreeing_files_are_reported(index, tmp_path):
    index.save_pretrained(tmp_path)
    lines = (tmp_path / TEXTS_NAME).read_text().splitlines(keepends=True)
    (tmp_path / TEXTS_NAME).write_text("".join(lines[:-1]))
    with pytest.raises(ValueError, match="disagree"):
        LafaIndex.from_pretrained(tmp_path)


def test_fingerprint_names_both_models(index, model):
    index.check_model(model)
    other = tiny_model(seed=7)
    other.name_or_path = "someone/other-model"
    with pytest.raises(ValueError, match="built with model .* used with model 'someone/other-model'"):
        index.check_model(other)


def test_the_same_model_in_half_precision_passes_the_check(index, model, tokenizer):
    """A checkpoint loaded in bfloat16 or float16 (on a GPU, or converted back to float32 on a CPU) holds
    rounded weights; the index accepts them, and still refuses another model rounded the same way."""
    import copy

    import torch
    from transformers import pipeline

    for dtype in (torch.bfloat16, torch.float16):
        half = copy.deepcopy(model).to(dtype)
        index.check_model(half)
        index.check_model(half.float())
        with pytest.raises(ValueError, match="built with model"):
            index.check_model(tiny_model(seed=7).to(dtype))
    loaded = pipeline(
        "feature-attribution", model=copy.deepcopy(model).to(torch.bfloat16), tokenizer=tokenizer, index=index
    )
    assert loaded("good film")["method"] == "lafa"  # explained in float32 on a CPU, against the same index
    old = LafaIndex(index.config, index.faiss_index, index.texts, index.arrays, {**index.meta, "half_fingerprints": {}})
    with pytest.raises(ValueError, match="built with model"):  # an index saved before: full precision only
        old.check_model(copy.deepcopy(model).to(torch.bfloat16))


def test_index_rejects_reference_based_base_methods(model, tokenizer):
    with pytest.raises(ValueError, match="Unknown base_method of an index 'shap_ref'"):
        LafaIndex.build(model, tokenizer, TEXTS, config=LafaConfig(base_method="shap_ref"), show_progress=False)


def test_multi_label_and_all_targets(tokenizer):
    model = tiny_model(3, "multi_label_classification")
    labels = [[0, 2], ["positive"], [1, 2], [0]]
    index = LafaIndex.build(
        model,
        tokenizer,
        TEXTS[:4],
        labels=labels,
        config=LafaConfig(base_method="simple_grad", layer=1),
        show_progress=False,
    )
    assert [index.labels(r) for r in range(4)] == [[0, 2], [1], [1, 2], [0]]
    assert index.cached_scores(0, 2) is not None and index.cached_scores(0, 1) is None
    all_targets = LafaIndex.build(
        model,
        tokenizer,
        TEXTS[:4],
        config=LafaConfig(base_method="simple_grad", layer=1, cache_targets="all"),
        show_progress=False,
    )
    assert all(all_targets.cached_scores(r, t) is not None for r in range(4) for t in range(3))
    with pytest.raises(ValueError, match="Unknown target 'happy'"):
        LafaIndex.build(model, tokenizer, TEXTS[:1], labels=["happy"], show_progress=False)
