"""Sharded index builds (one shard per process) merge into the single-process index."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lafa_pipeline import LafaIndex
from lafa_pipeline.build.sharding import merge_shards, shard_bounds, write_shard
from lafa_pipeline.index_arrays import concat_arrays
from lafa_pipeline.index_encoding import encode_references

from .tiny import INDEX_CONFIG, LABELS, TEXTS

ROOT = Path(__file__).resolve().parent.parent
QUERIES = np.random.default_rng(0).normal(size=(6, 16)).astype(np.float32)


def assert_same_index(a: LafaIndex, b: LafaIndex) -> None:
    assert a.texts == b.texts and a.meta == b.meta
    for key in (
        "token_ids",
        "special",
        "offsets",
        "label_ptr",
        "label_values",
        "cache_ptr",
        "cache_ref",
        "cache_target",
    ):
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key])
    np.testing.assert_allclose(
        a.arrays["cache_scores"], b.arrays["cache_scores"], rtol=1e-4, atol=1e-4 * float(b.arrays["cache_scores"].max())
    )
    assert a.config.replace(eps=None) == b.config.replace(eps=None)
    assert a.config.eps == pytest.approx(b.config.eps, rel=1e-5)
    assert [[r for r, _ in row] for row in a.search(QUERIES, 5, use_eps=False)] == [
        [r for r, _ in row] for row in b.search(QUERIES, 5, use_eps=False)
    ]


def test_shard_bounds_cover_everything_once():
    for n, k in [(10, 3), (3, 5), (16, 2), (1, 1)]:
        bounds = shard_bounds(n, k)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_concatenated_encodings_equal_one_pass(model, tokenizer):
    _, whole = encode_references(model, tokenizer, TEXTS, LABELS, INDEX_CONFIG, show_progress=False)
    parts = [
        encode_references(model, tokenizer, TEXTS[a:b], LABELS[a:b], INDEX_CONFIG, show_progress=False)[1]
        for a, b in shard_bounds(len(TEXTS), 3)
    ]
    joined = concat_arrays(parts)
    for key, value in whole.items():
        np.testing.assert_allclose(joined[key], value, rtol=1e-4, atol=1e-4 * float(np.abs(value).max()))


def test_merged_shards_equal_single_build(model, tokenizer, index, tmp_path):
    for k in range(3):
        write_shard(str(tmp_path), k, 3, model, tokenizer, TEXTS, LABELS, INDEX_CONFIG, show_progress=False)
    merged = merge_shards(str(tmp_path), 3, model, INDEX_CONFIG, labels_given=True, description="tiny test texts")
    assert_same_index(merged, index)
    os.remove(tmp_path / "shard-00001-of-00003.json")
    with pytest.raises(FileNotFoundError, match="shard-00001-of-00003.json"):
        merge_shards(str(tmp_path), 3, model, INDEX_CONFIG, labels_given=True)


def test_accelerate_launch_with_two_cpu_processes(model, tokenizer, tmp_path):
    accelerate = shutil.which("accelerate")
    assert accelerate, "accelerate is a dependency and must provide the `accelerate` command"
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(f'{{"text": "{t}", "label": {y}}}\n' for t, y in zip(TEXTS, LABELS)))
    c = INDEX_CONFIG
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "CUDA_VISIBLE_DEVICES": "",
    }  # CPU processes even where a GPU exists
    done = subprocess.run(
        [
            accelerate,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "lafa_pipeline.apps.cli",
            "build",
            "--no-signed",  # as INDEX_CONFIG, which the built repo is compared with
            "--model",
            str(tmp_path / "model"),
            "--data",
            str(data),
            "--label-column",
            "label",
            "--output",
            str(tmp_path / "out"),
            "--index-only",
            "--layer",
            str(c.layer),
            "--n-neighbors",
            str(c.n_neighbors),
            "--quantile",
            str(c.quantile),
            "--samples",
            str(c.samples),
            "--base-method",
            c.base_method,
            "--kernel",
            c.kernel,
            "--lam",
            str(c.lam),
            "--aggregation",
            c.aggregation,
            "--batch-size",
            "3",
            "--description",
            "tiny test texts",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Merged the shards of 2 processes into one index" in done.stdout
    sharded = LafaIndex.from_pretrained(tmp_path / "out")
    assert not (tmp_path / "out" / ".shards").exists()
    single = LafaIndex.build(
        model, tokenizer, TEXTS, labels=LABELS, config=c, show_progress=False, description="tiny test texts"
    )
    sharded.meta["model_name"] = single.meta["model_name"]  # a folder path there, the object's name here
    assert_same_index(sharded, single)
