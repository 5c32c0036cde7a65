"""Explain whole datasets: batched, with a progress bar, written as JSON Lines or Parquet, resumable.

One row per text: its position (``row``), the text, and the full pipeline result (prediction,
target, method, word scores with offsets, neighbors). An interrupted run picks up after the last
complete row; Parquet output is assembled from a JSON Lines sidecar when every row is done.

Example::

    from lafa_pipeline import load_explainer
    from lafa_pipeline.apps.explain_data import explain_dataset
    ds = explain_dataset(load_explainer(), ["a gorgeous movie", "a dull movie"])   # a datasets.Dataset
    ds.push_to_hub("me/sst2-lafa-explanations")                                     # shared like Thermostat's

    lafa explain --data dev.csv --text-column sentence --output explanations.parquet   # from a shell
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

from ..files import atomic_path

FORMATS = (".jsonl", ".parquet")


def explain_rows(
    explainer,
    texts: Sequence[str],
    start: int = 0,
    batch_size: int = 16,
    show_progress: bool = True,
    **call_kwargs: Any,
) -> Iterator[dict]:
    """Rows ``{"row", "text", **result}`` for ``texts[start:]``, explained ``batch_size`` at a time."""
    bar = tqdm(total=len(texts), initial=start, desc="Explaining", unit="text", disable=not show_progress)
    for first in range(start, len(texts), batch_size):
        chunk = list(texts[first : first + batch_size])
        results = explainer(chunk, batch_size=batch_size, **call_kwargs)
        for offset, (text, result) in enumerate(zip(chunk, results)):
            yield {"row": first + offset, "text": text, **result}
        bar.update(len(chunk))
    bar.close()


def _complete_rows(path: str) -> int:
    """Rows already written to a JSON Lines file; a last line cut off by a crash is dropped from the file."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            f.truncate(keep)
    return data[:keep].count(b"\n")


def explain_to_file(
    explainer, texts: Sequence[str], output: str, batch_size: int = 16, show_progress: bool = True, **call_kwargs: Any
) -> int:
    """Explain ``texts`` into ``output`` (.jsonl or .parquet), skipping rows an earlier run wrote; returns
    how many rows this call explained."""
    ext = os.path.splitext(output)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"Unknown output format {ext!r} for {output}; valid: {', '.join(FORMATS)}")
    if ext == ".parquet" and os.path.exists(output):
        raise ValueError(f"{output} exists and is complete; remove it to explain again")
    lines = output if ext == ".jsonl" else output + ".partial.jsonl"
    done = _complete_rows(lines)
    if done > len(texts):
        raise ValueError(f"{lines} holds {done} rows but the data has {len(texts)} texts; is it another dataset?")
    os.makedirs(os.path.dirname(os.path.abspath(lines)), exist_ok=True)
    count = 0
    with open(lines, "a", encoding="utf-8") as f:
        for row in explain_rows(explainer, texts, done, batch_size, show_progress, **call_kwargs):
            if row["text"] != texts[row["row"]]:  # pragma: no cover - guards the resume arithmetic
                raise RuntimeError("row mismatch")
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            count += 1
    if ext == ".parquet":
        from datasets import Dataset

        with atomic_path(output) as tmp:
            Dataset.from_json(lines).to_parquet(tmp)
        os.remove(lines)
    return count


def explain_dataset(
    explainer,
    data: Any,
    text_column: str = "text",
    batch_size: int = 16,
    show_progress: bool = True,
    **call_kwargs: Any,
):
    """A ``datasets.Dataset`` of explanations of ``data`` (a Dataset with ``text_column``, or a list of texts)."""
    from datasets import Dataset

    texts = list(data[text_column]) if hasattr(data, "column_names") else list(data)
    rows = list(explain_rows(explainer, texts, 0, batch_size, show_progress, **call_kwargs))
    return Dataset.from_list(rows)
