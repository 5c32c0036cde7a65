"""LAFA's aggregations of neighbor token scores: the paper's eq. 6-7, and scale-free variants.

Each aggregation is one entry of ``AGGREGATION_REGISTRY`` (at the end of this file): its combine
function, the range its lambda may take and the values ``lafa tune`` tries. Validation, the CLI,
the Space and the tuner read the entries, so a new aggregation is one registered entry here.

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

Every aggregation reads signed scores as it reads magnitudes (``AggregationInputs.signed``): with
``signed=True`` the text's own signed base scores and its neighbors' signed scores towards the same
class (the index keeps both kinds) are combined by the same formula, with the mean *absolute*
score as a text's unit, so a neighbor where a like word pushed the other way pulls it that way, and
lambda = 0 is the signed base method exactly. Eq. 6's floor at zero applies to magnitudes only.

Example:
    >>> import torch
    >>> q_ids = torch.tensor([5, 6])
    >>> nb = NeighborScores(token_ids=torch.tensor([5, 7]), scores=torch.tensor([2.0, 4.0]))
    >>> expectation(q_ids, torch.eye(8)[q_ids], [nb], lambda ids: torch.eye(8)[ids], "indicator", {})
    tensor([1., 0.])
    >>> normalized_lafa(torch.tensor([1.0, 3.0]), q_ids, torch.eye(8)[q_ids], [nb], lambda ids: torch.eye(8)[ids],
    ...                 "indicator", {}, lam=0.5)
    tensor([1.1667, 3.0000])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .kernels import KERNEL_REGISTRY, kernel_matrix
from .registry import Registry, check_number

NEIGHBOR_WEIGHTINGS = ("uniform", "distance")
NEIGHBOR_SCALES = ("none", "query")


@dataclass
class NeighborScores:
    """A neighbor's real tokens and their base-method scores."""

    token_ids: Tensor
    scores: Tensor


def expectation(
    query_ids: Tensor,
    query_embeds: Tensor,
    neighbors: list[NeighborScores],
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


def _kernel_to_neighbors(
    query_ids: Tensor,
    query_embeds: Tensor,
    neighbors: Sequence[NeighborScores],
    embed: Callable[[Tensor], Tensor],
    kernel: str,
    kernel_params: dict,
) -> Tensor:
    """k(query token i, neighbor token t) for every query token and every token of ``neighbors``, in order."""
    ids = torch.cat([n.token_ids for n in neighbors]).to(query_embeds.device)
    return kernel_matrix(kernel, query_embeds, embed(ids), query_ids.to(ids.device), ids, **kernel_params)


def lafa_combine(base_scores: Tensor, expected: Tensor, lam: float, floor: bool = True) -> Tensor:
    """Eq. 6: the text's own scores plus lambda times the neighbors' expectation, floored at zero
    (``floor``, for magnitudes).

    The paper's token scores are importances (sums of squares), so they are never negative; only
    kernels that can be negative (cubic with an odd degree, cosine) could make eq. 6 negative, and
    the floor is the one place where this differs from the paper's formula. Signed scores are not floored.
    """
    out = base_scores + lam * expected
    return out.clamp(min=0) if floor else out


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
    neighbors: list[NeighborScores],
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
    return _relative_mix(
        _kernel_mean,
        query_scores,
        query_ids,
        query_embeds,
        neighbors,
        embed,
        kernel,
        kernel_params,
        lam,
        weights,
        counted,
    )


def median_lafa(
    query_scores: Tensor,
    query_ids: Tensor,
    query_embeds: Tensor,
    neighbors: list[NeighborScores],
    embed: Callable[[Tensor], Tensor],
    kernel: str,
    kernel_params: dict,
    lam: float,
    weights: Sequence[float] | None = None,
    counted: Tensor | None = None,
) -> Tensor:
    """As ``normalized_lafa``, with the kernel-weighted *median* of like tokens' relative scores: one
    neighbor that scores a word far off the others moves the result less than it moves a mean.

    >>> q = torch.tensor([5]); nbs = [NeighborScores(torch.tensor([5]), torch.tensor([s])) for s in (1.0, 1.0, 1.0)]
    >>> # word 5 scores 1.8x its text's mean here
    >>> nbs[0] = NeighborScores(torch.tensor([5, 6]), torch.tensor([9.0, 1.0]))
    >>> median_lafa(torch.tensor([2.0]), q, torch.eye(8)[q], nbs, lambda ids: torch.eye(8)[ids], "indicator", {}, 1.0)
    tensor([2.])
    """
    return _relative_mix(
        _kernel_median,
        query_scores,
        query_ids,
        query_embeds,
        neighbors,
        embed,
        kernel,
        kernel_params,
        lam,
        weights,
        counted,
    )


def _relative_mix(
    estimate: Callable[[Tensor, Tensor, Tensor], Tensor],
    query_scores: Tensor,
    query_ids: Tensor,
    query_embeds: Tensor,
    neighbors: list[NeighborScores],
    embed: Callable[[Tensor], Tensor],
    kernel: str,
    kernel_params: dict,
    lam: float,
    weights: Sequence[float] | None,
    counted: Tensor | None,
) -> Tensor:
    """(1 - lambda) * own + lambda * estimate(k, weight, relative), all in relative units (1 = the text's
    mean absolute score), mapped back to the text's units; a token with no kernel mass keeps its own
    score. Magnitudes and signed scores alike: a signed neighbor says which way a like token pushed."""
    if counted is not None and not bool(counted.all()):
        out = query_scores.clone()
        out[counted] = _relative_mix(
            estimate,
            query_scores[counted],
            query_ids[counted.to(query_ids.device)],
            query_embeds[counted.to(query_embeds.device)],
            neighbors,
            embed,
            kernel,
            kernel_params,
            lam,
            weights,
            None,
        )
        return out
    query_scores = query_scores.detach()
    scale = query_scores.abs().mean()
    kept = [
        (n, w)
        for n, w in zip(neighbors, weights or [1.0] * len(neighbors))
        if len(n.token_ids) > 0 and float(n.scores.abs().sum()) > 0 and w > 0
    ]
    if lam == 0 or not kept or float(scale) <= 0:
        return query_scores.clone()
    own = query_scores / scale
    relative = torch.cat([n.scores.to(query_embeds) / n.scores.to(query_embeds).abs().mean() for n, _ in kept])
    weight = torch.cat([torch.full((len(n.token_ids),), float(w), dtype=query_embeds.dtype) for n, w in kept])
    weight = weight.to(query_embeds.device)
    # Kernel-regression weights must not be negative: clamp kernels that can be (cubic, cosine).
    k = _kernel_to_neighbors(query_ids, query_embeds, [n for n, _ in kept], embed, kernel, kernel_params).clamp(min=0)
    mass = k @ weight
    expected = torch.where(mass > 1e-12, estimate(k, weight, relative), own)
    return scale * ((1 - lam) * own + lam * expected)


def _kernel_mean(k: Tensor, weight: Tensor, relative: Tensor) -> Tensor:
    """Nadaraya-Watson: per query token, the mean of ``relative`` weighted by kernel x neighbor weight."""
    mass = k @ weight
    return (k @ (weight * relative)) / mass.clamp(min=1e-12)


def _kernel_median(k: Tensor, weight: Tensor, relative: Tensor) -> Tensor:
    """Per query token, the weighted median of ``relative`` (weights kernel x neighbor weight): the
    smallest value whose cumulative weight reaches half the token's mass."""
    order = torch.argsort(relative)
    cumulative = torch.cumsum((k * weight)[:, order], dim=1)
    half = cumulative[:, -1:] / 2
    position = torch.searchsorted(cumulative.contiguous(), half.contiguous()).clamp(max=len(relative) - 1)
    return relative[order][position.squeeze(1)]


@dataclass
class AggregationInputs:
    """What an aggregation combines for one text: its own base scores over its real tokens (signed
    or the paper's magnitudes), its neighbors' scores of the same kind, and the settings."""

    scores: Tensor
    """The text's own base-method scores (T,): the paper's magnitudes, or signed ones (``signed``)."""
    query_ids: Tensor
    query_embeds: Tensor
    """Static word embeddings of the text's tokens (T, d): what the kernel compares."""
    neighbors: list[NeighborScores]
    """The neighbors' tokens and scores, of the same kind as ``scores`` and for the same target."""
    embed: Callable[[Tensor], Tensor]
    kernel: str
    kernel_params: dict
    lam: float
    weights: Sequence[float] | None = None
    """Per neighbor, its weight (``neighbor_weighting``); None: equal."""
    counted: Tensor | None = None
    """Bool per token: the tokens aggregated (the others, special tokens, keep their scores); None: all."""
    neighbor_scale: str = "none"
    signed: bool = False
    """Whether the scores are signed (positive pushes towards the target) rather than magnitudes."""


@dataclass(frozen=True)
class Aggregation:
    """One way of combining a text's base scores with its neighbors': what LAFA's call, validation,
    the Space and ``lafa tune`` need to know about it."""

    combine: Callable[[AggregationInputs], Tensor]
    """The text's LAFA scores from ``AggregationInputs``: signed where the inputs are (``x.signed``),
    and the base scores exactly at lambda = 0."""
    lam_range: tuple[float, float]
    """The values lambda may take (0 is always the base method alone)."""
    lam_meaning: str
    """What lambda is, for error messages and help ("" to say nothing)."""
    search_space: dict[str, tuple] = field(default_factory=dict)
    """The values ``lafa tune`` tries for each setting with this aggregation (lambda = 0 is always tried)."""
    tuning_start_lam: float | None = None
    """The lambda the tuner starts this aggregation from (None: the repo's own, if in range)."""

    def check_lam(self, name: str, value: Any) -> float:
        """lambda as a float in ``lam_range``; a ValueError naming the aggregation and its range otherwise."""
        low, high = self.lam_range
        meaning = f" ({self.lam_meaning})" if self.lam_meaning else ""
        return check_number("lam", value, low=low, high=high, note=f" with aggregation {name!r}{meaning}")


AGGREGATION_REGISTRY: Registry[Aggregation] = Registry("aggregation")

MAX_PAPER_LAM = 1e4
"""Eq. 6's lambda is bounded so that lambda * E stays finite in float32 (the paper used 0.44 and 1)."""
_NEIGHBOR_COUNTS = (5, 10, 20)
_MIX_WEIGHTS = (0.1, 0.25, 0.5, 0.75, 1.0)
"""``lafa tune``'s lambdas for the mixing aggregations. Over a strong base (occlusion on the embedded
default) LAFA's gain peaks at small mix weights, which a grid starting at 0.25 cannot reach
(``evaluation/lambda_check.md``); 0.1 is also the paper aggregation's smallest."""


def _scale_free(mix: Callable[..., Tensor]) -> Callable[[AggregationInputs], Tensor]:
    """``Aggregation.combine`` for a scale-free mix (``normalized_lafa``, ``median_lafa``): the same
    formula for magnitudes and signed scores, whose unit is the mean absolute score."""

    def combine(x: AggregationInputs) -> Tensor:
        return mix(
            x.scores,
            x.query_ids,
            x.query_embeds,
            x.neighbors,
            x.embed,
            x.kernel,
            x.kernel_params,
            x.lam,
            x.weights,
            x.counted,
        )

    return combine


def _paper(x: AggregationInputs) -> Tensor:
    neighbors = x.neighbors
    if x.neighbor_scale == "query":
        total = float(x.scores.detach().abs().sum())
        neighbors = [
            NeighborScores(n.token_ids, n.scores * (total / max(float(n.scores.abs().sum()), 1e-30))) for n in neighbors
        ]
    expected = expectation(x.query_ids, x.query_embeds, neighbors, x.embed, x.kernel, x.kernel_params)
    return lafa_combine(x.scores, expected, x.lam, floor=not x.signed)


AGGREGATION_REGISTRY.register(
    "normalized",
    Aggregation(
        _scale_free(normalized_lafa),
        (0.0, 1.0),
        "a mix weight",
        {
            "lam": _MIX_WEIGHTS,
            "kernel": KERNEL_REGISTRY.names,
            "n_neighbors": _NEIGHBOR_COUNTS,
            "neighbor_weighting": NEIGHBOR_WEIGHTINGS,
        },
        tuning_start_lam=0.5,
    ),
)
AGGREGATION_REGISTRY.register(
    "paper",
    Aggregation(
        _paper,
        (0.0, MAX_PAPER_LAM),
        "",
        {
            "lam": (0.1, 0.44, 1.0),
            "kernel": KERNEL_REGISTRY.names,
            "n_neighbors": _NEIGHBOR_COUNTS,
            "neighbor_scale": NEIGHBOR_SCALES,
        },
    ),
)
AGGREGATION_REGISTRY.register(
    "median",
    Aggregation(
        _scale_free(median_lafa),
        (0.0, 1.0),
        "a mix weight",
        {
            "lam": _MIX_WEIGHTS,
            "kernel": KERNEL_REGISTRY.names,
            "n_neighbors": _NEIGHBOR_COUNTS,
            "neighbor_weighting": NEIGHBOR_WEIGHTINGS,
        },
        tuning_start_lam=0.5,
    ),
)
