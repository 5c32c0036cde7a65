"""save_pretrained / push_to_hub round trips: a local folder, an offline Hub cache, a local Hub stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import pipeline

from lafa_pipeline.index_files import INDEX_FILES

from .compare import assert_same_results
from .hub_stub import HubStub
from .hub_worker import QUERIES, explain

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def explainer(model, tokenizer, index):
    return pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


@pytest.fixture(scope="module")
def saved(explainer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("repo") / "lafa-tiny"
    explainer.save_pretrained(folder)
    return folder


def test_saved_folder_holds_everything(saved):
    names = set(os.listdir(saved))
    assert set(INDEX_FILES) <= names
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "README.md",
        "feature_attribution.py",
        "lafa.py",
        "index.py",
        "base_methods.py",
    } <= names
    config = json.loads((saved / "config.json").read_text())
    assert config["custom_pipelines"]["feature-attribution"]["impl"] == "feature_attribution.FeatureAttributionPipeline"
    card = (saved / "README.md").read_text()
    lafa_config = json.loads((saved / "lafa_config.json").read_text())
    for fact in (
        "tiny test texts",
        "| kernel | indicator",
        "| lambda | 0.5",
        f"eps = {lafa_config['eps']:.4f}",
        "encoder layer (neighbor search) | 1",
        "smooth_grad",
        "## Limitations",
    ):
        assert fact in card
    assert "{" + "layer}" not in card
    front = card.split("---")[1]
    assert "library_name: transformers" in front and "- custom_code" in front and "- feature-attribution" in front
    requirements = (saved / "requirements.txt").read_text().split()
    assert {r.split(">=")[0] for r in requirements} >= {"torch", "transformers", "faiss-cpu", "captum"}


def test_folder_round_trip_with_remote_code(explainer, saved):
    reloaded = pipeline(model=str(saved), trust_remote_code=True)
    assert type(reloaded).__module__.startswith("transformers_modules")  # the repo's own code, not ours
    assert_same_results(explain(reloaded), explain(explainer))


def test_remote_code_is_required(saved):
    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline(model=str(saved))


def run_worker(mode: str, workdir: Path, env: dict) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "tests.hub_worker", mode, str(workdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def hub_env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_HOME=str(tmp_path / "hf_home"),
        HF_TOKEN="hf_test_token",
        PYTHONPATH=str(ROOT),
        HF_HUB_DISABLE_TELEMETRY="1",
        TOKENIZERS_PARALLELISM="false",
        **extra,
    )
    return env


def test_offline_hub_cache_layout(explainer, saved, tmp_path):
    """A cache laid out as huggingface_hub lays it out (blobs, snapshots, refs), read with HF_HUB_OFFLINE=1."""
    repo = tmp_path / "hf_home" / "hub" / "models--org--lafa-tiny"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for name in os.listdir(saved):
        blob = repo / "blobs" / f"blob{len(os.listdir(repo / 'blobs'))}"
        shutil.copy(saved / name, blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    # The pull worker also asks for a separate index repo: lay that out too (same files).
    index_repo = tmp_path / "hf_home" / "hub" / "models--org--tiny-index"
    (index_repo / "snapshots" / commit).mkdir(parents=True)
    for name in INDEX_FILES:
        shutil.copy(saved / name, index_repo / "snapshots" / commit / name)
    (index_repo / "refs").mkdir()
    (index_repo / "refs" / "main").write_text(commit)
    env = hub_env(tmp_path, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens there
    pulled = run_worker("pull", tmp_path, env)
    assert_same_results(pulled["repo"], json.loads(json.dumps(explain(explainer))))
    assert_same_results(pulled["other_index"], pulled["repo"])  # the same index, from its own repo


def test_push_to_hub_and_download(tmp_path):
    with HubStub() as hub:
        pushed = run_worker("push", tmp_path / "push", hub_env(tmp_path / "push", HF_ENDPOINT=hub.endpoint))
        files = hub.state.repos["org/lafa-tiny"]["files"]
        assert set(INDEX_FILES) | {"config.json", "model.safetensors", "feature_attribution.py"} <= set(files)
        assert set(hub.state.repos["org/tiny-index"]["files"]) == set(INDEX_FILES)
        pulled = run_worker("pull", tmp_path / "pull", hub_env(tmp_path / "pull", HF_ENDPOINT=hub.endpoint))
    assert_same_results(pulled, pushed)
    assert pulled["other_index"] != pulled["repo"]  # another reference set gives other LAFA scores
    assert len(pulled["repo"][0]) == len(QUERIES)


def test_saved_repo_keeps_the_settings_explained_with(model, tokenizer, index, tmp_path):
    """Settings given to the pipeline are what its saved repo holds: another base method gets a lazy copy
    of the index (no cached score of the old method under the new name); a setting the index's vectors
    depend on (the layer) is refused."""
    from lafa_pipeline import load_explainer

    base = "input_grad" if index.config.base_method != "input_grad" else "simple_grad"
    config = index.config.replace(base_method=base, lam=0.5, tokens_per_pass=512)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index, lafa_config=config)
    explainer.save_pretrained(tmp_path / "repo")
    reloaded = load_explainer(str(tmp_path / "repo"))
    assert reloaded.lafa_config == config and reloaded.index.config == config
    assert reloaded.index.missing_scores == len(index.arrays["cache_ready"])  # computed as queries need them
    same = index.config.replace(lam=0.5, tokens_per_pass=512)  # only how the scores are used differs
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index, lafa_config=same)
    explainer.save_pretrained(tmp_path / "same")
    assert load_explainer(str(tmp_path / "same")).index.missing_scores == index.missing_scores
    other_layer = index.config.replace(layer=index.config.layer + 1)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index, lafa_config=other_layer)
    with pytest.raises(ValueError, match="differ from the index's in layer"):
        explainer.save_pretrained(tmp_path / "layer")
    assert not (tmp_path / "layer").exists()
