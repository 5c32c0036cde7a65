"""FAISS index types for a LafaIndex, as a registry: how each is built and searched, and its parameters.

Example:
    >>> import numpy as np
    >>> vectors = np.random.default_rng(0).normal(size=(100, 8)).astype("float32")
    >>> index = INDEX_TYPE_REGISTRY.get("hnsw").build(vectors, {"M": 16})
    >>> index.ntotal
    100
    >>> check_index_params("flat", {"nprobe": 4})
    Traceback (most recent call last):
    ...
    ValueError: Unknown parameter(s) ['nprobe'] for index type 'flat'; valid: none
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

from .registry import Registry


@dataclass(frozen=True)
class IndexType:
    """How to build a FAISS index over vectors, and the search parameters it takes."""

    make: Callable[[int, int, dict[str, Any]], faiss.Index]
    """(n vectors, dimension, parameters) -> an empty index."""
    search: Callable[[dict[str, Any], dict[str, Any]], faiss.SearchParameters]
    """(parameters, extra kwargs such as an ID selector) -> search parameters."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Parameters and their defaults; a callable default is computed from the number of vectors."""
    needs_training: bool = False

    def params(self, given: dict[str, Any], n: int) -> dict[str, Any]:
        """The defaults, with ``given`` on top, callables resolved for ``n`` vectors."""
        resolved = {k: (v(n) if callable(v) else v) for k, v in self.defaults.items()}
        return {**resolved, **given}

    def build(self, vectors: np.ndarray, given: dict[str, Any]) -> faiss.Index:
        """An index holding ``vectors`` (trained on them first if the type needs it)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        index = self.make(n, dim, self.params(given, n))
        if self.needs_training:
            index.train(vectors)
        index.add(vectors)
        return index


INDEX_TYPE_REGISTRY: Registry[IndexType] = Registry("index_type")


def _hnsw(n: int, dim: int, p: dict[str, Any]) -> faiss.Index:
    index = faiss.IndexHNSWFlat(dim, int(p["M"]))
    index.hnsw.efConstruction = int(p["ef_construction"])
    return index


INDEX_TYPE_REGISTRY.register("flat", IndexType(
    make=lambda n, dim, p: faiss.IndexFlatL2(dim),
    search=lambda p, kw: faiss.SearchParameters(**kw)))
INDEX_TYPE_REGISTRY.register("hnsw", IndexType(
    make=_hnsw,
    search=lambda p, kw: faiss.SearchParametersHNSW(efSearch=int(p.get("ef_search", 64)), **kw),
    defaults={"M": 32, "ef_construction": 80, "ef_search": 64}))
INDEX_TYPE_REGISTRY.register("ivf", IndexType(
    make=lambda n, dim, p: faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, int(p["nlist"])),
    search=lambda p, kw: faiss.SearchParametersIVF(nprobe=int(p.get("nprobe", 16)), **kw),
    defaults={"nlist": lambda n: max(1, min(int(4 * np.sqrt(n)), n // 39)), "nprobe": 16},
    needs_training=True))


def check_index_params(index_type: str, params: dict[str, Any]) -> None:
    """Raise a ValueError naming unknown parameters of ``index_type``."""
    unknown = set(params) - set(INDEX_TYPE_REGISTRY.get(index_type).defaults)
    if unknown:
        valid = ", ".join(INDEX_TYPE_REGISTRY.get(index_type).defaults) or "none"
        raise ValueError(f"Unknown parameter(s) {sorted(unknown)} for index type {index_type!r}; valid: {valid}")


def search_parameters(index_type: str, params: dict[str, Any], selector=None) -> faiss.SearchParameters:
    """FAISS search parameters of ``index_type`` (efSearch, nprobe), with an optional ID filter."""
    return INDEX_TYPE_REGISTRY.get(index_type).search(params, {} if selector is None else {"sel": selector})
