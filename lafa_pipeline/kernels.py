"""The six token kernels k(a, b) of the paper (appendix E) between static word embeddings.

The formulas follow scikit-learn's pairwise kernels, which the paper's parameter names match:
rbf uses the squared L2 distance, laplacian the L1 distance, cubic is the polynomial kernel
(gamma a.b + coef0)^degree, l2 is 1 / clip(||a - b||_2, clip_min, clip_max), indicator compares
token ids.

Example:
    >>> import torch
    >>> a = torch.tensor([[0.0, 0.0]]); b = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    >>> kernel_matrix("rbf", a, b, torch.tensor([1]), torch.tensor([2, 1]), length_scale=2.0)
    tensor([[0.6065, 1.0000]])
"""
from __future__ import annotations

import torch
from torch import Tensor

from .config import KERNELS, check_choice


def kernel_matrix(name: str, a: Tensor, b: Tensor, a_ids: Tensor, b_ids: Tensor, **params) -> Tensor:
    """k(a_i, b_j) for every pair: a (n, d), b (m, d) -> (n, m)."""
    check_choice("kernel", name, KERNELS)
    if name == "indicator":
        return (a_ids.view(-1, 1) == b_ids.view(1, -1)).to(a.dtype)
    if name == "rbf":
        return torch.exp(-torch.cdist(a, b).pow(2) / params["length_scale"] ** 2)
    if name == "laplacian":
        return torch.exp(-torch.cdist(a, b, p=1) / params["length_scale"] ** 2)
    if name == "cubic":
        return (params["gamma"] * a @ b.T + params["coef0"]) ** params["degree"]
    if name == "cosine":
        return torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T
    return 1.0 / torch.cdist(a, b).clamp(params["clip_min"], params["clip_max"])  # l2
