"""The packed arrays of an index's references: every text's tokens, labels and cached scores in flat arrays.

A reference's slice of a per-token array runs from ``offsets[ref]`` to ``offsets[ref + 1]``; its
labels from ``label_ptr[ref]``; its cache rows (one per class scored) from ``cache_ptr[ref]``. Flat
arrays save as one safetensors file and load without unpickling, and shards join by shifting the
pointers (``concat_arrays``). ``PackedReferences`` reads them reference by reference and keeps the
score cache (``LafaIndex`` is one).

Example:
    >>> import numpy as np, torch
    >>> row = RowScores(magnitude=np.ones(3), signed=-np.ones(3))
    >>> a = pack_arrays([torch.tensor([2, 5, 3])], [[1, 0, 1]], [[1]], [[1]], {(0, 1): row})
    >>> b = concat_arrays([a, a])
    >>> b["offsets"].tolist(), b["cache_ref"].tolist()
    ([0, 3, 6], [0, 1])
    >>> refs = PackedReferences(b)
    >>> refs.token_ids(1).tolist(), refs.labels(1), refs.cached_scores(1, target=1).tolist()
    ([2, 5, 3], [1], [1.0, 1.0, 1.0])
    >>> refs.cached_scores(1, target=1, signed=True).tolist()
    [-1.0, -1.0, -1.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

ARRAY_KEYS = (
    "token_ids",
    "special",
    "offsets",
    "label_ptr",
    "label_values",
    "cache_ptr",
    "cache_ref",
    "cache_target",
    "cache_scores",
)
CACHE_KEYS = ("cache_scores", "cache_ready", "cache_signed", "cache_signed_ready")
"""The score cache: what a lazy copy of an index for another base method replaces (``for_base_method``)."""


@dataclass
class RowScores:
    """One cache row's scores: the paper's magnitudes and, for a method with a direction, the signed ones."""

    magnitude: np.ndarray
    signed: np.ndarray | None = None


def empty_cache(rows: int, tokens: int) -> dict[str, np.ndarray]:
    """A score cache of ``rows`` rows over ``tokens`` tokens in all, nothing scored yet."""
    return {
        "cache_scores": np.zeros(tokens, dtype=np.float32),
        "cache_ready": np.zeros(rows, dtype=np.uint8),
        "cache_signed": np.zeros(tokens, dtype=np.float32),
        "cache_signed_ready": np.zeros(rows, dtype=np.uint8),
    }


def concat_arrays(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Packed arrays of consecutive groups of texts, joined as if packed in one go."""
    out: dict[str, list[np.ndarray]] = {key: [] for key in ARRAY_KEYS + CACHE_KEYS[1:] + ("token_types",)}
    shift = {"offsets": 0, "label_ptr": 0, "cache_ptr": 0}
    n_refs = 0
    for arrays in parts:
        for key in ("token_ids", "special", "label_values", "cache_target", "cache_scores"):
            out[key].append(arrays[key])
        rows = len(arrays["cache_target"])
        out["cache_ready"].append(arrays.get("cache_ready", np.ones(rows, dtype=np.uint8)))
        out["cache_signed"].append(arrays.get("cache_signed", np.zeros_like(arrays["cache_scores"])))
        out["cache_signed_ready"].append(arrays.get("cache_signed_ready", np.zeros(rows, dtype=np.uint8)))
        out["token_types"].append(arrays.get("token_types", np.zeros(len(arrays["token_ids"]), dtype=np.uint8)))
        for key in shift:
            out[key].append(arrays[key][(1 if out[key] else 0) :] + shift[key])
            shift[key] += int(arrays[key][-1])
        out["cache_ref"].append(arrays["cache_ref"] + n_refs)
        n_refs += len(arrays["offsets"]) - 1
    joined = {key: np.concatenate(values) for key, values in out.items()}
    if not joined["token_types"].any():  # as one pass stores them: only when some text is a pair
        del joined["token_types"]
    return joined


def pack_arrays(
    token_lists, specials, ref_labels, cache_targets, row_scores: dict[tuple[int, int], RowScores | None]
) -> dict[str, np.ndarray]:
    """Pack per-text token ids, special-token flags, labels and the scores of each (text, target) cache
    row (None: a row not scored yet, as a lazy index lays it out)."""
    n = len(token_lists)
    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    cache_rows = [(r, t) for r in range(n) for t in sorted(set(cache_targets[r]))]
    scored = [row_scores[row] for row in cache_rows]
    blank = [np.zeros(len(token_lists[r]), dtype=np.float32) for r, _ in cache_rows]
    return {
        "token_ids": np.concatenate([t.numpy() for t in token_lists]).astype(np.int64),
        "special": np.concatenate([np.asarray(s, dtype=np.uint8) for s in specials]),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "label_ptr": np.concatenate([[0], np.cumsum([len(x) for x in ref_labels])]).astype(np.int64),
        "label_values": np.array([x for labs in ref_labels for x in labs], dtype=np.int64),
        "cache_ptr": np.concatenate([[0], np.cumsum([len(set(c)) for c in cache_targets])]).astype(np.int64),
        "cache_ref": np.array([r for r, _ in cache_rows], dtype=np.int64),
        "cache_target": np.array([t for _, t in cache_rows], dtype=np.int64),
        "cache_scores": _joined([b if x is None else x.magnitude for x, b in zip(scored, blank)]),
        "cache_ready": np.array([x is not None for x in scored], dtype=np.uint8),
        "cache_signed": _joined([b if x is None or x.signed is None else x.signed for x, b in zip(scored, blank)]),
        "cache_signed_ready": np.array([x is not None and x.signed is not None for x in scored], dtype=np.uint8),
    }


def _joined(rows: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros(0, dtype=np.float32)


class PackedReferences:
    """The packed arrays read reference by reference: token ids and types, labels, and the cached
    base-method scores by (reference, target), which a lazy index fills as queries need them."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        if "cache_ready" not in self.arrays:  # files written before lazy indexes: every row was scored
            self.arrays["cache_ready"] = np.ones(len(arrays["cache_target"]), dtype=np.uint8)
        if "cache_signed" not in self.arrays:  # files written before signed scores were kept: none are
            self.arrays["cache_signed"] = np.zeros(len(arrays["cache_scores"]), dtype=np.float32)
            self.arrays["cache_signed_ready"] = np.zeros(len(arrays["cache_target"]), dtype=np.uint8)
        self.new_scores = 0
        """Rows scored since the index was built or loaded and not yet written (``save_scores``)."""
        # Row starts of cached scores: rows are stored ref by ref, each as long as its reference.
        lengths = np.diff(arrays["offsets"])
        row_lengths = lengths[arrays["cache_ref"]]
        self._row_start = np.concatenate([[0], np.cumsum(row_lengths)]).astype(np.int64)

    def token_ids(self, ref: int) -> np.ndarray:
        """All token ids of reference ``ref``, special tokens included, as fed to the model."""
        o = self.arrays["offsets"]
        return self.arrays["token_ids"][o[ref] : o[ref + 1]]

    def token_types(self, ref: int) -> np.ndarray:
        """Token type (segment) ids of reference ``ref``: all 0 but for text pairs on models that use them."""
        o = self.arrays["offsets"]
        if "token_types" not in self.arrays:
            return np.zeros(o[ref + 1] - o[ref], dtype=np.int64)
        return self.arrays["token_types"][o[ref] : o[ref + 1]].astype(np.int64)

    def sequence(self, ref: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference ``ref`` as model inputs: its token ids and token type ids."""
        return (torch.from_numpy(self.token_ids(ref).astype(np.int64)), torch.from_numpy(self.token_types(ref)))

    def special_mask(self, ref: int) -> np.ndarray:
        o = self.arrays["offsets"]
        return self.arrays["special"][o[ref] : o[ref + 1]].astype(bool)

    def labels(self, ref: int) -> list[int]:
        p = self.arrays["label_ptr"]
        return self.arrays["label_values"][p[ref] : p[ref + 1]].tolist()

    def cache_row(self, ref: int, target: int) -> int | None:
        """The cache row holding ``ref``'s scores for class ``target``, or None if the index has none."""
        p = self.arrays["cache_ptr"]
        for row in range(p[ref], p[ref + 1]):
            if self.arrays["cache_target"][row] == target:
                return row
        return None

    def cached_scores(self, ref: int, target: int, signed: bool = False) -> np.ndarray | None:
        """Base-method scores of all tokens of ``ref`` for class ``target`` (``signed``: the signed
        ones, positive towards ``target``), or None if not cached (a target the build did not score,
        a lazy index's reference not needed yet, or signed scores an older index never kept)."""
        row = self.cache_row(ref, target)
        values, ready = ("cache_signed", "cache_signed_ready") if signed else ("cache_scores", "cache_ready")
        if row is None or not self.arrays[ready][row]:
            return None
        return self.arrays[values][self._row_start[row] : self._row_start[row + 1]]

    def store_scores(self, ref: int, target: int, scores: RowScores) -> bool:
        """Keep scores computed at query time in the cache where the index has a row for them whose
        magnitudes (or signed scores) are not filled yet (a lazy index, or an index older than signed
        scores); returns whether anything was stored."""
        row = self.cache_row(ref, target)
        if row is None:
            return False
        start, end = self._row_start[row], self._row_start[row + 1]
        stored = False
        for values, ready, given in (
            ("cache_scores", "cache_ready", scores.magnitude),
            ("cache_signed", "cache_signed_ready", scores.signed),
        ):
            if given is None or self.arrays[ready][row]:
                continue
            if len(given) != end - start:
                raise ValueError(f"Scores of reference {ref} have {len(given)} tokens; it has {end - start}")
            for key in (values, ready):  # arrays read from a file may be read-only
                if not self.arrays[key].flags.writeable:
                    self.arrays[key] = self.arrays[key].copy()
            self.arrays[values][start:end] = given
            self.arrays[ready][row] = 1
            stored = True
        self.new_scores += stored
        return stored

    keeps_signed = False
    """Whether a complete row holds signed scores too (the index's base method has a direction)."""

    def unscored_rows(self) -> np.ndarray:
        """Cache rows that are not complete: magnitudes missing or, where the index keeps them, signed scores."""
        missing = self.arrays["cache_ready"] == 0
        if self.keeps_signed:
            missing |= self.arrays["cache_signed_ready"] == 0
        return missing

    def needs_scoring(self, ref: int, target: int) -> bool:
        """Whether the index has a cache row for ``ref`` and ``target`` that is not complete."""
        row = self.cache_row(ref, target)
        if row is None:
            return False
        return not self.arrays["cache_ready"][row] or (self.keeps_signed and not self.arrays["cache_signed_ready"][row])

    @property
    def missing_scores(self) -> int:
        """Cache rows not complete yet (0 for a fully built index)."""
        return int(self.unscored_rows().sum())

    @property
    def missing_tokens(self) -> int:
        """Tokens of the cache rows not complete yet: what scoring the rest of a lazy index runs the
        base method on (``lafa tune`` weighs it before searching a base method the index lacks)."""
        lengths = np.diff(self._row_start)
        return int(lengths[self.unscored_rows()].sum())

    def missing_tokens_of(self, keys: Iterable[tuple[int, int]]) -> int:
        """Tokens of the cache rows of ``keys`` (reference, target) not complete yet: what a lazy index
        runs the base method on when a search reads those scores."""
        rows = {self.cache_row(ref, target) for ref, target in keys}
        missing = self.unscored_rows()
        lengths = np.diff(self._row_start)
        return int(sum(lengths[row] for row in rows if row is not None and missing[row]))
