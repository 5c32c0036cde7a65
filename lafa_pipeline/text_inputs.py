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
from collections.abc import Sequence
from typing import Any

import torch

TextInput = str | dict
"""One input: a text, or a text pair ``{"text": ..., "text_pair": ...}`` (as the text-classification
pipeline takes it; NLI premise and hypothesis)."""


def check_text(text: Any) -> TextInput:
    """Return ``text`` if it is a non-blank string or a pair of them, else raise a clear error."""
    if isinstance(text, dict):
        if set(text) != {"text", "text_pair"}:
            raise ValueError(f"A text pair is a dict with the keys 'text' and 'text_pair'; got keys {sorted(text)}")
        for key in ("text", "text_pair"):
            if not isinstance(text[key], str) or not text[key].strip():
                raise ValueError(f"The pair's {key!r} must be a non-empty string, got {text[key]!r:.80}")
        return {"text": text["text"], "text_pair": text["text_pair"]}
    if not isinstance(text, str):
        raise TypeError(
            f"Input must be a string or a text pair {{'text': ..., 'text_pair': ...}} (or a list of "
            f"them), got {type(text).__name__}: {text!r:.80}"
        )
    if not text.strip():
        raise ValueError("Input text is empty or whitespace only; give a non-empty string")
    return text


def segments(text: TextInput) -> list[str]:
    """The strings of one input: ``[text]``, or ``[text, text_pair]`` for a pair.

    >>> segments({"text": "a man sleeps", "text_pair": "a person rests"})
    ['a man sleeps', 'a person rests']
    """
    return [text["text"], text["text_pair"]] if isinstance(text, dict) else [text]


def max_length_of(tokenizer, model_config) -> int:
    """The longest input the model takes: the tokenizer's limit capped by the position embeddings."""
    given = [getattr(model_config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(x) for x in given if isinstance(x, int) and 0 < x < 1_000_000]
    return min(limits) if limits else 512


def encode(tokenizer, text: TextInput, max_length: int, warn: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """Tokenize one text or text pair, truncating to ``max_length`` (pairs: the longer text first).

    Returns the model inputs (batch of one) and metadata: the text, character offsets (into the
    token's own text), the special-token mask, word ids, whether the text was truncated, and for
    pairs both texts and each token's segment (0, 1; None for special tokens).
    """
    parts = segments(text)
    full_length = len(tokenizer(*parts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
    truncated = full_length > max_length
    if truncated and warn:
        warnings.warn(
            f"Input of {full_length} tokens is longer than the model's limit of {max_length}; "
            "it was truncated and only the first part is explained",
            stacklevel=3,
        )
    enc = tokenizer(
        *parts,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    meta = {
        "text": parts[0],
        "offsets": [tuple(o) for o in enc.pop("offset_mapping")[0].tolist()],
        "special": enc.pop("special_tokens_mask")[0].bool().tolist(),
        "word_ids": enc.word_ids(0),
        "truncated": truncated,
    }
    if len(parts) > 1:
        meta["texts"] = parts
        meta["segment_ids"] = enc.sequence_ids(0)
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


def pad_right(sequences: Sequence, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id sequences as a right-padded (ids, attention_mask) batch.

    >>> pad_right([[5, 6, 7], [8]], 0)[0].tolist()
    [[5, 6, 7], [8, 0, 0]]
    """
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
