"""Dataset explanations across processes (``accelerate launch``, two CPU processes over gloo): the same
rows and scores as one process, resumable after an interruption, and a lazy index's new neighbor
scores kept in the repo once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from transformers import pipeline

from lafa_pipeline import LafaIndex, load_explainer
from lafa_pipeline.apps.explain_data import explain_to_file

from .tiny import INDEX_CONFIG, LABELS, TEXTS

ROOT = Path(__file__).resolve().parent.parent
DATA = [
    "good acting and a fine story",
    "boring plot , bad music",
    "a brilliant film",
    "awful , awful acting",
    "the music was good",
    "bad story and bad acting",
    "loved it",
]


def launch(tmp_path: Path, repo: Path, data: Path, output: Path) -> subprocess.CompletedProcess:
    accelerate = shutil.which("accelerate")
    assert accelerate, "accelerate is a dependency and must provide the `accelerate` command"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "CUDA_VISIBLE_DEVICES": "",  # CPU processes even where a GPU exists
    }
    command = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "lafa_pipeline.apps.cli", "explain"]
    command += ["--model", str(repo), "--data", str(data), "--output", str(output), "--batch-size", "2"]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def lazy_repo(model, tokenizer, tmp_path):
    index = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=INDEX_CONFIG, show_progress=False, lazy=True)
    repo = tmp_path / "repo"
    pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index).save_pretrained(repo)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in DATA))
    return repo, data


def test_two_processes_equal_one_and_resume(lazy_repo, tmp_path):
    repo, data = lazy_repo
    single_repo = tmp_path / "single-repo"
    shutil.copytree(repo, single_repo)
    single = tmp_path / "single.jsonl"
    explainer = load_explainer(str(single_repo))
    explain_to_file(explainer, DATA, str(single), batch_size=2, show_progress=False)
    expected = rows(single)

    # An interrupted run: process 0 had written its first row and half of its second
    output = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    parts.mkdir()
    first, second = single.read_text().splitlines()[:2]
    (parts / "part-00000-of-00002.jsonl").write_text(first + "\n" + second[: len(second) // 2])
    done = launch(tmp_path, repo, data, output)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Explained 7 texts with 2 processes (2 here)" in done.stdout  # 3 rows in process 0's share, 1 kept
    assert not parts.exists()
    got = rows(output)
    assert [r["row"] for r in got] == list(range(len(DATA))) and [r["text"] for r in got] == DATA
    for a, b in zip(got, expected):
        assert a["label"] == b["label"] and a["target"] == b["target"]
        assert [w["token"] for w in a["tokens"]] == [w["token"] for w in b["tokens"]]
        np.testing.assert_allclose([w["score"] for w in a["tokens"]], [w["score"] for w in b["tokens"]], rtol=1e-4)
        assert [n["index"] for n in a["neighbors"]] == [n["index"] for n in b["neighbors"]]

    # every process's new neighbor scores reached the repo (once: the files are whole and agree)
    kept, alone = LafaIndex.from_pretrained(repo), explainer.index
    # (row 0 was explained by the interrupted run, which kept nothing: its neighbors alone are not needed)
    label2id = explainer.model.config.label2id
    needed = {(n["index"], label2id[r["target"]]) for r in got[1:] for n in r["neighbors"]}
    a = kept.arrays
    ready = {(int(a["cache_ref"][i]), int(a["cache_target"][i])) for i in np.flatnonzero(a["cache_ready"])}
    assert needed and ready == needed
    for ref, target in needed:
        np.testing.assert_allclose(kept.cached_scores(ref, target), alone.cached_scores(ref, target), rtol=1e-4)
