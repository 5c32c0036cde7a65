"""LafaIndex: a reference dataset seen through the model, searchable with FAISS.

For every reference text the index holds its pooled hidden state at ``config.layer`` (in a FAISS
index), its token ids, and its base-method token scores computed once at build time, so that
explaining a text costs one base attribution plus a search. A *lazy* index (``build(lazy=True)``)
is built from forward passes only; each reference's scores are computed the first time a query
needs them, kept in memory, and written back with ``save_pretrained`` / ``save_scores``: the same
scores as a full build, paid for as the index is used. The distance cut-off eps is the
``config.quantile`` of L2 distances between randomly sampled pairs of reference texts.

Example:
    >>> from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
    >>> import tempfile, os
    >>> vocab = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> _ = open(vocab, "w").write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]))
    >>> tok = BertTokenizerFast(vocab)
    >>> model = BertForSequenceClassification(BertConfig(vocab_size=8, hidden_size=8, num_hidden_layers=2,
    ...     num_attention_heads=2, intermediate_size=16)).eval()
    >>> index = LafaIndex.build(model, tok, ["good film", "bad film", "good"], labels=[1, 0, 1],
    ...     config=LafaConfig(base_method="simple_grad", layer=1), show_progress=False)
    >>> len(index), index.config.eps > 0
    (3, True)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from .base_methods import BASE_METHOD_REGISTRY, MethodParams, has_direction
from .config import LafaConfig
from .files import atomic_folder
from .hub import push_saved
from .index_arrays import PackedReferences, empty_cache
from .index_encoding import encode_references, estimate_eps, pooled_states, score_rows
from .index_files import (
    FORMAT_VERSION,
    INDEX_FILES,
    map_arrays,
    read_index_files,
    read_meta,
    write_arrays,
    write_index_files,
)
from .index_types import INDEX_TYPE_REGISTRY, resolve_index, search_parameters
from .model_adapter import ModelAdapter, copy_mask_token
from .registry import check_number

HALF_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def model_fingerprint(model: PreTrainedModel, rounded_to: torch.dtype | None = None) -> str:
    """A hash of the model's parameter names, shapes and values (as float32); ``rounded_to``: of the
    values rounded to that dtype first, which is what a copy of the model loaded in it holds."""
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        digest.update(f"{name}:{tuple(param.shape)}".encode())
        values = param.detach().to("cpu")
        if rounded_to is not None:
            values = values.to(rounded_to)
        digest.update(values.to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _model_name(model: PreTrainedModel) -> str:
    return getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "") or type(model).__name__


# What the cached scores depend on (pass sizes change no score), and what the vectors, eps and search
# depend on besides; the other settings (aggregation, lambda, kernel, neighbors) only change how they are used.
SCORE_FIELDS = (
    "base_method",
    "output",
    *(f for f in MethodParams.__dataclass_fields__ if f not in ("internal_batch_size", "tokens_per_pass")),
)
INDEX_FIELDS = (
    "layer",
    "pooling",
    "eps",
    "quantile",
    "pair_samples",
    "index_type",
    "index_params",
    "cache_targets",
    *SCORE_FIELDS,
)


class LafaIndex(PackedReferences):
    """Reference texts, their pooled states (FAISS), token ids and cached base-method scores."""

    def __init__(
        self,
        config: LafaConfig,
        faiss_index: faiss.Index,
        texts: list[str],
        arrays: dict[str, np.ndarray],
        meta: dict[str, Any],
    ) -> None:
        super().__init__(arrays)
        self.config = config
        self.faiss_index = faiss_index
        self.texts = texts
        self.meta = meta
        self._selectors: dict[int, Any] = {}
        self.source_dir: str | None = None
        """The local folder the index was loaded from (None: built in memory, or from the Hub cache)."""
        self.mapped = False
        """Whether the arrays are memory maps of the files (``from_pretrained(..., mmap=True)``)."""
        # a Captum method registered in another process is unknown here: its scores stay magnitudes
        self.keeps_signed = config.base_method in BASE_METHOD_REGISTRY and has_direction(config.base_method)

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return (
            f"LafaIndex({len(self)} texts, layer={self.config.layer}, base_method={self.config.base_method!r}, "
            f"index_type={self.config.index_type!r}, eps={self.config.eps})"
        )

    # ----- search --------------------------------------------------------------------------
    def search(
        self,
        vectors: np.ndarray,
        n_neighbors: int,
        labels: Sequence[int | None] | None = None,
        use_eps: bool = True,
    ) -> list[list[tuple[int, float]]]:
        """Up to ``n_neighbors`` references per query closer than eps, as (ref, L2 distance).

        ``labels[i]`` restricts query i to references carrying that label (None: no restriction).
        ``use_eps=False`` ignores the distance cut-off.
        """
        eps = self.config.eps if use_eps else None
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        labels = list(labels) if labels is not None else [None] * len(vectors)
        k = min(n_neighbors, len(self))
        results: list[list[tuple[int, float]]] = [[] for _ in range(len(vectors))]
        for label in set(labels):
            rows = [i for i, lab in enumerate(labels) if lab == label]
            dist, ids = self.faiss_index.search(vectors[rows], k, params=self._search_params(label))
            for row, d_row, i_row in zip(rows, dist, ids):
                for d, i in zip(np.sqrt(np.maximum(d_row, 0.0)), i_row):
                    if i >= 0 and (eps is None or d < eps):
                        results[row].append((int(i), float(d)))
        return results

    def _search_params(self, label: int | None):
        selector = None
        if label is not None:
            if label not in self._selectors:
                p, values = self.arrays["label_ptr"], self.arrays["label_values"]
                member = np.zeros(len(self), dtype=bool)
                member[np.repeat(np.arange(len(self)), np.diff(p))[values == label]] = True
                # one bit a reference, tested per candidate: FAISS's IDSelectorBatch (a hash set) doubled
                # the search time of a 300k-vector ivf_pq index; the bits must outlive the selector
                bits = np.packbits(member, bitorder="little")
                self._selectors[label] = (faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), bits)
            selector = self._selectors[label][0]
        return search_parameters(self.config.index_type, self.config.index_params, selector)

    # ----- model checks ----------------------------------------------------------------------
    def check_model(self, model: PreTrainedModel) -> None:
        """Raise if ``model`` is not the model the index was built with."""
        expected = self.meta.get("model_fingerprint")
        actual = model_fingerprint(model)
        # The same checkpoint loaded in half precision (a GPU's bfloat16, or converted back to float32)
        # holds rounded values: indexes built since half fingerprints were kept accept it too.
        if actual != expected and actual not in self.meta.get("half_fingerprints", {}).values():
            raise ValueError(
                f"This LAFA index was built with model {self.meta.get('model_name')!r} (fingerprint {expected}) "
                f"but is used with model {_model_name(model)!r} (fingerprint {actual}); "
                "rebuild the index with LafaIndex.build for this model"
            )

    # ----- build -------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        model: PreTrainedModel,
        tokenizer,
        texts: Sequence[str],
        labels: Sequence[Any] | None = None,
        config: LafaConfig | None = None,
        batch_size: int = 32,
        show_progress: bool = True,
        description: str | None = None,
        lazy: bool = False,
    ) -> LafaIndex:
        """Encode, score and index ``texts`` (the data the model was fine-tuned on).

        ``labels``: one per text, a class index or label name, or a list of them (multi-label);
        ignored for regression. Without labels, the model's predictions are used. ``description``
        names the reference data in the model card. ``lazy``: forward passes only; the base-method
        scores are computed when first needed (``score_missing`` computes the rest at once). For
        millions of texts, see ``sharding``.
        """
        config = config or LafaConfig()
        texts = list(texts)
        copy_mask_token(model, tokenizer)
        vectors, arrays = encode_references(
            model, tokenizer, texts, labels, config, batch_size, show_progress, score=not lazy
        )
        return cls.from_encoded(model, texts, vectors, arrays, config, labels is not None, description)

    @classmethod
    def from_encoded(
        cls,
        model: PreTrainedModel,
        texts: list[str],
        vectors: np.ndarray,
        arrays: dict[str, np.ndarray],
        config: LafaConfig,
        labels_given: bool,
        description: str | None = None,
    ) -> LafaIndex:
        """The index of encoded references (``encode_references``' output, or merged shards of it)."""
        eps = estimate_eps(vectors, config.quantile, config.pair_samples, config.seed)
        if eps == 0.0:
            raise ValueError(
                f"The references' pooled states at layer {config.layer} are identical for most pairs "
                f"(pooling {config.pooling!r}), so they cannot be told apart: for a decoder-only model "
                "(whose first token sees nothing else) use pooling 'mean' or 'last', or choose another "
                "layer, or check for duplicate reference texts"
            )
        index_type, index_params = resolve_index(config.index_type, config.index_params, *vectors.shape)
        config = config.replace(eps=eps, index_type=index_type, index_params=index_params)
        meta = {
            "format_version": FORMAT_VERSION,
            "model_name": _model_name(model),
            "model_fingerprint": model_fingerprint(model),
            "half_fingerprints": {name: model_fingerprint(model, dtype) for name, dtype in HALF_DTYPES.items()},
            "num_texts": len(texts),
            "dim": int(vectors.shape[1]),
            "problem_type": ModelAdapter(model).problem_type,
            "id2label": {str(k): v for k, v in (model.config.id2label or {}).items()},
            "labels_given": labels_given,
            "description": description,
        }
        return cls(
            config, INDEX_TYPE_REGISTRY.get(config.index_type).build(vectors, config.index_params), texts, arrays, meta
        )

    def at_layers(
        self, model: PreTrainedModel, layers: Sequence[int], batch_size: int = 64, show_progress: bool = True
    ) -> dict[int, LafaIndex]:
        """This index searched at other hidden layers: the same references, token ids and cached
        scores (shared, so scores filled in one are seen by all), new pooled states and eps.

        One forward pass over the references' stored token ids gives every layer at once; ``lafa
        tune`` uses it to compare layers. ``layers`` holds layer numbers (0 = embedding output).
        """
        self.check_model(model)
        adapter = ModelAdapter(model, self.config.output)
        vectors = pooled_states(
            adapter,
            self.sequence,
            len(self),
            layers,
            self.config.pooling,
            batch_size,
            show_progress,
            self.config.tokens_per_pass,
        )
        return {
            layer: LafaIndex.from_encoded(
                model,
                self.texts,
                vectors[layer],
                self.arrays,
                self.config.replace(layer=layer, eps=None),
                bool(self.meta.get("labels_given")),
                self.meta.get("description"),
            )
            for layer in layers
        }

    def scores_made_with(self, config: LafaConfig) -> bool:
        """Whether the cached scores are those ``config``'s base method and parameters give (``SCORE_FIELDS``)."""
        return all(getattr(config, f) == getattr(self.config, f) for f in SCORE_FIELDS)

    def for_base_method(self, config: LafaConfig, cache: dict[str, np.ndarray] | None = None) -> LafaIndex:
        """This index (same references, states and search) holding the scores of ``config``'s base
        method and its parameters instead of its own: a lazy cache, filled as queries need it
        (``score_missing`` fills the rest). ``cache``: cache arrays to share with another such index
        (``lafa tune`` shares one per base method between the layers it compares).

        Example: ``index.for_base_method(index.config.replace(base_method="integrated_grad"))``.
        """
        params = MethodParams.from_config(config)
        changes = {name: getattr(params, name) for name in params.__dataclass_fields__}
        if cache is None:
            cache = empty_cache(len(self.arrays["cache_ready"]), len(self.arrays["cache_scores"]))
        return LafaIndex(
            self.config.replace(base_method=config.base_method, output=config.output, **changes),
            self.faiss_index,
            self.texts,
            {**self.arrays, **cache},
            dict(self.meta),
        )

    # ----- save / load -------------------------------------------------------------------------
    def score_missing(
        self,
        model: PreTrainedModel,
        batch_size: int = 32,
        show_progress: bool = True,
        rows: Sequence[int] | np.ndarray | None = None,
    ) -> int:
        """Compute the base-method scores a lazy index does not hold yet (what a full build computes
        up front; an index saved before signed scores were kept: those), or those of cache ``rows``
        only; returns how many cache rows were filled."""
        self.check_model(model)
        chosen = np.flatnonzero(self.unscored_rows()) if rows is None else np.asarray(rows, dtype=np.int64)
        refs = self.arrays["cache_ref"][chosen]
        keys = sorted(
            zip(refs.tolist(), self.arrays["cache_target"][chosen].tolist()),
            key=lambda key: len(self.token_ids(key[0])),
        )  # length-sorted batches pad less
        scored = score_rows(
            ModelAdapter(model, self.config.output), self.config, self.sequence, keys, batch_size, show_progress
        )
        return sum(self.store_scores(ref, target, scores) for (ref, target), scores in scored.items())

    def neighbor_counts(self, model: PreTrainedModel, batch_size: int = 64, show_progress: bool = True) -> np.ndarray:
        """Per cache row, in how many references' neighbor lists it is when each reference is searched
        as a query of its own (first) label, as LAFA searches: a forecast of which scores queries like
        the references will need most (nearest-neighbor lists in many dimensions share a few hubs)."""
        self.check_model(model)
        adapter = ModelAdapter(model, self.config.output)
        layer = self.config.layer
        vectors = pooled_states(
            adapter, self.sequence, len(self), [layer], self.config.pooling, batch_size, show_progress
        )[layer]
        regression = self.meta.get("problem_type") == "regression"
        targets = [0 if regression else self.labels(ref)[0] for ref in range(len(self))]
        labels = targets if self.config.same_label and not regression else None
        found = self.search(vectors, self.config.n_neighbors + 1, labels)
        counts = np.zeros(len(self.arrays["cache_ref"]), dtype=np.int64)
        for query, (target, neighbors) in enumerate(zip(targets, found)):
            for ref, _ in neighbors:
                row = self.cache_row(ref, target)
                if ref != query and row is not None:
                    counts[row] += 1
        return counts

    def prescore(
        self,
        model: PreTrainedModel,
        share: float = 1.0,
        batch_size: int = 32,
        show_progress: bool = True,
        seconds: float | None = None,
    ) -> int:
        """Score now the ``share`` (0-1) of a lazy index's missing cache rows that ``neighbor_counts``
        ranks most needed, the most needed first, stopping once ``seconds`` have passed (None: no
        limit), so that the first queries find most of their neighbors' scores cached; returns how many
        rows were filled. ``share=1`` scores every row a reference search reaches."""
        check_number("share", share, low=0.0, high=1.0)
        if seconds is not None:
            check_number("seconds", seconds, low=0.0)
        start = time.perf_counter()
        counts = self.neighbor_counts(model, show_progress=show_progress)
        missing = np.flatnonzero(self.unscored_rows() & (counts > 0))
        chosen = missing[np.argsort(-counts[missing], kind="stable")][: int(round(share * len(missing)))]
        if seconds is None:
            return self.score_missing(model, batch_size, show_progress, rows=chosen)
        filled, step = 0, batch_size  # a batch at a time, so the budget is overrun by one batch at most
        with tqdm(total=len(chosen), desc=f"Prescoring (up to {seconds:g} s)", disable=not show_progress) as bar:
            for begin in range(0, len(chosen), step):
                if time.perf_counter() - start >= seconds:
                    break
                filled += self.score_missing(model, batch_size, False, rows=chosen[begin : begin + step])
                bar.update(len(chosen[begin : begin + step]))
        return filled

    def save_scores(self, save_directory: str | os.PathLike | None = None) -> bool:
        """Write the scores computed since loading into the index files of ``save_directory`` (default:
        the local folder it was loaded from), replacing only the arrays file, atomically: the folder
        holds the old scores or the new ones, both valid. Returns whether anything was written."""
        if not self.new_scores:
            return False
        save_directory = save_directory or self.source_dir
        if save_directory is None:
            raise ValueError(
                "This index was not loaded from a local folder; give save_scores a folder, or save it "
                "with save_pretrained"
            )
        saved = read_meta(save_directory)
        same = ("num_texts", "model_fingerprint", "dim")
        if any(saved.get(k) != self.meta.get(k) for k in same):
            raise ValueError(
                f"{save_directory} holds another index ({', '.join(f'{k} {saved.get(k)}' for k in same)});"
                " save this one with save_pretrained"
            )
        path = write_arrays(save_directory, self.arrays)
        if self.mapped:  # the pages scored since loading are private copies: map the file that now holds them
            self.arrays.update(map_arrays(path))
        self.new_scores = 0
        return True

    def save_pretrained(self, save_directory: str | os.PathLike) -> list[str]:
        """Save the index as a folder of its own (an index repo), written aside and moved into place whole:
        a crash leaves the old index or the new one, never a mix. Returns the file paths.

        To save an index with its model, save the pipeline (``explainer.save_pretrained``).
        """
        if os.path.isfile(os.path.join(save_directory, "config.json")):
            raise ValueError(
                f"{save_directory} holds a model; save the pipeline (explainer.save_pretrained) to "
                "store the index with it, or save the index to a folder of its own"
            )
        with atomic_folder(save_directory, replaceable=INDEX_FILES) as tmp:
            names = [os.path.basename(p) for p in self.write_files(tmp)]
        self.new_scores = 0
        return [os.path.join(save_directory, name) for name in names]

    def write_files(self, save_directory: str | os.PathLike, config: LafaConfig | None = None) -> list[str]:
        """Write the index files (each atomically) into an existing folder; returns their paths.

        ``config``: settings to save instead of the index's own; it must agree with them on
        everything the vectors and cached scores were made with (``INDEX_FIELDS``).
        """
        if config is not None:
            differ = [f for f in INDEX_FIELDS if getattr(config, f) != getattr(self.config, f)]
            if differ:
                raise ValueError(
                    f"These settings differ from the index's in {', '.join(differ)}, which its vectors and "
                    "cached scores were made with, so the saved repo would not hold what it says; keep the "
                    "index's values, or make an index for them (LafaIndex.build, index.at_layers, "
                    "index.for_base_method)"
                )
        config = config or self.config
        return write_index_files(save_directory, config, self.meta, self.faiss_index, self.arrays, self.texts)

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike,
        revision: str | None = None,
        token: str | bool | None = None,
        cache_dir: str | None = None,
        mmap: bool = False,
    ) -> LafaIndex:
        """Load an index from a local folder, or from a Hub repo (model or index repo) through the cache.

        ``mmap=True`` maps the FAISS file and the arrays instead of reading them into memory (for
        indexes larger than memory: see ``benchmarks/ONDISK.md``); scores a lazy index computes stay
        in this process until ``save_scores``.
        """
        directory = os.fspath(path_or_repo_id)
        if os.path.isdir(directory):
            index = cls._load_folder(directory, mmap)
            index.source_dir = directory
            return index
        from huggingface_hub import snapshot_download

        directory = snapshot_download(
            directory, revision=revision, token=token, cache_dir=cache_dir, allow_patterns=list(INDEX_FILES)
        )
        return cls._load_folder(directory, mmap)  # no source_dir: files in the Hub cache are not rewritten

    @classmethod
    def _load_folder(cls, directory: str, mmap: bool) -> LafaIndex:
        config, meta, faiss_index, arrays, texts = read_index_files(directory, mmap)
        index = cls(config, faiss_index, texts, arrays, meta)
        index.mapped = mmap
        return index

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str = "Upload LAFA index",
        revision: str | None = None,
    ) -> str:
        """Upload the index files to a Hub repo (created if needed); returns the commit URL."""
        return push_saved(
            self.save_pretrained, repo_id, commit_message, token=token, private=private, revision=revision
        )
