"""Checking and tokenizing input texts the same way for explanations and for index building.

Example:
    >>> check_text("  a fine film ")
    '  a fine film '
    >>> check_text("   ")
    Traceback (most recent call last):
    ...
    ValueError: Input text is empty or whitespace only; give a non-empty string
"""
from __future__ import annotations

import warnings
from typing import Any

import torch


def check_text(text: Any) -> str:
    """Return ``text`` if it is a non-blank string, else raise a clear error."""
    if not isinstance(text, str):
        raise TypeError(f"Input must be a string (or a list of strings), got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise ValueError("Input text is empty or whitespace only; give a non-empty string")
    return text


def max_length_of(tokenizer, model_config) -> int:
    """The longest input the model takes: the tokenizer's limit capped by the position embeddings."""
    limits = [getattr(model_config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    return min(limits) if limits else 512


def encode(tokenizer, text: str, max_length: int, warn: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """Tokenize one text, truncating to ``max_length``.

    Returns the model inputs (batch of one) and metadata: the text, character offsets, the
    special-token mask, word ids and whether the text was truncated.
    """
    full_length = len(tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
    truncated = full_length > max_length
    if truncated and warn:
        warnings.warn(
            f"Input of {full_length} tokens is longer than the model's limit of {max_length}; "
            "it was truncated and only the first part is explained",
            stacklevel=3,
        )
    enc = tokenizer(
        text,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    meta = {
        "text": text,
        "offsets": [tuple(o) for o in enc.pop("offset_mapping")[0].tolist()],
        "special": enc.pop("special_tokens_mask")[0].bool().tolist(),
        "word_ids": enc.word_ids(0),
        "truncated": truncated,
    }
    return dict(enc), meta


def special_mask_of(metas: list[dict], attention_mask: torch.Tensor) -> torch.Tensor:
    """The special-token flags of ``metas`` laid over a padded batch's real positions (any padding side).

    >>> special_mask_of([{"special": [True, False, True]}], torch.tensor([[0, 1, 1, 1]])).tolist()
    [[False, True, False, True]]
    """
    mask = torch.zeros(attention_mask.shape, dtype=torch.bool)
    for row, meta in enumerate(metas):
        mask[row, attention_mask[row].bool().cpu()] = torch.tensor(meta["special"], dtype=torch.bool)
    return mask


def pad_right(sequences: list, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id sequences as a right-padded (ids, attention_mask) batch.

    >>> pad_right([[5, 6, 7], [8]], 0)[0].tolist()
    [[5, 6, 7], [8, 0, 0]]
    """
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask
