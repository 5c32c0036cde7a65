"""The embedded default (a small real build from the packaged MiniLM) and the `lafa` command."""

from __future__ import annotations

import json

import pytest
from transformers import pipeline

from lafa_pipeline.apps import cli
from lafa_pipeline.build.default_model import (
    DEFAULT_NAME,
    RESULTS_NAME,
    TRAIN_FILE,
    build_default_repo,
    is_built,
    read_tsv,
)
from lafa_pipeline.index_files import INDEX_FILES

from .compare import assert_same_results


@pytest.fixture(scope="module")
def default_home(tmp_path_factory):
    """A default repo built by the real builder, from 64 shipped sentences (32 indexed)."""
    home = tmp_path_factory.mktemp("lafa_home")
    results = build_default_repo(home / DEFAULT_NAME, train_size=64, index_size=32, show_progress=False)
    assert 0.0 <= results["sst2_dev_accuracy"] <= 1.0 and results["sst2_dev_sentences"] == 872
    return home


def test_default_repo_is_complete(default_home):
    assert is_built(default_home / DEFAULT_NAME)
    results = json.loads((default_home / DEFAULT_NAME / RESULTS_NAME).read_text())
    assert results["train_sentences"] == 64 and results["reference_sentences"] == 32
    assert not [p for p in default_home.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_pipeline_without_model_uses_the_default(default_home, monkeypatch):
    monkeypatch.setenv("LAFA_HOME", str(default_home))
    explainer = pipeline("feature-attribution")
    result = explainer("a gorgeous, witty, seductive movie.")
    assert result["method"] == "lafa" and result["label"] in ("negative", "positive")
    assert [t["token"] for t in result["tokens"]] == ["a", "gorgeous", ",", "witty", ",", "seductive", "movie", "."]
    texts, _ = read_tsv(TRAIN_FILE)
    assert all(n["text"] in texts[:32] for n in result["neighbors"])


def test_cli_explain_json_equals_pipeline(default_home, monkeypatch, capsys):
    monkeypatch.setenv("LAFA_HOME", str(default_home))
    text = "the plot is thin but the acting is superb"
    assert cli.main(["explain", "--json", "--method", "simple_grad", text]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert_same_results(printed, pipeline("feature-attribution")(text, method="simple_grad"))


def test_default_index_is_lazy_and_kept_warm_by_the_cli(default_home, monkeypatch, capsys):
    """The default is indexed from forward passes only; `lafa explain` scores the neighbors it needs and
    writes them back into the repo, so the next run reads them from the cache."""
    from lafa_pipeline import LafaIndex

    monkeypatch.setenv("LAFA_HOME", str(default_home))
    folder = default_home / DEFAULT_NAME
    before = LafaIndex.from_pretrained(folder).missing_scores
    assert before > 0
    assert cli.main(["explain", "--json", "a tender, moving and funny story."]) == 0
    first = json.loads(capsys.readouterr().out)
    after = LafaIndex.from_pretrained(folder).missing_scores
    assert after == before - first["live_neighbors"] and first["live_neighbors"] > 0
    assert cli.main(["explain", "--json", "a tender, moving and funny story."]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["live_neighbors"] == 0 and again["tokens"] == first["tokens"]


def test_cli_explain_prints_shaded_words(default_home, monkeypatch, capsys):
    monkeypatch.setenv("LAFA_HOME", str(default_home))
    assert cli.main(["explain", "--color", "always", "a dull, lifeless film"]) == 0
    out = capsys.readouterr().out
    assert "prediction:" in out and "\x1b[48;5;196m" in out  # the top word gets the strongest shade
    assert cli.main(["explain", "--color", "never", "a dull, lifeless film"]) == 0
    assert "[1.00]" in capsys.readouterr().out


def test_cli_errors(default_home, monkeypatch, capsys):
    monkeypatch.setenv("LAFA_HOME", str(default_home))
    assert cli.main(["explain", "   "]) == 2
    assert "empty or whitespace" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["explain", "--method", "anchors", "text"])
    assert "invalid choice: 'anchors'" in capsys.readouterr().err


def test_cli_build_and_explain(model, tokenizer, tmp_path, capsys):
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    data = tmp_path / "train.csv"
    data.write_text(
        "text,label\ngood film,positive\nbad film,negative\ngreat movie !,positive\nawful plot .,negative\n"
    )
    args = [
        "build",
        "--model",
        str(tmp_path / "model"),
        "--data",
        str(data),
        "--label-column",
        "label",
        "--output",
        str(tmp_path / "repo"),
        "--base-method",
        "simple_grad",
        "--layer",
        "1",
        "--quantile",
        "1.0",
    ]
    assert cli.main(args) == 0
    assert cli.main(["explain", "--model", str(tmp_path / "repo"), "--json", "great film"]) == 0
    capsys.readouterr()
    assert cli.main(["explain", "--model", str(tmp_path / "repo"), "--json", "great film"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "lafa" and result["base_method"] == "simple_grad"
    assert {n["text"] for n in result["neighbors"]} <= {"good film", "great movie !", "bad film", "awful plot ."}
    index_args = args[: args.index("--output")] + [
        "--output",
        str(tmp_path / "index"),
        "--index-only",
        "--base-method",
        "simple_grad",
        "--layer",
        "1",
    ]
    assert cli.main(index_args) == 0
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == sorted(INDEX_FILES)
    capsys.readouterr()
    assert cli.main(args + ["--text-column", "sentence"]) == 2
    assert "lafa: error: Column 'sentence' not in" in capsys.readouterr().err


def test_cli_push(model, tokenizer, index, tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    from .hub_stub import HubStub

    pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index).save_pretrained(tmp_path / "repo")
    with HubStub() as hub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")
        assert cli.main(["push", str(tmp_path), "org/lafa-cli"]) == 2
        assert "not a LAFA repo folder" in capsys.readouterr().err
        assert cli.main(["push", str(tmp_path / "repo"), "org/lafa-cli"]) == 0
        pushed = hub.state.repos["org/lafa-cli"]["files"]
    assert sorted(pushed) == sorted(p.name for p in (tmp_path / "repo").iterdir())
    assert pushed["lafa_index.safetensors"] == (tmp_path / "repo" / "lafa_index.safetensors").read_bytes()
