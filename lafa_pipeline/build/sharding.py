"""Building one index over millions of texts with many processes or machines (``accelerate launch``).

Each process encodes and scores a contiguous shard of the texts and writes it to a shared folder;
the main process then merges the shards, in order, into one LafaIndex. Texts are scored
independently of each other, so the merged index equals a single-process build.

    accelerate launch --multi_gpu --num_processes 8 -m lafa_pipeline.apps.cli build --model M --data D --output OUT

The same command on a machine without CUDA starts CPU processes (torch.distributed over gloo);
``torchrun --nproc_per_node N -m lafa_pipeline.apps.cli build ...`` works too.

Several machines: run the same command on each with ``--num_machines``, ``--machine_rank`` and
``--main_process_ip`` (see ``accelerate launch --help``); the shard folder (``--shard-dir``,
default ``OUT/.shards``) must be on storage every machine sees.

Example:
    >>> shard_bounds(10, 3)
    [(0, 3), (3, 6), (6, 10)]
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ..config import LafaConfig
from ..files import atomic_path, atomic_write_text
from ..index import LafaIndex
from ..index_arrays import concat_arrays
from ..index_encoding import encode_references


def shard_bounds(n: int, num_shards: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) ranges splitting n items into num_shards nearly equal parts."""
    return [(k * n // num_shards, (k + 1) * n // num_shards) for k in range(num_shards)]


def _shard_name(k: int, num_shards: int) -> str:
    return f"shard-{k:05d}-of-{num_shards:05d}"


def write_shard(
    shard_dir: str,
    k: int,
    num_shards: int,
    model,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[Any] | None,
    config: LafaConfig,
    batch_size: int = 32,
    show_progress: bool = True,
    lazy: bool = False,
) -> str:
    """Encode and score shard ``k`` of ``texts`` and save it (atomically) under ``shard_dir``
    (``lazy``: encode only; scores are computed when queries first need them)."""
    start, end = shard_bounds(len(texts), num_shards)[k]
    part_texts = list(texts[start:end])
    part_labels = None if labels is None else list(labels[start:end])
    vectors, arrays = encode_references(
        model, tokenizer, part_texts, part_labels, config, batch_size, show_progress, score=not lazy
    )
    base = os.path.join(shard_dir, _shard_name(k, num_shards))
    with atomic_path(base + ".safetensors") as tmp:
        save_file({**arrays, "vectors": vectors}, tmp)
    atomic_write_text(base + ".json", json.dumps({"texts": part_texts, "start": start, "end": end}))
    return base


def merge_shards(
    shard_dir: str, num_shards: int, model, config: LafaConfig, labels_given: bool, description: str | None = None
) -> LafaIndex:
    """One LafaIndex from the shard files, in shard order."""
    texts: list[str] = []
    vectors, parts = [], []
    for k in range(num_shards):
        base = os.path.join(shard_dir, _shard_name(k, num_shards))
        for suffix in (".safetensors", ".json"):
            if not os.path.isfile(base + suffix):
                raise FileNotFoundError(f"Index shard file is missing: {base + suffix}")
        arrays = load_file(base + ".safetensors")
        vectors.append(arrays.pop("vectors"))
        parts.append(arrays)
        with open(base + ".json", encoding="utf-8") as f:
            texts += json.load(f)["texts"]
    return LafaIndex.from_encoded(
        model, texts, np.concatenate(vectors), concat_arrays(parts), config, labels_given, description
    )


def build_distributed(
    model,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[Any] | None,
    config: LafaConfig,
    shard_dir: str,
    batch_size: int = 32,
    description: str | None = None,
    lazy: bool = False,
) -> LafaIndex | None:
    """Run under ``accelerate launch``: every process writes its shard; the main process merges them.

    Returns the merged index on the main process and None elsewhere. In a single process (plain
    ``python``) it is one shard.
    """
    import torch
    from accelerate import PartialState

    # Without CUDA, cpu=True makes accelerate join the processes torchrun started over gloo.
    state = PartialState(cpu=not torch.cuda.is_available())
    model.to(state.device)
    os.makedirs(shard_dir, exist_ok=True)
    write_shard(
        shard_dir,
        state.process_index,
        state.num_processes,
        model,
        tokenizer,
        texts,
        labels,
        config,
        batch_size,
        show_progress=state.is_local_main_process,
        lazy=lazy,
    )
    state.wait_for_everyone()
    index = None
    if state.is_main_process:
        index = merge_shards(shard_dir, state.num_processes, model.cpu(), config, labels is not None, description)
        shutil.rmtree(shard_dir, ignore_errors=True)
    return index
