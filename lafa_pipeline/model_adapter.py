"""The fine-tuned model seen as a function of its input word embeddings.

Gradient methods differentiate F(H), where H are the word embeddings (the rows of the model's
input-embedding table, before position embeddings and layer norm) and F is the output being
explained: a class probability (softmax), a label probability (sigmoid, multi-label) or the
predicted value (regression).

Example:
    >>> from transformers import BertConfig, BertForSequenceClassification
    >>> model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=16))
    >>> ModelAdapter(model).problem_type
    'single_label_classification'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor
from transformers import PreTrainedModel

PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


def problem_type_of(config) -> str:
    """The model's problem type: from ``config.problem_type``, else regression when it has one output."""
    problem = getattr(config, "problem_type", None)
    if problem is None:
        problem = "regression" if config.num_labels == 1 else "single_label_classification"
    if problem not in PROBLEM_TYPES:
        raise ValueError(f"Unsupported problem_type {problem!r}; valid: {', '.join(PROBLEM_TYPES)}")
    return problem


def copy_mask_token(model: PreTrainedModel, tokenizer) -> None:
    """Record the tokenizer's mask token id in the model's config (``mask_token_id``) where it has none:
    the [MASK] baselines (``integrated_grad_mask``, ``sequential_integrated_grad``) read it from
    there, since the methods see the model and not its tokenizer."""
    if getattr(model.config, "mask_token_id", None) is None and getattr(tokenizer, "mask_token_id", None) is not None:
        model.config.mask_token_id = tokenizer.mask_token_id


@dataclass
class ModelWork:
    """What the model computed inside ``counting_work``: token positions run forward, a pass that
    is differentiated counting three times (the backward pass costs about two forward ones). A
    count, not a time: the same texts and settings give the same figure on any machine, so choices
    made from it (``lafa tune``'s reference budget) are reproducible."""

    tokens: float = 0.0


_ACTIVE_COUNTS: list[ModelWork] = []


@contextmanager
def counting_work() -> Iterator[ModelWork]:
    """Count the model's work (``ModelWork``) of every ``ModelAdapter`` call inside the block.

    >>> with counting_work() as work:
    ...     pass
    >>> work.tokens
    0.0
    """
    work = ModelWork()
    _ACTIVE_COUNTS.append(work)
    try:
        yield work
    finally:
        _ACTIVE_COUNTS.remove(work)


def _count(embeds: Tensor, attention_mask: Tensor) -> None:
    if _ACTIVE_COUNTS:
        tokens = float(attention_mask.numel()) * (3.0 if torch.is_grad_enabled() and embeds.requires_grad else 1.0)
        for work in _ACTIVE_COUNTS:
            work.tokens += tokens


_ACTIVE_MEMOS: list[dict] = []


@contextmanager
def remembering_predictions() -> Iterator[dict]:
    """Inside the block, ``ModelAdapter.predict`` answers a call for pooled states it has answered
    before (same model, inputs, layer and pooling) from memory instead of running the model again;
    yields the memory. Calls without a layer (the masked texts of the faithfulness metrics, each
    seen once) are not kept.

    ``lafa tune`` scores many settings on the same texts: each LAFA candidate needs the text's
    prediction and pooled states for its neighbor search, which depend only on the text and the
    layer, not on the aggregation, lambda or kernel being tried.

    >>> with remembering_predictions() as memory:
    ...     pass
    >>> memory
    {}
    """
    memory: dict = {}
    _ACTIVE_MEMOS.append(memory)
    try:
        yield memory
    finally:
        _ACTIVE_MEMOS.remove(memory)


def _prediction_key(model, tensors: tuple[Tensor | None, ...], layer: int | None, pooling: str) -> tuple:
    """What a prediction depends on: the model, the inputs' values and shapes, layer and pooling."""
    parts = [(tuple(t.shape), t.cpu().numpy().tobytes()) if t is not None else None for t in tensors]
    return id(model), tuple(parts), layer, pooling


class ModelAdapter:
    """Wraps a ``*ForSequenceClassification`` model: embeddings in, explained outputs out."""

    def __init__(self, model: PreTrainedModel, output: str = "probability") -> None:
        self.model = model
        self.output = output
        self.problem_type = problem_type_of(model.config)
        # every supported architecture looks its input embeddings up in an nn.Embedding table
        self.embedding = cast(torch.nn.Embedding, model.get_input_embeddings())
        self._embedding_std: tuple[tuple, float] | None = None
        self.contrast: int | None = None
        """Inside ``contrasting``: the class whose logit the explained output subtracts."""

    def embedding_std(self) -> float:
        """The std of the input-embedding table (SmoothGrad's noise unit), kept until the weights change:
        over a whole vocabulary it is a noticeable share of a short text's SmoothGrad if taken on every call."""
        weight = self.embedding.weight
        # torch has no public getter for a tensor's in-place version counter; data_ptr alone misses in-place updates
        key = (weight.data_ptr(), weight._version, tuple(weight.shape))
        if self._embedding_std is None or self._embedding_std[0] != key:
            self._embedding_std = (key, weight.detach().float().std().item())
        return self._embedding_std[1]

    @property
    def pad_id(self) -> int:
        """The model's padding token id (0 when its config names none)."""
        return getattr(self.model.config, "pad_token_id", None) or 0

    @property
    def has_mask_id(self) -> bool:
        return getattr(self.model.config, "mask_token_id", None) is not None

    @property
    def mask_id(self) -> int:
        """The tokenizer's mask token id, which the pipeline and ``LafaIndex.build`` copy into the model's
        config (``mask_token_id``) from its tokenizer; an error naming the fix when it is missing."""
        if not self.has_mask_id:
            raise ValueError(
                "A [MASK] baseline needs the tokenizer's mask token, and this model's config has no "
                "mask_token_id (set model.config.mask_token_id, or use a tokenizer with a mask token)"
            )
        return int(self.model.config.mask_token_id)

    @property
    def uses_token_types(self) -> bool:
        """Whether the model takes token_type_ids (BERT does, DistilBERT does not)."""
        return getattr(self.model.config, "type_vocab_size", 0) > 0

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def embed(self, input_ids: Tensor) -> Tensor:
        """Static word embeddings of token ids, shape (..., d)."""
        return self.embedding(input_ids.to(self.device))

    @property
    def reads_last_token(self) -> bool:
        """Whether the classifier reads the last real token (decoder-only ``*ForSequenceClassification``:
        GPT-2, Llama, Qwen, Mistral, Gemma..., whose head is called ``score``; encoders call it
        ``classifier``). Given embeddings instead of ids, such a model cannot see where padding is and
        reads the last position, so ``run`` moves every row's real tokens to the end first."""
        return hasattr(self.model, "score") and not hasattr(self.model, "classifier")

    def run(
        self,
        embeds: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> tuple[Any, Tensor]:
        """The model on embeddings, right for any padding side; returns its output and the attention
        mask aligned with its hidden states. Decoder-only models get their rows left-aligned (real
        tokens last, so the last position is the last real token) and position ids counted from each
        text's first real token, so a text's result does not depend on its batch or padding."""
        _count(embeds, attention_mask)
        if not self.reads_last_token:
            out = self.model(
                inputs_embeds=embeds,
                output_hidden_states=output_hidden_states,
                **self.model_kwargs(attention_mask, token_type_ids),
            )
            return out, attention_mask
        order = torch.argsort(attention_mask.to(torch.int8), dim=1, stable=True)  # padding first, then the text
        aligned = embeds.gather(1, order.unsqueeze(-1).expand_as(embeds))
        mask = attention_mask.gather(1, order)
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        types = None if token_type_ids is None else token_type_ids.gather(1, order)
        out = self.model(
            inputs_embeds=aligned,
            position_ids=positions,
            output_hidden_states=output_hidden_states,
            **self.model_kwargs(mask, types),
        )
        return out, mask

    def model_kwargs(self, attention_mask: Tensor, token_type_ids: Tensor | None) -> dict:
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return kwargs

    @contextmanager
    def contrasting(self, contrast: int | None) -> Iterator[None]:
        """Inside, the explained output of class t is logit t minus logit ``contrast`` ("why t rather than
        ``contrast``"; for a sigmoid model the difference of the two labels' log-odds); None: as configured.

        >>> from transformers import BertConfig, BertForSequenceClassification
        >>> adapter = ModelAdapter(BertForSequenceClassification(BertConfig(num_labels=3)))
        >>> with adapter.contrasting(2):
        ...     adapter.transform(torch.tensor([[1.0, 4.0, 3.0]]))
        tensor([[-2.,  1.,  0.]])
        """
        before, self.contrast = self.contrast, contrast
        try:
            yield
        finally:
            self.contrast = before

    def transform(self, logits: Tensor, output: str | None = None) -> Tensor:
        """Logits to the explained outputs: probabilities (or logits if asked), raw values for regression;
        inside ``contrasting``, the logits minus the contrast class's (``output`` given: as asked)."""
        if output is None and self.contrast is not None:
            return logits - logits[:, self.contrast : self.contrast + 1]
        output = output or self.output
        if self.problem_type == "regression" or output == "logit":
            return logits
        if self.problem_type == "multi_label_classification":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)

    def forward(self, embeds: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """F(H): explained outputs of shape (B, num_labels). Signature fits Captum's forward_func."""
        return self.transform(self.run(embeds, attention_mask, token_type_ids)[0].logits)

    @torch.no_grad()
    def predict(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
        layer: int | None = None,
        pooling: str = "mean",
    ) -> tuple[Tensor, Tensor | None]:
        """Prediction (probabilities, or values for regression) and, if ``layer`` is given, pooled states
        (from memory inside ``remembering_predictions``)."""
        key = None
        if _ACTIVE_MEMOS and layer is not None:
            key = _prediction_key(self.model, (input_ids, attention_mask, token_type_ids), layer, pooling)
        if key is not None and key in _ACTIVE_MEMOS[-1]:
            return _ACTIVE_MEMOS[-1][key]
        out, mask = self.run(
            self.embed(input_ids),
            attention_mask.to(self.device),
            None if token_type_ids is None else token_type_ids.to(self.device),
            output_hidden_states=layer is not None,
        )
        pooled = None if layer is None else layer_states(out.hidden_states, layer, mask, pooling)
        result = self.transform(out.logits, "probability"), pooled
        if key is not None:
            _ACTIVE_MEMOS[-1][key] = result
        return result

    def predicted_targets(self, prediction: Tensor) -> Tensor:
        """Index of the predicted class (top label for multi-label, 0 for regression)."""
        if self.problem_type == "regression":
            return torch.zeros(prediction.shape[0], dtype=torch.long, device=prediction.device)
        return prediction.argmax(dim=-1)


def layer_states(hidden_states: tuple[Tensor, ...], layer: int, attention_mask: Tensor, pooling: str) -> Tensor:
    """Pooled states of hidden layer ``layer`` (0 = embedding output), with a clear error if it does not exist."""
    if layer >= len(hidden_states):
        raise ValueError(f"layer {layer} does not exist; the model has layers 0..{len(hidden_states) - 1}")
    return pool(hidden_states[layer].detach(), attention_mask, pooling)


def pool(hidden: Tensor, attention_mask: Tensor, pooling: str) -> Tensor:
    """One vector per text: mean over real (unpadded) tokens, or the state of the first ("cls") or
    last ("last": what a decoder-only classifier reads) real token, whatever the padding side.

    >>> h = torch.arange(6.0).view(1, 3, 2)
    >>> pool(h, torch.tensor([[0, 1, 1]]), "cls").tolist(), pool(h, torch.tensor([[1, 1, 0]]), "last").tolist()
    ([[2.0, 3.0]], [[2.0, 3.0]])
    """
    if pooling in ("cls", "last"):
        real = attention_mask.bool().to(hidden.device)
        positions = torch.arange(real.shape[1], device=hidden.device).expand_as(real)
        if pooling == "cls":
            chosen = torch.where(real, positions, real.shape[1]).min(1).values
        else:
            chosen = torch.where(real, positions, -1).max(1).values
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), chosen.clamp(0, real.shape[1] - 1)]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def resolve_target(target: int | str | None, config, predicted: int, name: str = "target") -> int:
    """A target given by index or label name (or None for the prediction) as a class index (``name``:
    what the argument is called in errors).

    >>> from transformers import PretrainedConfig
    >>> resolve_target("pos", PretrainedConfig(id2label={0: "neg", 1: "pos"}), 0)
    1
    """
    if target is None:
        return int(predicted)
    id2label = {int(k): v for k, v in config.id2label.items()}
    n = config.num_labels
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise TypeError(f"{name} must be a class index or a label name, got {type(target).__name__}")
    if isinstance(target, int):
        if not 0 <= target < n:
            raise ValueError(f"Unknown {name} {target}; valid class indexes: 0..{n - 1} ({_labels(id2label)})")
        return target
    for i, label in id2label.items():
        if label == target:
            return i
    for i, label in id2label.items():
        if label.lower() == target.lower():
            return i
    raise ValueError(f"Unknown {name} {target!r}; valid labels: {_labels(id2label)}")


def _labels(id2label: dict[int, str]) -> str:
    return ", ".join(repr(id2label[i]) for i in sorted(id2label))
