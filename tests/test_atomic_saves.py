"""Issue 12 (part): a repo or an index is saved whole or not at all; half bundles are refused."""

from __future__ import annotations

import os
import stat
import sys

import pytest
from transformers import pipeline

from lafa_pipeline.index_files import INDEX_FILES

from .compare import assert_same_results

QUERY = "the acting was good"


def _listing(folder):
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


@pytest.mark.parametrize("failing", ["model", "index", "card"])
def test_a_failed_save_leaves_the_old_repo_whole(explainer, tmp_path, monkeypatch, failing):
    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    before = _listing(repo)
    target = {
        "model": (type(explainer).__mro__[1], "save_pretrained"),
        "index": (type(explainer.index), "write_files"),
        # the class's own module: after a trust_remote_code load, that is the repo's copy
        "card": (sys.modules[type(explainer).__module__], "render_model_card"),
    }[failing]

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(*target, crash)
    with pytest.raises(OSError, match="simulated"):
        explainer.save_pretrained(repo)
    monkeypatch.undo()
    assert _listing(repo) == before
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]  # no temporary folder left beside it
    assert_same_results(
        pipeline("feature-attribution", model=str(repo), trust_remote_code=True)(QUERY), explainer(QUERY)
    )


def test_no_stale_index_survives_a_save_without_index(explainer, model, tokenizer, tmp_path):
    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    pipeline("feature-attribution", model=model, tokenizer=tokenizer).save_pretrained(repo)
    assert not [n for n in os.listdir(repo) if n.startswith("lafa_index")]
    assert pipeline("feature-attribution", model=str(repo), trust_remote_code=True)(QUERY)["method"] == "smooth_grad"


def test_half_an_index_is_refused_by_name(explainer, tmp_path):
    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    (repo / "lafa_index.json").unlink()
    with pytest.raises(ValueError, match="only part of a LAFA index.*missing: lafa_index.json"):
        pipeline("feature-attribution", model=str(repo), trust_remote_code=True)


def test_saved_files_follow_the_umask(explainer, index, tmp_path):
    old = os.umask(0o022)
    try:
        explainer.save_pretrained(tmp_path / "repo")
        index.save_pretrained(tmp_path / "index")
    finally:
        os.umask(old)
    for folder in (tmp_path / "repo", tmp_path / "index"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
        for p in folder.iterdir():
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name
    assert sorted(os.listdir(tmp_path / "index")) == sorted(INDEX_FILES)


def test_unrelated_folders_are_not_replaced(explainer, index, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds other files, not a LAFA repo"):
        explainer.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds other files"):
        index.save_pretrained(tmp_path)
    assert os.listdir(tmp_path) == ["notes.txt"]
    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    with pytest.raises(ValueError, match="holds a model; save the pipeline"):
        index.save_pretrained(repo)


def test_kill_9_while_saving_leaves_a_whole_repo(tmp_path):
    """A process saving two repos alternately over one folder is killed at random moments; every time
    the folder loads, as one of the two repos, with no file of the other."""
    import random
    import signal
    import subprocess
    import time
    from pathlib import Path

    from lafa_pipeline.index import LafaIndex as Index

    root = Path(__file__).resolve().parent.parent
    folder = tmp_path / "repo"
    rng = random.Random(0)
    sizes = set()
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.save_worker", "loop", str(folder)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "saving"
        time.sleep(0.3 + rng.random() * 1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not folder.exists():  # killed before the first save finished: nothing was there to keep
            continue
        index = Index.from_pretrained(folder)
        explainer = pipeline("feature-attribution", model=str(folder), trust_remote_code=True)
        assert explainer.index.meta["model_fingerprint"] == index.meta["model_fingerprint"]
        sizes.add(len(index))
        assert explainer("good film")["method"] == "lafa"
    assert sizes <= {16, 10} and sizes


def test_a_kill_after_any_file_write_leaves_the_old_or_the_new_repo(tmp_path):
    """Fault injection: a save over a saved repo is killed (SIGKILL) at its 1st, 2nd, ... file write."""
    import json
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "tests.save_worker", "points", str(tmp_path / "repo")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    points = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(points) > 10 and not points[-1]["killed"] and points[-1]["state"] == "new"
    for p in points[:-1]:
        assert p["killed"] and p["state"] == "old", p  # the new repo is only ever seen whole, after the swap
        assert p["leftovers"] <= 1, p  # a killed save's temporary folder is removed by the next save
