"""One renderer for explanations: the terminal, HTML (notebooks, standalone pages, the Space) and figures.

Every view shades each word by its score scaled to the text's strongest word (1.0 = darkest): red
for magnitudes (the paper's scores, never negative) and, for signed scores (``signed=True``), red
for words that push towards the explained class and blue for words that push away from it.

Example (in a notebook, ``show`` displays the HTML; elsewhere it returns it)::

    from lafa_pipeline import load_explainer, show
    explainer = load_explainer()
    text = "a gorgeous, witty, seductive movie."
    show(explainer(text), text, compare=explainer(text, method="smooth_grad"))

    >>> spans("good film", [{"token": "good", "score": 2.0, "start": 0, "end": 4},
    ...                     {"token": "film", "score": 1.0, "start": 5, "end": 9}])
    [('good', 1.0), (' ', None), ('film', 0.5)]
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..results import is_lafa, method_label
from ..text_inputs import segments

if TYPE_CHECKING:  # matplotlib is imported only to draw a figure
    from matplotlib.figure import Figure

# 256-colour background shades from white to strong red (blue: signed scores below zero), for |level| in [0, 1].
SHADES = (231, 224, 217, 210, 203, 196)
NEGATIVE_SHADES = (231, 189, 153, 117, 75, 33)
RGB = (220, 38, 38)  # the HTML and figure shade at full score
NEGATIVE_RGB = (37, 99, 235)  # signed scores: pushing away from the explained class
PAIR_SEPARATOR = " ‖ "  # between the two texts of a pair


def spans(text: str | dict, tokens: Sequence[Mapping[str, Any]]) -> list[tuple[str, float | None]]:
    """(piece of text, scaled score or None between words) covering ``text``; the top word is 1.0
    (signed scores: the largest |score| is 1.0 or -1.0). A text pair is shown as its two texts with a
    separator, both scaled together."""
    top = max((abs(t["score"]) for t in tokens), default=0.0) or 1.0
    if isinstance(text, dict):
        out: list[tuple[str, float | None]] = []
        for segment, part in enumerate(segments(text)):
            if segment:
                out.append((PAIR_SEPARATOR, None))
            out += _spans(part, [t for t in tokens if t.get("segment", 0) == segment], top)
        return out
    return _spans(text, tokens, top)


def _spans(text: str, tokens: Sequence[Mapping[str, Any]], top: float) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    pos = 0
    for t in tokens:
        if t["start"] > pos:
            out.append((text[pos : t["start"]], None))
        out.append((text[t["start"] : t["end"]], round(t["score"] / top, 4)))
        pos = max(pos, t["end"])
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def to_terminal(text: str, tokens: Sequence[Mapping[str, Any]], color: bool) -> str:
    """The text with each word shaded by its score (ANSI 256 colours), or followed by its scaled score."""
    out = []
    for piece, level in spans(text, tokens):
        if level is None:
            out.append(piece)
        elif color:
            shades = NEGATIVE_SHADES if level < 0 else SHADES
            shade = shades[min(len(shades) - 1, int(abs(level) * (len(shades) - 1) + 0.5))]
            out.append(f"\x1b[48;5;{shade}m\x1b[30m{piece}\x1b[0m")
        else:
            out.append(f"{piece}[{level:.2f}]")
    return "".join(out)


def words_html(text: str, tokens: Sequence[Mapping[str, Any]]) -> str:
    """Inline HTML: the text with every word on a red background (blue below zero) whose opacity is its
    scaled score."""
    parts = []
    for piece, level in spans(text, tokens):
        if level is None:
            parts.append(html.escape(piece))
        else:
            r, g, b = NEGATIVE_RGB if level < 0 else RGB
            parts.append(
                f'<span title="{level:.3f}" style="background: rgba({r}, {g}, {b}, '
                f'{abs(level):.3f}); border-radius: 3px; padding: 0 1px">{html.escape(piece)}</span>'
            )
    return "".join(parts)


def legend_text(result: Mapping[str, Any]) -> str:
    """What the shading means for ``result``: signed directions, or magnitudes.

    >>> legend_text({"target": "positive", "signed": True})
    'red: pushes towards positive, blue: pushes away from it; darker = stronger'
    """
    if result.get("signed"):
        target = result.get("target") or "a higher value"
        return f"red: pushes towards {target}, blue: pushes away from it; darker = stronger"
    return "darker red = more important (magnitude, no direction)"


def _header(result: Mapping[str, Any]) -> str:
    if result["label"] is None:
        prediction = f"prediction {result['score']:.4g}"
    else:
        prediction = (
            f"prediction <b>{html.escape(str(result['label']))}</b> ({result['score']:.3f}); explaining "
            f"<b>{html.escape(str(result['target']))}</b>"
        )
    method = method_label(result)
    return (
        f'<div style="color: #555; font-size: 0.85em">{prediction} · {html.escape(method)} · '
        f"{html.escape(legend_text(result))}</div>"
    )


def to_html(
    result: Mapping[str, Any], text: str, compare: dict | Sequence[dict] | None = None, neighbors: int = 5
) -> str:
    """An HTML card for one explanation: the prediction, the shaded words, the same text under the
    ``compare`` results (e.g. LAFA's base method), and the first ``neighbors`` neighbor texts."""
    others = [compare] if isinstance(compare, dict) else list(compare or [])
    rows = [
        f'<div style="margin: 4px 0"><span style="display: inline-block; width: 9em; color: #555">'
        f"{html.escape(r['method'])}</span>{words_html(text, r['tokens'])}</div>"
        for r in [result] + others
    ]
    parts = [
        '<div class="lafa-explanation" style="font-family: sans-serif; line-height: 1.9; margin: 8px 0">',
        _header(result),
        *rows,
    ]
    if result.get("neighbors") and neighbors:
        items = "".join(
            f"<li>{_neighbor_html(n)} <span style='color: #888'>({html.escape(str(n['label']))}, "
            f"distance {n['distance']:.2f})</span></li>"
            for n in result["neighbors"][:neighbors]
        )
        parts.append(
            f'<details><summary style="color: #555">{len(result["neighbors"])} neighbors</summary>'
            f'<ul style="margin: 0">{items}</ul></details>'
        )
    parts.append("</div>")
    return "".join(parts)


def _neighbor_html(neighbor: dict) -> str:
    """A neighbor's text, shaded by its own base-method word scores when the result carries them."""
    if neighbor.get("tokens"):
        return words_html(neighbor["text"], neighbor["tokens"])
    return html.escape(PAIR_SEPARATOR.join(segments(neighbor["text"])))


def page(
    results: Sequence[Mapping[str, Any]],
    texts: Sequence[str],
    title: str = "LAFA explanations",
    compare: Sequence[Any] | None = None,
) -> str:
    """A standalone HTML page with one card per text (``compare[i]``: results to show under text i)."""
    cards = [to_html(r, t, None if compare is None else compare[i]) for i, (r, t) in enumerate(zip(results, texts))]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='max-width: 60em; margin: 2em auto'><h2>{html.escape(title)}</h2>{''.join(cards)}"
        "</body></html>\n"
    )


def show(result: Mapping[str, Any], text: str, compare: dict | Sequence[dict] | None = None) -> str | None:
    """Display the explanation in a notebook (IPython), or return its HTML where IPython is absent."""
    markup = to_html(result, text, compare)
    try:
        from IPython.display import HTML, display
    except ImportError:
        return markup
    display(HTML(markup))
    return None


def figure(
    results: Sequence[Mapping[str, Any]], texts: Sequence[str], labels: Sequence[str] | None = None, width: float = 9.0
) -> Figure:
    """A matplotlib figure, one row per (result, text): words in boxes shaded by score, each row named
    by its method (or ``labels``), with the legend of the first result below, for papers and READMEs
    (``figure(...).savefig("fig.pdf")``; PNG, SVG and PDF by the file name)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = len(results)
    fig, ax = plt.subplots(figsize=(width, 0.45 * rows + 0.6))
    ax.set_xlim(0, 1)
    ax.set_ylim(rows + 0.6, 0)
    ax.axis("off")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # stubs type the base canvas; Agg has it
    names = list(labels) if labels else [row_name(r) for r in results]
    drawn = [
        ax.text(0.0, row + 0.5, name, va="center", ha="left", fontsize=9, color="#555")
        for row, name in enumerate(names)
    ]
    # The words start after the widest row name, measured as drawn.
    start = max(t.get_window_extent(renderer=renderer).transformed(ax.transData.inverted()).width for t in drawn)
    for row, (result, text) in enumerate(zip(results, texts)):
        x = start + 0.02
        for piece, level in spans(text, result["tokens"]):
            if not piece.strip():
                x += 0.008
                continue
            rgb = NEGATIVE_RGB if level is not None and level < 0 else RGB
            box = (
                None
                if level is None
                else dict(boxstyle="round,pad=0.15", linewidth=0, facecolor=(*[c / 255 for c in rgb], abs(level)))
            )
            label = ax.text(x, row + 0.5, piece, va="center", ha="left", fontsize=10, bbox=box)
            extent = label.get_window_extent(renderer=renderer).transformed(ax.transData.inverted())
            x += extent.width + 0.004
    if results:
        first = dict(results[0])
        if len({r.get("target") for r in results}) > 1:  # each row's class is in its name
            first["target"] = "the class in brackets"
        ax.text(0.0, rows + 0.3, f"Shading: {legend_text(first)}.", va="center", fontsize=8, color="#555")
    fig.tight_layout()
    return fig


def row_name(result: Mapping[str, Any]) -> str:
    """A figure row's name: "LAFA", or the base method's display name, and the explained class.

    >>> row_name({"method": "occlusion", "base_method": "occlusion", "target": "positive"})
    'Occlusion (positive)'
    """
    from ..base_methods import BASE_METHOD_REGISTRY

    name = "LAFA" if is_lafa(result) else BASE_METHOD_REGISTRY.get(result["method"]).display_name
    return f"{name} ({result['target']})" if result.get("target") else name
