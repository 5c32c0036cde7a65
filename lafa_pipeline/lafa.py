"""LAFA (paper algorithm 1) on a batch of tokenized texts, Captum-style: one ``attribute`` call.

Neighbors come from a LafaIndex; their base-method scores are read from the index's cache, or
recomputed live (the paper's way, 1 + M base attributions per text) with ``live=True`` or when the
cache holds no scores for the explained class.

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertForSequenceClassification
    >>> model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).eval()
    >>> ids = torch.tensor([[2, 7, 9, 3]])
    >>> out = Lafa(model).attribute(ids, torch.ones_like(ids), method="simple_grad")
    >>> tuple(out.scores.shape)
    (1, 4)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from transformers import PreTrainedModel

from .aggregation import AGGREGATION_REGISTRY, NEIGHBOR_SCALES, AggregationInputs, NeighborScores, neighbor_weights
from .base_methods import (
    BASE_METHOD_REGISTRY,
    MethodParams,
    attribute_raw,
    check_signed,
    reduce_signed,
    reduce_sum_of_squares,
)
from .config import LAFA, LafaConfig, check_choice, check_lam, method_names
from .forward_pass import forward_gradients
from .index_arrays import RowScores
from .index_encoding import score_rows
from .model_adapter import ModelAdapter

REFERENCE_METHODS = BASE_METHOD_REGISTRY.where(lambda m: m.needs_references)
FUSED_METHODS = BASE_METHOD_REGISTRY.where(lambda m: m.from_gradient is not None)  # share LAFA's forward pass


@dataclass(frozen=True)
class Method:
    """What an explanation computes: a base method alone, or LAFA around it (``aggregated``), as
    Captum's NoiseTunnel wraps any attribution. Callers hold one of these instead of comparing names.

    >>> Method.named("lafa", "smooth_grad"), Method.named("integrated_grad", "smooth_grad").name
    (Method(base='smooth_grad', aggregated=True), 'integrated_grad')
    """

    base: str
    aggregated: bool = False

    @classmethod
    def named(cls, name: str, base_method: str) -> Method:
        """``"lafa"``: LAFA around ``base_method``; a base method's name: that method alone (checked)."""
        check_choice("method", name, method_names())
        return cls(base_method, True) if name == LAFA else cls(name)

    @property
    def name(self) -> str:
        return LAFA if self.aggregated else self.base

    @property
    def needs_index(self) -> bool:
        """LAFA searches neighbors; the SHAP variants with references take them as references."""
        return self.aggregated or self.base in REFERENCE_METHODS


@dataclass
class LafaOutput:
    """Scores (B, T) over all positions (zero at padding), predictions and the neighbors used."""

    scores: Tensor
    prediction: Tensor
    targets: list[int]
    neighbors: list[list[tuple[int, float]]] = field(default_factory=list)
    live_neighbors: list[int] = field(default_factory=list)
    """Per text: how many of its neighbors' scores were computed now rather than read from the cache."""


class Lafa:
    """Explain a sequence-classification (or regression) model with LAFA or one of its base methods."""

    def __init__(self, model: PreTrainedModel, index=None, config: LafaConfig | None = None) -> None:
        self.model = model
        self.index = index
        self.config = config or (index.config if index is not None else LafaConfig())
        self.adapter = ModelAdapter(model, self.config.output)

    def method(self, name: str | Method = LAFA) -> Method:
        """``name`` resolved against this explainer's base method (a ``Method`` is returned as it is)."""
        return name if isinstance(name, Method) else Method.named(name, self.config.base_method)

    def attribute(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
        targets: list[int | None] | None = None,
        method: str | Method = LAFA,
        kernel: str | None = None,
        lam: float | None = None,
        n_neighbors: int | None = None,
        live: bool = False,
        base_scores: Tensor | None = None,
        neighbor_scale: str | None = None,
        special_tokens_mask: Tensor | None = None,
        signed: bool = False,
        contrast: int | None = None,
    ) -> LafaOutput:
        """Token scores of ``method`` for each text; ``targets`` are class indexes (None: predicted).

        ``base_scores`` (B, T): the texts' own base-method scores, computed before (LAFA only); then
        only the neighbors are searched and aggregated, e.g. to try many LAFA settings on the same
        texts without recomputing the base method (signed ones with ``signed``). ``special_tokens_mask``
        (B, T): the aggregations leave these positions out (they are never reported); default: none.
        ``signed``: signed scores (positive pushes the explained output up) of a base method with a
        direction; LAFA then aggregates the text's signed scores with its neighbors' signed scores
        towards the same class (the index keeps both kinds), so a neighbor says which way a like word
        pushed there too. lambda = 0 is the signed base method exactly.
        ``contrast`` (a class index): explain why each target rather than that class, i.e. the target's
        logit minus the contrast's (``ModelAdapter.contrasting``). The index caches each reference's
        scores per class, not per pair of classes, so LAFA scores the neighbors for the pair now (as
        ``live`` does) and keeps none of them.
        """
        chosen = self.method(method)
        self._check_call(chosen, lam, base_scores, input_ids, neighbor_scale)
        if signed:
            check_signed(chosen.base)
        if contrast is not None:
            self.check_contrast(contrast, targets)
            with self.adapter.contrasting(contrast):
                out = self.attribute(
                    input_ids,
                    attention_mask,
                    token_type_ids,
                    targets,
                    method=chosen,
                    kernel=kernel,
                    lam=lam,
                    n_neighbors=n_neighbors,
                    live=True,  # the neighbors' cached scores are per class, not per pair
                    base_scores=base_scores,
                    neighbor_scale=neighbor_scale,
                    special_tokens_mask=special_tokens_mask,
                    signed=signed,
                )
            same = [b for b, t in enumerate(out.targets) if t == contrast]
            if same:
                raise ValueError(
                    f"Text {same[0]} is explained for class {contrast}, the contrast too (nothing to explain): "
                    "give another contrast, or the target to explain"
                )
            return out
        requested: list[int | None] = list(targets) if targets else [None] * input_ids.shape[0]
        inputs = (input_ids, attention_mask, token_type_ids)
        # Algorithm 1, steps 1-2: the text's prediction, neighbors and base-method scores.
        own = self._base_pass(inputs, chosen, requested, n_neighbors, base_scores, signed)
        live_count = [0] * len(own.targets)
        # lambda = 0 is the base method exactly under every aggregation (as the tuner reads it): the
        # neighbors' scores, which a lazy index or ``live`` would compute, are not needed. A tuned repo
        # may keep a base method alone that way.
        if chosen.aggregated and (self.config.lam if lam is None else lam) != 0:
            # Step 3: the neighbors' scores for the same target, aggregated with the text's.
            live_count = self._aggregate_neighbors(
                own, input_ids, attention_mask, kernel, lam, live, neighbor_scale, special_tokens_mask, signed
            )
        return LafaOutput(own.scores.detach().cpu(), own.prediction.cpu(), own.targets, own.neighbors, live_count)

    def check_contrast(self, contrast: int, targets: list[int | None] | None) -> None:
        """A contrast is a class of a classifier other than the targets given (a ValueError naming the
        problem otherwise); the pipeline checks its call arguments with it too."""
        labels = int(self.adapter.model.config.num_labels or 0)
        if self.adapter.problem_type == "regression":
            raise ValueError("contrast explains one class rather than another; a regression model has no classes")
        if isinstance(contrast, bool) or not isinstance(contrast, int) or not 0 <= contrast < labels:
            raise ValueError(f"contrast must be a class index in 0..{labels - 1}, got {contrast!r}")
        if targets and contrast in targets:
            raise ValueError(f"target and contrast are one class ({contrast}): explain one rather than another")

    def _check_call(
        self,
        method: Method,
        lam: float | None,
        base_scores: Tensor | None,
        input_ids: Tensor,
        neighbor_scale: str | None,
    ) -> None:
        """Refuse call-time settings that do not fit this explainer, naming the valid ones."""
        if neighbor_scale is not None:
            check_choice("neighbor_scale", neighbor_scale, NEIGHBOR_SCALES)
        if base_scores is not None and (not method.aggregated or tuple(base_scores.shape) != tuple(input_ids.shape)):
            raise ValueError(
                f"base_scores must have the shape of input_ids {tuple(input_ids.shape)} and only "
                f"go with method 'lafa'; got shape {tuple(base_scores.shape)} with method {method.name!r}"
            )
        if method.aggregated and lam is not None:
            check_lam(lam, self.config.aggregation)
        if method.needs_index and self.index is None:
            without = [m for m in method_names() if not self.method(m).needs_index]
            raise ValueError(
                f"method {method.name!r} needs a LAFA index of reference texts; build one with "
                "LafaIndex.build or pass index=... to the pipeline. Methods without an index: "
                f"{', '.join(without)}"
            )

    def _base_pass(
        self,
        inputs: tuple[Tensor, Tensor, Tensor | None],
        method: Method,
        requested: list[int | None],
        n_neighbors: int | None,
        base_scores: Tensor | None,
        signed: bool = False,
    ) -> _BasePass:
        """Prediction, targets, neighbors and the base method's scores of each text (signed with ``signed``)."""
        cfg = self.config
        params = MethodParams.from_config(cfg)
        uniform = all(t is None for t in requested) or all(t is not None for t in requested)
        if base_scores is None and method.base in FUSED_METHODS and uniform:
            return self._fused_pass(inputs, method, requested, n_neighbors, params, signed)
        input_ids, attention_mask, token_type_ids = inputs
        prediction, pooled = self.adapter.predict(
            *inputs, layer=cfg.layer if method.needs_index else None, pooling=cfg.pooling
        )
        predicted = self.adapter.predicted_targets(prediction).tolist()
        targets = [p if t is None else int(t) for t, p in zip(requested, predicted)]
        neighbors = self.search(pooled, targets, n_neighbors) if pooled is not None else [[] for _ in targets]
        if base_scores is not None:  # given: only the neighbors' part is computed
            scores = base_scores.detach().to(self.adapter.device, torch.float32).clone()
            scores[~attention_mask.bool().to(scores.device)] = 0.0
            return _BasePass(scores, prediction, targets, neighbors)
        references = None
        if method.base in REFERENCE_METHODS:
            assert pooled is not None  # needs_index: searched at the index's layer
            references = self._shap_references(inputs, pooled, targets, neighbors, n_neighbors)
        raw = attribute_raw(
            self.adapter,
            method.base,
            input_ids,
            attention_mask,
            torch.tensor(targets),
            token_type_ids,
            params,
            references,
        )
        reduce = reduce_signed if signed else reduce_sum_of_squares
        return _BasePass(reduce(raw, attention_mask), prediction, targets, neighbors)

    def _fused_pass(
        self,
        inputs: tuple[Tensor, Tensor, Tensor | None],
        method: Method,
        requested: list[int | None],
        n_neighbors: int | None,
        params: MethodParams,
        signed: bool = False,
    ) -> _BasePass:
        """One forward and one backward give the prediction, the states to search with and the gradient
        (base methods that are a function of H and dF/dH)."""
        cfg = self.config
        device = self.adapter.device
        ids, mask = inputs[0].to(device), inputs[1].to(device)
        types = None if inputs[2] is None else inputs[2].to(device)
        embeds = self.adapter.embed(ids).detach()
        given = None if requested[0] is None else torch.tensor(requested, device=device)
        fwd = forward_gradients(
            self.adapter,
            embeds,
            mask,
            types,
            given,
            params.internal_batch_size,
            layer=cfg.layer if method.needs_index else None,
            pooling=cfg.pooling,
            tokens=params.tokens_per_pass,
        )
        from_gradient = BASE_METHOD_REGISTRY.get(method.base).from_gradient
        assert from_gradient is not None  # FUSED_METHODS have one
        targets = fwd.targets.tolist()
        neighbors = self.search(fwd.pooled, targets, n_neighbors) if fwd.pooled is not None else [[] for _ in targets]
        raw = from_gradient(embeds, fwd.grads)
        reduce = reduce_signed if signed else reduce_sum_of_squares
        return _BasePass(reduce(raw, mask), fwd.prediction, targets, neighbors)

    def _aggregate_neighbors(
        self,
        own: _BasePass,
        input_ids: Tensor,
        attention_mask: Tensor,
        kernel: str | None,
        lam: float | None,
        live: bool,
        neighbor_scale: str | None,
        special_tokens_mask: Tensor | None,
        signed: bool,
    ) -> list[int]:
        """Replace each text's scores (in ``own``) by their aggregation with its neighbors' scores (of the
        same kind) for the same target; returns per text how many neighbor scores were computed live."""
        cfg = self.config
        neighbor_scores, live_count = self._neighbor_scores(own.neighbors, own.targets, live, signed)
        kernel = kernel or cfg.kernel
        lam = cfg.lam if lam is None else lam
        scores = own.scores
        for b in range(len(own.targets)):
            real = attention_mask[b].bool().to(scores.device)
            counted = None if special_tokens_mask is None else ~special_tokens_mask[b].bool()[real.cpu()]
            scores[b, real] = self._aggregate(
                scores[b, real],
                input_ids[b][real.cpu()],
                neighbor_scores[b],
                [d for _, d in own.neighbors[b]],
                kernel,
                lam,
                neighbor_scale or cfg.neighbor_scale,
                counted,
                signed,
            )
        return live_count

    def _shap_references(
        self, inputs, pooled: Tensor, targets: list[int], neighbors, n_neighbors: int | None
    ) -> list[Tensor]:
        """Reference token ids for shap_ref / shap_deep: the neighbors, which must exist, so a text without
        any falls back to the nearest texts beyond eps, then to texts of any label (a class may have none)."""
        input_ids, attention_mask, _ = inputs
        for b in [b for b in range(len(targets)) if not neighbors[b]]:
            neighbors[b] = (
                self.search(pooled[b : b + 1], targets[b : b + 1], n_neighbors, use_eps=False)[0]
                or self.search(pooled[b : b + 1], [None], n_neighbors, use_eps=False)[0]
            )
        return [self._aligned_references(input_ids[b], attention_mask[b], neighbors[b]) for b in range(len(targets))]

    def _aggregate(
        self,
        own: Tensor,
        token_ids: Tensor,
        items: list[NeighborScores],
        distances: list[float],
        kernel: str,
        lam: float,
        neighbor_scale: str,
        counted: Tensor | None = None,
        signed: bool = False,
    ) -> Tensor:
        """One text's LAFA scores from its own base scores and its neighbors' (``config.aggregation``)."""
        cfg = self.config
        query_ids = token_ids.to(self.adapter.device)
        inputs = AggregationInputs(
            own,
            query_ids,
            self.adapter.embed(query_ids).detach(),
            items,
            self.adapter.embed,
            kernel,
            cfg.resolved_kernel_params(kernel),
            lam,
            neighbor_weights(distances, cfg.neighbor_weighting),
            None if counted is None else counted.to(own.device),
            neighbor_scale,
            signed,
        )
        return AGGREGATION_REGISTRY.get(cfg.aggregation).combine(inputs)

    def search(
        self, pooled: Tensor, targets: list[int] | list[None], n_neighbors: int | None, use_eps: bool = True
    ) -> list[list[tuple[int, float]]]:
        """Neighbors of each pooled state (same-label ones if configured)."""
        cfg = self.config
        labels = targets if cfg.same_label and self.adapter.problem_type != "regression" else None
        return self.index.search(pooled.float().cpu().numpy(), n_neighbors or cfg.n_neighbors, labels, use_eps=use_eps)

    def _neighbor_scores(self, neighbors, targets, live: bool, signed: bool = False):
        """Per text, its neighbors' real tokens and base scores (``signed``: signed ones) for the text's
        target: a neighbor is always explained towards the class the text is, read from the index's row
        for that class or, where it has none, scored now (as the paper scores every neighbor)."""
        index = self.index
        wanted = {(ref, t) for nbs, t in zip(neighbors, targets) for ref, _ in nbs}
        found = {} if live else {key: index.cached_scores(*key, signed=signed) for key in wanted}
        missing = sorted(key for key in wanted if found.get(key) is None)
        computed = self._score_live(missing)
        found.update({key: row.signed if signed else row.magnitude for key, row in computed.items()})
        if not live and self._scores_like_index():  # a lazy index keeps what it had to compute
            for key, row in computed.items():
                index.store_scores(*key, row)
        result = []
        for nbs, t in zip(neighbors, targets):
            items = []
            for ref, _ in nbs:
                keep = ~index.special_mask(ref)
                items.append(
                    NeighborScores(
                        torch.from_numpy(index.token_ids(ref)[keep].astype(np.int64)),
                        torch.from_numpy(np.asarray(found[(ref, t)])[keep]),
                    )
                )
            result.append(items)
        missing_set = set(missing)
        return result, [sum((ref, t) in missing_set for ref, _ in nbs) for nbs, t in zip(neighbors, targets)]

    def _scores_like_index(self) -> bool:
        """Whether this explainer's base scores are those the index caches (same method, output and
        parameters), so that scores it computes may be kept in the index."""
        return self.index.scores_made_with(self.config)

    def fill_scores(self, keys: Iterable[tuple[int, int]]) -> int:
        """Score now the (reference, target) ``keys`` a lazy index of this explainer's base method holds
        no scores of yet, and keep them there; returns how many were scored. Many texts' neighbors
        scored in one call run in fuller, length-sorted batches than one text's at a time, as
        ``attribute`` would score them (``lafa tune`` fills a race step's neighbors first).

        Example: ``Lafa(model, index.for_base_method(config), config).fill_scores([(0, 1), (3, 0)])``.
        """
        if not self._scores_like_index():  # scores made otherwise are not the index's to keep
            return 0
        index = self.index
        missing = sorted({key for key in keys if index.needs_scoring(*key)})
        return sum(index.store_scores(*key, scores) for key, scores in self._score_live(missing).items())

    def _score_live(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], RowScores]:
        """Base-method scores of reference texts computed now, batched like the index build (length-sorted:
        a batch is as wide as its longest text, and the references of one search differ in length)."""
        by_length = sorted(keys, key=lambda key: len(self.index.token_ids(key[0])))
        return score_rows(self.adapter, self.config, self.index.sequence, by_length, batch_size=16, show_progress=False)

    def _aligned_references(self, input_ids: Tensor, attention_mask: Tensor, neighbors) -> Tensor:
        """Neighbor token ids laid over the text's positions: cut or padded to its real length."""
        real = attention_mask.bool()
        length = int(real.sum())
        refs = torch.full((len(neighbors), input_ids.shape[0]), self.adapter.pad_id, dtype=torch.long)
        for row, (ref, _) in enumerate(neighbors):
            ids = torch.from_numpy(self.index.token_ids(ref)[:length].astype(np.int64))
            aligned = torch.full((length,), self.adapter.pad_id, dtype=torch.long)
            aligned[: len(ids)] = ids
            refs[row, real.cpu()] = aligned
        return refs


@dataclass
class _BasePass:
    """Per text of a batch: base-method scores (B, T), prediction, target and neighbors found."""

    scores: Tensor
    prediction: Tensor
    targets: list[int]
    neighbors: list[list[tuple[int, float]]]
