"""Explanation datasets on the Hub: pushed to the local stand-in with their card, read back with
``datasets``, the same card from a resumed run and from ``explain_dataset``."""

from __future__ import annotations

import json

import pytest
import yaml
from datasets import Dataset, load_dataset
from transformers import pipeline

from lafa_pipeline.apps import cli
from lafa_pipeline.apps.explain_data import explain_dataset, explain_to_file
from lafa_pipeline.apps.explanation_datasets import PROVENANCE_NAME, SHARD, provenance, push_explanations

from .hub_stub import HubStub
from .tiny import TEXTS


@pytest.fixture()
def hub(monkeypatch):
    import huggingface_hub.constants

    with HubStub() as stub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", stub.endpoint)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")
        yield stub


def card_header(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


def test_cli_pushes_explanations_that_load_back_with_their_card(explainer, tmp_path, hub, capsys, monkeypatch):
    from huggingface_hub import snapshot_download

    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS[:5]) + "\n")
    out = tmp_path / "out.parquet"
    args = ["explain", "--model", str(repo), "--data", str(data), "--output", str(out), "--push-to-hub", "org/expl"]
    assert cli.main(args) == 0
    assert "Pushed to the Hub dataset org/expl" in capsys.readouterr().out
    files = hub.state.repos["datasets/org/expl"]["files"]
    assert set(files) == {"README.md", PROVENANCE_NAME, SHARD}
    monkeypatch.undo()  # downloads name the stand-in as an endpoint, in place of the default one
    local = snapshot_download("org/expl", repo_type="dataset", local_dir=tmp_path / "pulled", endpoint=hub.endpoint)
    rows = load_dataset(local, split="train")  # the card's YAML points datasets at data/*.parquet
    assert rows.to_list() == Dataset.from_parquet(str(out)).to_list()
    assert [r["text"] for r in rows] == TEXTS[:5] and rows[0]["method"] == "lafa"
    card = files["README.md"].decode()
    assert card_header(card)["configs"][0]["data_files"][0]["path"] == "data/*.parquet"
    record = json.loads(files[PROVENANCE_NAME])
    assert record["model"] == str(repo) and record["source"] == str(data)
    assert record["lafa_settings"]["base_method"] == explainer.lafa_config.base_method == "smooth_grad"
    import transformers

    assert record["versions"]["transformers"] == transformers.__version__
    for shown in (
        str(repo),
        "lafa on smooth_grad",
        '"base_method": "smooth_grad"',
        f"transformers {transformers.__version__}",
    ):
        assert shown in card
    assert cli.main(["explain", "--model", str(repo), "good film", "--push-to-hub", "org/x"]) == 2
    assert "--push-to-hub goes with --data" in capsys.readouterr().err


def test_a_resumed_run_and_explain_dataset_push_the_same_card(explainer, tmp_path, hub):
    texts = TEXTS[:6]
    record = provenance(explainer, {"signed": False}, "tiny texts")
    whole, resumed = tmp_path / "whole.jsonl", tmp_path / "resumed.jsonl"
    explain_to_file(explainer, texts, str(whole), show_progress=False, signed=False)
    explain_to_file(explainer, texts[:2], str(resumed), show_progress=False, signed=False)  # stopped after two rows
    assert explain_to_file(explainer, texts, str(resumed), show_progress=False, signed=False) == 4
    push_explanations(whole, "org/whole", record)
    push_explanations(resumed, "org/resumed", record)
    ds = explain_dataset(explainer, texts, show_progress=False, signed=False)
    push_explanations(ds, "org/from-dataset", record)
    cards = {name: hub.state.repos[f"datasets/org/{name}"]["files"]["README.md"] for name in ("whole", "resumed")}
    cards["from-dataset"] = hub.state.repos["datasets/org/from-dataset"]["files"]["README.md"]
    assert len(set(cards.values())) == 1 and b"Explanations of" in cards["whole"]
    assert card_header(cards["whole"].decode())["size_categories"] == ["n<1K"]
    with pytest.raises(ValueError, match="must be a .parquet or .jsonl file or a Dataset"):
        push_explanations(tmp_path / "x.csv", "org/bad", record)
    other = pipeline("feature-attribution", model=explainer.model, tokenizer=explainer.tokenizer)
    assert provenance(other, {}, None)["index"] is None
