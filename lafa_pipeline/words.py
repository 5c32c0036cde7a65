"""Token scores to reported units: words (subword scores summed) or raw tokens; never special tokens.

Example:
    >>> meta = {"text": "unhappy end", "offsets": [(0, 0), (0, 2), (2, 7), (8, 11), (0, 0)],
    ...         "special": [True, False, False, False, True], "word_ids": [None, 0, 0, 1, None]}
    >>> [(w["token"], w["score"]) for w in group_scores(meta, [9.0, 1.0, 2.0, 0.5, 9.0], ["[CLS]", "un", "##happy", "end", "[SEP]"], "word")]
    [('unhappy', 3.0), ('end', 0.5)]
"""
from __future__ import annotations

from collections.abc import Sequence

from .results import WordScore

AGGREGATION_STRATEGIES = ("word", "none")


def group_scores(meta: dict, scores: Sequence[float], tokens: Sequence[str], strategy: str = "word") -> list[WordScore]:
    """Entries ``{"token", "score", "start", "end"}`` for the words (or tokens) of one text."""
    from .config import check_choice

    check_choice("aggregation_strategy", strategy, AGGREGATION_STRATEGIES)
    text, offsets = meta["text"], meta["offsets"]
    entries: list[WordScore] = []
    last_word = None
    for pos, (special, word) in enumerate(zip(meta["special"], meta["word_ids"])):
        if special:
            continue
        start, end = offsets[pos]
        score = float(scores[pos])
        if strategy == "word" and word is not None and word == last_word:
            entry = entries[-1]
            entry["score"] += score
            entry["end"] = max(entry["end"], end)
            entry["token"] = text[entry["start"]:entry["end"]]
            continue
        last_word = word
        entries.append({"token": text[start:end] if strategy == "word" else tokens[pos],
                        "score": score, "start": int(start), "end": int(end)})
    return entries
