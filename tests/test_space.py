"""The Gradio app: API calls through gradio_client, 20 concurrent requests, and a real browser."""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from transformers import pipeline

gr = pytest.importorskip("gradio") if not os.environ.get("CI") else __import__("gradio")
from gradio_client import Client  # noqa: E402

from lafa_pipeline import load_explainer  # noqa: E402
from lafa_pipeline.apps.space_app import NO_CONTRAST, PREDICTED, build_demo, highlight  # noqa: E402
from lafa_pipeline.base_methods import BASE_METHOD_REGISTRY  # noqa: E402

from .compare import assert_same_results  # noqa: E402

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def repo(model, tokenizer, index, tmp_path_factory):
    folder = tmp_path_factory.mktemp("space") / "lafa-tiny"
    pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipe(repo):
    return load_explainer(str(repo))


@pytest.fixture(scope="module")
def url(pipe):
    demo = build_demo(pipe).queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def client(url):
    return Client(url, verbose=False)


def call(
    client, text, method="lafa", kernel="indicator", lam=0.5, n=4, target=PREDICTED, text_pair="", signed=False, **rest
):
    contrast = rest.get("contrast", NO_CONTRAST)
    return client.predict(text, text_pair, method, kernel, lam, n, target, signed, contrast, api_name="/explain")


def test_api_explains_text_pairs(client, pipe):
    pair = {"text": "the acting was good", "text_pair": "the plot was awful"}
    scores, *_, result, download, status = call(client, pair["text"], "simple_grad", text_pair=pair["text_pair"])
    expected = pipe(pair, method="simple_grad")
    assert_same_results(result, expected)
    assert [s["token"] for s in scores] == [p for p, _ in highlight(pair, expected["tokens"])]
    assert {t["segment"] for t in result["tokens"]} == {0, 1}


@pytest.mark.parametrize(
    "method,kernel,lam,n,target",
    [
        ("lafa", "indicator", 0.5, 4, PREDICTED),
        ("lafa", "rbf", 1.5, 2, "negative"),
        ("integrated_grad", "indicator", 0.5, 4, "positive"),
    ],
)
def test_api_scores_equal_the_pipeline(client, pipe, method, kernel, lam, n, target):
    text = "the acting was good , the plot was awful"
    scores, base, legend, prediction, neighbors, result, download, status = call(
        client, text, method, kernel, lam, n, target
    )
    assert "magnitude, no direction" in legend
    kwargs = {"method": method, "kernel": kernel, "lam": lam, "n_neighbors": n}
    if target != PREDICTED:
        kwargs["target"] = target
    expected = pipe(text, **kwargs)
    assert_same_results(result, expected)
    spans = [(s["token"], s["class_or_confidence"]) for s in scores]
    assert spans == [
        (t, pytest.approx(c, abs=1e-4) if c is not None else None) for t, c in highlight(text, expected["tokens"])
    ]
    assert max(c for _, c in spans if c is not None) == 1.0
    assert_same_results(
        [s["class_or_confidence"] for s in base if s["class_or_confidence"] is not None],
        [
            c
            for _, c in highlight(text, pipe(text, **{**kwargs, "method": expected["base_method"]})["tokens"])
            if c is not None
        ],
        rel=1e-3,
    )
    assert expected["label"] in prediction and f"{expected['score']:.1%}" in prediction
    assert re.search(r"Explained in \d+ ms", status)
    assert (neighbors.count("<tr>") - 1 == len(expected["neighbors"])) if method == "lafa" else "LAFA only" in neighbors
    assert_same_results(__import__("json").loads(Path(download).read_text())["result"], expected)


def test_api_signed_scores_and_their_legend(client, pipe):
    text = "the acting was good , the plot was awful"
    scores, base, legend, *_, result, download, status = call(client, text, "integrated_grad", signed=True)
    expected = pipe(text, method="integrated_grad", signed=True)
    assert_same_results(result, expected)
    assert result["signed"] and "blue: pushes away" in legend
    levels = [s["class_or_confidence"] for s in scores if s["class_or_confidence"] is not None]
    assert max(abs(v) for v in levels) == 1.0
    assert [round(v, 4) for v in levels] == [c for _, c in highlight(text, expected["tokens"]) if c is not None]
    assert "no direction" in call(client, text, "simple_grad", signed=True)[-1]


def test_api_explains_a_class_rather_than_another(client, pipe):
    text = "the acting was good , the plot was awful"
    scores, base, legend, prediction, neighbors, result, *_ = call(client, text, target="positive", contrast="negative")
    expected = pipe(text, target="positive", contrast="negative")  # LAFA on SmoothGrad: magnitudes of the gap
    assert_same_results(result, expected)
    assert result["contrast"] == "negative" and "Explaining class **positive** rather than **negative**" in prediction
    assert neighbors.count("<tr>") - 1 == len(expected["neighbors"])  # their words scored for the pair
    assert "one class" in call(client, text, target="positive", contrast="positive")[-1]


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "Cannot explain this input:** Input text is empty"),
        ("   \n ", "Cannot explain this input:** Input text is empty"),
        (" ".join(["good film"] * 40), "only its first part is explained"),
        ("这部电影非常好看", "not in Latin script"),
        ("Фильм очень хороший", "unknown to this model's vocabulary"),
    ],
)
def test_bad_input_gets_a_message(client, text, message):
    outputs = call(client, text)
    assert message in outputs[-1]


def test_twenty_concurrent_requests(client, pipe, capsys):
    texts = [
        f"{a} {b}"
        for a in ("good", "awful", "slow", "brilliant", "boring")
        for b in ("film", "acting", "music", "story")
    ]
    expected = [pipe(t) for t in texts]
    start = time.perf_counter()
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda t: call(client, t)[5], texts))
    elapsed = time.perf_counter() - start
    for got, want in zip(results, expected):
        assert_same_results(got, want)
    with capsys.disabled():
        print(
            f"\n20 concurrent requests through the default queue: {elapsed:.2f} s "
            f"({elapsed / 20 * 1000:.0f} ms per request)"
        )


def browser_or_fail():
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    return (
        pytest.importorskip("playwright.sync_api")
        if not os.environ.get("CI")
        else __import__("playwright.sync_api", fromlist=["sync_playwright"])
    )


def highlighted(page) -> list[tuple[str, float]]:
    """(word, colour alpha) of the highlighted words of the main result."""
    out = []
    for span in page.query_selector_all("#lafa-scores .token.highlighted"):
        style = span.get_attribute("style") or ""
        alpha = re.search(r"rgba\([^)]*,\s*([\d.]+)\)", style)
        out.append((span.inner_text().strip(), float(alpha.group(1)) if alpha else 1.0))
    return out


def test_browser(url, pipe, tmp_path):
    sync_api = browser_or_fail()
    text = "the director was brilliant but the ending was slow"
    expected = pipe(text)
    top = max(expected["tokens"], key=lambda t: t["score"])["token"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url)
        page.wait_for_selector("#lafa-scores .token.highlighted")  # the example explained on load
        base = BASE_METHOD_REGISTRY.get(pipe.lafa_config.base_method).display_name
        assert f"NAACL 2022) on {base}, or any other method" in page.inner_text("body")  # the repo's method
        page.fill("#lafa-text textarea", text)
        page.click("#lafa-explain")
        page.wait_for_function(
            """(n) => {
            const spans = [...document.querySelectorAll('#lafa-scores .token.highlighted')];
            return spans.map(s => s.innerText.trim()).join(' ') === n; }""",
            arg=" ".join(text.split()),
        )
        words = highlighted(page)
        assert len(words) == len(expected["tokens"]) == len(text.split())
        assert max(words, key=lambda w: w[1])[0] == top
        OUTPUT.mkdir(exist_ok=True)
        shot = OUTPUT / "space_lafa.png"
        page.screenshot(path=str(shot), full_page=True)
        page.click("#lafa-method input")
        page.click("#lafa-method li[role=option][aria-label=simple_grad]")
        page.wait_for_function("() => document.querySelector('#lafa-status').innerText.includes('simple_grad')")
        changed = highlighted(page)
        assert [w for w, _ in changed] == [w for w, _ in words] and changed != words
        simple_top = max(pipe(text, method="simple_grad")["tokens"], key=lambda t: t["score"])["token"]
        assert max(changed, key=lambda w: w[1])[0] == simple_top
        page.screenshot(path=str(OUTPUT / "space_simple_grad.png"), full_page=True)
        assert "magnitude, no direction" in page.inner_text("#lafa-legend")
        # signed integrated gradients: the legend says so, and words pushing away get another colour
        page.click("#lafa-method input")
        page.click("#lafa-method li[role=option][aria-label=integrated_grad]")
        page.wait_for_function("() => document.querySelector('#lafa-status').innerText.includes('integrated_grad')")
        page.click("#lafa-signed input")
        page.wait_for_function("() => document.querySelector('#lafa-legend').innerText.includes('blue')")
        signed = pipe(text, method="integrated_grad", signed=True)["tokens"]
        styles = [s.get_attribute("style") or "" for s in page.query_selector_all("#lafa-scores .token.highlighted")]
        colours = {
            re.sub(r",\s*[\d.]+\)$", ")", re.search(r"rgba\([^)]*\)", st).group(0)) for st in styles if "rgba" in st
        }
        if any(t["score"] < 0 for t in signed) and any(t["score"] > 0 for t in signed):
            assert len(colours) == 2, colours  # one hue for each direction
        page.screenshot(path=str(OUTPUT / "space_signed.png"), full_page=True)
        browser.close()
    print(f"screenshots: {shot} and {OUTPUT / 'space_simple_grad.png'}")
