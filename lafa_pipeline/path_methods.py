"""The path methods: gradients integrated along the straight path from a baseline to the input
(IntegratedGrad from zero, [PAD] or [MASK] embeddings, their [PAD]+[MASK] mean, SequentialIG).

Captum computes integrated_grad (IntegratedGradients, right Riemann sum, which is the paper's
formula); SequentialIG, one path per token, is written here with the same nodes.

Example:
    >>> alphas, weights = _path_nodes(4, "iid", torch.zeros(1))
    >>> alphas.tolist(), weights.tolist()
    ([0.25, 0.5, 0.75, 1.0], [0.25, 0.25, 0.25, 0.25])
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from captum.attr import IntegratedGradients
from torch import Tensor

from .forward_pass import forward_gradients
from .method_registry import MethodFamily, MethodInputs

PATH_METHODS = MethodFamily()


def _baseline(x: MethodInputs, reference: str) -> Tensor:
    """Integrated gradients' reference embeddings: all zeros, or every token the [PAD] / [MASK] token."""
    if reference == "zero":
        return torch.zeros_like(x.embeds)
    token = x.adapter.pad_id if reference == "pad" else x.adapter.mask_id
    return x.adapter.embed(torch.full_like(x.input_ids, token)).detach()


def _integrated(x: MethodInputs, reference: str) -> Tensor:
    """Captum's IntegratedGradients, a group of texts a call: Captum runs at least one step of every
    text it is given per pass, so a group holds as many texts as one pass may hold rows (by
    ``internal_batch_size`` and ``tokens_per_pass``), each group cut to its own padded width."""
    out = torch.zeros_like(x.embeds)
    real = x.attention_mask.bool()

    def width_of(rows: slice) -> int:  # up to the last column any text of ``rows`` uses
        return int(torch.nonzero(real[rows].any(0)).max()) + 1

    rows_per_pass = max(1, min(x.params.internal_batch_size, x.params.tokens_per_pass // width_of(slice(None))))
    for start in range(0, x.embeds.shape[0], rows_per_pass):
        rows = slice(start, start + rows_per_pass)
        width = width_of(rows)
        group = x.texts(rows)
        cut = replace(
            group,
            input_ids=group.input_ids[:, :width],
            attention_mask=group.attention_mask[:, :width],
            token_type_ids=None if group.token_type_ids is None else group.token_type_ids[:, :width],
            embeds=group.embeds[:, :width],
        )
        out[rows, :width] = IntegratedGradients(x.adapter.forward).attribute(
            cut.embeds.clone().requires_grad_(True),  # Captum warns on inputs without requires_grad
            baselines=_baseline(cut, reference),
            target=cut.targets.tolist(),
            additional_forward_args=(cut.attention_mask, cut.token_type_ids),
            n_steps=x.params.steps,
            method="riemann_right" if x.params.sampling == "iid" else "gausslegendre",
            internal_batch_size=max(rows_per_pass, cut.input_ids.shape[0]),
        )
    return out


@PATH_METHODS.method("integrated_grad", "IntegratedGrad", signed=True)
def _integrated_grad(x: MethodInputs) -> Tensor:
    return _integrated(x, x.params.ig_reference)


# The same path from a fixed token instead of ``ig_reference``, so that a table can hold all three.
@PATH_METHODS.method("integrated_grad_pad", "IntegratedGrad [PAD]", signed=True)
def _integrated_grad_pad(x: MethodInputs) -> Tensor:
    return _integrated(x, "pad")


@PATH_METHODS.method("integrated_grad_mask", "IntegratedGrad [MASK]", signed=True)
def _integrated_grad_mask(x: MethodInputs) -> Tensor:
    return _integrated(x, "mask")


# Averaging the paths from several baselines (Sturmfels, Lundberg and Lee 2020, "Visualizing the Impact
# of Feature Attribution Baselines", Distill; Expected Gradients draws them at random) keeps what
# either token baseline alone misses: the sum over tokens is F(x) minus the mean of F at the two
# baselines. Twice IntegratedGrad's cost.
@PATH_METHODS.method("integrated_grad_pad_mask", "IntegratedGrad [PAD]+[MASK]", signed=True)
def _integrated_grad_pad_mask(x: MethodInputs) -> Tensor:
    return 0.5 * (_integrated(x, "pad") + _integrated(x, "mask"))


@PATH_METHODS.method("sequential_integrated_grad", "SequentialIG", tuned_by_default=False, signed=True)
def _sequential_integrated_grad(x: MethodInputs) -> Tensor:
    """Sequential integrated gradients (Enguehard 2023): each token's own straight path from the [MASK]
    token's embedding (the paper's baseline; [PAD]'s where the model has no mask token) to its own,
    the other tokens kept as they are: S_t = (H_t - B_t) * mean over k of dF/dH_t at alpha_k = k / steps
    (``sampling="low_variance"``: Gauss-Legendre nodes and weights, as IntegratedGrad).

    ``steps`` gradients per real token: a text of T tokens costs T times IntegratedGrad (not tuned
    by default for that reason). Tokens are run a few at a time, ``internal_batch_size`` rows a pass.
    """
    token = x.adapter.mask_id if x.adapter.has_mask_id else x.adapter.pad_id
    base = x.token_embedding(token)
    alphas, weights = _path_nodes(x.params.steps, x.params.sampling, x.embeds)
    steps = len(alphas)
    out = torch.zeros_like(x.embeds)
    per_pass = max(1, x.params.internal_batch_size // steps)  # tokens whose paths share one pass
    for b in range(x.embeds.shape[0]):
        positions = torch.nonzero(x.attention_mask[b]).flatten()
        for start in range(0, len(positions), per_pass):
            tokens = positions[start : start + per_pass]
            rows = len(tokens) * steps
            points = x.embeds[b].unsqueeze(0).repeat(rows, 1, 1)
            row_token = tokens.repeat_interleave(steps)
            row_alpha = alphas.repeat(len(tokens)).view(-1, 1)
            points[torch.arange(rows), row_token] = base + row_alpha * (x.embeds[b, row_token] - base)
            grads = forward_gradients(
                x.adapter,
                points,
                x.attention_mask[b].unsqueeze(0).expand(rows, -1),
                None if x.token_type_ids is None else x.token_type_ids[b].unsqueeze(0).expand(rows, -1),
                x.targets[b].expand(rows),
                x.params.internal_batch_size,
                tokens=x.params.tokens_per_pass,
            ).grads[torch.arange(rows), row_token]
            mean_grad = (grads.view(len(tokens), steps, -1) * weights.view(1, -1, 1)).sum(1)
            out[b, tokens] = (x.embeds[b, tokens] - base) * mean_grad
    return out


def _path_nodes(steps: int, sampling: str, like: Tensor) -> tuple[Tensor, Tensor]:
    """Points alpha along a path and their weights (summing to one), those Captum's IntegratedGradients
    uses: the right Riemann sum k / steps (``sampling="iid"``, the paper's) or Gauss-Legendre nodes."""
    if sampling == "iid":
        alphas, weights = torch.linspace(1 / steps, 1, steps).tolist(), [1 / steps] * steps
    else:  # numpy's nodes and weights on [-1, 1], moved to [0, 1] as Captum does
        nodes, node_weights = np.polynomial.legendre.leggauss(steps)
        alphas, weights = (0.5 * (1 + nodes)).tolist(), (0.5 * node_weights).tolist()
    return torch.tensor(alphas).to(like), torch.tensor(weights).to(like)
