"""What every ``lafa`` command shares: its user-error type and the reading of texts from files or datasets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


class CliError(ValueError):
    """A user error: printed as one line ``lafa: error: ...``, exit code 2."""


def check_share(option: str, value: float) -> None:
    """A share option (``--prescore``) lies between 0 and 1."""
    if not 0.0 <= value <= 1.0:
        raise CliError(f"{option} must be a share between 0 and 1, got {value}")


def load_columns(source: str, columns: Sequence[str], split: str, limit: int | None) -> dict[str, list]:
    """Columns of a .txt file (one text per line, column "text"), CSV/TSV/JSON/JSONL file, or a datasets id."""
    if os.path.isfile(source) and source.endswith(".txt"):
        with open(source, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f if line.strip()]
        if set(columns) - {"text", columns[0]}:
            raise CliError(f"A .txt file has one column (the texts); use a CSV/JSONL file for {', '.join(columns[1:])}")
        return {columns[0]: texts[:limit]}
    if not os.path.exists(source) and source.lower().endswith((".txt", ".csv", ".tsv", ".json", ".jsonl")):
        raise CliError(f"Data file {source!r} does not exist")
    from datasets import load_dataset

    if os.path.isfile(source):
        ext = source.rsplit(".", 1)[-1].lower()
        builders = {"csv": ("csv", {}), "tsv": ("csv", {"sep": "\t"}), "json": ("json", {}), "jsonl": ("json", {})}
        if ext not in builders:
            raise CliError(f"Unsupported data file {source!r}; use .txt, .csv, .tsv, .json or .jsonl")
        builder, kwargs = builders[ext]
        if os.path.getsize(source) == 0:
            raise CliError(f"Data file {source!r} is empty")
        try:
            data = load_dataset(builder, data_files=source, split="train", **kwargs)
        except ValueError as e:  # datasets: a header without rows
            raise CliError(f"Data file {source!r} has no rows ({e})") from None
    else:
        data = load_dataset(source, split=split)
    for column in columns:
        if column not in data.column_names:
            raise CliError(f"Column {column!r} not in {source}; columns: {', '.join(data.column_names)}")
    if limit:
        data = data.select(range(min(limit, len(data))))
    out = {column: list(data[column]) for column in columns}
    for row, value in enumerate(out[columns[0]]):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise CliError(f"{source}, row {row + 1}: the {columns[0]!r} cell is blank; every row needs a text")
    return out


def load_texts(
    source: str,
    text_column: str,
    label_column: str | None,
    split: str,
    limit: int | None,
    text_pair_column: str | None = None,
) -> tuple[list, Any]:
    """Texts (and labels) from a .txt file (one per line), CSV/TSV/JSON/JSONL file, or a datasets id;
    with ``text_pair_column``, text pairs ``{"text", "text_pair"}`` (NLI premise and hypothesis)."""
    columns = [text_column] + [c for c in (text_pair_column, label_column) if c]
    data = load_columns(source, columns, split, limit)
    texts = data[text_column]
    if text_pair_column:
        texts = [{"text": a, "text_pair": b} for a, b in zip(texts, data[text_pair_column])]
    return texts, (data[label_column] if label_column else None)
