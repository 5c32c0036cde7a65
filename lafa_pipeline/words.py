"""Token scores to reported units: words (subword scores summed) or raw tokens; never special tokens.

Example:
    >>> meta = {"text": "unhappy end", "offsets": [(0, 0), (0, 2), (2, 7), (8, 11), (0, 0)],
    ...         "special": [True, False, False, False, True], "word_ids": [None, 0, 0, 1, None]}
    >>> tokens = ["[CLS]", "un", "##happy", "end", "[SEP]"]
    >>> [(w["token"], w["score"]) for w in group_scores(meta, [9.0, 1.0, 2.0, 0.5, 9.0], tokens, "word")]
    [('unhappy', 3.0), ('end', 0.5)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .results import WordScore

AGGREGATION_STRATEGIES = ("word", "none")


def group_scores(meta: dict, scores: Sequence[float], tokens: Sequence[str], strategy: str = "word") -> list[WordScore]:
    """Entries ``{"token", "score", "start", "end"}`` for the words (or tokens) of one text.

    Words follow the tokenizer's own boundaries (its word ids: WordPiece and byte-level BPE split
    punctuation off) and whitespace (SentencePiece/Metaspace tokenizers may give one word id for a
    whole text). A span never includes the spaces around a word (byte-level and Metaspace tokens carry
    their leading space), and a token of spaces only is no word: its score goes to the next word.
    """
    from .config import check_choice

    check_choice("aggregation_strategy", strategy, AGGREGATION_STRATEGIES)
    texts, offsets = meta.get("texts", [meta["text"]]), meta["offsets"]
    segment_ids = meta.get("segment_ids") or [0] * len(offsets)
    entries: list[WordScore] = []
    last_word = None
    pending = 0.0
    for pos, (special, word) in enumerate(zip(meta["special"], meta["word_ids"])):
        if special:
            continue
        segment = segment_ids[pos] or 0
        text = texts[segment]
        start, end = _trimmed(text, *offsets[pos])
        score = float(scores[pos])
        if strategy == "none":
            entries.append(_word(tokens[pos], score, start, end, segment, len(texts)))
            continue
        if start >= end:  # spaces only (or nothing): not a word
            pending += score
            continue
        if entries and word is not None and (segment, word) == last_word and start <= entries[-1]["end"]:
            entry = entries[-1]
            entry["score"] += score + pending
            entry["end"] = max(entry["end"], int(end))
            entry["token"] = text[entry["start"] : entry["end"]]
        else:
            entries.append(_word(text[start:end], score + pending, start, end, segment, len(texts)))
        pending = 0.0
        last_word = (segment, word)
    if pending and entries:
        entries[-1]["score"] += pending
    return entries


def _word(token: str, score: float, start: int, end: int, segment: int, n_texts: int) -> WordScore:
    """One reported word; a pair's words also say their segment (offsets are into that segment's text)."""
    word: WordScore = {"token": token, "score": score, "start": int(start), "end": int(end)}
    if n_texts > 1:
        word["segment"] = segment
    return word


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """A token's character span without the whitespace at its ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def scores_per_word(spans: Sequence[tuple[int, int]], tokens: Sequence[Mapping[str, Any]]) -> list[float]:
    """Sum of the scores of the tokens lying inside each word span (character offsets), as gold words
    are scored (tokens from the pipeline with ``aggregation_strategy="none"`` or ``"word"``, both carry
    offsets).

    >>> scores_per_word([(0, 4), (5, 9)], [{"start": 0, "end": 2, "score": 1.0}, {"start": 2, "end": 4,
    ...     "score": 0.5}, {"start": 5, "end": 9, "score": 2.0}])
    [1.5, 2.0]
    """
    return [sum(t["score"] for t in tokens if t["start"] >= start and t["end"] <= end) for start, end in spans]


def span_scores(meta: Mapping[str, Any], scores: Iterable[float], spans: Sequence[tuple[int, int]]) -> list[float]:
    """``scores_per_word`` of one encoded text's token scores (``text_inputs.encode``'s ``meta``: its
    offsets, special tokens left out).

    >>> span_scores({"offsets": [(0, 0), (0, 4), (5, 9)], "special": [True, False, False]}, [9.0, 1.0, 2.0],
    ...             [(0, 4), (5, 9)])
    [1.0, 2.0]
    """
    tokens = [
        {"start": start, "end": end, "score": float(score)}
        for (start, end), special, score in zip(meta["offsets"], meta["special"], scores)
        if not special
    ]
    return scores_per_word(spans, tokens)
