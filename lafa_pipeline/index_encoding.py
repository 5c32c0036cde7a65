"""Reading references through the model: tokens, pooled states at a layer, labels and base-method scores.

What an index build does with the model (``encode_references``), what a lazy index or a base-method
switch computes later (``score_rows``) and the states of other layers (``pooled_states``) live
here; the index itself (``index.py``) only stores and searches what this returns.

Example:
    >>> import numpy as np
    >>> estimate_eps(np.array([[0.0], [1.0], [3.0]]), quantile=0.5, pairs=100, seed=0) > 0
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from .base_methods import MethodParams, attribute_raw, has_direction, reduce_signed, reduce_sum_of_squares
from .config import LafaConfig, check_choice, indexable_base_methods
from .index_arrays import RowScores, pack_arrays
from .model_adapter import ModelAdapter, layer_states, resolve_target
from .text_inputs import TextInput, check_text, encode, max_length_of, pad_right

Sequences = Callable[[int], tuple[torch.Tensor, torch.Tensor]]
"""``sequence(i)``: text i's token ids and token type ids (tensors), as fed to the model."""


def encode_references(
    model: PreTrainedModel,
    tokenizer,
    texts: Sequence[TextInput],
    labels: Sequence[Any] | None,
    config: LafaConfig,
    batch_size: int = 32,
    show_progress: bool = True,
    score: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pooled states (n, d) and the packed per-text arrays (token ids, labels, cached scores) of ``texts``.

    Every text is scored on its own terms (seeded noise, no cross-text effects), so encoding a
    dataset in shards and concatenating the results gives the same arrays as one pass.
    ``score=False`` (a lazy index): the cache rows are laid out but left unscored.
    """
    check_choice("base_method of an index", config.base_method, indexable_base_methods())
    texts = [check_text(t) for t in texts]
    if not texts:
        raise ValueError("Cannot build a LAFA index from no texts")
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"Got {len(labels)} labels for {len(texts)} texts")
    model.eval()
    adapter = ModelAdapter(model, config.output)
    max_length = max_length_of(tokenizer, model.config)
    encoded = [
        encode(tokenizer, t, max_length, warn=False) for t in tqdm(texts, desc="Tokenizing", disable=not show_progress)
    ]
    n_trunc = sum(m["truncated"] for _, m in encoded)
    if n_trunc:
        warnings.warn(f"{n_trunc} reference texts were longer than {max_length} tokens and truncated", stacklevel=2)
    token_lists = [e["input_ids"][0] for e, _ in encoded]
    type_lists = [
        e["token_type_ids"][0] if "token_type_ids" in e else torch.zeros_like(e["input_ids"][0]) for e, _ in encoded
    ]  # non-zero for text pairs on models with segment embeddings
    order = np.argsort([len(t) for t in token_lists], kind="stable")  # length-sorted batches pad less
    pad_id = tokenizer.pad_token_id or 0

    def collate(refs: list[int]):
        ids, mask = pad_right([token_lists[r] for r in refs], pad_id)
        types = pad_right([type_lists[r] for r in refs], 0)[0] if adapter.uses_token_types else None
        return ids, mask, types

    vectors: np.ndarray | None = None
    predicted: list[list[int]] = [[] for _ in texts]
    lengths = [len(t) for t in token_lists]
    bar = tqdm(total=len(texts), desc="Encoding", disable=not show_progress, unit="text")
    for refs in length_batches([int(r) for r in order], lengths, batch_size, config.tokens_per_pass):
        bar.update(len(refs))
        ids, mask, types = collate(refs)
        probs, pooled = adapter.predict(ids, mask, types, layer=config.layer, pooling=config.pooling)
        assert pooled is not None  # a layer was asked for
        if vectors is None:
            vectors = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
        vectors[refs] = pooled.float().cpu().numpy()
        for r, p in zip(refs, probs.cpu()):
            predicted[r] = predicted_labels(p, adapter.problem_type)
    bar.close()

    ref_labels = predicted if labels is None else [label_ids(lab, model.config) for lab in labels]
    if adapter.problem_type == "regression":
        ref_labels = [[0] for _ in texts]
    cache_targets = (
        ref_labels
        if config.cache_targets == "label"
        else [list(range(len(model.config.id2label or {}))) for _ in texts]
    )

    rows = [(int(r), t) for r in order for t in sorted(set(cache_targets[r]))]
    row_scores: dict[tuple[int, int], RowScores | None] = (
        dict(score_rows(adapter, config, lambda r: (token_lists[r], type_lists[r]), rows, batch_size, show_progress))
        if score
        else dict.fromkeys(rows)
    )
    arrays = pack_arrays(token_lists, [m["special"] for _, m in encoded], ref_labels, cache_targets, row_scores)
    if any(bool(t.any()) for t in type_lists):
        arrays["token_types"] = np.concatenate([t.numpy() for t in type_lists]).astype(np.uint8)
    assert vectors is not None  # texts is not empty
    return vectors, arrays


def score_rows(
    adapter: ModelAdapter,
    config: LafaConfig,
    sequence,
    rows: list[tuple[int, int]],
    batch_size: int,
    show_progress: bool,
) -> dict[tuple[int, int], RowScores]:
    """Base-method scores (float32, real tokens) of each (reference, target) in ``rows``, in batches
    of ``batch_size``; ``sequence(ref)`` gives a reference's token ids and token type ids (tensors).
    A method with a direction gives its signed scores (towards the target) from the same pass."""
    out: dict[tuple[int, int], RowScores] = {}
    params = MethodParams.from_config(config)
    signed = has_direction(config.base_method)
    with tqdm(total=len(rows), desc=f"Scoring ({config.base_method})", disable=not show_progress, unit="text") as bar:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            seqs, type_seqs = zip(*[sequence(r) for r, _ in chunk])
            ids, mask = pad_right(seqs, adapter.pad_id)
            types = pad_right(type_seqs, 0)[0] if adapter.uses_token_types else None
            targets = torch.tensor([t for _, t in chunk])
            raw = attribute_raw(adapter, config.base_method, ids, mask, targets, types, params)
            scores = reduce_sum_of_squares(raw, mask).cpu().numpy()
            directed = reduce_signed(raw, mask).cpu().numpy() if signed else [None] * len(chunk)
            for key, seq, m, d in zip(chunk, seqs, scores, directed):
                out[key] = RowScores(
                    m[: len(seq)].astype(np.float32), None if d is None else d[: len(seq)].astype(np.float32)
                )
            bar.update(len(chunk))
    return out


def length_batches(order: Sequence[int], lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """``order`` (items by increasing length) cut into consecutive batches of at most ``max_rows``
    items and ``max_tokens`` padded tokens (items x the longest; one item at least): a pass over
    long texts holds fewer of them, so its memory does not grow with their length.

    >>> length_batches([0, 1, 2, 3], [2, 3, 5, 9], max_rows=3, max_tokens=10)
    [[0, 1], [2], [3]]
    """
    batches: list[list[int]] = []
    for item in order:
        batch = batches[-1] if batches else None
        if batch is not None and len(batch) < max_rows and (len(batch) + 1) * lengths[item] <= max_tokens:
            batch.append(item)
        else:
            batches.append([item])
    return batches


@torch.no_grad()
def pooled_states(
    adapter: ModelAdapter,
    sequence: Sequences,
    count: int,
    layers: Sequence[int],
    pooling: str,
    batch_size: int = 64,
    show_progress: bool = False,
    tokens_per_pass: int = MethodParams.tokens_per_pass,
) -> dict[int, np.ndarray]:
    """Pooled hidden states (count, d) of texts ``0..count-1`` at each of ``layers`` (0 = embedding
    output), from one forward pass per batch (``length_batches``) that returns every layer at once."""
    lengths = [len(sequence(i)[0]) for i in range(count)]
    order = np.argsort(lengths, kind="stable").tolist()  # length-sorted batches pad less
    out: dict[int, np.ndarray] = {}
    batches = length_batches(order, lengths, batch_size, tokens_per_pass)
    for rows in tqdm(batches, desc="Encoding at every layer", disable=not show_progress, unit="batch"):
        seqs, type_seqs = zip(*[sequence(i) for i in rows])
        ids, mask = pad_right(seqs, adapter.pad_id)
        types = pad_right(type_seqs, 0)[0].to(adapter.device) if adapter.uses_token_types else None
        hidden, real = adapter.run(adapter.embed(ids), mask.to(adapter.device), types, output_hidden_states=True)
        for layer in layers:
            pooled = layer_states(hidden.hidden_states, layer, real, pooling).float().cpu().numpy()
            out.setdefault(layer, np.zeros((count, pooled.shape[1]), dtype=np.float32))[rows] = pooled
    return out


def predicted_labels(prob: torch.Tensor, problem_type: str) -> list[int]:
    """The labels a reference without given labels gets: the model's predicted class(es)."""
    if problem_type == "regression":
        return [0]
    if problem_type == "multi_label_classification":
        above = torch.nonzero(prob > 0.5).flatten().tolist()
        return above or [int(prob.argmax())]
    return [int(prob.argmax())]


def label_ids(label: Any, model_config) -> list[int]:
    """A reference label (index, name, or list of them) as a list of class indexes."""
    items = label if isinstance(label, (list, tuple, np.ndarray)) else [label]
    names = {str(v) for v in model_config.id2label.values()}

    def one(x: Any) -> int:
        if isinstance(x, (np.integer, float)):
            x = int(x)
        elif isinstance(x, str) and x.strip().lstrip("-").isdigit() and x.strip() not in names:
            x = int(x)  # "1" in a column that also holds names: a class index, as users mean it
        return resolve_target(x, model_config, 0)

    return sorted({one(x) for x in items})


def estimate_eps(vectors: np.ndarray, quantile: float, pairs: int, seed: int) -> float:
    """The ``quantile`` of L2 distances over ``pairs`` random pairs of distinct vectors."""
    n = len(vectors)
    if n < 2:
        return float("inf")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=pairs)
    j = (i + rng.integers(1, n, size=pairs)) % n  # j != i
    dist = np.linalg.norm(vectors[i].astype(np.float64) - vectors[j], axis=1)
    return float(np.quantile(dist, quantile))
