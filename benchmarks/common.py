"""Helpers the benchmarks share: the texts they time."""

from __future__ import annotations

from lafa_pipeline.build.default_model import DEV_FILE, read_tsv


def long_texts(sentences: list[str], tokenizer, n: int, target_tokens: int = 250) -> list[str]:
    out, current = [], []
    for s in sentences:
        current.append(s.strip())
        if len(tokenizer(" ".join(current))["input_ids"]) >= target_tokens:
            out.append(" ".join(current))
            current = []
            if len(out) == n:
                break
    return out


def explanation_texts(tokenizer, n_short: int, n_long: int) -> tuple[list[str], list[str]]:
    """SST-2 dev sentences of 20-30 tokens, and texts of ~250 tokens (consecutive dev sentences joined)."""
    dev = read_tsv(DEV_FILE)[0]
    short = [s for s in dev if 20 <= len(tokenizer(s)["input_ids"]) <= 30][:n_short]
    return short, long_texts(dev[200:], tokenizer, n_long) if n_long else []
