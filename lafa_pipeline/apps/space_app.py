"""The Gradio app behind ``space/app.py`` and ``lafa demo``: word scores highlighted in a browser.

The model repo comes from ``$LAFA_MODEL`` (a Hub id or a local folder); without it, the embedded
default. ``GRADIO_SERVER_PORT`` / ``GRADIO_SERVER_NAME`` are honoured by Gradio itself.

Example:
    >>> from lafa_pipeline.apps.space_app import highlight
    >>> highlight("good film", [{"token": "good", "score": 2.0, "start": 0, "end": 4},
    ...                         {"token": "film", "score": 1.0, "start": 5, "end": 9}])
    [('good', 1.0), (' ', None), ('film', 0.5)]
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import time
import unicodedata
from typing import TYPE_CHECKING, Any

from ..aggregation import AGGREGATION_REGISTRY
from ..config import INDEXABLE_BASE_METHODS, KERNELS, METHODS
from ..results import is_lafa, method_label
from ..text_inputs import segments
from .render import legend_text, spans, words_html

if TYPE_CHECKING:  # gradio is imported when the page is built; the pipeline when loaded
    import gradio as gr

    from ..feature_attribution import FeatureAttributionPipeline

EXAMPLES = [
    "a gorgeous, witty, seductive movie.",
    "the plot is thin and the acting is wooden, but the music is lovely.",
    "an hour and a half of tedium, redeemed only by its final scene.",
    "not the best film of the year, but far from the worst.",
]
PREDICTED = "predicted class"
NO_CONTRAST = "(no contrast)"


def highlight(text: str, tokens: list[dict]) -> list[tuple[str, float | None]]:
    """(span, score) pairs for gr.HighlightedText: scores scaled so the strongest word is 1.0."""
    return spans(text, tokens)


def highlight_html(text: str, tokens: list[dict]) -> str:
    """The same highlighting as inline HTML (for the neighbor list)."""
    return words_html(text, tokens)


def script_notes(text: str, tokens: list[str], unk_token: str | None) -> list[str]:
    """Notes for text mostly not in Latin script, or mostly unknown to the tokenizer."""
    notes = []
    letters = [c for c in text if c.isalpha()]
    if letters and sum("LATIN" in unicodedata.name(c, "") for c in letters) / len(letters) < 0.5:
        notes.append(
            "This text is mostly not in Latin script; the model was trained on English text, read the scores with care."
        )
    unknown = sum(t == unk_token for t in tokens)
    if tokens and unknown / len(tokens) > 0.3:
        notes.append(
            f"{unknown} of {len(tokens)} tokens are unknown to this model's vocabulary, so their scores say little."
        )
    return notes


class Explainer:
    """Runs the pipeline for the app and shapes its results for the page."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.labels = [pipe.model.config.id2label[i] for i in sorted(pipe.model.config.id2label)]
        self.regression = pipe.lafa.adapter.problem_type == "regression"
        self.has_index = pipe.index is not None

    def explain(
        self,
        text: str,
        text_pair: str,
        method: str,
        kernel: str,
        lam: float,
        n_neighbors: int,
        target: str,
        signed: bool = False,
        contrast: str = NO_CONTRAST,
    ) -> tuple:
        """All outputs of the page for one request; bad input gives a message, never a traceback.
        ``text_pair``: the second text of a pair (NLI hypothesis), or empty for a single text;
        ``signed``: signed scores (which way each word pushes), for methods with a direction;
        ``contrast``: a class to explain the target against ("why the target rather than this")."""
        try:
            query: str | dict[str, str] = text
            if text_pair and text_pair.strip():
                query = {"text": text, "text_pair": text_pair}
            return self._explain(query, method, kernel, lam, n_neighbors, target, bool(signed), contrast)
        except (ValueError, TypeError) as e:
            return [], [], "", "", "", None, None, f"**Cannot explain this input:** {e}"

    def _explain(self, text, method, kernel, lam, n_neighbors, target, signed=False, contrast=NO_CONTRAST):
        import warnings

        kwargs: dict[str, Any] = {
            "method": method,
            "kernel": kernel,
            "lam": float(lam),
            "n_neighbors": int(n_neighbors),
        }
        if target and target != PREDICTED and not self.regression:
            kwargs["target"] = target
        if contrast and contrast != NO_CONTRAST and not self.regression:
            kwargs["contrast"] = contrast
        kwargs["signed"] = bool(signed)  # given either way: the box starts at the repo's default
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self.pipe(text, **kwargs)
        elapsed = time.perf_counter() - start
        base_method = result["base_method"]
        base = result  # a base method is its own "without the neighbors" view
        if is_lafa(result):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                base = self.pipe(text, **{**kwargs, "method": base_method})
        notes = [f"Explained in {elapsed * 1000:.0f} ms with **{method_label(result)}**."]
        if result["truncated"]:
            notes.append("**Note:** the text is longer than the model's limit; only its first part is explained.")
        for part in segments(text):
            tokens = self.pipe.tokenizer.tokenize(part)
            notes += [f"**Note:** {note}" for note in script_notes(part, tokens, self.pipe.tokenizer.unk_token)]
        if self.regression:
            prediction = f"### Predicted value: {result['score']:.4g}"
        else:
            rather = f" rather than **{result['contrast']}**" if result.get("contrast") else ""
            prediction = (
                f"### {result['label']} ({result['score']:.1%})\nExplaining class **{result['target']}**{rather}."
            )
        neighbors = self.neighbors_html(result)
        path = os.path.join(tempfile.mkdtemp(prefix="lafa-"), "explanation.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"text": text, "settings": kwargs, "result": result, "base_result": base}, f, indent=2)
        return (
            highlight(text, result["tokens"]),
            highlight(text, base["tokens"]),
            f"Shading: {legend_text(result)}.",
            prediction,
            neighbors,
            result,
            path,
            "\n\n".join(notes),
        )

    def neighbors_html(self, result: dict) -> str:
        if not is_lafa(result):
            return "<p>Neighbors are used by LAFA only.</p>"
        if not result["neighbors"]:
            return "<p>No reference text lies within the distance cut-off: LAFA equals its base method here.</p>"
        rows = []
        target = None if self.regression else self.pipe.model.config.label2id[result["target"]]
        for n in result["neighbors"]:
            words = n.get("tokens") or self.neighbor_words(n, target, result["base_method"], result.get("contrast"))
            rows.append(
                f"<tr><td>{n['distance']:.3f}</td><td>{html.escape(str(n['label']))}</td>"
                f"<td>{highlight_html(n['text'], words)}</td></tr>"
            )
        return (
            "<table class='lafa-neighbors'><tr><th>distance</th><th>label</th><th>text (base-method scores)</th>"
            "</tr>" + "".join(rows) + "</table>"
        )

    def neighbor_words(
        self, neighbor: dict, target: int | None, base_method: str, contrast: str | None = None
    ) -> list[dict]:
        """Word scores of a neighbor the result carries none for (the index did not cache its class, or
        the result explains a class rather than another): computed now."""
        return self.pipe(neighbor["text"], method=base_method, target=target, contrast=contrast)["tokens"]


def subtitle(cfg, has_index: bool, name: str) -> str:
    """The page's line under its title: the method the repo explains with, as the repo says.

    >>> from lafa_pipeline.config import LafaConfig
    >>> subtitle(LafaConfig(base_method="occlusion"), True, "my-model")[-62:]
    'NAACL 2022) on Occlusion, or any other method, for `my-model`.'
    >>> subtitle(LafaConfig(base_method="occlusion"), False, "my-model")
    'Word scores from Occlusion, or any other method, for `my-model`.'
    """
    from ..base_methods import BASE_METHOD_REGISTRY

    base = BASE_METHOD_REGISTRY.get(cfg.base_method).display_name
    method = f"**LAFA** (Locally Aggregated Feature Attribution, NAACL 2022) on {base}" if has_index else base
    return f"Word scores from {method}, or any other method, for `{name}`."


def build_demo(pipe) -> gr.Blocks:
    """The Gradio Blocks page for a feature-attribution pipeline."""
    import gradio as gr

    app = Explainer(pipe)
    cfg = pipe.lafa_config
    methods = list(METHODS) if app.has_index else list(INDEXABLE_BASE_METHODS)
    name = getattr(pipe.model, "name_or_path", "") or "model"
    with gr.Blocks(title="LAFA feature attribution") as demo:
        gr.Markdown(f"# Why did the model decide that?\n{subtitle(cfg, app.has_index, os.path.basename(name))}")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text", lines=3, value=EXAMPLES[0], elem_id="lafa-text")
                text_pair = gr.Textbox(
                    label="Second text (optional: pair models, e.g. an NLI hypothesis)",
                    lines=1,
                    value="",
                    elem_id="lafa-text-pair",
                )
                button = gr.Button("Explain", variant="primary", elem_id="lafa-explain")
                gr.Examples(EXAMPLES, inputs=text)
            with gr.Column(scale=2):
                method = gr.Dropdown(
                    methods,
                    value=methods[0] if app.has_index else cfg.base_method,
                    label="Method",
                    elem_id="lafa-method",
                )
                kernel = gr.Dropdown(list(KERNELS), value=cfg.kernel, label="Kernel")
                low, high = AGGREGATION_REGISTRY.get(cfg.aggregation).lam_range
                # The slider spans the aggregation's own range (eq. 6's is open-ended: 3 is ample there).
                lam = gr.Slider(
                    low,
                    min(high, max(3.0, cfg.lam)),
                    value=cfg.lam,
                    step=0.01,
                    label=f"Lambda (weight of the neighbors, {cfg.aggregation} aggregation)",
                )
                n_neighbors = gr.Slider(1, 30, value=cfg.n_neighbors, step=1, label="Neighbors")
                signed = gr.Checkbox(
                    value=cfg.signed,
                    label="Signed: which way each word pushes (methods with a direction)",
                    elem_id="lafa-signed",
                )
                target = gr.Dropdown(
                    [PREDICTED] + ([] if app.regression else app.labels), value=PREDICTED, label="Class to explain"
                )
                contrast = gr.Dropdown(
                    [NO_CONTRAST] + ([] if app.regression else app.labels),
                    value=NO_CONTRAST,
                    label="Rather than (a class to explain it against)",
                    visible=not app.regression,
                    elem_id="lafa-contrast",
                )
        status = gr.Markdown(elem_id="lafa-status")
        prediction = gr.Markdown(elem_id="lafa-prediction")
        with gr.Row():
            # Gradio's own legend runs from -1 to +1 in two colours, whatever the scores are: the line
            # below says instead what the shading means (magnitudes 0..1, or signed directions).
            scores = gr.HighlightedText(
                label="Selected method", show_legend=False, combine_adjacent=False, elem_id="lafa-scores"
            )
            base = gr.HighlightedText(
                label="Base method (without the neighbors)",
                show_legend=False,
                combine_adjacent=False,
                elem_id="lafa-base",
            )
        legend = gr.Markdown(elem_id="lafa-legend")
        gr.Markdown("### Neighbors LAFA used")
        neighbors = gr.HTML(elem_id="lafa-neighbors")
        with gr.Accordion("Result as JSON", open=False):
            result_json = gr.JSON()
            download = gr.File(label="Download")
        inputs = [text, text_pair, method, kernel, lam, n_neighbors, target, signed, contrast]
        outputs = [scores, base, legend, prediction, neighbors, result_json, download, status]
        button.click(app.explain, inputs, outputs, api_name="explain")
        text.submit(app.explain, inputs, outputs, api_visibility="private")
        text_pair.submit(app.explain, inputs, outputs, api_visibility="private")
        for control in (method, kernel, lam, n_neighbors, target, signed, contrast):
            control.change(app.explain, inputs, outputs, api_visibility="private")
        demo.load(app.explain, inputs, outputs, api_visibility="private")
    return demo


def load_pipeline(model: str | None = None) -> FeatureAttributionPipeline:
    """The pipeline for ``model``, ``$LAFA_MODEL`` or the embedded default."""
    from .. import load_explainer

    return load_explainer(model or os.environ.get("LAFA_MODEL") or None)


def main(model: str | None = None, **launch_kwargs) -> None:
    build_demo(load_pipeline(model)).queue().launch(**launch_kwargs)
