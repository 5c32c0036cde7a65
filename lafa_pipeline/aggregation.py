"""LAFA's aggregation of neighbour token scores (paper eq. 6-7).

    M_LAFA(X0)_i = m_i + lambda * E(w_i)
    E(w_i) = 1/|N| * sum_{X_j in N} sum_{t=1..T_j} m^(j)_t * k(h_i, h^(j)_t) / T_j

h are static word embeddings; T_j counts the neighbour's real (non-special) tokens.

Example:
    >>> import torch
    >>> q_ids = torch.tensor([5, 6]); nb = Neighbour(token_ids=torch.tensor([5, 7]), scores=torch.tensor([2.0, 4.0]))
    >>> expectation(q_ids, torch.eye(8)[q_ids], [nb], lambda ids: torch.eye(8)[ids], "indicator", {})
    tensor([1., 0.])
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .kernels import kernel_matrix


@dataclass
class Neighbour:
    """A neighbour's real tokens and their base-method scores."""

    token_ids: Tensor
    scores: Tensor


def expectation(
    query_ids: Tensor,
    query_embeds: Tensor,
    neighbours: list[Neighbour],
    embed: Callable[[Tensor], Tensor],
    kernel: str,
    kernel_params: dict,
) -> Tensor:
    """E(w_i) for every query token (eq. 7); zeros when there are no neighbours."""
    kept = [n for n in neighbours if len(n.token_ids) > 0]
    if not kept:
        return torch.zeros(len(query_ids), dtype=query_embeds.dtype, device=query_embeds.device)
    ids = torch.cat([n.token_ids for n in kept]).to(query_embeds.device)
    weights = torch.cat([n.scores.to(query_embeds) / len(n.token_ids) for n in kept]) / len(kept)
    k = kernel_matrix(kernel, query_embeds, embed(ids), query_ids.to(ids.device), ids, **kernel_params)
    return k @ weights


def lafa_combine(base_scores: Tensor, expected: Tensor, lam: float) -> Tensor:
    """Eq. 6: the text's own scores plus lambda times the neighbours' expectation."""
    return base_scores + lam * expected
