"""Issue 11: text pairs (NLI premise + hypothesis) as the text-classification pipeline takes them, in the
pipeline, index builds (pairs as references, with their segment ids), rendering and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

from lafa_pipeline import LafaIndex, evaluate_explainer, tune_explainer
from lafa_pipeline.apps.cli import main
from lafa_pipeline.apps.render import PAIR_SEPARATOR, spans
from lafa_pipeline.base_methods import MethodParams, attribute
from lafa_pipeline.faithfulness.evaluate import Predictor
from lafa_pipeline.faithfulness.metrics import faithfulness, masked_text
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import INDEX_CONFIG, LABELS, TEXTS

PAIRS = [{"text": a, "text_pair": b} for a, b in zip(TEXTS[::2], TEXTS[1::2])]
PAIR_LABELS = LABELS[::2]
QUERY = {"text": "the acting was good", "text_pair": "boring movie , slow plot"}


@pytest.fixture(scope="module")
def pair_index(model, tokenizer):
    return LafaIndex.build(
        model, tokenizer, PAIRS, labels=PAIR_LABELS, config=INDEX_CONFIG.replace(n_neighbors=3), show_progress=False
    )


def scores(result):
    return [t["score"] for t in result["tokens"]]


def test_a_pair_is_explained_word_by_word_in_each_text(model, tokenizer):
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer)
    result = explainer(QUERY, method="simple_grad")
    assert explainer(QUERY["text"], text_pair=QUERY["text_pair"], method="simple_grad") == result
    parts = [QUERY["text"], QUERY["text_pair"]]
    assert [(t["segment"], parts[t["segment"]][t["start"] : t["end"]]) for t in result["tokens"]] == [
        (0, w) for w in parts[0].split()
    ] + [(1, w) for w in parts[1].split()]
    # Second-segment tokens carry token type 1: the scores are those of the model fed the pair.
    enc = tokenizer(*parts, return_tensors="pt")
    assert enc["token_type_ids"].sum() > 0
    expected = attribute(
        ModelAdapter(model),
        "simple_grad",
        enc["input_ids"],
        enc["attention_mask"],
        torch.tensor([model.config.label2id[result["target"]]]),
        enc["token_type_ids"],
        MethodParams(),
    )[0]
    real = ~torch.tensor(
        tokenizer.get_special_tokens_mask(enc["input_ids"][0].tolist(), already_has_special_tokens=True),
        dtype=torch.bool,
    )
    assert scores(result) == pytest.approx(expected[real].tolist(), rel=1e-5)
    batched = explainer([QUERY, PAIRS[1], "good film"], method="simple_grad", batch_size=3)
    assert scores(batched[0]) == pytest.approx(scores(result), rel=1e-4)
    assert "segment" not in batched[2]["tokens"][0]  # a single text reports no segments


def test_pair_references_keep_their_segments(model, tokenizer, pair_index, tmp_path):
    assert "token_types" in pair_index.arrays
    ref = 2
    enc = tokenizer(PAIRS[ref]["text"], PAIRS[ref]["text_pair"], return_tensors="pt")
    assert pair_index.token_types(ref).tolist() == enc["token_type_ids"][0].tolist()
    expected = attribute(
        ModelAdapter(model),
        "smooth_grad",
        enc["input_ids"],
        enc["attention_mask"],
        torch.tensor([PAIR_LABELS[ref]]),
        enc["token_type_ids"],
        MethodParams.from_config(pair_index.config),
    )[0].numpy()
    np.testing.assert_allclose(pair_index.cached_scores(ref, PAIR_LABELS[ref]), expected, rtol=1e-4, atol=1e-7)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=pair_index)
    cached, live = explainer(QUERY), explainer(QUERY, live_neighbors=True)
    assert scores(live) == pytest.approx(scores(cached), rel=1e-3) and cached["neighbors"]
    assert all(
        isinstance(n["text"], dict) and {t["segment"] for t in n["tokens"]} == {0, 1} for n in cached["neighbors"]
    )
    explainer.save_pretrained(tmp_path / "repo")
    reloaded = pipeline("feature-attribution", model=str(tmp_path / "repo"), trust_remote_code=True)
    assert scores(reloaded(QUERY)) == pytest.approx(scores(cached), rel=1e-5)
    assert reloaded.index.texts == PAIRS


def test_rendering_and_errors(model, tokenizer):
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer)
    result = explainer(QUERY, method="simple_grad")
    pieces = spans(QUERY, result["tokens"])
    assert "".join(p for p, _ in pieces) == QUERY["text"] + PAIR_SEPARATOR + QUERY["text_pair"]
    assert max(level for _, level in pieces if level is not None) == 1.0
    with pytest.raises(ValueError, match="'text' and 'text_pair'"):
        explainer({"premise": "a", "hypothesis": "b"})
    with pytest.raises(ValueError, match="text_pair"):
        explainer({"text": "good", "text_pair": "  "})
    with pytest.raises(ValueError, match="text_pair must be"):
        explainer(["good", "bad"], text_pair="film")


def test_cli_reads_two_text_columns(model, tokenizer, tmp_path, capsys):
    folder = tmp_path / "model"
    pipeline("feature-attribution", model=model, tokenizer=tokenizer).save_pretrained(folder)
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(
            json.dumps({"premise": p["text"], "hypothesis": p["text_pair"], "label": lab}) + "\n"
            for p, lab in zip(PAIRS, PAIR_LABELS)
        )
    )
    repo = tmp_path / "repo"
    assert (
        main(
            [
                "build",
                "--model",
                str(folder),
                "--data",
                str(data),
                "--text-column",
                "premise",
                "--text-pair-column",
                "hypothesis",
                "--label-column",
                "label",
                "--output",
                str(repo),
                "--base-method",
                "simple_grad",
                "--layer",
                "1",
            ]
        )
        == 0
    )
    out = tmp_path / "explained.jsonl"
    assert (
        main(
            [
                "explain",
                "--model",
                str(repo),
                "--data",
                str(data),
                "--text-column",
                "premise",
                "--text-pair-column",
                "hypothesis",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(PAIRS) and {t["segment"] for t in rows[0]["tokens"]} == {0, 1}
    capsys.readouterr()
    assert (
        main(["explain", "--model", str(repo), "--color", "never", "--text-pair", QUERY["text_pair"], QUERY["text"]])
        == 0
    )
    assert PAIR_SEPARATOR.strip() in capsys.readouterr().out
    pair_args = ["--data", str(data), "--text-column", "premise", "--text-pair-column", "hypothesis", "--steps", "4"]
    report = tmp_path / "e.json"
    assert main(["evaluate", "--model", str(repo), "--methods", "lafa", *pair_args, "--json-output", str(report)]) == 0
    assert json.loads(report.read_text())["n_texts"] == len(PAIRS)
    assert main(["tune", "--model", str(repo), *pair_args, "--folds", "0", "--rounds", "1", "--layers", "1"]) == 0
    assert "chosen:" in capsys.readouterr().out


def test_pairs_are_masked_within_both_texts_and_measured(model, tokenizer):
    """Faithfulness of a pair: the model sees the masked pair (both segments), values recomputed by hand."""
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer)
    predict = Predictor(model, tokenizer)
    enc = tokenizer(QUERY["text"], QUERY["text_pair"], return_tensors="pt")
    with torch.no_grad():
        direct = torch.softmax(model(**enc).logits, -1)[0].numpy()
    assert predict([QUERY])[0] == pytest.approx(direct, rel=1e-5)
    result = explainer(QUERY, method="simple_grad")
    words, target = result["tokens"], model.config.label2id[result["target"]]
    order = np.argsort(-np.asarray(scores(result)), kind="stable")
    top = words[int(order[0])]
    masked = masked_text(QUERY, words, scores(result), 0.1, "[MASK]")  # ceil(0.1 * 9) = 1 word
    seg = "text" if top["segment"] == 0 else "text_pair"
    other = "text_pair" if seg == "text" else "text"
    assert masked[other] == QUERY[other] and "[MASK]" in masked[seg]
    assert masked[seg] == QUERY[seg][: top["start"]] + "[MASK]" + QUERY[seg][top["end"] :]
    # deletion area by hand: the target's probability as 0, 1/4, ..., all words are masked
    steps = 4
    probs = [predict([masked_text(QUERY, words, scores(result), i / steps, "[MASK]")])[0][target] for i in range(5)]
    expected = float(np.trapezoid(probs, dx=1 / steps))
    f = faithfulness(predict, QUERY, words, None, target, steps, "[MASK]")
    assert f.deletion_auc == pytest.approx(expected)
    report = evaluate_explainer(
        explainer, [QUERY, *PAIRS[:2]], methods=["simple_grad"], steps=steps, show_progress=False
    )
    assert report.per_text["simple_grad"]["deletion_auc"][0] == pytest.approx(expected)


def test_pairs_are_tuned(model, tokenizer, pair_index):
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=pair_index)
    result = tune_explainer(explainer, PAIRS, folds=0, layers=[1], rounds=1, steps=4, show_progress=False)
    assert result.n_texts == len(PAIRS) and result.best_value >= result.base_value
    assert any(t["lam"] > 0 for t in result.trials)
