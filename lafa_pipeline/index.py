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
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from .base_methods import MethodParams, attribute
from .config import CONFIG_NAME, LafaConfig, check_choice, indexable_base_methods
from .files import atomic_folder, atomic_path, atomic_write_text
from .index_types import INDEX_TYPE_REGISTRY, resolve_index, search_parameters
from .model_adapter import ModelAdapter, copy_mask_token, layer_states
from .text_inputs import TextInput, check_text, encode, max_length_of, pad_right

INDEX_META_NAME = "lafa_index.json"
FAISS_NAME = "lafa_index.faiss"
ARRAYS_NAME = "lafa_index.safetensors"
TEXTS_NAME = "lafa_references.jsonl"
INDEX_FILES = (CONFIG_NAME, INDEX_META_NAME, FAISS_NAME, ARRAYS_NAME, TEXTS_NAME)
FORMAT_VERSION = 1


def model_fingerprint(model: PreTrainedModel) -> str:
    """A hash of the model's parameter names, shapes and values (float32)."""
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        digest.update(f"{name}:{tuple(param.shape)}".encode())
        digest.update(param.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _model_name(model: PreTrainedModel) -> str:
    return getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "") or type(model).__name__


class LafaIndex:
    """Reference texts, their pooled states (FAISS), token ids and cached base-method scores."""

    def __init__(
        self,
        config: LafaConfig,
        faiss_index: faiss.Index,
        texts: list[str],
        arrays: dict[str, np.ndarray],
        meta: dict[str, Any],
    ) -> None:
        self.config = config
        self.faiss_index = faiss_index
        self.texts = texts
        self.arrays = arrays
        self.meta = meta
        self._selectors: dict[int, Any] = {}
        if "cache_ready" not in self.arrays:  # files written before lazy indexes: every row was scored
            self.arrays["cache_ready"] = np.ones(len(arrays["cache_target"]), dtype=np.uint8)
        self.new_scores = 0
        """Rows scored since the index was built or loaded and not yet written (``save_scores``)."""
        self.source_dir: str | None = None
        """The local folder the index was loaded from (None: built in memory, or from the Hub cache)."""
        # Row starts of cached scores: rows are stored ref by ref, each as long as its reference.
        lengths = np.diff(arrays["offsets"])
        row_lengths = lengths[arrays["cache_ref"]]
        self._row_start = np.concatenate([[0], np.cumsum(row_lengths)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return (
            f"LafaIndex({len(self)} texts, layer={self.config.layer}, base_method={self.config.base_method!r}, "
            f"index_type={self.config.index_type!r}, eps={self.config.eps})"
        )

    # ----- per-reference data -------------------------------------------------------------
    def token_ids(self, ref: int) -> np.ndarray:
        """All token ids of reference ``ref``, special tokens included, as fed to the model."""
        o = self.arrays["offsets"]
        return self.arrays["token_ids"][o[ref] : o[ref + 1]]

    def token_types(self, ref: int) -> np.ndarray:
        """Token type (segment) ids of reference ``ref``: all 0 but for text pairs on models that use them."""
        o = self.arrays["offsets"]
        if "token_types" not in self.arrays:
            return np.zeros(o[ref + 1] - o[ref], dtype=np.int64)
        return self.arrays["token_types"][o[ref] : o[ref + 1]].astype(np.int64)

    def sequence(self, ref: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference ``ref`` as model inputs: its token ids and token type ids."""
        return (torch.from_numpy(self.token_ids(ref).astype(np.int64)), torch.from_numpy(self.token_types(ref)))

    def special_mask(self, ref: int) -> np.ndarray:
        o = self.arrays["offsets"]
        return self.arrays["special"][o[ref] : o[ref + 1]].astype(bool)

    def labels(self, ref: int) -> list[int]:
        p = self.arrays["label_ptr"]
        return self.arrays["label_values"][p[ref] : p[ref + 1]].tolist()

    def _cache_row(self, ref: int, target: int) -> int | None:
        p = self.arrays["cache_ptr"]
        for row in range(p[ref], p[ref + 1]):
            if self.arrays["cache_target"][row] == target:
                return row
        return None

    def cached_scores(self, ref: int, target: int) -> np.ndarray | None:
        """Base-method scores of all tokens of ``ref`` for class ``target``, or None if not cached
        (a target the build did not score, or a lazy index's reference not needed yet)."""
        row = self._cache_row(ref, target)
        if row is None or not self.arrays["cache_ready"][row]:
            return None
        return self.arrays["cache_scores"][self._row_start[row] : self._row_start[row + 1]]

    def store_scores(self, ref: int, target: int, scores: np.ndarray) -> bool:
        """Keep scores computed at query time in the cache if the index has a row for them, not yet
        filled (a lazy index); returns whether they were stored."""
        row = self._cache_row(ref, target)
        if row is None or self.arrays["cache_ready"][row]:
            return False
        start, end = self._row_start[row], self._row_start[row + 1]
        if len(scores) != end - start:
            raise ValueError(f"Scores of reference {ref} have {len(scores)} tokens; it has {end - start}")
        for key in ("cache_scores", "cache_ready"):  # arrays read from a file may be read-only
            if not self.arrays[key].flags.writeable:
                self.arrays[key] = self.arrays[key].copy()
        self.arrays["cache_scores"][start:end] = scores
        self.arrays["cache_ready"][row] = 1
        self.new_scores += 1
        return True

    @property
    def missing_scores(self) -> int:
        """Cache rows not scored yet (0 for a fully built index)."""
        return int(len(self.arrays["cache_ready"]) - self.arrays["cache_ready"].sum())

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
                refs = np.repeat(np.arange(len(self)), np.diff(p))[values == label].astype(np.int64)
                self._selectors[label] = faiss.IDSelectorBatch(refs)
            selector = self._selectors[label]
        return search_parameters(self.config.index_type, self.config.index_params, selector)

    # ----- model checks ----------------------------------------------------------------------
    def check_model(self, model: PreTrainedModel) -> None:
        """Raise if ``model`` is not the model the index was built with."""
        expected = self.meta.get("model_fingerprint")
        actual = model_fingerprint(model)
        if expected != actual:
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

    @torch.no_grad()
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
        lengths = np.diff(self.arrays["offsets"])
        order = np.argsort(lengths, kind="stable")  # length-sorted batches pad less
        vectors: dict[int, np.ndarray] = {}
        for start in tqdm(
            range(0, len(self), batch_size),
            desc="Encoding references at every layer",
            disable=not show_progress,
            unit="batch",
        ):
            refs = order[start : start + batch_size].tolist()
            sequences = [self.sequence(r) for r in refs]
            ids, mask = pad_right([token_ids for token_ids, _ in sequences], adapter.pad_id)
            types = pad_right([types for _, types in sequences], 0)[0] if adapter.uses_token_types else None
            out, real = adapter.run(
                adapter.embed(ids),
                mask.to(adapter.device),
                None if types is None else types.to(adapter.device),
                output_hidden_states=True,
            )
            for layer in layers:
                pooled = layer_states(out.hidden_states, layer, real, self.config.pooling).float().cpu().numpy()
                vectors.setdefault(layer, np.zeros((len(self), pooled.shape[1]), dtype=np.float32))[refs] = pooled
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
            cache = {
                "cache_scores": np.zeros_like(self.arrays["cache_scores"]),
                "cache_ready": np.zeros_like(self.arrays["cache_ready"]),
            }
        return LafaIndex(
            self.config.replace(base_method=config.base_method, output=config.output, **changes),
            self.faiss_index,
            self.texts,
            {**self.arrays, **cache},
            dict(self.meta),
        )

    # ----- save / load -------------------------------------------------------------------------
    def score_missing(self, model: PreTrainedModel, batch_size: int = 32, show_progress: bool = True) -> int:
        """Compute the base-method scores a lazy index does not hold yet (what a full build computes
        up front); returns how many cache rows were filled."""
        self.check_model(model)
        rows = np.flatnonzero(self.arrays["cache_ready"] == 0)
        refs = self.arrays["cache_ref"][rows]
        keys = sorted(
            zip(refs.tolist(), self.arrays["cache_target"][rows].tolist()), key=lambda key: len(self.token_ids(key[0]))
        )  # length-sorted batches pad less
        scored = score_rows(
            ModelAdapter(model, self.config.output), self.config, self.sequence, keys, batch_size, show_progress
        )
        return sum(self.store_scores(ref, target, scores) for (ref, target), scores in scored.items())

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
        path = os.path.join(save_directory, INDEX_META_NAME)
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        same = ("num_texts", "model_fingerprint", "dim")
        if any(saved.get(k) != self.meta.get(k) for k in same):
            raise ValueError(
                f"{save_directory} holds another index ({', '.join(f'{k} {saved.get(k)}' for k in same)});"
                " save this one with save_pretrained"
            )
        with atomic_path(os.path.join(save_directory, ARRAYS_NAME)) as tmp:
            save_file(self.arrays, tmp, metadata={"format_version": str(FORMAT_VERSION)})
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

    def write_files(self, save_directory: str | os.PathLike) -> list[str]:
        """Write the index files (each atomically) into an existing folder; returns their paths."""
        os.makedirs(save_directory, exist_ok=True)
        paths = [self.config.save(save_directory)]
        path = os.path.join(save_directory, INDEX_META_NAME)
        atomic_write_text(path, json.dumps(self.meta, indent=2, sort_keys=True) + "\n")
        paths.append(path)
        path = os.path.join(save_directory, FAISS_NAME)
        with atomic_path(path) as tmp:
            faiss.write_index(self.faiss_index, tmp)
        paths.append(path)
        path = os.path.join(save_directory, ARRAYS_NAME)
        with atomic_path(path) as tmp:
            save_file(self.arrays, tmp, metadata={"format_version": str(FORMAT_VERSION)})
        paths.append(path)
        path = os.path.join(save_directory, TEXTS_NAME)
        atomic_write_text(path, "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in self.texts))
        paths.append(path)
        return paths

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

        ``mmap=True`` maps the FAISS file instead of reading it into memory.
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
        def need(name: str) -> str:
            path = os.path.join(directory, name)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"LAFA index file is missing: {path}")
            return path

        config = LafaConfig.load(need(CONFIG_NAME))
        path = need(INDEX_META_NAME)
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
        path = need(FAISS_NAME)
        try:
            faiss_index = faiss.read_index(path, faiss.IO_FLAG_MMAP if mmap else 0)
        except RuntimeError as e:
            raise ValueError(f"LAFA index file is corrupt: {path} ({str(e).splitlines()[0]})") from None
        path = need(ARRAYS_NAME)
        try:
            arrays = load_file(path)
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"LAFA index file is corrupt: {path} ({e})") from None
        missing = set(_ARRAY_KEYS) - set(arrays)
        if missing:
            raise ValueError(f"LAFA index file is corrupt: {path} (missing arrays {sorted(missing)})")
        path = need(TEXTS_NAME)
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
        return cls(config, faiss_index, texts, arrays, meta)

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str = "Upload LAFA index",
        revision: str | None = None,
    ) -> str:
        """Upload the index files to a Hub repo (created if needed); returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            commit = api.upload_folder(
                repo_id=repo_id, folder_path=tmp, commit_message=commit_message, revision=revision
            )
        return str(commit)


_ARRAY_KEYS = (
    "token_ids",
    "special",
    "offsets",
    "label_ptr",
    "label_values",
    "cache_ptr",
    "cache_ref",
    "cache_target",
    "cache_scores",
)


def encode_references(
    model: PreTrainedModel,
    tokenizer,
    texts: Sequence[TextInput],
    labels: Sequence[Any] | None,
    config: LafaConfig,
    batch_size: int = 32,
    show_progress: bool = True,
    score: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pooled states (n, d) and the packed per-text arrays (token ids, labels, cached scores) of ``texts``.

    Every text is scored on its own terms (seeded noise, no cross-text effects), so encoding a
    dataset in shards and concatenating the results gives the same arrays as one pass.
    ``score=False`` (a lazy index): the cache rows are laid out but left unscored.
    """
    check_choice("base_method of an index", config.base_method, indexable_base_methods())
    texts = [check_text(t) for t in texts]
    if not texts:
        raise ValueError("Cannot build a LAFA index from no texts")
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"Got {len(labels)} labels for {len(texts)} texts")
    model.eval()
    adapter = ModelAdapter(model, config.output)
    max_length = max_length_of(tokenizer, model.config)
    encoded = [
        encode(tokenizer, t, max_length, warn=False) for t in tqdm(texts, desc="Tokenizing", disable=not show_progress)
    ]
    n_trunc = sum(m["truncated"] for _, m in encoded)
    if n_trunc:
        warnings.warn(f"{n_trunc} reference texts were longer than {max_length} tokens and truncated", stacklevel=2)
    token_lists = [e["input_ids"][0] for e, _ in encoded]
    type_lists = [
        e["token_type_ids"][0] if "token_type_ids" in e else torch.zeros_like(e["input_ids"][0]) for e, _ in encoded
    ]  # non-zero for text pairs on models with segment embeddings
    order = np.argsort([len(t) for t in token_lists], kind="stable")  # length-sorted batches pad less
    pad_id = tokenizer.pad_token_id or 0

    def batches(items: list[tuple[int, int]], desc: str):
        with tqdm(total=len(items), desc=desc, disable=not show_progress, unit="text") as bar:
            for start in range(0, len(items), batch_size):
                yield items[start : start + batch_size]
                bar.update(len(items[start : start + batch_size]))

    def collate(refs: list[int]):
        ids, mask = pad_right([token_lists[r] for r in refs], pad_id)
        types = pad_right([type_lists[r] for r in refs], 0)[0] if adapter.uses_token_types else None
        return ids, mask, types

    vectors: np.ndarray | None = None
    predicted: list[list[int]] = [[] for _ in texts]
    for chunk in batches([(int(r), 0) for r in order], "Encoding"):
        refs = [r for r, _ in chunk]
        ids, mask, types = collate(refs)
        probs, pooled = adapter.predict(ids, mask, types, layer=config.layer, pooling=config.pooling)
        assert pooled is not None  # a layer was asked for
        if vectors is None:
            vectors = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
        vectors[refs] = pooled.float().cpu().numpy()
        for r, p in zip(refs, probs.cpu()):
            predicted[r] = _predicted_labels(p, adapter.problem_type)

    ref_labels = predicted if labels is None else [label_ids(lab, model.config) for lab in labels]
    if adapter.problem_type == "regression":
        ref_labels = [[0] for _ in texts]
    cache_targets = (
        ref_labels
        if config.cache_targets == "label"
        else [list(range(len(model.config.id2label or {}))) for _ in texts]
    )

    rows = [(int(r), t) for r in order for t in sorted(set(cache_targets[r]))]
    row_scores = (
        score_rows(adapter, config, lambda r: (token_lists[r], type_lists[r]), rows, batch_size, show_progress)
        if score
        else {(r, t): np.zeros(len(token_lists[r]), dtype=np.float32) for r, t in rows}
    )
    arrays = _pack_arrays(token_lists, [m["special"] for _, m in encoded], ref_labels, cache_targets, row_scores)
    arrays["cache_ready"] = np.full(len(arrays["cache_target"]), int(score), dtype=np.uint8)
    if any(bool(t.any()) for t in type_lists):
        arrays["token_types"] = np.concatenate([t.numpy() for t in type_lists]).astype(np.uint8)
    assert vectors is not None  # texts is not empty
    return vectors, arrays


def score_rows(
    adapter: ModelAdapter,
    config: LafaConfig,
    sequence,
    rows: list[tuple[int, int]],
    batch_size: int,
    show_progress: bool,
) -> dict[tuple[int, int], np.ndarray]:
    """Base-method scores (float32, real tokens) of each (reference, target) in ``rows``, in batches
    of ``batch_size``; ``sequence(ref)`` gives a reference's token ids and token type ids (tensors)."""
    out: dict[tuple[int, int], np.ndarray] = {}
    params = MethodParams.from_config(config)
    with tqdm(total=len(rows), desc=f"Scoring ({config.base_method})", disable=not show_progress, unit="text") as bar:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            seqs, type_seqs = zip(*[sequence(r) for r, _ in chunk])
            ids, mask = pad_right(seqs, adapter.pad_id)
            types = pad_right(type_seqs, 0)[0] if adapter.uses_token_types else None
            targets = torch.tensor([t for _, t in chunk])
            scores = attribute(adapter, config.base_method, ids, mask, targets, types, params).cpu().numpy()
            for key, seq, s in zip(chunk, seqs, scores):
                out[key] = s[: len(seq)].astype(np.float32)
            bar.update(len(chunk))
    return out


def concat_arrays(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Packed arrays of consecutive groups of texts, joined as if packed in one go."""
    out: dict[str, list[np.ndarray]] = {key: [] for key in _ARRAY_KEYS + ("cache_ready", "token_types")}
    shift = {"offsets": 0, "label_ptr": 0, "cache_ptr": 0}
    n_refs = 0
    for arrays in parts:
        for key in ("token_ids", "special", "label_values", "cache_target", "cache_scores"):
            out[key].append(arrays[key])
        out["cache_ready"].append(arrays.get("cache_ready", np.ones(len(arrays["cache_target"]), dtype=np.uint8)))
        out["token_types"].append(arrays.get("token_types", np.zeros(len(arrays["token_ids"]), dtype=np.uint8)))
        for key in shift:
            out[key].append(arrays[key][(1 if out[key] else 0) :] + shift[key])
            shift[key] += int(arrays[key][-1])
        out["cache_ref"].append(arrays["cache_ref"] + n_refs)
        n_refs += len(arrays["offsets"]) - 1
    joined = {key: np.concatenate(values) for key, values in out.items()}
    if not joined["token_types"].any():  # as one pass stores them: only when some text is a pair
        del joined["token_types"]
    return joined


def _predicted_labels(prob: torch.Tensor, problem_type: str) -> list[int]:
    if problem_type == "regression":
        return [0]
    if problem_type == "multi_label_classification":
        above = torch.nonzero(prob > 0.5).flatten().tolist()
        return above or [int(prob.argmax())]
    return [int(prob.argmax())]


def label_ids(label: Any, model_config) -> list[int]:
    """A reference label (index, name, or list of them) as a list of class indexes."""
    from .model_adapter import resolve_target

    items = label if isinstance(label, (list, tuple, np.ndarray)) else [label]
    names = {str(v) for v in model_config.id2label.values()}

    def one(x: Any) -> int:
        if isinstance(x, (np.integer, float)):
            x = int(x)
        elif isinstance(x, str) and x.strip().lstrip("-").isdigit() and x.strip() not in names:
            x = int(x)  # "1" in a column that also holds names: a class index, as users mean it
        return resolve_target(x, model_config, 0)

    return sorted({one(x) for x in items})


def _pack_arrays(token_lists, specials, ref_labels, cache_targets, row_scores) -> dict[str, np.ndarray]:
    n = len(token_lists)
    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    cache_rows = [(r, t) for r in range(n) for t in sorted(set(cache_targets[r]))]
    return {
        "token_ids": np.concatenate([t.numpy() for t in token_lists]).astype(np.int64),
        "special": np.concatenate([np.asarray(s, dtype=np.uint8) for s in specials]),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "label_ptr": np.concatenate([[0], np.cumsum([len(x) for x in ref_labels])]).astype(np.int64),
        "label_values": np.array([x for labs in ref_labels for x in labs], dtype=np.int64),
        "cache_ptr": np.concatenate([[0], np.cumsum([len(set(c)) for c in cache_targets])]).astype(np.int64),
        "cache_ref": np.array([r for r, _ in cache_rows], dtype=np.int64),
        "cache_target": np.array([t for _, t in cache_rows], dtype=np.int64),
        "cache_scores": np.concatenate([row_scores[row] for row in cache_rows]).astype(np.float32),
    }


def estimate_eps(vectors: np.ndarray, quantile: float, pairs: int, seed: int) -> float:
    """The ``quantile`` of L2 distances over ``pairs`` random pairs of distinct vectors."""
    n = len(vectors)
    if n < 2:
        return float("inf")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=pairs)
    j = (i + rng.integers(1, n, size=pairs)) % n  # j != i
    dist = np.linalg.norm(vectors[i].astype(np.float64) - vectors[j], axis=1)
    return float(np.quantile(dist, quantile))
