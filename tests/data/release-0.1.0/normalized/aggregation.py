"""LAFA's aggregation of neighbor token scores: the paper's eq. 6-7, and a scale-free variant.

``paper`` (eq. 6-7, for exact reproduction)::

    M_LAFA(X0)_i = m_i + lambda * E(w_i)
    E(w_i) = 1/|N| * sum_{X_j in N} sum_{t=1..T_j} m^(j)_t * k(h_i, h^(j)_t) / T_j

``normalized`` (the default): every text's scores are first divided by their mean over the
text's tokens (1 = an average token), so a confident text (tiny, saturated gradients) and an unsure
neighbor (large gradients) are on one scale; E(w_i) is the kernel-weighted *average* relative
score that tokens like w_i get in the neighbors (Nadaraya-Watson kernel regression), not a sum,
so a token is not rewarded for merely occurring in every neighbor ("a", ",", "."); the result is
the convex mix (1 - lambda) * own + lambda * E, mapped back to the text's own units. A token
with no kernel mass in any neighbor keeps its own score; lambda = 0 is the base method exactly.

h are static word embeddings; T_j counts the neighbor's real (non-special) tokens.

Example:
    >>> import torch
    >>> q_ids = torch.tensor([5, 6]); nb = Neighbor(token_ids=torch.tensor([5, 7]), scores=torch.tensor([2.0, 4.0]))
    >>> expectation(q_ids, torch.eye(8)[q_ids], [nb], lambda ids: torch.eye(8)[ids], "indicator", {})
    tensor([1., 0.])
    >>> normalized_lafa(torch.tensor([1.0, 3.0]), q_ids, torch.eye(8)[q_ids], [nb], lambda ids: torch.eye(8)[ids],
    ...                 "indicator", {}, lam=0.5)
    tensor([1.1667, 3.0000])
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .kernels import kernel_matrix

AGGREGATIONS = ("normalized", "paper")
NEIGHBOR_WEIGHTINGS = ("uniform", "distance")


@dataclass
class Neighbor:
    """A neighbor's real tokens and their base-method scores."""

    token_ids: Tensor
    scores: Tensor


def expectation(
    query_ids: Tensor,
    query_embeds: Tensor,
    neighbors: list[Neighbor],
    embed: Callable[[Tensor], Tensor],
    kernel: str,
    kernel_params: dict,
) -> Tensor:
    """E(w_i) for every query token (eq. 7); zeros when there are no neighbors."""
    kept = [n for n in neighbors if len(n.token_ids) > 0]
    if not kept:
        return torch.zeros(len(query_ids), dtype=query_embeds.dtype, device=query_embeds.device)
    weights = torch.cat([n.scores.to(query_embeds) / len(n.token_ids) for n in kept]) / len(kept)
    return _kernel_to_neighbors(query_ids, query_embeds, kept, embed, kernel, kernel_params) @ weights


def _kernel_to_neighbors(query_ids: Tensor, query_embeds: Tensor, neighbors: Sequence[Neighbor],
                         embed: Callable[[Tensor], Tensor], kernel: str, kernel_params: dict) -> Tensor:
    """k(query token i, neighbor token t) for every query token and every token of ``neighbors``, in order."""
    ids = torch.cat([n.token_ids for n in neighbors]).to(query_embeds.device)
    return kernel_matrix(kernel, query_embeds, embed(ids), query_ids.to(ids.device), ids, **kernel_params)


def lafa_combine(base_scores: Tensor, expected: Tensor, lam: float) -> Tensor:
    """Eq. 6: the text's own scores plus lambda times the neighbors' expectation, floored at zero.

    Token scores are importances (sums of squares), so they are never negative; only kernels that
    can be negative (cubic with an odd degree, cosine) could make eq. 6 negative, and the floor is
    the one place where this differs from the paper's formula.
    """
    return (base_scores + lam * expected).clamp(min=0)


def neighbor_weights(distances: Sequence[float], weighting: str) -> list[float]:
    """Weights of the neighbors in the normalized aggregation: equal, or exp(-d / mean d) (closer counts more).

    >>> [round(w, 3) for w in neighbor_weights([1.0, 3.0], "distance")]
    [0.607, 0.223]
    """
    if weighting == "uniform" or not distances:
        return [1.0] * len(distances)
    scale = max(sum(distances) / len(distances), 1e-12)
    return [math.exp(-d / scale) for d in distances]


def normalized_lafa(
    query_scores: Tensor,
    query_ids: Tensor,
    query_embeds: Tensor,
    neighbors: list[Neighbor],
    embed: Callable[[Tensor], Tensor],
    kernel: str,
    kernel_params: dict,
    lam: float,
    weights: Sequence[float] | None = None,
    counted: Tensor | None = None,
) -> Tensor:
    """The text's scores mixed with the kernel-weighted mean relative score of like tokens in its neighbors.

    ``counted`` (bool per query token): the tokens whose mean is the text's unit and which are
    aggregated; the others (special tokens) keep their scores. Default: all.
    """
    if counted is not None and not bool(counted.all()):
        out = query_scores.clone()
        out[counted] = normalized_lafa(query_scores[counted], query_ids[counted.to(query_ids.device)],
                                       query_embeds[counted.to(query_embeds.device)], neighbors, embed, kernel,
                                       kernel_params, lam, weights)
        return out
    query_scores = query_scores.detach()
    scale = query_scores.mean()
    kept = [(n, w) for n, w in zip(neighbors, weights or [1.0] * len(neighbors))
            if len(n.token_ids) > 0 and float(n.scores.sum()) > 0 and w > 0]
    if lam == 0 or not kept or float(scale) <= 0:
        return query_scores.clone()
    own = query_scores / scale
    relative = torch.cat([n.scores.to(query_embeds) / n.scores.to(query_embeds).mean() for n, _ in kept])
    weight = torch.cat([torch.full((len(n.token_ids),), float(w), dtype=query_embeds.dtype) for n, w in kept])
    weight = weight.to(query_embeds.device)
    # Kernel-regression weights must not be negative: clamp kernels that can be (cubic, cosine).
    k = _kernel_to_neighbors(query_ids, query_embeds, [n for n, _ in kept], embed, kernel, kernel_params).clamp(min=0)
    mass = k @ weight
    expected = torch.where(mass > 1e-12, (k @ (weight * relative)) / mass.clamp(min=1e-12), own)
    return scale * ((1 - lam) * own + lam * expected)
