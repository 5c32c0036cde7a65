"""The plain and noisy gradient methods (paper eq. 1-3: SimpleGrad, InputGrad, SmoothGrad, VarGrad)
and the random control they are compared with.

They are written here rather than taken from Captum: the plain gradient comes from
``forward_gradients``' one pass, which also gives the prediction and the hidden states LAFA
searches with (Captum's Saliency would need a second forward pass), and the noisy ones draw their
noise from a generator seeded by each text's token ids, so that a text gets the same scores
whatever batch it is in and the scores cached in an index equal the ones recomputed live.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .method_registry import MethodFamily, MethodInputs, text_generator

GRADIENT_METHODS = MethodFamily()


@GRADIENT_METHODS.method("random", "Rand", tuned_by_default=False)
def _random(x: MethodInputs) -> Tensor:
    raw = torch.zeros_like(x.embeds)
    for b in range(x.embeds.shape[0]):
        real = x.attention_mask[b].bool()
        gen = text_generator(x.input_ids[b], x.attention_mask[b], x.params.seed)
        raw[b, real] = torch.randn((int(real.sum()), x.embeds.shape[-1]), generator=gen).to(x.embeds)
    return raw


@GRADIENT_METHODS.method("simple_grad", "SimpleGrad", from_gradient=lambda embeds, grads: grads)
def _simple_grad(x: MethodInputs) -> Tensor:
    return x.gradients()


@GRADIENT_METHODS.method("input_grad", "InputGrad", from_gradient=lambda embeds, grads: embeds * grads, signed=True)
def _input_grad(x: MethodInputs) -> Tensor:
    return x.embeds * x.gradients()


@GRADIENT_METHODS.method("smooth_grad", "SmoothGrad")
def _smooth_grad(x: MethodInputs) -> Tensor:
    return _noisy_gradients(x, lambda grads: grads.mean(1))


@GRADIENT_METHODS.method("var_grad", "VarGrad")
def _var_grad(x: MethodInputs) -> Tensor:
    """VarGrad (Adebayo et al. 2018): the variance of the noisy gradients; S = their std, so m_i = sum_d Var."""
    return _noisy_gradients(x, lambda grads: grads.std(1, unbiased=False))


# ----- shared by the noisy methods ---------------------------------------------------------------
def _noisy_gradients(x: MethodInputs, reduce: Callable[[Tensor], Tensor]) -> Tensor:
    """``reduce`` over the samples (dim 1 of (B, n, T, d)) of dF/dH at H + eps for ``samples`` seeded
    draws eps ~ N(0, (sigma * std of the embedding table)^2): (B, T, d). A few texts are expanded at a
    time (``MethodInputs.text_groups``), so memory does not grow with the batch or the samples.

    ``sampling="low_variance"``: antithetic pairs (eps, -eps), so the gradient's first-order change
    with the noise cancels in the mean; an odd sample count adds one independent draw."""
    out = torch.zeros_like(x.embeds)
    for rows in x.text_groups(x.params.samples):
        out[rows] = reduce(_noisy_group(x.texts(rows)))
    return out


def _noisy_group(x: MethodInputs) -> Tensor:
    """The noisy gradients (B, n, T, d) of a group of texts (see ``_noisy_gradients``)."""
    batch, _, dim = x.embeds.shape
    n = x.params.samples
    points = x.embeds.repeat_interleave(n, dim=0).clone()
    noise_std = x.params.sigma * x.adapter.embedding_std()
    for b in range(batch):
        real = x.attention_mask[b].bool()
        gen = text_generator(x.input_ids[b], x.attention_mask[b], x.params.seed)
        if x.params.sampling == "low_variance":
            half = torch.randn((n - n // 2, int(real.sum()), dim), generator=gen)
            noise = torch.cat([half, -half[: n // 2]]).to(x.embeds) * noise_std
        else:
            noise = torch.randn((n, int(real.sum()), dim), generator=gen).to(x.embeds) * noise_std
        points[b * n : (b + 1) * n][:, real] += noise
    return x.gradients(points, n).view(batch, n, *x.embeds.shape[1:])
