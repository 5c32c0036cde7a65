"""The SHAP variants as the paper writes them: SHAP+Zero and SHAP+Ref, the expected gradient at random
points between a baseline (zeros, or reference texts) and the input, and SHAP+Deep, the gradient
times the input's distance to the mean reference.

They differ from Captum's GradientShap: no (H - H') factor in shap_zero / shap_ref. The references
of shap_ref and shap_deep are the LAFA neighbors, so their scores cannot be cached in an index.
Every draw comes from a generator seeded by the text's token ids (``text_generator``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .method_registry import MethodFamily, MethodInputs, text_generator

SHAP_METHODS = MethodFamily()


@SHAP_METHODS.method("shap_zero", "SHAP+Zero")
def _shap_zero(x: MethodInputs) -> Tensor:
    return _interpolated_gradients(x, lambda b, n, gen: torch.zeros_like(x.embeds[b]).expand(n, -1, -1))


@SHAP_METHODS.method("shap_ref", "SHAP+Ref", needs_references=True)
def _shap_ref(x: MethodInputs) -> Tensor:
    references = x.references
    assert references is not None  # attribute_raw refuses a call without them

    def reference(b: int, n: int, gen: torch.Generator) -> Tensor:
        pick = torch.randint(references[b].shape[0], (n,), generator=gen)
        return x.adapter.embed(references[b][pick].to(x.adapter.device)).detach()

    return _interpolated_gradients(x, reference)


@SHAP_METHODS.method("shap_deep", "SHAP+Deep", needs_references=True, signed=True)
def _shap_deep(x: MethodInputs) -> Tensor:
    # mean over references of dF/dH at H times (H - H'_r) = dF/dH at H times (H - mean_r H'_r)
    assert x.references is not None  # attribute_raw refuses a call without them
    ref_mean = torch.stack([x.adapter.embed(r.to(x.adapter.device)).mean(0) for r in x.references]).detach()
    return x.gradients() * (x.embeds - ref_mean)


def _interpolated_gradients(x: MethodInputs, reference: Callable[[int, int, torch.Generator], Tensor]) -> Tensor:
    """Mean over ``samples`` draws of dF/dH at a*H + (1-a)*H', a ~ U(0, 1), H' from ``reference(b, n, gen)``
    for text b of the batch (``sampling="low_variance"``: one a in each of n equal strata of [0, 1], in
    random order). A few texts are expanded at a time (``MethodInputs.text_groups``)."""
    n = x.params.samples
    out = torch.zeros_like(x.embeds)
    for group in x.text_groups(n):
        g = x.texts(group)
        points = g.embeds.repeat_interleave(n, dim=0).clone()
        for i, b in enumerate(range(group.start, min(group.stop, x.embeds.shape[0]))):
            gen = text_generator(x.input_ids[b], x.attention_mask[b], x.params.seed)
            rows = slice(i * n, (i + 1) * n)
            alpha = torch.rand((n, 1, 1), generator=gen)
            if x.params.sampling == "low_variance":
                alpha = (torch.randperm(n, generator=gen).view(n, 1, 1) + alpha) / n
            alpha = alpha.to(x.embeds)
            points[rows] = alpha * points[rows] + (1 - alpha) * reference(b, n, gen)
        out[group] = g.gradients(points, n).view(len(points) // n, n, *x.embeds.shape[1:]).mean(1)
    return out
