"""The result of an explanation: one definition read by the pipeline, the CLI, the Space and the benchmarks.

The pipeline returns these as plain, JSON-serialisable dicts (TypedDicts type them without a
conversion step).

Example:
    >>> word: WordScore = {"token": "fine", "score": 0.5, "start": 2, "end": 6}
    >>> sorted(word)
    ['end', 'score', 'start', 'token']
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TypedDict

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired


class WordScore(TypedDict):
    """A word (or a subword token with ``aggregation_strategy="none"``) and its score."""

    token: str
    """The word as it appears in the text (``text[start:end]``), or the tokenizer's token."""
    score: float
    start: int
    """Character offsets into the explained text (for a text pair: into the text of ``segment``)."""
    end: int
    segment: NotRequired[int]
    """Text pairs only: 0 for the first text (``text``), 1 for the second (``text_pair``)."""


class Neighbor(TypedDict):
    """A reference text LAFA (or a SHAP method with references) used."""

    text: str | dict
    """The reference text (a ``{"text", "text_pair"}`` dict for pair references)."""
    distance: float
    """L2 distance between the pooled layer states of the explained text and this one."""
    label: str | list[str] | None
    """Its label; a list for multi-label models; None for regression."""
    index: int
    """Its row in the index's reference texts."""
    tokens: NotRequired[list[WordScore]]
    """LAFA: the neighbor's own base-method word scores for the explained class, as aggregated."""


class Explanation(TypedDict):
    """What ``pipeline("feature-attribution")(text)`` returns for one text."""

    label: str | None
    """The predicted class (None for regression)."""
    score: float
    """Its probability, or the regression value."""
    target: str | None
    """The class whose output was explained."""
    method: str
    base_method: str
    tokens: list[WordScore]
    neighbors: list[Neighbor]
    truncated: bool
    live_neighbors: NotRequired[int]
    """LAFA only: how many neighbor scores had to be computed now (not read from the index's cache)."""
    signed: NotRequired[bool]
    """Present (True) when the token scores are signed (``signed=True``): positive pushes towards the
    target, negative away. Absent: the paper's magnitudes (never negative)."""
    contrast: NotRequired[str]
    """Present when the call gave ``contrast``: the class the target was explained against (the scores
    explain the target's logit minus this class's)."""


def is_lafa(result: Mapping[str, Any]) -> bool:
    """Whether ``result`` is LAFA around its base method (rather than the base method alone).

    >>> is_lafa({"method": "lafa", "base_method": "smooth_grad"}), is_lafa({"method": "simple_grad",
    ...     "base_method": "simple_grad"})
    (True, False)
    """
    return result["method"] != result["base_method"]


def method_label(result: Mapping[str, Any]) -> str:
    """The method as a reader names it: ``"lafa on smooth_grad"``, or the base method alone.

    >>> method_label({"method": "lafa", "base_method": "smooth_grad"})
    'lafa on smooth_grad'
    """
    return f"{result['method']} on {result['base_method']}" if is_lafa(result) else result["method"]
