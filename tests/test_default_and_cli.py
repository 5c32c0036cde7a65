"""The embedded default (a small real build from the packaged MiniLM) and the `lafa` command."""

from __future__ import annotations

import json

import pytest
from transformers import pipeline

from lafa_pipeline import load_explainer
from lafa_pipeline.apps import cli
from lafa_pipeline.build.default_model import (
    DEFAULT_CONFIG,
    DEFAULT_NAME,
    RESULTS_NAME,
    TRAIN_FILE,
    build_default_repo,
    held_out_check,
    is_built,
    read_tsv,
)
from lafa_pipeline.index_files import INDEX_FILES
from lafa_pipeline.tuning_report import TuningReport

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
    # warm from the first query: every score a reference's own search reaches was prescored (32 references
    # take well under the build's prescoring budget)
    explainer = load_explainer(str(default_home / DEFAULT_NAME))
    counts = explainer.index.neighbor_counts(explainer.model, show_progress=False)
    assert (counts > 0).any() and not explainer.index.unscored_rows()[counts > 0].any()


def test_default_card_shows_its_held_out_check(default_home):
    """The shipped check was measured on the default's settings (else it is stale: rerun
    evaluation/default_check.py), and the built repo's card shows it with a verdict per metric."""
    checked = held_out_check()
    assert checked is not None, "lafa_pipeline/data/default_check.json was measured on other settings"
    assert {"occlusion", "integrated_grad"} <= set(checked.vs)
    config = json.loads((default_home / DEFAULT_NAME / "lafa_config.json").read_text())
    assert TuningReport.from_dict(config["tuning"]).checked == checked and config["layer"] == DEFAULT_CONFIG.layer
    card = (default_home / DEFAULT_NAME / "README.md").read_text()
    mean, low, high = checked.vs["occlusion"]["deletion_auc"]
    verdict = "better" if low > 0 else "worse" if high < 0 else "tie"
    assert f"| occlusion | {mean:+.3f} [{low:+.3f}, {high:+.3f}] {verdict} |" in card


def test_stale_check_is_left_out(monkeypatch, tmp_path):
    from lafa_pipeline.build import default_model

    record = json.loads(default_model.CHECK_FILE.read_text())
    record["settings"]["lam"] = DEFAULT_CONFIG.lam + 0.25
    stale = tmp_path / "check.json"
    stale.write_text(json.dumps(record))
    monkeypatch.setattr(default_model, "CHECK_FILE", stale)
    assert held_out_check() is None


def test_default_settings_are_the_tunings_pick():
    """DEFAULT_CONFIG writes out what `lafa tune` chose (lafa_pipeline/data/default_tune.json): a rerun
    of evaluation/default_tune.py that picks otherwise fails here until the default is rebuilt."""
    from lafa_pipeline.build import default_model
    from lafa_pipeline.faithfulness.tuning import tuned_fields

    record = json.loads(default_model.TUNE_FILE.read_text())
    assert {k: getattr(DEFAULT_CONFIG, k) for k in tuned_fields()} == record["chosen"]
    assert (
        TuningReport.from_dict(DEFAULT_CONFIG.tuning).tuned_value
        == TuningReport.from_dict(record["tuning"]).tuned_value
    )


def test_card_verdicts():
    from lafa_pipeline.card import checked_text
    from lafa_pipeline.tuning_report import AfterCheck

    text = checked_text(
        AfterCheck.from_dict(
            {
                "texts": "9 texts",
                "vs": {"a": {"x": [0.1, 0.05, 0.2], "y": [-0.1, -0.2, -0.01]}, "b": {"x": [0.0, -0.1, 0.1]}},
            }
        )
    )
    assert "| a | +0.100 [+0.050, +0.200] better | -0.100 [-0.200, -0.010] worse |" in text
    assert "| b | +0.000 [-0.100, +0.100] tie |  |" in text
    assert checked_text(None) == checked_text(AfterCheck("t", {})) == ""


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


def test_default_index_is_lazy_and_kept_warm_by_the_cli(default_home, tmp_path, monkeypatch, capsys):
    """The default's index is lazy (its build prescores what it can in a minute: here, on a copy, every
    score is dropped first); `lafa explain` scores the neighbors it needs and writes them back into the
    repo, so the next run reads them from the cache."""
    import shutil

    from lafa_pipeline import LafaIndex

    home = tmp_path / "home"
    shutil.copytree(default_home / DEFAULT_NAME, home / DEFAULT_NAME)
    monkeypatch.setenv("LAFA_HOME", str(home))
    folder = home / DEFAULT_NAME
    index = LafaIndex.from_pretrained(folder)
    for key in ("cache_ready", "cache_signed_ready"):
        index.arrays[key][:] = 0
    index.new_scores = 1  # saved as a lazy index saves the scores it computed
    index.save_scores(folder)
    before = LafaIndex.from_pretrained(folder).missing_scores
    assert before == len(index.arrays["cache_ready"])
    # A text with neighbors within eps among the fixture's 32 references at the default's layer: one of
    # the references (lambda 0 searches them without scoring any)
    explainer = load_explainer(str(folder))
    text = next(t for t in index.texts if explainer(t, lam=0.0)["neighbors"])
    assert cli.main(["explain", "--json", text]) == 0
    first = json.loads(capsys.readouterr().out)
    after = LafaIndex.from_pretrained(folder).missing_scores
    assert after == before - first["live_neighbors"] and first["live_neighbors"] > 0
    assert cli.main(["explain", "--json", text]) == 0
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
