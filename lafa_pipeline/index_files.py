"""An index on disk: its five files, how each is written (atomically) and read back (checked).

``lafa_config.json`` (the LAFA settings), ``lafa_index.json`` (format version, model fingerprint,
counts), ``lafa_index.faiss`` (the vectors), ``lafa_index.safetensors`` (the packed arrays of
``index_arrays``) and ``lafa_references.jsonl`` (the texts, one JSON value a line). A file that is
missing, corrupt or disagrees with the others raises a ValueError naming it.

Example:
    >>> sorted(INDEX_FILES)[:2]
    ['lafa_config.json', 'lafa_index.faiss']
"""

from __future__ import annotations

import json
import os
from mmap import ACCESS_COPY
from mmap import mmap as memory_map
from typing import Any

import faiss
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from .config import CONFIG_NAME, LafaConfig
from .files import atomic_path, atomic_write_text
from .index_arrays import ARRAY_KEYS

INDEX_META_NAME = "lafa_index.json"
FAISS_NAME = "lafa_index.faiss"
ARRAYS_NAME = "lafa_index.safetensors"
TEXTS_NAME = "lafa_references.jsonl"
INDEX_FILES = (CONFIG_NAME, INDEX_META_NAME, FAISS_NAME, ARRAYS_NAME, TEXTS_NAME)
FORMAT_VERSION = 1


def write_arrays(directory: str | os.PathLike, arrays: dict[str, np.ndarray]) -> str:
    """Write the arrays file (atomically); returns its path."""
    path = os.path.join(directory, ARRAYS_NAME)
    with atomic_path(path) as tmp:
        save_file(arrays, tmp, metadata={"format_version": str(FORMAT_VERSION)})
    return path


def write_index_files(
    directory: str | os.PathLike,
    config: LafaConfig,
    meta: dict[str, Any],
    faiss_index: faiss.Index,
    arrays: dict[str, np.ndarray],
    texts: list,
) -> list[str]:
    """Write the five index files (each atomically) into an existing folder; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = [config.save(directory)]
    path = os.path.join(directory, INDEX_META_NAME)
    atomic_write_text(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    paths.append(path)
    path = os.path.join(directory, FAISS_NAME)
    with atomic_path(path) as tmp:
        faiss.write_index(faiss_index, tmp)
    paths.append(path)
    paths.append(write_arrays(directory, arrays))
    path = os.path.join(directory, TEXTS_NAME)
    atomic_write_text(path, "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts))
    paths.append(path)
    return paths


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
    """The index description file of ``directory``, its format version checked."""
    path = _need(directory, INDEX_META_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"LAFA index file is corrupt: {path} ({e})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"LAFA index file {path} has format version {meta.get('format_version')!r}; "
            f"this library reads version {FORMAT_VERSION}"
        )
    return meta


def read_index_files(
    directory: str | os.PathLike, mmap: bool = False
) -> tuple[LafaConfig, dict[str, Any], faiss.Index, dict[str, np.ndarray], list]:
    """The settings, description, FAISS index, arrays and texts of an index folder, checked to agree.

    ``mmap=True`` maps the FAISS file and the arrays instead of reading them: resident memory then
    grows with the pages searches and explanations touch (file pages the system may drop again),
    not with the files. Scores stored into a mapped index stay private to the process (copy on
    write) until ``save_scores`` writes them.
    """
    config = LafaConfig.load(_need(directory, CONFIG_NAME))
    meta = read_meta(directory)
    path = _need(directory, FAISS_NAME)
    try:
        # IO_FLAG_MMAP_IFC (FAISS 1.11+) maps flat codes (exact and re-ranking vectors) besides plain
        # IVF lists; IO_FLAG_MMAP alone reads an ivf_pq index's re-ranking vectors into memory.
        # Either way an ivf_pq index's fast-scan lists are read (they are small: 4-bit codes).
        flag = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP) if mmap else 0
        faiss_index = faiss.read_index(path, flag)
    except RuntimeError as e:
        raise ValueError(f"LAFA index file is corrupt: {path} ({str(e).splitlines()[0]})") from None
    path = _need(directory, ARRAYS_NAME)
    try:
        arrays = map_arrays(path) if mmap else load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"LAFA index file is corrupt: {path} ({e})") from None
    missing = set(ARRAY_KEYS) - set(arrays)
    if missing:
        raise ValueError(f"LAFA index file is corrupt: {path} (missing arrays {sorted(missing)})")
    path = _need(directory, TEXTS_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            texts = [json.loads(line) for line in f]
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"LAFA index file is corrupt: {path} ({e})") from None
    n = meta.get("num_texts")
    if not (len(texts) == n == faiss_index.ntotal == len(arrays["offsets"]) - 1):
        raise ValueError(
            f"LAFA index files in {directory} disagree: {n} texts in {INDEX_META_NAME}, {len(texts)} in "
            f"{TEXTS_NAME}, {faiss_index.ntotal} vectors in {FAISS_NAME}, "
            f"{len(arrays['offsets']) - 1} in {ARRAYS_NAME}"
        )
    return config, meta, faiss_index, arrays, texts


SAFETENSORS_DTYPES = {
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "U8": np.uint8,
    "I8": np.int8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "BOOL": np.bool_,
}


def map_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file as views of one copy-on-write memory map of it (writes stay
    in this process; a file moved into place later does not change them).

    Written by hand: safetensors' numpy API copies every tensor into memory. The format is an
    8-byte little-endian header length, a JSON header (dtype, shape, byte range of each tensor)
    and the data.
    """
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        size = int.from_bytes(f.read(8), "little")
        if size > file_size - 8:
            raise ValueError(f"its header claims {size} bytes, more than the file holds")
        header = json.loads(f.read(size))
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
        start = 8 + size
        mapped = memory_map(f.fileno(), 0, access=ACCESS_COPY) if file_size > start else None
    arrays = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (begin, end) = _tensor_entry(name, info, file_size - start)
        count = int(np.prod(shape))
        if end - begin != dtype.itemsize * count:
            raise ValueError(f"tensor {name!r} has {end - begin} bytes for shape {list(shape)} of {info['dtype']}")
        if end == begin:  # nothing to map (an empty array, or no data at all)
            arrays[name] = np.zeros(shape, dtype)
            continue
        assert mapped is not None  # end > begin >= 0 and end <= file_size - start
        arrays[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=start + begin).reshape(shape)
    return arrays


def _tensor_entry(name: str, info: Any, data_size: int) -> tuple[np.dtype, tuple[int, ...], tuple[int, int]]:
    """A header entry's dtype, shape and byte range, each checked (a ValueError names what is wrong)."""
    if not isinstance(info, dict) or info.get("dtype") not in SAFETENSORS_DTYPES:
        dtype = info.get("dtype") if isinstance(info, dict) else None
        raise ValueError(f"tensor {name!r} has dtype {dtype!r}; readable: {sorted(SAFETENSORS_DTYPES)}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValueError(f"tensor {name!r} has shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_size
    ):
        raise ValueError(f"tensor {name!r} has byte range {offsets!r} in {data_size} bytes of data")
    return np.dtype(SAFETENSORS_DTYPES[info["dtype"]]), tuple(shape), (offsets[0], offsets[1])


def _need(directory: str | os.PathLike, name: str) -> str:
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"LAFA index file is missing: {path}")
    return path
