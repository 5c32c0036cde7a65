"""Lazy indexes: built from forward passes only, scored when a query first needs a reference, and then
the same as a full build (scores, explanations, files), kept across save and reload."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lafa_pipeline import LafaIndex, load_explainer
from lafa_pipeline.apps.cli import main
from lafa_pipeline.build.sharding import merge_shards, write_shard
from lafa_pipeline.index_files import ARRAYS_NAME
from lafa_pipeline.lafa import Lafa

from .tiny import INDEX_CONFIG, LABELS, TEXTS

QUERIES = ["good acting and a fine story", "boring plot , bad music"]


def lazy_index(model, tokenizer):
    return LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=INDEX_CONFIG, show_progress=False, lazy=True)


def explain(model, tokenizer, index, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    return Lafa(model, index).attribute(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])


def test_lazy_build_holds_no_scores_but_the_same_search(index, model, tokenizer):
    lazy = lazy_index(model, tokenizer)
    assert lazy.missing_scores == len(lazy.arrays["cache_target"]) > 0 and index.missing_scores == 0
    assert all(lazy.cached_scores(r, LABELS[r]) is None for r in range(len(TEXTS)))
    assert lazy.config.eps == index.config.eps
    np.testing.assert_array_equal(
        lazy.faiss_index.reconstruct_n(0, len(TEXTS)), index.faiss_index.reconstruct_n(0, len(TEXTS))
    )


def test_lazy_explanations_equal_full_build_and_fill_the_cache(index, model, tokenizer):
    lazy = lazy_index(model, tokenizer)
    full, first = explain(model, tokenizer, index, QUERIES), explain(model, tokenizer, lazy, QUERIES)
    torch.testing.assert_close(first.scores, full.scores, rtol=1e-4, atol=1e-6)
    used = {(ref, t) for nbs, t in zip(first.neighbors, first.targets) for ref, _ in nbs}
    assert used and first.live_neighbors == [len(nbs) for nbs in first.neighbors]  # none was cached
    assert lazy.new_scores == len(used) and lazy.missing_scores == index.missing_scores + len(
        lazy.arrays["cache_target"]
    ) - len(used)
    for ref, t in used:
        np.testing.assert_allclose(lazy.cached_scores(ref, t), index.cached_scores(ref, t), rtol=1e-4, atol=1e-7)
    # the tokens still to score: every unscored row is as long as its reference
    expected = sum(len(lazy.token_ids(int(ref))) for ref in lazy.arrays["cache_ref"]) - sum(
        len(lazy.token_ids(ref)) for ref, _ in used
    )
    assert lazy.missing_tokens == expected and index.missing_tokens == 0
    again = explain(model, tokenizer, lazy, QUERIES)  # warm: read from the cache, nothing recomputed
    assert sum(again.live_neighbors) == 0
    torch.testing.assert_close(again.scores, full.scores, rtol=1e-4, atol=1e-6)


def test_lambda_zero_is_the_base_method_and_scores_no_neighbor(model, tokenizer):
    """lambda = 0 (a tuned repo keeping its base method alone) gives the base method's scores, still
    reports the neighbors, and scores none of them: on a lazy index that would cost for nothing."""
    lazy = lazy_index(model, tokenizer)
    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    args = enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
    zero = Lafa(model, lazy).attribute(*args, lam=0.0)
    alone = Lafa(model, lazy).attribute(*args, method=lazy.config.base_method)
    torch.testing.assert_close(zero.scores, alone.scores)
    assert all(zero.neighbors) and zero.live_neighbors == [0, 0]
    assert lazy.new_scores == 0 and lazy.missing_scores == len(lazy.arrays["cache_target"])


def test_other_settings_do_not_write_into_the_cache(model, tokenizer):
    lazy = lazy_index(model, tokenizer)
    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    other = Lafa(model, lazy, lazy.config.replace(samples=lazy.config.samples + 1))
    other.attribute(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    assert lazy.new_scores == 0 and lazy.missing_scores == len(lazy.arrays["cache_target"])


def test_fill_scores_scores_each_missing_key_once_like_a_full_build(index, model, tokenizer):
    lazy = lazy_index(model, tokenizer)
    wanted = [(3, LABELS[3]), (0, LABELS[0]), (3, LABELS[3]), (11, LABELS[11])]  # a key twice
    without_row = (5, 1 - LABELS[5])  # a class the build keeps no scores of for that reference
    assert lazy.cache_row(*without_row) is None
    assert Lafa(model, lazy).fill_scores(wanted + [without_row]) == 3 == lazy.new_scores
    for key in set(wanted):
        np.testing.assert_allclose(lazy.cached_scores(*key), index.cached_scores(*key), rtol=1e-4, atol=1e-7)
    assert lazy.missing_scores == len(lazy.arrays["cache_target"]) - 3
    assert Lafa(model, lazy).fill_scores(wanted) == 0  # already there: nothing scored again
    # scores another setting makes are not the index's: not kept
    other = Lafa(model, lazy, lazy.config.replace(samples=lazy.config.samples + 1))
    assert other.fill_scores([(1, LABELS[1])]) == 0 and lazy.cached_scores(1, LABELS[1]) is None


def test_score_missing_makes_the_full_index(index, model, tokenizer):
    lazy = lazy_index(model, tokenizer)
    assert lazy.score_missing(model, show_progress=False) == len(lazy.arrays["cache_target"])
    assert lazy.missing_scores == 0
    np.testing.assert_allclose(lazy.arrays["cache_scores"], index.arrays["cache_scores"], rtol=1e-4, atol=1e-7)


def test_scores_survive_save_and_reload(model, tokenizer, tmp_path):
    lazy = lazy_index(model, tokenizer)
    lazy.save_pretrained(tmp_path / "idx")
    loaded = LafaIndex.from_pretrained(tmp_path / "idx")
    assert loaded.source_dir == str(tmp_path / "idx") and loaded.missing_scores == lazy.missing_scores
    assert not loaded.save_scores()  # nothing new: the file is not touched
    explain(model, tokenizer, loaded, QUERIES[:1])
    n_new = loaded.new_scores
    assert n_new > 0 and loaded.save_scores() and loaded.new_scores == 0
    reloaded = LafaIndex.from_pretrained(tmp_path / "idx")
    assert reloaded.missing_scores == lazy.missing_scores - n_new
    assert sum(explain(model, tokenizer, reloaded, QUERIES[:1]).live_neighbors) == 0
    with pytest.raises(ValueError, match="holds another index"):
        other = LafaIndex.build(
            model, tokenizer, TEXTS[:5], labels=LABELS[:5], config=INDEX_CONFIG, show_progress=False, lazy=True
        )
        explain(model, tokenizer, other, QUERIES[:1])
        other.save_scores(tmp_path / "idx")


def test_memory_mapped_index_scores_privately_until_saved(index, model, tokenizer, tmp_path):
    lazy_index(model, tokenizer).save_pretrained(tmp_path / "idx")
    on_disk = (tmp_path / "idx" / ARRAYS_NAME).read_bytes()
    mapped = LafaIndex.from_pretrained(tmp_path / "idx", mmap=True)
    assert mapped.mapped and all(not a.flags.owndata for a in mapped.arrays.values() if a.size)  # views of the map
    # explanations from the mapped index equal a full build's; the scores it computes go to this
    # process's copy of the pages (copy on write), not into the file another process may be reading
    full, first = explain(model, tokenizer, index, QUERIES[:1]), explain(model, tokenizer, mapped, QUERIES[:1])
    torch.testing.assert_close(first.scores, full.scores, rtol=1e-4, atol=1e-6)
    assert mapped.new_scores > 0 and (tmp_path / "idx" / ARRAYS_NAME).read_bytes() == on_disk
    assert LafaIndex.from_pretrained(tmp_path / "idx", mmap=True).new_scores == 0
    scores = mapped.arrays["cache_scores"].copy()
    assert mapped.save_scores()  # written aside and moved into place, then mapped again
    np.testing.assert_array_equal(mapped.arrays["cache_scores"], scores)
    reloaded = LafaIndex.from_pretrained(tmp_path / "idx", mmap=True)
    assert reloaded.missing_scores == mapped.missing_scores
    np.testing.assert_array_equal(reloaded.arrays["cache_scores"], mapped.arrays["cache_scores"])
    assert sum(explain(model, tokenizer, reloaded, QUERIES[:1]).live_neighbors) == 0


def test_sharded_lazy_build_equals_one_pass(model, tokenizer, tmp_path):
    for k in range(3):
        write_shard(str(tmp_path), k, 3, model, tokenizer, TEXTS, LABELS, INDEX_CONFIG, show_progress=False, lazy=True)
    merged = merge_shards(str(tmp_path), 3, model, INDEX_CONFIG, True)
    one = lazy_index(model, tokenizer)
    for key in ("token_ids", "offsets", "cache_ref", "cache_target", "cache_ready"):
        np.testing.assert_array_equal(merged.arrays[key], one.arrays[key])
    torch.testing.assert_close(
        explain(model, tokenizer, merged, QUERIES).scores, explain(model, tokenizer, one, QUERIES).scores
    )


def test_cli_lazy_build_then_explain_keeps_scores_in_the_repo(model, tokenizer, tmp_path, capsys):
    from transformers import pipeline

    from lafa_pipeline import TASK

    trained = tmp_path / "model"
    pipeline(TASK, model=model, tokenizer=tokenizer).save_pretrained(trained)
    data = tmp_path / "refs.txt"
    data.write_text("\n".join(TEXTS) + "\n")
    repo = tmp_path / "repo"
    assert (
        main(
            [
                "build",
                "--model",
                str(trained),
                "--data",
                str(data),
                "--output",
                str(repo),
                "--lazy",
                "--prescore",
                "0",
                "--base-method",
                "simple_grad",
                "--layer",
                "1",
            ]
        )
        == 0
    )
    before = (repo / ARRAYS_NAME).read_bytes()
    assert load_explainer(str(repo)).index.missing_scores == len(TEXTS)
    assert main(["explain", "--model", str(repo), "--color", "never", QUERIES[0]]) == 0
    assert (repo / ARRAYS_NAME).read_bytes() != before
    assert 0 < load_explainer(str(repo)).index.missing_scores < len(TEXTS)


def test_prescoring_the_most_needed_rows_serves_queries_like_the_references(model, tokenizer):
    lazy = lazy_index(model, tokenizer)
    counts = lazy.neighbor_counts(model, show_progress=False)
    reached = np.flatnonzero(counts > 0)
    half = lazy_index(model, tokenizer)
    filled = half.prescore(model, 0.5, show_progress=False)
    assert filled == round(0.5 * len(reached))
    ready = half.arrays["cache_ready"].astype(bool)
    assert counts[ready].min() >= counts[reached[~ready[reached]]].max()  # the most needed first
    assert lazy.prescore(model, 1.0, show_progress=False) == len(reached)
    # the references as queries (their own labels): every neighbor's score but their own is cached now
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    out = Lafa(model, lazy).attribute(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], targets=LABELS)
    for ref, (neighbors, live) in enumerate(zip(out.neighbors, out.live_neighbors)):
        assert live <= int(any(n == ref for n, _ in neighbors))


def test_cli_build_lazy_with_prescore(model, tokenizer, tmp_path, capsys):
    from transformers import pipeline

    from lafa_pipeline import TASK

    trained = tmp_path / "model"
    pipeline(TASK, model=model, tokenizer=tokenizer).save_pretrained(trained)
    data = tmp_path / "refs.txt"
    data.write_text("\n".join(TEXTS) + "\n")
    args = ["build", "--model", str(trained), "--data", str(data), "--base-method", "simple_grad", "--layer", "1"]
    assert main(args + ["--output", str(tmp_path / "full"), "--prescore", "0.5"]) == 2
    assert "--prescore and --prescore-seconds go with --lazy" in capsys.readouterr().err
    assert main(args + ["--output", str(tmp_path / "repo"), "--lazy"]) == 0  # prescored by default, in its budget
    filled = int(capsys.readouterr().out.split("Prescored ")[1].split()[0])
    index = load_explainer(str(tmp_path / "repo")).index
    reached = int((index.neighbor_counts(model, show_progress=False) > 0).sum())  # the saved settings' search
    assert filled == reached > 0 and index.missing_scores == len(TEXTS) - reached
    assert main(args + ["--output", str(tmp_path / "none"), "--lazy", "--prescore-seconds", "0"]) == 0
    assert "Prescored" not in capsys.readouterr().out
    assert load_explainer(str(tmp_path / "none")).index.missing_scores == len(TEXTS)
    assert main(args + ["--output", str(tmp_path / "bad"), "--lazy", "--prescore-seconds", "-1"]) == 2
    assert "--prescore-seconds must be 0 or more" in capsys.readouterr().err


def test_prescoring_stops_when_its_time_is_spent_with_the_most_needed_rows_scored(model, tokenizer, monkeypatch):
    """A clock that moves one second a reading: the budget (2.5 s) lets two batches of 4 rows run."""
    import itertools

    from lafa_pipeline import index as index_module

    lazy = lazy_index(model, tokenizer)
    counts = lazy.neighbor_counts(model, show_progress=False)
    assert (counts > 0).sum() > 8
    clock = itertools.count()
    monkeypatch.setattr(index_module.time, "perf_counter", lambda: float(next(clock)))
    assert lazy.prescore(model, batch_size=4, show_progress=False, seconds=2.5) == 8
    ready = lazy.arrays["cache_ready"].astype(bool)
    reached = np.flatnonzero(counts > 0)
    assert counts[ready].min() >= counts[reached[~ready[reached]]].max()  # the most needed first
    monkeypatch.undo()
    assert lazy_index(model, tokenizer).prescore(model, show_progress=False, seconds=0) == 0
