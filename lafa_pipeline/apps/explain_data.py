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

Across processes or machines (``explain_distributed``; the CLI does it under ``accelerate launch``)::

    accelerate launch --num_processes 2 -m lafa_pipeline.apps.cli explain --data dev.csv --output out.parquet

each process explains a contiguous share of the rows into its own resumable part
(``OUTPUT.parts/``), then the main process joins the parts in row order into the one file a
single process would have written, and writes the neighbor scores every process computed for a
lazy index back into the repo, once.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from ..files import atomic_path
from ..index_arrays import RowScores

if TYPE_CHECKING:  # datasets is imported only to build a Dataset or write Parquet
    from datasets import Dataset

FORMATS = (".jsonl", ".parquet")


def explain_rows(
    explainer,
    texts: Sequence[str],
    start: int = 0,
    batch_size: int = 16,
    show_progress: bool = True,
    row_offset: int = 0,
    **call_kwargs: Any,
) -> Iterator[dict]:
    """Rows ``{"row", "text", **result}`` for ``texts[start:]``, explained ``batch_size`` at a time;
    ``row`` counts from ``row_offset`` (a process's share of a dataset keeps the dataset's numbers)."""
    bar = tqdm(total=len(texts), initial=start, desc="Explaining", unit="text", disable=not show_progress)
    for first in range(start, len(texts), batch_size):
        chunk = list(texts[first : first + batch_size])
        results = explainer(chunk, batch_size=batch_size, **call_kwargs)
        for offset, (text, result) in enumerate(zip(chunk, results)):
            yield {"row": row_offset + first + offset, "text": text, **result}
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


def _check_output(output: str) -> str:
    """The output's format (extension), checked."""
    ext = os.path.splitext(output)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"Unknown output format {ext!r} for {output}; valid: {', '.join(FORMATS)}")
    return ext


def explain_to_file(
    explainer,
    texts: Sequence[str],
    output: str,
    batch_size: int = 16,
    show_progress: bool = True,
    row_offset: int = 0,
    **call_kwargs: Any,
) -> int:
    """Explain ``texts`` into ``output`` (.jsonl or .parquet), skipping rows an earlier run wrote; returns
    how many rows this call explained."""
    ext = _check_output(output)
    if ext == ".parquet" and os.path.exists(output):
        raise ValueError(f"{output} exists and is complete; remove it to explain again")
    lines = output if ext == ".jsonl" else output + ".partial.jsonl"
    done = _complete_rows(lines)
    if done > len(texts):
        raise ValueError(f"{lines} holds {done} rows but the data has {len(texts)} texts; is it another dataset?")
    os.makedirs(os.path.dirname(os.path.abspath(lines)), exist_ok=True)
    count = 0
    with open(lines, "a", encoding="utf-8") as f:
        for row in explain_rows(explainer, texts, done, batch_size, show_progress, row_offset, **call_kwargs):
            if row["text"] != texts[row["row"] - row_offset]:  # pragma: no cover - guards the resume arithmetic
                raise RuntimeError("row mismatch")
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            count += 1
    if ext == ".parquet":
        _write_parquet([lines], output)
        os.remove(lines)
    return count


def _write_parquet(jsonl_files: list[str], output: str) -> None:
    from datasets import Dataset

    with atomic_path(output) as tmp:
        Dataset.from_json(jsonl_files).to_parquet(tmp)


def explain_distributed(
    explainer, texts: Sequence[str], output: str, batch_size: int = 16, show_progress: bool = True, **call_kwargs: Any
) -> tuple[int, bool]:
    """Explain ``texts`` into ``output`` from every process of an ``accelerate launch`` (or torchrun)
    run: a contiguous share of the rows each, into ``OUTPUT.parts/part-K-of-N.jsonl`` (resumable
    like ``explain_to_file``); the main process then joins the parts, in row order, into ``output``
    and keeps the neighbor scores all processes computed in the explainer's index (save it, or
    ``index.save_scores()``, once). Returns (rows this process explained, whether it is the main one).
    """
    import torch
    from accelerate import PartialState

    from ..build.sharding import shard_bounds

    ext = _check_output(output)
    if os.path.exists(output):
        raise ValueError(f"{output} exists and is complete; remove it to explain again")
    # Without CUDA, cpu=True makes accelerate join the processes torchrun started over gloo.
    state = PartialState(cpu=not torch.cuda.is_available())
    k, n = state.process_index, state.num_processes
    parts_dir = output + ".parts"
    os.makedirs(parts_dir, exist_ok=True)
    start, end = shard_bounds(len(texts), n)[k]
    index = explainer.index
    unscored_before = None if index is None else index.unscored_rows()  # rows this process may fill
    count = explain_to_file(
        explainer,
        texts[start:end],
        os.path.join(parts_dir, _part_name(k, n)),
        batch_size,
        show_progress and state.is_local_main_process,
        start,
        **call_kwargs,
    )
    if index is not None and unscored_before is not None:
        _save_new_scores(index, unscored_before, os.path.join(parts_dir, f"scores-{k:05d}-of-{n:05d}.safetensors"))
    state.wait_for_everyone()
    if not state.is_main_process:
        return count, False
    parts = [os.path.join(parts_dir, _part_name(j, n)) for j in range(n)]
    if ext == ".parquet":
        _write_parquet(parts, output)
    else:
        with atomic_path(output) as tmp, open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
    if index is not None:
        for j in range(n):
            _load_new_scores(index, os.path.join(parts_dir, f"scores-{j:05d}-of-{n:05d}.safetensors"))
    shutil.rmtree(parts_dir)
    return count, True


def _part_name(k: int, n: int) -> str:
    return f"part-{k:05d}-of-{n:05d}.jsonl"


def _save_new_scores(index, unscored_before, path: str) -> None:
    """The cache rows this process filled (a lazy index's neighbor scores), for the main process to keep."""
    from safetensors.numpy import save_file

    rows = np.flatnonzero(~index.unscored_rows() & unscored_before)
    refs, targets = index.arrays["cache_ref"][rows], index.arrays["cache_target"][rows]
    keys = list(zip(refs.tolist(), targets.tolist()))
    scores = [index.cached_scores(r, t) for r, t in keys]
    signed = [index.cached_scores(r, t, signed=True) for r, t in keys] if index.keeps_signed else []
    with atomic_path(path) as tmp:
        save_file(
            {
                "refs": refs.astype(np.int64),
                "targets": targets.astype(np.int64),
                "scores": np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32),
                "signed": np.concatenate(signed).astype(np.float32) if signed else np.zeros(0, np.float32),
            },
            tmp,
        )


def _load_new_scores(index, path: str) -> None:
    """Keep another process's new cache rows in ``index`` (rows it holds already stay as they are)."""
    from safetensors.numpy import load_file

    saved = load_file(path)
    start = 0
    for ref, target in zip(saved["refs"].tolist(), saved["targets"].tolist()):
        end = start + len(index.token_ids(ref))
        signed = saved["signed"][start:end] if len(saved["signed"]) else None
        index.store_scores(ref, target, RowScores(saved["scores"][start:end], signed))
        start = end


def explain_dataset(
    explainer,
    data: Any,
    text_column: str = "text",
    batch_size: int = 16,
    show_progress: bool = True,
    **call_kwargs: Any,
) -> Dataset:
    """A ``datasets.Dataset`` of explanations of ``data`` (a Dataset with ``text_column``, or a list of texts)."""
    from datasets import Dataset

    texts = list(data[text_column]) if hasattr(data, "column_names") else list(data)
    rows = list(explain_rows(explainer, texts, 0, batch_size, show_progress, **call_kwargs))
    return Dataset.from_list(rows)
