"""Helpers the benchmarks share: the texts they time."""

from __future__ import annotations

import random

from lafa_pipeline.build.default_model import DEV_FILE, read_tsv


def long_texts(sentences: list[str], tokenizer, n: int, target_tokens: int = 250, cycle: bool = False) -> list[str]:
    """Up to ``n`` texts of consecutive ``sentences`` joined to at least ``target_tokens`` tokens.
    ``cycle``: once the sentences run out, go on through them again in a shuffled order (seeded), so
    that ``n`` texts are made (later texts then reuse sentences, in other company)."""
    out, current, order, rounds = [], [], list(sentences), 0
    if not any(s.strip() for s in sentences):
        return []
    while len(out) < n:
        for s in order:
            current.append(s.strip())
            if len(tokenizer(" ".join(current))["input_ids"]) >= target_tokens:
                out.append(" ".join(current))
                current = []
                if len(out) == n:
                    return out
        if not cycle:
            break
        rounds += 1
        order = random.Random(rounds).sample(list(sentences), len(sentences))
    return out


def explanation_texts(tokenizer, n_short: int, n_long: int) -> tuple[list[str], list[str]]:
    """SST-2 dev sentences of 20-30 tokens, and texts of ~250 tokens (consecutive dev sentences joined)."""
    dev = read_tsv(DEV_FILE)[0]
    short = [s for s in dev if 20 <= len(tokenizer(s)["input_ids"]) <= 30][:n_short]
    return short, long_texts(dev[200:], tokenizer, n_long) if n_long else []
