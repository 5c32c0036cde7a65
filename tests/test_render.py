"""Issue 13 (part): one renderer for the terminal, HTML pages, notebooks and figures."""

from __future__ import annotations

import re

import pytest
from transformers import pipeline

from lafa_pipeline import show, to_html
from lafa_pipeline.apps.render import figure, page, spans, to_terminal

TOKENS = [{"token": "good", "score": 2.0, "start": 0, "end": 4}, {"token": "film", "score": 0.5, "start": 5, "end": 9}]


def test_spans_cover_the_text_and_scale_to_the_top_word():
    text = "good film!"
    pieces = spans(text, TOKENS)
    assert "".join(p for p, _ in pieces) == text
    assert pieces == [("good", 1.0), (" ", None), ("film", 0.25), ("!", None)]
    assert to_terminal(text, TOKENS, color=False) == "good[1.00] film[0.25]!"
    assert "\x1b[48;5;196m" in to_terminal(text, TOKENS, color=True)


@pytest.fixture(scope="module")
def explainer(model, tokenizer, index):
    return pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


def test_html_shades_every_word_by_its_scaled_score(explainer):
    text = "the acting was good"
    result, base = explainer(text), explainer(text, method="smooth_grad")
    markup = to_html(result, text, compare=base)
    top = max(t["score"] for t in result["tokens"])
    alphas = [float(a) for a in re.findall(r"rgba\(220, 38, 38, ([0-9.]+)\)", markup)]
    expected = [round(t["score"] / top, 4) for t in result["tokens"]]
    assert alphas[: len(expected)] == pytest.approx(expected, abs=1e-3)  # LAFA's row first, then the base's
    assert "neighbors</summary>" in markup
    # Then each neighbor shown, shaded by its own cached base-method scores for the explained class.
    shown = result["neighbors"][:5]
    assert shown and all(n["tokens"] for n in shown)
    neighbor_alphas = alphas[2 * len(expected) :]
    assert len(neighbor_alphas) == sum(len(n["tokens"]) for n in shown)
    pos = 0
    for n in shown:
        assert [t["token"] for t in n["tokens"]] == n["text"].split()
        cached = explainer.index.cached_scores(n["index"], explainer.model.config.label2id[result["target"]])
        words = ~explainer.index.special_mask(n["index"])
        assert sum(t["score"] for t in n["tokens"]) == pytest.approx(float(cached[words].sum()), rel=1e-5)
        top_n = max(t["score"] for t in n["tokens"])
        assert neighbor_alphas[pos : pos + len(n["tokens"])] == pytest.approx(
            [round(t["score"] / top_n, 4) for t in n["tokens"]], abs=1e-3
        )
        pos += len(n["tokens"])
    assert show(result, text) is None or "lafa-explanation" in show(result, text)  # displayed, or returned
    doc = page([result], [text])
    assert doc.startswith("<!doctype html>") and markup.split("</div>")[0] in doc


def test_figure_and_cli_outputs(explainer, tmp_path, capsys):
    text = "the acting was good"
    fig = figure([explainer(text)], [text])
    fig.savefig(tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text().count("<svg") == 1
    from lafa_pipeline.apps import cli

    repo = tmp_path / "repo"
    explainer.save_pretrained(repo)
    assert (
        cli.main(
            [
                "explain",
                "--model",
                str(repo),
                "--color",
                "never",
                "--html",
                str(tmp_path / "x.html"),
                "--figure",
                str(tmp_path / "x.png"),
                text,
            ]
        )
        == 0
    )
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "x.html").read_text().count('class="lafa-explanation"') == 1


def test_explaining_a_file_resumes_and_matches_the_pipeline(explainer, tmp_path, capsys):
    import json

    from lafa_pipeline.apps import cli
    from lafa_pipeline.apps.explain_data import explain_dataset, explain_to_file

    from .tiny import TEXTS

    out = tmp_path / "x.jsonl"
    assert explain_to_file(explainer, TEXTS[:5], str(out), batch_size=2, show_progress=False) == 5
    with open(out, "a") as f:
        f.write('{"row": 5, "text": "cut off by a cra')  # a crash in the middle of a line
    assert explain_to_file(explainer, TEXTS, str(out), batch_size=3, show_progress=False) == len(TEXTS) - 5
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(len(TEXTS))) and [r["text"] for r in rows] == TEXTS
    for row in rows[4:7]:
        expected = explainer(row["text"])
        assert [t["score"] for t in row["tokens"]] == pytest.approx([t["score"] for t in expected["tokens"]], rel=1e-4)
    ds = explain_dataset(explainer, TEXTS[:3], show_progress=False)
    assert ds.num_rows == 3 and ds[1]["text"] == TEXTS[1] and ds[1]["tokens"][0]["token"] == "bad"
    repo, data = tmp_path / "repo", tmp_path / "d.csv"
    explainer.save_pretrained(repo)
    data.write_text("text\n" + "\n".join(t for t in TEXTS if "," not in t) + "\n")
    assert (
        cli.main(["explain", "--model", str(repo), "--data", str(data), "--output", str(tmp_path / "e.parquet")]) == 0
    )
    from datasets import Dataset

    assert Dataset.from_parquet(str(tmp_path / "e.parquet")).num_rows == 14
    assert not (tmp_path / "e.parquet.partial.jsonl").exists()


def test_html_page_in_headless_chromium(explainer, tmp_path):
    """The standalone page as a browser draws it: every word's computed background alpha is its scaled score."""
    from .test_space import CHROMIUM, OUTPUT, browser_or_fail

    sync_api = browser_or_fail()
    text = "the director was brilliant but the ending was slow"
    result = explainer(text)
    (tmp_path / "page.html").write_text(page([result], [text]))
    top = max(t["score"] for t in result["tokens"])
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        tab = browser.new_page(viewport={"width": 1000, "height": 400})
        tab.goto((tmp_path / "page.html").as_uri())
        drawn = tab.eval_on_selector_all(
            ".lafa-explanation > div span[title]",
            """spans => spans.map(s =>
            [s.innerText, getComputedStyle(s).backgroundColor])""",
        )
        tab.click(".lafa-explanation summary")  # open the neighbors: each is shaded by its own scores
        shaded_neighbors = tab.eval_on_selector_all(
            ".lafa-explanation details span[title]",
            """spans => spans.map(s =>
            [s.innerText, getComputedStyle(s).backgroundColor])""",
        )
        OUTPUT.mkdir(exist_ok=True)
        tab.screenshot(path=str(OUTPUT / "render_page.png"))
        browser.close()
    assert [w for w, _ in drawn] == [t["token"] for t in result["tokens"]]
    assert [w for w, _ in shaded_neighbors] == [t["token"] for n in result["neighbors"][:5] for t in n["tokens"]]
    for (_, colour), t in zip(drawn, result["tokens"]):
        alpha = float(re.findall(r"[\d.]+", colour)[3]) if colour.startswith("rgba") else 1.0
        assert alpha == pytest.approx(t["score"] / top, abs=6e-3)  # browsers keep alpha in 8 bits
