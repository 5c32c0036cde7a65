"""The token kernels k(a, b) of the paper (appendix E) between word embeddings, as a registry.

The formulas follow scikit-learn's pairwise kernels, which the paper's parameter names match:
rbf uses the squared L2 distance, laplacian the L1 distance, cubic is the polynomial kernel
(gamma a.b + coef0)^degree, l2 is 1 / clip(||a - b||_2, clip_min, clip_max), indicator compares
token ids. Each kernel is one ``Kernel`` entry with the paper's parameters as its defaults.

Example:
    >>> import torch
    >>> a = torch.tensor([[0.0, 0.0]]); b = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    >>> kernel_matrix("rbf", a, b, torch.tensor([1]), torch.tensor([2, 1]), length_scale=2.0)
    tensor([[0.6065, 1.0000]])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .registry import Registry


@dataclass(frozen=True)
class Kernel:
    """k(a (n, d), b (m, d), a_ids (n,), b_ids (m,), **params) -> (n, m), with its default parameters."""

    function: Callable[..., Tensor]
    defaults: dict[str, Any] = field(default_factory=dict)


KERNEL_REGISTRY: Registry[Kernel] = Registry("kernel")


def kernel(name: str, **defaults: Any) -> Callable:
    """Register the decorated function as kernel ``name`` with the given default parameters."""

    def add(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
        KERNEL_REGISTRY.register(name, Kernel(function, defaults))
        return function

    return add


@kernel("rbf", length_scale=2.0)
def _rbf(a, b, a_ids, b_ids, length_scale):
    return torch.exp(-torch.cdist(a, b).pow(2) / length_scale**2)


@kernel("laplacian", length_scale=2.0)
def _laplacian(a, b, a_ids, b_ids, length_scale):
    return torch.exp(-torch.cdist(a, b, p=1) / length_scale**2)


@kernel("cubic", gamma=7.0, coef0=0.0, degree=3)
def _cubic(a, b, a_ids, b_ids, gamma, coef0, degree):
    return (gamma * a @ b.T + coef0) ** degree


@kernel("cosine")  # cubic (odd degree) and cosine can be negative: the aggregations clamp them
def _cosine(a, b, a_ids, b_ids):
    return torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T


@kernel("l2", clip_min=0.3, clip_max=3.0)
def _l2(a, b, a_ids, b_ids, clip_min, clip_max):
    return 1.0 / torch.cdist(a, b).clamp(clip_min, clip_max)


@kernel("indicator")
def _indicator(a, b, a_ids, b_ids):
    return (a_ids.view(-1, 1) == b_ids.view(1, -1)).to(a.dtype)


def kernel_matrix(name: str, a: Tensor, b: Tensor, a_ids: Tensor, b_ids: Tensor, **params) -> Tensor:
    """k(a_i, b_j) for every pair: a (n, d), b (m, d) -> (n, m); missing parameters take the defaults."""
    entry = KERNEL_REGISTRY.get(name)
    return entry.function(a, b, a_ids, b_ids, **{**entry.defaults, **params})
