"""The base-method registry and its entry types: what a method reads (``MethodInputs``, its
``MethodParams``), what it declares (``BaseMethod``), and the per-text seeds the sampled methods draw from.

A method is added with ``@FAMILY.method(name, display_name, **capabilities)`` to the
``MethodFamily`` of its module (``gradient_methods``, ``path_methods``, ``shap_methods``,
``perturbation_methods``), which ``base_methods`` registers, or registered at once with
``base_method`` or ``captum_methods.register_attribution``: read the registry from ``base_methods``
to find every method in it.

Example:
    >>> import torch
    >>> ids, mask = torch.tensor([2, 7, 9, 0]), torch.tensor([1, 1, 1, 0])
    >>> text_seed(ids, mask, 0) == text_seed(ids[:3], mask[:3], 0)  # the padding does not count
    True
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from .forward_pass import forward_gradients
from .model_adapter import ModelAdapter
from .registry import Registry


@dataclass
class MethodParams:
    """Parameters of the base methods (see LafaConfig for their meaning), with the defaults LafaConfig takes."""

    samples: int = 25
    sigma: float = 0.5
    steps: int = 25
    ig_reference: str = "zero"
    sampling: str = "iid"
    internal_batch_size: int = 64
    tokens_per_pass: int = 4096
    seed: int = 0

    @classmethod
    def from_config(cls, config) -> MethodParams:
        return cls(**{k: getattr(config, k) for k in cls.__dataclass_fields__})


@dataclass
class MethodInputs:
    """What a base method reads: the texts, their input embeddings H, targets and parameters."""

    adapter: ModelAdapter
    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor | None
    targets: Tensor
    embeds: Tensor
    params: MethodParams
    references: list[Tensor] | None = None
    """shap_ref, shap_deep: per text, token ids (R, T) of reference texts aligned to its padded length."""

    def token_embedding(self, token: int) -> Tensor:
        """The static input embedding (d,) of one token id, e.g. [PAD]'s or [MASK]'s as a baseline."""
        return self.adapter.embed(torch.tensor([token], device=self.embeds.device))[0].detach()

    def texts(self, rows: slice) -> MethodInputs:
        """The same inputs for the texts ``rows`` only (the sampled methods expand a few at a time)."""
        return replace(
            self,
            input_ids=self.input_ids[rows],
            attention_mask=self.attention_mask[rows],
            token_type_ids=None if self.token_type_ids is None else self.token_type_ids[rows],
            targets=self.targets[rows],
            embeds=self.embeds[rows],
            references=None if self.references is None else self.references[rows],
        )

    def text_groups(self, rows_per_text: int) -> list[slice]:
        """Consecutive groups of texts whose ``rows_per_text`` expanded rows each fill about one pass
        (at least one text a group): what a sampled method holds in memory at once, whatever the batch."""
        per_group = max(1, self.params.internal_batch_size // rows_per_text)
        return [slice(s, s + per_group) for s in range(0, self.input_ids.shape[0], per_group)]

    def gradients(self, points: Tensor | None = None, repeats: int = 1) -> Tensor:
        """dF_target/dH at ``points`` (default: H), ``repeats`` consecutive rows per text."""

        def expand(t: Tensor) -> Tensor:
            return t.repeat_interleave(repeats, dim=0)

        return forward_gradients(
            self.adapter,
            self.embeds if points is None else points,
            expand(self.attention_mask),
            None if self.token_type_ids is None else expand(self.token_type_ids),
            expand(self.targets),
            self.params.internal_batch_size,
            tokens=self.params.tokens_per_pass,
        ).grads


@dataclass(frozen=True)
class BaseMethod:
    """One base method: S (B, T, d) from ``MethodInputs``, with what it needs and can do."""

    compute: Callable[[MethodInputs], Tensor]
    display_name: str
    needs_references: bool = False
    """Takes the LAFA neighbors as references, so its scores cannot be cached in an index."""
    from_gradient: Callable[[Tensor, Tensor], Tensor] | None = None
    """S from (H, dF/dH at H): the method then shares LAFA's forward pass (one forward, one backward)."""
    signed: bool = False
    """Its S summed over the embedding dimension has a direction (``signed=True`` calls): attributions
    whose sum estimates the output's change (input x gradient, the integrated-gradients family,
    occlusion, LIME, KernelSHAP, SHAP+Deep), not plain or noisy gradients, whose sign over d means nothing."""
    tuned_by_default: bool = True
    """Whether ``lafa tune`` compares it as LAFA's base unless told which: the gradient methods and
    occlusion; not the control (random), nor LIME and KernelSHAP (noisy at affordable sample counts,
    and many model calls a text), nor Sequential IG (a path integral per word)."""
    tuned_signed: bool = False
    """Whether a signed ``lafa tune`` (the default) compares it too, though not ``tuned_by_default``: LIME
    and KernelSHAP, which read signed are among the most faithful methods alone (their ``samples``
    model calls a text are affordable on the tuning's bounded sample; the race drops them early when
    clearly behind). A signed tuning compares only methods with a direction."""


Compute = Callable[[MethodInputs], Tensor]
BASE_METHOD_REGISTRY: Registry[BaseMethod] = Registry("method")


class MethodFamily:
    """The base methods one module defines, in the order it defines them; ``base_methods`` registers
    the families in a fixed order, so the registry's order does not hang on which module is imported first.

    >>> family = MethodFamily()
    >>> @family.method("zeros", "Zeros")
    ... def _zeros(x): return torch.zeros_like(x.embeds)
    >>> list(family.entries), family.entries["zeros"].display_name
    (['zeros'], 'Zeros')
    """

    def __init__(self) -> None:
        self.entries: dict[str, BaseMethod] = {}

    def method(self, name: str, display_name: str, **capabilities: Any) -> Callable[[Compute], Compute]:
        """Add the decorated ``compute(inputs) -> S`` to the family as base method ``name``."""

        def add(compute: Compute) -> Compute:
            self.entries[name] = BaseMethod(compute, display_name, **capabilities)
            return compute

        return add


def base_method(name: str, display_name: str, **capabilities: Any) -> Callable[[Compute], Compute]:
    """Register the decorated ``compute(inputs) -> S`` as base method ``name`` at once (a method of
    your own; the package's are registered by family, in ``base_methods``)."""

    def add(compute: Compute) -> Compute:
        BASE_METHOD_REGISTRY.register(name, BaseMethod(compute, display_name, **capabilities))
        return compute

    return add


def text_seed(input_ids: Tensor, attention_mask: Tensor, seed: int) -> int:
    """A random seed from the text's real token ids: same text, same random draws."""
    ids = input_ids[attention_mask.bool()].to("cpu", torch.int64).numpy().tobytes()
    return (zlib.crc32(ids) + 1_000_003 * seed) % (2**63)


def text_generator(input_ids: Tensor, attention_mask: Tensor, seed: int) -> torch.Generator:
    """A CPU generator seeded by the text's real token ids (``text_seed``)."""
    return torch.Generator().manual_seed(text_seed(input_ids, attention_mask, seed))
