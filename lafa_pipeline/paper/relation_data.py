"""WebNLG / NYT relation data in CasRel's JSON format, and gold words per (text, triple).

A text's labels are the relations of its triples (multi-label). For a triple, the gold words
(the paper's case I) are those overlapping any whole-word occurrence of its subject or object.

Example:
    >>> ex = RelationExample("Rome is in Italy .", [("Rome", "country", "Italy")], [3])
    >>> spans = triple_spans(ex.text, ex.triples[0])
    >>> spans
    [(0, 4), (11, 16)]
    >>> gold_words([{"start": 0, "end": 4}, {"start": 5, "end": 7}, {"start": 8, "end": 10},
    ...             {"start": 11, "end": 16}, {"start": 17, "end": 18}], spans)
    [1, 0, 0, 1, 0]
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass


@dataclass
class RelationExample:
    text: str
    triples: list[tuple[str, str, str]]
    label_ids: list[int]


def read_casrel(path: str | os.PathLike, rel2id_path: str | os.PathLike) -> tuple[list[RelationExample], list[str]]:
    """Examples of a ``*_triples.json`` file and the relation names (index = label id)."""
    with open(rel2id_path, encoding="utf-8") as f:
        id2rel, rel2id = json.load(f)
    names = [id2rel[str(i)] if isinstance(id2rel, dict) else id2rel[i] for i in range(len(rel2id))]
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    examples = []
    for record in records:
        triples = [tuple(t) for t in record["triple_list"]]
        unknown = {r for _, r, _ in triples} - set(rel2id)
        if unknown:
            raise ValueError(f"{path}: relations {sorted(unknown)} are not in {rel2id_path}")
        examples.append(RelationExample(record["text"], triples, sorted({rel2id[r] for _, r, _ in triples})))
    return examples, names


def entity_spans(text: str, entity: str) -> list[tuple[int, int]]:
    """Character spans of every whole-word occurrence of ``entity`` in ``text``."""
    pattern = re.compile(r"(?<!\w)" + re.escape(entity) + r"(?!\w)")
    return [m.span() for m in pattern.finditer(text)]


def triple_spans(text: str, triple: tuple[str, str, str]) -> list[tuple[int, int]]:
    """Spans of the triple's subject and object (empty if neither occurs, as for ~40 NYT triples)."""
    subject, _, obj = triple
    return sorted(set(entity_spans(text, subject) + entity_spans(text, obj)))


def gold_words(words: list[dict], spans: list[tuple[int, int]]) -> list[int]:
    """1 for each word (with character offsets) overlapping a span, else 0."""
    return [int(any(w["start"] < end and start < w["end"] for start, end in spans)) for w in words]
