"""``CaseExplainer``: a case's model and tokenized queries, every method's token scores for them in
batches, LAFA with any settings over stored base scores (indexes at other layers, quantiles and base
methods on the same references), and the scores per word against the gold."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..index import LafaIndex
from ..index_encoding import pooled_states
from ..lafa import Lafa
from ..metric_registry import METRIC_REGISTRY
from ..model_adapter import ModelAdapter, copy_mask_token
from ..text_inputs import encode, max_length_of, pad_right
from ..words import span_scores
from .cases import CaseData


class CaseExplainer:
    """The case's model, tokenized queries, stored base-method scores, and LAFA with any settings."""

    def __init__(self, case: CaseData, model, tokenizer, index: LafaIndex, batch_size: int = 16):
        self.case, self.model, self.tokenizer, self.index = case, model, tokenizer, index
        copy_mask_token(model, tokenizer)
        self.adapter = ModelAdapter(model)
        self.batch_size = batch_size
        limit = max_length_of(tokenizer, model.config)
        self.encoded = [encode(tokenizer, q.text, limit, warn=False) for q in case.queries]
        self.lengths = np.array([e["input_ids"].shape[1] for e, _ in self.encoded])
        self.ref_layers: dict[int, np.ndarray] | None = None
        self._indexes: dict[tuple[int, float, str], LafaIndex] = {}
        self._by_base: dict[str, LafaIndex] = {index.config.base_method: index}

    def batches(
        self, queries: list[int]
    ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        order = sorted(queries, key=lambda q: self.lengths[q])
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            ids, mask = pad_right([self.encoded[q][0]["input_ids"][0] for q in part], self.adapter.pad_id)
            types = torch.zeros_like(ids) if self.adapter.uses_token_types else None
            yield part, ids, mask, types

    def scores(
        self,
        queries: list[int],
        method: str,
        lafa: Lafa | None = None,
        base: dict | None = None,
        desc: str | None = None,
        **kwargs,
    ) -> tuple[dict[int, np.ndarray], dict[int, int], dict[int, int]]:
        """Token scores per query (real tokens), the targets explained and the neighbors found."""
        lafa = lafa or Lafa(self.model, self.index, self.index.config)
        scores, targets, found = {}, {}, {}
        with tqdm(total=len(queries), desc=desc or method, disable=desc is None, unit="text") as bar:
            for part, ids, mask, types in self.batches(queries):
                wanted = [self.case.queries[q].target for q in part]
                base_scores = None
                if base is not None:
                    base_scores = torch.zeros(ids.shape)
                    for row, q in enumerate(part):
                        base_scores[row, : len(base[q])] = torch.from_numpy(base[q])
                out = lafa.attribute(
                    ids,
                    mask,
                    types,
                    wanted if any(t is not None for t in wanted) else None,
                    method=method,
                    base_scores=base_scores,
                    **kwargs,
                )
                for row, q in enumerate(part):
                    scores[q] = out.scores[row, : self.lengths[q]].numpy().astype(np.float64)
                    targets[q] = out.targets[row]
                    found[q] = len(out.neighbors[row]) if out.neighbors else 0
                bar.update(len(part))
        return scores, targets, found

    def word_scores(self, q: int, scores: np.ndarray, spans: list[tuple[int, int]]) -> list[float]:
        """Token scores summed per word span (special tokens left out)."""
        return span_scores(self.encoded[q][1], scores, spans)

    def item_values(self, scores: dict[int, np.ndarray], metric: str, items: list[int] | None = None) -> list[float]:
        """The gold metric ``metric`` (of the registry) per item, from the queries' token ``scores``."""
        fn = METRIC_REGISTRY.get(metric).compute
        chosen = range(len(self.case.items)) if items is None else items
        values = []
        for i in chosen:
            item = self.case.items[i]
            values.append(fn(self.word_scores(item.query, scores[item.query], item.spans), item.gold))
        return values

    # ----- indexes at other layers, quantiles and base methods (same references) ------------------
    def index_for(self, layer: int, quantile: float, base_method: str | None = None) -> LafaIndex:
        """The index searched at ``layer`` with eps at ``quantile``, holding ``base_method``'s scores
        (default: the index's own; another base's are computed as neighbors need them, once, and
        shared by every layer and quantile, as ``lafa tune`` does)."""
        base_method = base_method or self.index.config.base_method
        key = (layer, quantile, base_method)
        if key not in self._indexes:
            if self.ref_layers is None:
                self.ref_layers = self.states(self.index.sequence, len(self.index))
            if base_method not in self._by_base:
                config = self.index.config.replace(base_method=base_method)
                self._by_base[base_method] = self.index.for_base_method(config)
            scored = self._by_base[base_method]
            self._indexes[key] = LafaIndex.from_encoded(
                self.model,
                scored.texts,
                self.ref_layers[layer],
                scored.arrays,
                scored.config.replace(layer=layer, quantile=quantile, eps=None),
                self.case.ref_labels is not None,
            )
        return self._indexes[key]

    def adopt(self, index: LafaIndex) -> None:
        """Use ``index``'s reference scores for its base method (same references: ``lafa tune``'s
        index at another layer, say), unless this explainer already holds that method's."""
        self._by_base.setdefault(index.config.base_method, index)

    def states(self, sequence, count: int) -> dict[int, np.ndarray]:
        """Pooled states of ``count`` sequences at every layer (the index's pooling)."""
        layers = range(self.model.config.num_hidden_layers + 1)
        return pooled_states(self.adapter, sequence, count, layers, self.index.config.pooling)

    def query_sequence(self, q: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Query ``q`` as model inputs: token ids and token type ids (all 0: the cases hold single texts)."""
        ids = self.encoded[q][0]["input_ids"][0]
        return ids, torch.zeros_like(ids)

    def lafa_scores(self, queries: list[int], base: dict, settings: dict) -> tuple[dict, dict]:
        """LAFA with ``settings`` over the queries' ``base`` scores (those of ``settings["base_method"]``)."""
        index = self.index_for(settings["layer"], settings["quantile"], settings.get("base_method"))
        lafa = Lafa(
            self.model,
            index,
            index.config.replace(
                aggregation=settings["aggregation"], neighbor_weighting=settings.get("neighbor_weighting", "uniform")
            ),
        )
        scores, _, found = self.scores(
            queries,
            "lafa",
            lafa,
            base,
            kernel=settings["kernel"],
            lam=settings["lam"],
            n_neighbors=settings["n_neighbors"],
            neighbor_scale=settings["neighbor_scale"],
        )
        return scores, found
