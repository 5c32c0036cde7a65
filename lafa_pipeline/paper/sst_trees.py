"""Stanford Sentiment Treebank PTB trees: sentences, per-word gold scores, and mapping to model tokens.

Gold word scores follow the paper's case II: each word's leaf label (0-4) minus the neutral centre
2, made absolute. Words are joined by single spaces into the sentence the model sees; model scores
are summed per tree word through character offsets.

Example:
    >>> tree = parse_tree("(3 (2 It) (4 (4 rocks) (2 !)))")
    >>> tree.text, tree.label, tree.gold
    ('It rocks !', 3, [0.0, 2.0, 0.0])
    >>> from lafa_pipeline.words import scores_per_word  # the tokens' scores summed per tree word
    >>> scores_per_word(tree.spans, [{"start": 0, "end": 2, "score": 1.0}, {"start": 3, "end": 6, "score": 2.0},
    ...                              {"start": 6, "end": 8, "score": 0.5}, {"start": 9, "end": 10, "score": 0.1}])
    [1.0, 2.5, 0.1]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# PTB escapes in SST; the model sees the plain characters
_UNESCAPE = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}", "\\/": "/"}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


@dataclass
class SstTree:
    text: str
    label: int
    words: list[str]
    leaf_labels: list[int]
    spans: list[tuple[int, int]]

    @property
    def gold(self) -> list[float]:
        return [abs(label - 2.0) for label in self.leaf_labels]

    def signed_gold(self, positive: bool) -> list[float]:
        """Each word's leaf label minus neutral, turned towards the explained class (``positive``: the
        positive class; else the negative): the gold of signed scores, which say which way a word pushes.

        >>> parse_tree("(3 (1 dull) (4 fun))").signed_gold(positive=False)
        [1.0, -2.0]
        """
        sign = 1.0 if positive else -1.0
        return [sign * (label - 2.0) for label in self.leaf_labels]


def parse_tree(line: str) -> SstTree:
    """One PTB-formatted SST tree: root label, words and their leaf labels."""
    tokens = _TOKEN.findall(line)
    words: list[str] = []
    leaf_labels: list[int] = []
    stack: list[int] = []
    i = 0
    root = None
    while i < len(tokens):
        tok = tokens[i]
        if tok == "(":
            label = int(tokens[i + 1])
            root = label if root is None else root
            j = i + 2
            while j < len(tokens) and tokens[j] not in ("(", ")"):
                j += 1
            if j > i + 2:  # a leaf; its word may hold spaces, as in "8 1\/2"
                if j >= len(tokens) or tokens[j] != ")":
                    raise ValueError(f"Malformed SST tree: {line[:80]!r}")
                word = " ".join(tokens[i + 2 : j])
                for escaped, plain in _UNESCAPE.items():
                    word = word.replace(escaped, plain)
                words.append(word)
                leaf_labels.append(label)
                i = j + 1
                continue
            stack.append(label)
            i += 2
        elif tok == ")":
            if not stack:
                raise ValueError(f"Unbalanced SST tree: {line[:80]!r}")
            stack.pop()
            i += 1
        else:
            raise ValueError(f"Unexpected token {tok!r} in SST tree: {line[:80]!r}")
    if stack or root is None or not words:
        raise ValueError(f"Malformed SST tree: {line[:80]!r}")
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    return SstTree(" ".join(words), root, words, leaf_labels, spans)


def read_trees(path: str | os.PathLike) -> list[SstTree]:
    """All trees of an SST PTB file (e.g. ``DATA_DIR/sst/test.txt``)."""
    with open(path, encoding="utf-8") as f:
        return [parse_tree(line) for line in f if line.strip()]
