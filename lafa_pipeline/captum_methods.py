"""Any Captum attribution, or a plain function, as a base method (``register_attribution``), over
``EmbeddingModel``: the explained output F(H) as a module of the input embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .method_registry import BASE_METHOD_REGISTRY, BaseMethod, MethodInputs
from .model_adapter import ModelAdapter


class EmbeddingModel(torch.nn.Module):
    """The explained output F(H) as a module over input embeddings, for Captum methods that need one
    (DeepLift, GradientShap's layer variants): ``forward(embeds, attention_mask, token_type_ids)``."""

    def __init__(self, adapter: ModelAdapter) -> None:
        super().__init__()
        self.adapter = adapter
        self.model = adapter.model

    def forward(self, embeds: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        return self.adapter.forward(embeds, attention_mask, token_type_ids)


def register_attribution(
    name: str, method: Callable, display_name: str | None = None, signed: bool = False, **attribute_kwargs: Any
) -> None:
    """Make a Captum attribution (or any function) a base method called ``name``, LAFA included.

    ``method`` is either a Captum attribution class or factory, called with an ``nn.Module`` that maps
    input embeddings (and the attention mask, token types) to the explained outputs — e.g.
    ``Saliency``, ``DeepLift``, ``lambda f: NoiseTunnel(Saliency(f))`` — whose ``attribute`` gets
    the embeddings, ``target`` and ``attribute_kwargs`` (``nt_samples=10``, ``baselines=...``); or a
    plain function ``method(forward, embeds, attention_mask, token_type_ids, targets) -> S`` with S of
    shape (B, T, d) or per-token scores (B, T). Scores end as every method's: summed squares over d
    (per-token scores are squared); ``signed=True`` declares that their sum over d has a direction
    (``signed=True`` calls then sum instead). Registered in this process: an index built with it caches its
    scores, and the name can be used wherever a base method's can.

    >>> from captum.attr import NoiseTunnel, Saliency
    >>> register_attribution("noisy_saliency", lambda f: NoiseTunnel(Saliency(f)), nt_type="smoothgrad", nt_samples=4)
    >>> "noisy_saliency" in BASE_METHOD_REGISTRY
    True
    >>> _ = BASE_METHOD_REGISTRY.remove("noisy_saliency")  # registrations live in this process only
    """
    import inspect

    from captum.attr import Attribution

    is_captum = inspect.isclass(method) and issubclass(method, Attribution)

    def compute(x: MethodInputs) -> Tensor:
        module = EmbeddingModel(x.adapter)
        embeds = x.embeds.clone().requires_grad_(True)
        if is_captum or not _takes_five(method):
            attribution = method(module)
            raw = attribution.attribute(
                embeds,
                target=x.targets.tolist(),
                additional_forward_args=(x.attention_mask, x.token_type_ids),
                **attribute_kwargs,
            )
        else:
            raw = method(module, embeds, x.attention_mask, x.token_type_ids, x.targets)
        raw = raw.detach()
        return raw.unsqueeze(-1) if raw.dim() == 2 else raw  # per-token scores: squared by the reduction

    BASE_METHOD_REGISTRY.register(name, BaseMethod(compute, display_name or name, signed=signed))


def _takes_five(function: Callable) -> bool:
    """Whether ``function`` is a plain attribution function (five arguments) rather than a Captum factory."""
    import inspect

    try:
        return len(inspect.signature(function).parameters) >= 5
    except (TypeError, ValueError):
        return False
