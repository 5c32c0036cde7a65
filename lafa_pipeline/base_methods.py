"""The paper's base attribution methods (eq. 1-3), batched over padded texts: their registry and the
calls that run them (``attribute``, ``attribute_raw``).

Every method computes a matrix S (T x d) per text at the input word embeddings H and ends with the
paper's reduction m_i = sum_d S_id^2, so all token scores are non-negative (``signed=True``: the
sum over d, for the methods whose sum has a direction). The methods live by family, one module
each, registered by this module in a fixed order: ``gradient_methods`` (plain and noisy gradients,
the random control), ``path_methods`` (the integrated-gradients family), ``shap_methods`` (the
paper's SHAP variants), ``perturbation_methods`` (occlusion, LIME, KernelSHAP); any Captum
attribution joins through ``captum_methods.register_attribution``. The registry and what a method
reads are in ``method_registry``, the shared forward/backward pass in ``forward_pass``; this
module registers the families and re-exports the names callers import from it.

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertForSequenceClassification
    >>> model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).eval()
    >>> ids = torch.tensor([[2, 7, 9, 3]]); mask = torch.ones_like(ids)
    >>> scores = attribute(ModelAdapter(model), "simple_grad", ids, mask, targets=torch.tensor([1]))
    >>> tuple(scores.shape), bool((scores >= 0).all())
    ((1, 4), True)
"""

from __future__ import annotations

import torch
from torch import Tensor

from .captum_methods import EmbeddingModel, register_attribution
from .forward_pass import ForwardPass, forward_gradients
from .gradient_methods import GRADIENT_METHODS
from .method_registry import (
    BASE_METHOD_REGISTRY,
    BaseMethod,
    MethodFamily,
    MethodInputs,
    MethodParams,
    base_method,
    text_generator,
    text_seed,
)
from .model_adapter import ModelAdapter
from .path_methods import PATH_METHODS
from .perturbation_methods import PERTURBATION_METHODS
from .shap_methods import SHAP_METHODS

__all__ = [
    "BASE_METHOD_REGISTRY",
    "BaseMethod",
    "EmbeddingModel",
    "ForwardPass",
    "MethodFamily",
    "MethodInputs",
    "MethodParams",
    "attribute",
    "attribute_raw",
    "base_method",
    "check_signed",
    "forward_gradients",
    "has_direction",
    "reduce_signed",
    "reduce_sum_of_squares",
    "register_attribution",
    "text_generator",
    "text_seed",
]


def _register_families(*families: MethodFamily) -> None:
    """Register the methods of ``families`` in the registry, in order."""
    for family in families:
        for name, entry in family.entries.items():
            BASE_METHOD_REGISTRY.register(name, entry)


# This order is BASE_METHOD_REGISTRY.names': the order of the choices, tables and report users see.
_register_families(GRADIENT_METHODS, PATH_METHODS, SHAP_METHODS, PERTURBATION_METHODS)


def reduce_sum_of_squares(raw: Tensor, attention_mask: Tensor) -> Tensor:
    """Paper's token score: sum over the embedding dimension of the squared attribution, in float32
    (the attribution of a half-precision model is widened first: squares of bfloat16 values overflow
    or lose what float32 keeps)."""
    raw = raw.float()
    return raw.pow(2).sum(-1) * attention_mask.to(raw.device, raw.dtype)


def reduce_signed(raw: Tensor, attention_mask: Tensor) -> Tensor:
    """Signed token score: the sum over the embedding dimension (positive pushes the explained output up)."""
    raw = raw.float()
    return raw.sum(-1) * attention_mask.to(raw.device, raw.dtype)


def has_direction(method: str) -> bool:
    """Whether ``method``'s scores (and LAFA's on it) can be signed (``BaseMethod.signed``)."""
    return BASE_METHOD_REGISTRY.get(method).signed


def check_signed(method: str) -> None:
    """Refuse ``signed=True`` for a method without a direction, naming those with one."""
    if not has_direction(method):
        raise ValueError(
            f"{method} has no direction (its scores are magnitudes); signed scores come from: "
            + ", ".join(BASE_METHOD_REGISTRY.where(lambda m: m.signed))
        )


def attribute(
    adapter: ModelAdapter,
    method: str,
    input_ids: Tensor,
    attention_mask: Tensor,
    targets: Tensor,
    token_type_ids: Tensor | None = None,
    params: MethodParams | None = None,
    references: list[Tensor] | None = None,
    signed: bool = False,
) -> Tensor:
    """Token scores (B, T) of ``method``; zero at padding. ``signed``: the sum over the embedding
    dimension instead of the paper's sum of squares (methods with a direction only, ``BaseMethod.signed``).

    ``references`` (shap_ref, shap_deep): per text, token ids (R, T) of reference texts aligned to
    the text's padded length.
    """
    if signed:
        check_signed(method)
    raw = attribute_raw(adapter, method, input_ids, attention_mask, targets, token_type_ids, params, references)
    return (reduce_signed if signed else reduce_sum_of_squares)(raw, attention_mask)


def attribute_raw(
    adapter: ModelAdapter,
    method: str,
    input_ids: Tensor,
    attention_mask: Tensor,
    targets: Tensor,
    token_type_ids: Tensor | None = None,
    params: MethodParams | None = None,
    references: list[Tensor] | None = None,
) -> Tensor:
    """The matrix S (B, T, d) of ``method`` before the sum-of-squares reduction."""
    entry = BASE_METHOD_REGISTRY.get(method)
    if entry.needs_references and (
        references is None or len(references) != input_ids.shape[0] or any(r.shape[0] == 0 for r in references)
    ):
        raise ValueError(f"{method} needs reference texts (the LAFA neighbors): explain with an index")
    device = adapter.device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    inputs = MethodInputs(
        adapter,
        input_ids,
        attention_mask,
        None if token_type_ids is None else token_type_ids.to(device),
        targets.to(device),
        adapter.embed(input_ids).detach(),
        params or MethodParams(),
        references,
    )
    with torch.enable_grad():
        return entry.compute(inputs).detach()
