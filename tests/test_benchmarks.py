"""The benchmarks' own logic: equal-quality matching against a peer, and the search measurement."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import numpy as np
import pytest

import benchmarks
from benchmarks.peers import equal_quality_lines, shortfall
from benchmarks.performance import measure_search, search_configs


def test_every_benchmark_imports_alone_without_running():
    """A package without import cycles: each module imports in a fresh interpreter state, and importing
    does no work (no model is loaded, nothing is printed)."""
    names = [m.name for m in pkgutil.iter_modules(benchmarks.__path__)]
    assert {"performance", "peers", "sampling", "common"} <= set(names)
    for name in names:
        for loaded in [m for m in sys.modules if m.startswith("benchmarks.")]:
            del sys.modules[loaded]
        module = importlib.import_module(f"benchmarks.{name}")
        assert module.__doc__, f"benchmarks.{name} has no docstring saying what it measures"


def row(method, sampling, count, ms, agreement):
    return {
        "method": method,
        "sampling": sampling,
        "count": count,
        "ms_per_text": ms,
        "pearson_with_reference": agreement,
    }


def test_equal_quality_takes_our_fastest_setting_that_agrees_as_well_as_the_peer():
    peer = [
        {**row("smooth_grad", "-", 10, 120.0, 0.99), "reference": 100, "texts": 3},
        {**row("integrated_grad", "-", 25, 300.0, 0.999), "reference": 100, "texts": 3},
    ]
    ours = [
        row("smooth_grad", "iid", 5, 50.0, 0.985),  # fastest, but below the peer's agreement
        row("smooth_grad", "iid", 7, 70.0, 0.991),
        row("smooth_grad", "low_variance", 10, 100.0, 0.995),
        row("integrated_grad", "low_variance", 25, 280.0, 0.998),
    ]  # never reaches 0.999
    timed = [
        {"method": m, "mode": mode, "label": "short", "ms": ms, "texts": 12}
        for m, mode, ms in (
            ("smooth_grad", "batched", 60.0),
            ("Interpreto SmoothGrad(n_perturbations=10)", "batched", 240.0),
            ("smooth_grad", "one by one", 100.0),
            ("integrated_grad", "batched", 150.0),
            ("Interpreto IntegratedGradients(n_perturbations=25)", "batched", 300.0),
        )
    ]
    lines, speedups = equal_quality_lines(peer, ours, timed, "low_variance")
    assert speedups == {
        "smooth_grad": pytest.approx(120.0 / 70.0),
        "integrated_grad": None,
        "smooth_grad, batched": pytest.approx(240.0 / 60.0),  # ours at n = 10 agrees .995 >= .99
        "integrated_grad, batched": None,
    }  # ours at n = 25 agrees .998 < .999
    assert any("| smooth_grad |" in line and "iid, 7," in line for line in lines)
    assert any("| integrated_grad |" in line and "none of ours reached it" in line for line in lines)


def test_search_measurement_recall_against_exact_and_the_pick_row():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30_000, 8)).astype(np.float32)
    queries = rng.normal(size=(20, 8)).astype(np.float32)
    configs = search_configs(len(vectors), 8)
    assert [c[0] for c in configs[:2]] == ["flat", "approximate (pick)"] and configs[1][1] == "hnsw"
    rows, results = measure_search(vectors, queries, configs, "test")
    assert len(rows) == len(configs) == len(results)
    assert results[0]["recall"] == 1.0  # the exact index is the reference
    distances = ((vectors[None] - queries[:, None]) ** 2).sum(-1)
    exact = np.argsort(distances, axis=1)[:, :10]
    assert np.array_equal(np.sort(results[0]["index"].search(queries, 10)[1], axis=1), np.sort(exact, axis=1))
    assert 0.9 <= results[1]["recall"] <= 1.0 and all(r["build_s"] >= 0 and r["ms"] > 0 for r in results)


def test_shortfall_states_the_budget_the_cost_line_and_the_best_agreement_within_it():
    peer = {**row("smooth_grad", "-", 10, 90.0, 0.992), "reference": 100, "texts": 3}
    # ours: 20 ms fixed + 5 ms a sample, exactly
    ours = [
        row("smooth_grad", s, n, 20.0 + 5.0 * n, a)
        for s, n, a in (("iid", 3, 0.97), ("low_variance", 3, 0.98), ("iid", 7, 0.985), ("iid", 10, 0.995))
    ]
    why = shortfall(peer, ours)
    assert why.startswith("1.5x needs <= 60 ms a text; ours costs about 20 ms fixed + 5.0 ms a sample")
    assert "at most 8 fit" in why  # (60 - 20) / 5
    assert "agrees 0.9850 (iid, n = 7) against Interpreto's 0.9920" in why  # n = 10 costs 70 ms: over budget
    lines, speedups = equal_quality_lines([peer], ours)
    assert speedups["smooth_grad"] == pytest.approx(90.0 / 70.0)
    assert any(line.startswith("- smooth_grad: 1.5x needs") for line in lines)


def test_gpu_benchmark_runs_on_a_cpu(model, tokenizer, index, tmp_path):
    """benchmarks/gpu.py's whole path (float32 and bfloat16, the CPU check) on a tiny repo: no GPU is lent here."""
    from transformers import pipeline

    from benchmarks import gpu

    repo = tmp_path / "repo"
    pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index).save_pretrained(repo)
    out = tmp_path / "GPU.md"
    gpu.main(
        ["--device", "cpu", "--model", str(repo), "--texts", "3", "--batch", "2", "--check", "2"]
        + ["--methods", "simple_grad", "lafa", "--output", str(out)]
    )
    rows = [
        line for line in out.read_text().splitlines() if line.startswith("| simple_grad") or line.startswith("| lafa")
    ]
    assert len(rows) == 4  # two methods, two dtypes
    assert all(float(r.split("|")[3]) > 0 for r in rows)  # texts per second
    assert [r.split("|")[5].strip() for r in rows if "float32" in r] == ["0.0e+00", "0.0e+00"]  # CPU against CPU


def test_ondisk_benchmark_measures_both_loadings_and_exact_recall(tmp_path, monkeypatch):
    from benchmarks import ondisk

    rng = np.random.default_rng(0)
    vectors, labels = rng.normal(size=(500, 8)).astype(np.float32), rng.integers(0, 2, size=500)
    queries, qlabels = vectors[:5] + 0.01, np.array([0, 1, 0, 1, 1])
    truth = ondisk.exact_neighbors(vectors, labels, queries, qlabels)
    for q, lab, ids in zip(queries, qlabels, truth):  # the nearest of the query's own label, by brute force
        d = ((vectors - q) ** 2).sum(1)
        d[labels != lab] = np.inf
        assert list(ids) == list(np.argsort(d)[: ondisk.K])
    out = tmp_path / "ONDISK.md"
    argv = ["ondisk", "--n", "4000", "--queries", "20", "--dim", "16", "--tokens", "5", "--output", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    ondisk.main()
    table = [line for line in out.read_text().splitlines() if line.startswith(("| float32", "| float16"))]
    assert [line.split(" | ")[1] for line in table] == ["read", "mmap=True"] * 2
    recall = [float(line.rstrip(" |").split(" | ")[-1]) for line in table]
    assert recall[0] == recall[1] > 0.5 and recall[2] == recall[3] > 0.5  # mapping changes no neighbor
    size = {line.split(" | ")[0]: float(line.split(" | ")[2].replace(",", "")) for line in table}
    assert size["| float16"] < size["| float32"]


def test_long_texts_cycle_through_the_sentences_until_enough_texts():
    from benchmarks.common import long_texts

    def words(text):  # a tokenizer counting words
        return {"input_ids": text.split()}

    sentences = [f"s{i} a b" for i in range(10)]  # 30 words: two texts of 12 words a pass
    assert len(long_texts(sentences, words, 8, 10)) == 2
    texts = long_texts(sentences, words, 8, 10, cycle=True)
    assert len(texts) == 8 and all(len(t.split()) >= 10 for t in texts)
    assert texts[:2] == long_texts(sentences, words, 2, 10)  # the first pass is the plain one
    assert texts == long_texts(sentences, words, 8, 10, cycle=True)  # seeded
