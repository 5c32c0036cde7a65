"""The packed arrays of an index's references: every text's tokens, labels and cached scores in flat arrays.

A reference's slice of a per-token array runs from ``offsets[ref]`` to ``offsets[ref + 1]``; its
labels from ``label_ptr[ref]``; its cache rows (one per class scored) from ``cache_ptr[ref]``. Flat
arrays save as one safetensors file and load without unpickling, and shards join by shifting the
pointers (``concat_arrays``).

Example:
    >>> import numpy as np, torch
    >>> a = pack_arrays([torch.tensor([2, 5, 3])], [[1, 0, 1]], [[1]], [[1]], {(0, 1): np.ones(3)})
    >>> b = concat_arrays([a, a])
    >>> b["offsets"].tolist(), b["cache_ref"].tolist()
    ([0, 3, 6], [0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def concat_arrays(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Packed arrays of consecutive groups of texts, joined as if packed in one go."""
    out: dict[str, list[np.ndarray]] = {key: [] for key in ARRAY_KEYS + ("cache_ready", "token_types")}
    shift = {"offsets": 0, "label_ptr": 0, "cache_ptr": 0}
    n_refs = 0
    for arrays in parts:
        for key in ("token_ids", "special", "label_values", "cache_target", "cache_scores"):
            out[key].append(arrays[key])
        out["cache_ready"].append(arrays.get("cache_ready", np.ones(len(arrays["cache_target"]), dtype=np.uint8)))
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


def pack_arrays(token_lists, specials, ref_labels, cache_targets, row_scores) -> dict[str, np.ndarray]:
    """Pack per-text token ids, special-token flags, labels and the scores of each (text, target) cache row."""
    n = len(token_lists)
    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    cache_rows = [(r, t) for r in range(n) for t in sorted(set(cache_targets[r]))]
    return {
        "token_ids": np.concatenate([t.numpy() for t in token_lists]).astype(np.int64),
        "special": np.concatenate([np.asarray(s, dtype=np.uint8) for s in specials]),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "label_ptr": np.concatenate([[0], np.cumsum([len(x) for x in ref_labels])]).astype(np.int64),
        "label_values": np.array([x for labs in ref_labels for x in labs], dtype=np.int64),
        "cache_ptr": np.concatenate([[0], np.cumsum([len(set(c)) for c in cache_targets])]).astype(np.int64),
        "cache_ref": np.array([r for r, _ in cache_rows], dtype=np.int64),
        "cache_target": np.array([t for _, t in cache_rows], dtype=np.int64),
        "cache_scores": np.concatenate([row_scores[row] for row in cache_rows]).astype(np.float32),
    }
