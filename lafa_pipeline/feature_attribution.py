"""The ``feature-attribution`` transformers pipeline: token scores that explain a model's output.

This module and its one-dot sibling imports are saved as remote code with the model, so
``pipeline(model=repo, trust_remote_code=True)`` works without installing lafa-pipeline.

Example (with no model, the embedded default, built once on first use)::

    from transformers import pipeline
    import lafa_pipeline  # registers the task
    explainer = pipeline("feature-attribution")
    explainer("a gorgeous, witty, seductive movie.")["tokens"][0]  # {'token': 'a', 'score': ..., ...}
"""

from __future__ import annotations

import os
from typing import Any, cast

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, Pipeline, PreTrainedTokenizerBase
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import logging

from .base_methods import check_signed, has_direction
from .card import render_model_card
from .config import CONFIG_NAME, KERNELS, LAFA, LafaConfig, check_choice, check_integer, check_lam
from .files import atomic_folder, atomic_write_text
from .hub import push_saved
from .index import LafaIndex
from .index_files import INDEX_FILES, INDEX_META_NAME
from .lafa import Lafa, Method
from .model_adapter import copy_mask_token, resolve_target
from .results import Explanation, Neighbor, WordScore
from .text_inputs import check_text, encode, max_length_of, special_mask_of
from .words import AGGREGATION_STRATEGIES, group_scores

logger = logging.get_logger(__name__)
EXPLAIN_DTYPES = ("auto", "float32", "model")

TASK = "feature-attribution"
NEIGHBOR_WORDS_KEPT = 100_000  # (neighbor, class) word lists kept per explainer; then the memo starts again
CALL_PARAMETERS = (
    "method",
    "target",
    "kernel",
    "lam",
    "n_neighbors",
    "live_neighbors",
    "aggregation_strategy",
    "signed",
    "contrast",
)


class FeatureAttributionPipeline(Pipeline):
    """Explain a text classifier or regressor with LAFA or one of its base gradient methods.

    Args (beyond the usual pipeline ones):
        index: a LafaIndex, or a folder / Hub id holding one. Default: the index saved with the model.
        lafa_config: settings used when there is no index (default: the model's lafa_config.json).
        explain_dtype: the precision gradients are taken in. ``"auto"`` (default): float32 on CPU (a
            bfloat16/float16 checkpoint is converted, with a warning: CPU half-precision gradients are
            slow and lose up to ~1e-2 of each score), the model's own dtype on a GPU; or ``"float32"``,
            ``"model"`` (never convert). Scores are always returned as float32 numbers.

    Call arguments: ``method`` (``"lafa"`` or a base method), ``target`` (class index or label name;
    default the predicted class), ``kernel``, ``lam``, ``n_neighbors``, ``live_neighbors`` (recompute
    the neighbors' scores instead of reading the index's cache), ``aggregation_strategy``
    (``"word"`` or ``"none"``), ``signed`` (signed scores: positive pushes towards the explained class;
    methods with a direction only, ``lafa_pipeline.base_methods.BaseMethod.signed``; default the repo's
    ``LafaConfig.signed``, for methods with a direction), ``contrast`` (class index or label name: why the
    target rather than that class, the difference of their logits; LAFA scores the neighbors for the
    pair now, the index caching one class at a time).
    """

    _load_processor = False  # type: ignore[assignment]  # transformers types these None but reads bools
    _load_image_processor = False  # type: ignore[assignment]  # transformers types these None but reads bools
    _load_feature_extractor = False  # type: ignore[assignment]  # transformers types these None but reads bools
    _load_tokenizer = True  # type: ignore[assignment]  # transformers types these None but reads bools

    def __init__(
        self, *args, index: Any = None, lafa_config: LafaConfig | None = None, explain_dtype: str = "auto", **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.model.eval()
        self._set_precision(explain_dtype)
        if self.text_tokenizer.pad_token is None:  # GPT-2-style tokenizers: pad with the end-of-text token, as is usual
            self.text_tokenizer.pad_token = self.text_tokenizer.eos_token or self.text_tokenizer.unk_token
        if getattr(self.model.config, "pad_token_id", None) is None and self.text_tokenizer.pad_token_id is not None:
            self.model.config.pad_token_id = self.text_tokenizer.pad_token_id
        copy_mask_token(self.model, self.text_tokenizer)
        directory = self._model_directory() if index is None else None  # only read when no index is given
        self.index = self._resolve_index(index, directory)
        if self.index is not None:
            self.index.check_model(self.model)
        self.lafa_config = lafa_config or (
            self.index.config if self.index is not None else self._saved_config(directory)
        )
        self.lafa = Lafa(self.model, self.index, self.lafa_config)
        self.max_length = max_length_of(self.text_tokenizer, self.model.config)
        self._reference_cache: dict[tuple[int, int], tuple[dict, list[str]]] = {}
        # A neighbor's word scores for a class, as reported: the same neighbors come back for similar texts,
        # and grouping them into words again on every call is a measurable share of LAFA's cost on the fast
        # base methods (docs/results.md).
        self._neighbor_words: dict[tuple[int, int, int | None, str, bool], list[WordScore]] = {}

    @property
    def text_tokenizer(self) -> PreTrainedTokenizerBase:
        """The pipeline's tokenizer, which this task always loads (``_load_tokenizer``)."""
        assert self.tokenizer is not None
        return self.tokenizer

    # ----- loading ----------------------------------------------------------------------------
    def _set_precision(self, explain_dtype: str) -> None:
        check_choice("explain_dtype", explain_dtype, EXPLAIN_DTYPES)
        dtype = next(self.model.parameters()).dtype
        if dtype not in (torch.float16, torch.bfloat16) or explain_dtype == "model":
            return
        if explain_dtype == "float32" or self.device.type == "cpu":
            logger.warning(
                f"Explaining in float32: the model was loaded in {dtype} (its checkpoint's dtype); "
                "pass explain_dtype='model' to keep it"
            )
            self.model = self.model.float()

    def _model_directory(self) -> str | None:
        """The local folder (or Hub snapshot) the model was loaded from, if any."""
        name = getattr(self.model, "name_or_path", "") or ""
        if not name:
            return None
        if os.path.isdir(name):
            return name
        try:
            from huggingface_hub import snapshot_download

            return snapshot_download(name, allow_patterns=[CONFIG_NAME, INDEX_META_NAME])
        except Exception:  # not a Hub repo, or not reachable / cached: the model has no index
            return None

    def _resolve_index(self, index: Any, directory: str | None):
        if index is None:
            if directory is None:
                return None
            present = [name for name in INDEX_FILES[1:] if os.path.exists(os.path.join(directory, name))]
            if not present:
                return None
            name = self.model.name_or_path or ""
            if INDEX_META_NAME not in present and os.path.isdir(name):
                missing = [name for name in INDEX_FILES[1:] if name not in present]
                raise ValueError(
                    f"{directory} holds only part of a LAFA index ({', '.join(present)}); missing: "
                    f"{', '.join(missing)}. Save the repo again, or remove the index files to use "
                    "the model without LAFA"
                )
            # a local folder holds all files; for a Hub repo only the small ones were fetched so far
            index = directory if os.path.isdir(name) else name
        if isinstance(index, (str, os.PathLike)):
            return LafaIndex.from_pretrained(index)
        return index

    @staticmethod
    def _saved_config(directory: str | None) -> LafaConfig:
        if directory and os.path.isfile(os.path.join(directory, CONFIG_NAME)):
            return LafaConfig.load(directory)
        return LafaConfig()

    # ----- pipeline steps --------------------------------------------------------------------
    def _sanitize_parameters(self, **kwargs):
        unknown = set(kwargs) - set(CALL_PARAMETERS)
        if unknown:
            raise ValueError(f"Unknown argument(s) {sorted(unknown)}; valid: {', '.join(CALL_PARAMETERS)}")
        forward: dict[str, Any] = {}
        postprocess: dict[str, Any] = {}
        if kwargs.get("method") is not None:
            forward["method"] = self.lafa.method(kwargs["method"])
        if kwargs.get("kernel") is not None:
            check_choice("kernel", kwargs["kernel"], KERNELS)
            forward["kernel"] = kwargs["kernel"]
        if kwargs.get("target") is not None:
            target = kwargs["target"]
            target = int(target) if isinstance(target, np.integer) else target
            forward["target"] = resolve_target(target, self.model.config, 0)
        if kwargs.get("contrast") is not None:
            contrast = kwargs["contrast"]
            contrast = int(contrast) if isinstance(contrast, np.integer) else contrast
            forward["contrast"] = resolve_target(contrast, self.model.config, 0, "contrast")
            self.lafa.check_contrast(forward["contrast"], [forward.get("target")])
        if kwargs.get("lam") is not None:
            forward["lam"] = check_lam(kwargs["lam"], self.lafa_config.aggregation)
        if kwargs.get("n_neighbors") is not None:
            forward["n_neighbors"] = check_integer("n_neighbors", kwargs["n_neighbors"], minimum=1)
        if kwargs.get("live_neighbors") is not None:
            if not isinstance(kwargs["live_neighbors"], (bool, np.bool_)):
                raise ValueError(f"live_neighbors must be True or False, got {kwargs['live_neighbors']!r}")
            forward["live"] = bool(kwargs["live_neighbors"])
        if kwargs.get("signed") is not None:
            if not isinstance(kwargs["signed"], (bool, np.bool_)):
                raise ValueError(f"signed must be True or False, got {kwargs['signed']!r}")
            if kwargs["signed"]:
                check_signed(forward.get("method", self.default_method()).base)
                forward["signed"] = True
        elif getattr(self, "lafa_config", None) and self.lafa_config.signed:  # the repo's default (tuned signed)
            # (transformers calls this from __init__, before lafa_config is set); only methods with a direction
            if has_direction(forward.get("method", self.default_method()).base):
                forward["signed"] = True
        if kwargs.get("aggregation_strategy") is not None:
            check_choice("aggregation_strategy", kwargs["aggregation_strategy"], AGGREGATION_STRATEGIES)
            postprocess["aggregation_strategy"] = kwargs["aggregation_strategy"]
        return {}, forward, postprocess

    def preprocess(self, inputs: Any) -> dict[str, Any]:  # type: ignore[override]  # this task's own call arguments
        inputs, meta = encode(self.text_tokenizer, check_text(inputs), self.max_length)
        return {**inputs, "meta": meta}

    def _forward(  # type: ignore[override]  # this task's own call arguments
        self,
        model_inputs: dict[str, Any],
        method: Method | None = None,
        target: int | None = None,
        kernel: str | None = None,
        lam: float | None = None,
        n_neighbors: int | None = None,
        live: bool = False,
        signed: bool = False,
        contrast: int | None = None,
    ) -> dict[str, Any]:
        metas = model_inputs.pop("meta")
        metas = metas if isinstance(metas, list) else [metas]
        method = method or self.default_method()
        batch = len(metas)
        out = self.lafa.attribute(
            model_inputs["input_ids"],
            model_inputs["attention_mask"],
            model_inputs.get("token_type_ids"),
            targets=[target] * batch,
            method=method,
            kernel=kernel,
            lam=lam,
            n_neighbors=n_neighbors,
            live=live,
            special_tokens_mask=special_mask_of(metas, model_inputs["attention_mask"]),
            signed=signed,
            contrast=contrast,
        )
        items = []
        for b, meta in enumerate(metas):
            real = model_inputs["attention_mask"][b].bool().cpu()
            items.append(
                {
                    "meta": meta,
                    "input_ids": model_inputs["input_ids"][b].cpu()[real].tolist(),
                    "scores": out.scores[b][real].tolist(),
                    "prediction": out.prediction[b].tolist(),
                    "target": out.targets[b],
                    "method": method,
                    "neighbors": out.neighbors[b],
                    "live_neighbors": out.live_neighbors[b],
                    "signed": signed,
                    "contrast": contrast,
                }
            )
        return {"items": items}

    def use_settings(self, config: LafaConfig, index: LafaIndex | None = None) -> None:
        """Explain with ``config`` from now on, searching ``index`` if given (``lafa tune``'s pick: the index at
        the chosen layer, holding the chosen base method's scores), which then carries ``config``."""
        if index is not None:
            self.index = index
        if self.index is not None:
            self.index.config = config
        self.lafa_config = config
        self.lafa = Lafa(self.model, self.index, config)
        self._neighbor_words.clear()  # a neighbor's words were scored under the old settings

    def default_method(self) -> Method:
        """LAFA when there is an index to search, else the base method alone."""
        return self.lafa.method(LAFA if self.index is not None else self.lafa_config.base_method)

    def __call__(self, inputs: Any, **kwargs: Any) -> Explanation | list[Explanation]:  # type: ignore[override]  # this task's own call arguments
        """Explain one text (a dict, ``Explanation``) or a list of texts (a list of them). A text may be a
        pair, ``{"text": premise, "text_pair": hypothesis}`` (or ``text_pair=`` as a keyword); each word
        of a pair's result says its ``segment`` (0 or 1).

        Keys of each result: ``label`` and ``score`` (the prediction), ``target`` (the explained
        class), ``method``, ``base_method``, ``tokens`` (``[{"token", "score", "start", "end"}]``),
        ``neighbors`` (``[{"text", "distance", "label", "index"}]``, LAFA and SHAP with references),
        ``truncated``, and for LAFA ``live_neighbors``. See ``results.py`` for their meaning.
        """
        text_pair = kwargs.pop("text_pair", None)
        if text_pair is not None:  # explainer(premise, text_pair=hypothesis), as the text-classification pipeline
            if isinstance(inputs, str) and isinstance(text_pair, str):
                inputs = {"text": inputs, "text_pair": text_pair}
            elif (
                isinstance(inputs, (list, tuple))
                and isinstance(text_pair, (list, tuple))
                and len(inputs) == len(text_pair)
            ):
                inputs = [{"text": a, "text_pair": b} for a, b in zip(inputs, text_pair)]
            else:
                raise ValueError("text_pair must be a string for one text, or a list as long as the list of texts")
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                return []
            for i, item in enumerate(inputs):
                try:
                    check_text(item)
                except (TypeError, ValueError) as e:
                    raise type(e)(f"Input {i} of {len(inputs)}: {e}") from None
            inputs = list(inputs)
        return super().__call__(inputs, **kwargs)

    def postprocess(  # type: ignore[override]  # this task's own call arguments
        self, model_outputs: dict[str, Any], aggregation_strategy: str = "word"
    ) -> Explanation:
        item = model_outputs["items"]
        item = item[0] if isinstance(item, list) else item
        config = self.model.config
        id2label = {int(k): v for k, v in (config.id2label or {}).items()}
        regression = self.lafa.adapter.problem_type == "regression"
        prediction = item["prediction"]
        top = max(range(len(prediction)), key=prediction.__getitem__)
        tokens = self.text_tokenizer.convert_ids_to_tokens(item["input_ids"])
        method: Method = item["method"]
        if method.aggregated:
            self._tokenize_references([ref for ref, _ in item["neighbors"]])
        result: Explanation = {
            "label": None if regression else id2label[top],
            "score": float(prediction[0] if regression else prediction[top]),
            "target": None if regression else id2label[item["target"]],
            "method": method.name,
            "base_method": method.base,
            "tokens": group_scores(item["meta"], item["scores"], tokens, aggregation_strategy),
            "neighbors": [
                self._neighbor_entry(
                    ref,
                    dist,
                    # the index's word scores are one class's, not the pair's a contrast explains
                    item["target"] if method.aggregated and item["contrast"] is None else None,
                    aggregation_strategy,
                    item["signed"],
                )
                for ref, dist in item["neighbors"]
            ]
            if method.needs_index
            else [],
            "truncated": item["meta"]["truncated"],
        }
        if method.aggregated:
            result["live_neighbors"] = item["live_neighbors"]
        if item["signed"]:
            result["signed"] = True
        if item["contrast"] is not None:
            result["contrast"] = id2label[item["contrast"]]
        return result

    def _neighbor_entry(
        self, ref: int, distance: float, target: int | None, strategy: str, signed: bool = False
    ) -> Neighbor:
        """A neighbor as reported; with LAFA (``target`` given) its cached word scores for that class
        (signed ones with ``signed``, as the text's)."""
        id2label = {int(k): v for k, v in (self.model.config.id2label or {}).items()}
        labels = [id2label[i] for i in self.index.labels(ref)]
        label: str | list[str] | None
        if self.lafa.adapter.problem_type == "regression":
            label = None
        elif self.lafa.adapter.problem_type == "multi_label_classification":
            label = labels
        else:
            label = labels[0] if labels else None
        entry: Neighbor = {"text": self.index.texts[ref], "distance": distance, "label": label, "index": ref}
        key = (id(self.index), ref, target, strategy, signed)
        words = self._neighbor_words.get(key)
        scores = None if target is None or words is not None else self.index.cached_scores(ref, target, signed)
        if scores is not None:  # cached at build time, or computed for this call by a lazy index (then kept)
            meta, tokens = self._reference_tokens(ref)
            if len(meta["offsets"]) == len(scores):
                if len(self._neighbor_words) >= NEIGHBOR_WORDS_KEPT:
                    self._neighbor_words.clear()
                words = self._neighbor_words[key] = group_scores(meta, scores.tolist(), tokens, strategy)
        if words is not None:
            entry["tokens"] = [w.copy() for w in words]  # the caller may change its copy
        return entry

    def _tokenize_references(self, refs: list[int]) -> None:
        """Keep the word metadata (offsets, word ids) and tokens of the references among ``refs`` not seen yet:
        single texts in one batched tokenizer call (one call per neighbor costs as much as a fast base method
        on a short text), pairs as queries are. Kept per index: the same neighbors come back."""
        todo = [r for r in dict.fromkeys(refs) if (id(self.index), r) not in self._reference_cache]
        singles = [r for r in todo if isinstance(self.index.texts[r], str)]
        metas = {}
        if singles:
            enc = self.text_tokenizer(
                [self.index.texts[r] for r in singles],
                truncation=True,
                max_length=self.max_length,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
            )
            for row, ref in enumerate(singles):
                metas[ref] = {
                    "text": self.index.texts[ref],
                    "offsets": [tuple(o) for o in enc["offset_mapping"][row]],
                    "special": [bool(s) for s in enc["special_tokens_mask"][row]],
                    "word_ids": enc.word_ids(row),
                }
        for ref in todo:
            meta = metas.get(ref) or encode(self.text_tokenizer, self.index.texts[ref], self.max_length, warn=False)[1]
            tokens = cast(list[str], self.text_tokenizer.convert_ids_to_tokens(self.index.token_ids(ref).tolist()))
            self._reference_cache[(id(self.index), ref)] = (meta, tokens)

    def _reference_tokens(self, ref: int) -> tuple[dict, list[str]]:
        """A reference's word metadata and tokens (``_tokenize_references``)."""
        self._tokenize_references([ref])
        return self._reference_cache[(id(self.index), ref)]

    # ----- saving ------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write model, tokenizer, remote code, LAFA config, index files and a filled model card.

        The repo is written aside and moved into place whole: a crash leaves the old repo or the
        new one, and no file of an earlier repo (an old index) survives. A non-empty folder that is
        not a model or LAFA repo is refused rather than replaced.
        """
        with atomic_folder(save_directory, replaceable=("config.json", CONFIG_NAME)) as tmp:
            super().save_pretrained(tmp, **kwargs)
            if self.index is not None:
                # The settings explained with; another base method (or its parameters) gets a lazy copy of
                # the index, so that the repo's cached scores are always those its settings give.
                index = self.index
                if not index.scores_made_with(self.lafa_config):
                    index = index.for_base_method(self.lafa_config)
                index.write_files(tmp, self.lafa_config)
            else:
                self.lafa_config.save(tmp)
            card = render_model_card(self)
            if card is not None:
                atomic_write_text(os.path.join(tmp, "README.md"), card)
            atomic_write_text(os.path.join(tmp, "requirements.txt"), "\n".join(REQUIREMENTS) + "\n")

    def push_to_hub(  # type: ignore[override]  # this task's own call arguments
        self,
        repo_id: str,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str = "Upload LAFA feature-attribution pipeline",
        revision: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Save everything ``save_pretrained`` writes into a Hub repo (created if needed)."""
        return push_saved(
            lambda folder: self.save_pretrained(folder, **kwargs),
            repo_id,
            commit_message,
            token=token,
            private=private,
            revision=revision,
        )


# What the remote code imports (the core modules), for the saved repo's requirements.txt: the
# bounds of pyproject.toml, written here because a Hub copy of this module has no package metadata
# to read them from (tests/test_structure.py checks the two agree).
REQUIREMENTS = (
    "torch>=2.1",
    "transformers>=5.17",
    "huggingface_hub>=1.5",
    "faiss-cpu>=1.9",
    "captum>=0.7",
    "safetensors>=0.8",
    "numpy>=2.0",
    "tqdm>=4.66.3",
    "typing_extensions>=4.12.2",
)


# Registered once: a repo's remote-code copy of this module, imported when a LAFA repo is loaded with
# trust_remote_code, must not replace the installed package's class (or its default-model entry).
if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline(
        TASK, pipeline_class=FeatureAttributionPipeline, pt_model=AutoModelForSequenceClassification, type="text"
    )
