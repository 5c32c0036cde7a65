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
    >>> choose_index(5_000)
    ('flat', {})
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
    """Parameters and their defaults; a callable default is computed from (number of vectors, dimension)."""
    needs_training: bool = False

    def params(self, given: dict[str, Any], n: int, dim: int) -> dict[str, Any]:
        """The defaults, with ``given`` on top, callables resolved for ``n`` vectors of ``dim`` dimensions."""
        resolved = {k: (v(n, dim) if callable(v) else v) for k, v in self.defaults.items()}
        return {**resolved, **given}

    def build(self, vectors: np.ndarray, given: dict[str, Any]) -> faiss.Index:
        """An index holding ``vectors`` (trained on them first if the type needs it)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        params = self.params(given, n, dim)
        index = self.make(n, dim, params)
        if self.needs_training:
            # FAISS's k-means samples up to 256 vectors a list by itself (a million vectors for 4,000
            # lists); TRAIN_PER_LIST a list trains on a quarter of that (FAISS warns below 39)
            lists = int(params.get("nlist", 1))
            if n > TRAIN_PER_LIST * lists:
                keep = np.random.default_rng(0).choice(n, size=TRAIN_PER_LIST * lists, replace=False)
                index.train(vectors[np.sort(keep)])
            else:
                index.train(vectors)
        index.add(vectors)
        return index


INDEX_TYPE_REGISTRY: Registry[IndexType] = Registry("index_type")
TRAIN_PER_LIST = 64
APPROXIMATE = "approximate"
"""Not a FAISS type: ``index_type="approximate"`` lets ``choose_index`` pick one from the number of references."""
EXACT_UP_TO = 20_000
HNSW_UP_TO = 100_000
PROBED_FRACTION = 18
"""An approximate IVF index probes 1/PROBED_FRACTION of its lists (see ``choose_index``)."""


def index_type_choices() -> tuple[str, ...]:
    """What ``index_type`` accepts: the registered types (those registered later included) and "approximate"."""
    return INDEX_TYPE_REGISTRY.names + (APPROXIMATE,)


def _lists(n: int, dim: int) -> int:
    return max(1, min(int(4 * np.sqrt(n)), n // 39))


def _hnsw(n: int, dim: int, p: dict[str, Any]) -> faiss.Index:
    index = faiss.IndexHNSWFlat(dim, int(p["M"]))
    index.hnsw.efConstruction = int(p["ef_construction"])
    return index


INDEX_TYPE_REGISTRY.register(
    "flat", IndexType(make=lambda n, dim, p: faiss.IndexFlatL2(dim), search=lambda p, kw: faiss.SearchParameters(**kw))
)
INDEX_TYPE_REGISTRY.register(
    "hnsw",
    IndexType(
        make=_hnsw,
        # faiss's own stubs (__init__.pyi) lack these search-parameter classes and their keyword arguments
        search=lambda p, kw: faiss.SearchParametersHNSW(efSearch=int(p.get("ef_search", 64)), **kw),  # type: ignore[attr-defined]
        defaults={"M": 32, "ef_construction": 80, "ef_search": 64},
    ),
)
INDEX_TYPE_REGISTRY.register(
    "ivf",
    IndexType(
        make=lambda n, dim, p: faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, int(p["nlist"])),
        search=lambda p, kw: faiss.SearchParametersIVF(nprobe=int(p.get("nprobe", 16)), **kw),  # type: ignore[call-arg]
        defaults={"nlist": _lists, "nprobe": 16},
        needs_training=True,
    ),
)


def _ivf_pq(n: int, dim: int, p: dict[str, Any]) -> faiss.Index:
    # FAISS's own composite: lists found by exact search over the centroids (an HNSW graph there lost
    # lists: recall@10 .98 against 1.00 at 100k vectors), vectors as 4-bit product-quantizer codes
    # scanned with SIMD ("fast scan"), then the best k * k_factor candidates re-ranked by their exact
    # distances (the float vectors are kept beside the codes). The codes only pre-select for the
    # re-ranking, so they may be coarse: codes of the vectors themselves (by_residual False: one
    # lookup table a query instead of one a list probed) with dim/4 sub-quantizers kept the recall of
    # residual dim/2 codes at a fraction of the search time; dim/8 lost recall (benchmarks/RESULTS.md,
    # Search, measures the chosen setting). half_refine keeps the re-ranking vectors in float16 (FAISS's
    # scalar quantizer): half the file, and the share of it a memory-mapped index touches a query
    # (benchmarks/ONDISK.md measures its recall).
    m = int(p["m"])
    if m < 1 or dim % m:
        raise ValueError(f"ivf_pq: m (sub-quantizers) must divide the dimension {dim}, got {m}")
    refine = "Refine(SQfp16)" if p.get("half_refine") else "RFlat"
    index = faiss.index_factory(dim, f"IVF{int(p['nlist'])},PQ{m}x4fs,{refine}")
    faiss.extract_index_ivf(index).by_residual = bool(p.get("by_residual", False))
    return index


def _sub_quantizers(n: int, dim: int) -> int:
    return next(m for m in (dim // 4, dim // 2, dim) if m >= 1 and dim % m == 0)


def _ivf_pq_search(p: dict[str, Any], kw: dict[str, Any]) -> faiss.SearchParameters:
    # faiss's stubs omit these keyword arguments, which its SWIG constructors take
    return faiss.IndexRefineSearchParameters(  # type: ignore[call-arg]
        k_factor=float(p.get("k_factor", 10)),
        base_index_params=faiss.SearchParametersIVF(nprobe=int(p.get("nprobe", 64)), **kw),  # type: ignore[call-arg]
    )


INDEX_TYPE_REGISTRY.register(
    "ivf_pq",
    IndexType(
        make=_ivf_pq,
        search=_ivf_pq_search,
        defaults={
            "nlist": _lists,
            "m": _sub_quantizers,
            "by_residual": False,
            "half_refine": False,
            "nprobe": 64,
            "k_factor": 10,
        },
        needs_training=True,
    ),
)


def choose_index(n: int, dim: int = 384) -> tuple[str, dict[str, Any]]:
    """The index type and parameters ``index_type="approximate"`` uses for ``n`` references.

    The thresholds follow ``benchmarks/RESULTS.md`` (Search), which measures each pick: exact search
    stays around a millisecond up to EXACT_UP_TO vectors; HNSW finds every true neighbor at 100k; at a
    million its graph is slow to build and stops short of recall@10 0.95, where IVF + PQ fast scan
    (coarse codes: see ``_ivf_pq``) + exact re-ranking passes it. ``1 / PROBED_FRACTION`` is the smallest
    share of lists probed whose recall stayed clear of that goal there (fewer lists came too close).
    """
    if n <= EXACT_UP_TO:
        return "flat", {}
    if n <= HNSW_UP_TO:
        return "hnsw", dict(INDEX_TYPE_REGISTRY.get("hnsw").defaults)
    return "ivf_pq", ivf_pq_pick(n, dim)


def ivf_pq_pick(n: int, dim: int = 384) -> dict[str, Any]:
    """The IVF + PQ parameters ``choose_index`` picks for ``n`` references (above HNSW_UP_TO).

    Float16 re-ranking vectors: the re-ranking only orders candidates the codes already found, so
    half precision keeps their order while halving the file a memory-mapped index reads
    (``benchmarks/ONDISK.md`` measures the recall).
    """
    lists = _lists(n, dim)
    return {"nlist": lists, "nprobe": max(16, lists // PROBED_FRACTION), "k_factor": 10, "half_refine": True}


def check_index_params(index_type: str, params: dict[str, Any]) -> None:
    """Raise a ValueError naming unknown parameters of ``index_type``."""
    if index_type == APPROXIMATE:
        if params:
            raise ValueError(
                f"index_type 'approximate' chooses its own parameters; to set {sorted(params)} give "
                f"the index type itself ({', '.join(INDEX_TYPE_REGISTRY.names)})"
            )
        return
    unknown = set(params) - set(INDEX_TYPE_REGISTRY.get(index_type).defaults)
    if unknown:
        valid = ", ".join(INDEX_TYPE_REGISTRY.get(index_type).defaults) or "none"
        raise ValueError(f"Unknown parameter(s) {sorted(unknown)} for index type {index_type!r}; valid: {valid}")


def is_switch(index_type: str, name: str) -> bool:
    """Whether parameter ``name`` of ``index_type`` is on/off (its default is a bool) rather than a number."""
    if index_type not in INDEX_TYPE_REGISTRY.names:  # "approximate" takes no parameters
        return False
    return isinstance(INDEX_TYPE_REGISTRY.get(index_type).defaults.get(name), bool)


def resolve_index(index_type: str, params: dict[str, Any], n: int, dim: int) -> tuple[str, dict[str, Any]]:
    """``(index_type, params)`` to build for ``n`` vectors: "approximate" becomes ``choose_index``'s pick."""
    return choose_index(n, dim) if index_type == APPROXIMATE else (index_type, params)


def search_parameters(index_type: str, params: dict[str, Any], selector=None) -> faiss.SearchParameters:
    """FAISS search parameters of ``index_type`` (efSearch, nprobe), with an optional ID filter."""
    return INDEX_TYPE_REGISTRY.get(index_type).search(params, {} if selector is None else {"sel": selector})
