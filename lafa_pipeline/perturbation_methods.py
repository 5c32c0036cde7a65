"""The perturbation methods: the model's output with tokens replaced, no gradient (Occlusion, LIME,
KernelSHAP).

Users compare gradient methods with these; each replaces a token's input embedding by the [PAD]
token's (the models' own "nothing here"), scores one number per token (B, T, 1) and, like every
method, ends as its square. They work on tokens, not words: the pipeline sums a word's tokens.
LIME and KernelSHAP are Captum's, with the torch RNG seeded by each text's token ids.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .method_registry import MethodFamily, MethodInputs, text_seed

PERTURBATION_METHODS = MethodFamily()


@PERTURBATION_METHODS.method("occlusion", "Occlusion", signed=True)
def _occlusion(x: MethodInputs) -> Tensor:
    """Leave one token out: F(H) - F(H with token t's embedding replaced by [PAD]'s), for each real t."""
    pad = x.token_embedding(x.adapter.pad_id)
    out = torch.zeros(x.embeds.shape[:2] + (1,), dtype=torch.float32, device=x.embeds.device)
    chunk = x.params.internal_batch_size
    with torch.no_grad():
        full = x.adapter.forward(x.embeds, x.attention_mask, x.token_type_ids)
        for b in range(x.embeds.shape[0]):
            positions = torch.nonzero(x.attention_mask[b]).flatten()
            target = int(x.targets[b])
            for start in range(0, len(positions), chunk):
                rows = positions[start : start + chunk]
                variants = x.embeds[b].unsqueeze(0).repeat(len(rows), 1, 1)
                variants[torch.arange(len(rows)), rows] = pad
                mask = x.attention_mask[b].unsqueeze(0).expand(len(rows), -1)
                types = None if x.token_type_ids is None else x.token_type_ids[b].unsqueeze(0).expand(len(rows), -1)
                occluded = x.adapter.forward(variants, mask, types)
                out[b, rows, 0] = (full[b, target] - occluded[:, target]).float()
    return out


def _captum_sampled(x: MethodInputs, method_class: type, **kwargs: Any) -> Tensor:
    """Captum's LIME or KernelSHAP over tokens (each token's embedding one feature, [PAD]'s its
    baseline), ``samples`` perturbations a text, one text at a time with the torch RNG seeded by the
    text (Captum draws from the global RNG; forked so the caller's stream is left as it was)."""
    pad = x.token_embedding(x.adapter.pad_id)
    out = torch.zeros(x.embeds.shape[:2] + (1,), dtype=torch.float32, device=x.embeds.device)
    devices = [x.embeds.device] if x.embeds.device.type == "cuda" else []
    explainer = method_class(x.adapter.forward)
    for b in range(x.embeds.shape[0]):
        real = x.attention_mask[b].bool()  # real tokens wherever the padding is (left-padded batches too)
        embeds = x.embeds[b, real].unsqueeze(0)
        n = embeds.shape[1]
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(text_seed(x.input_ids[b], x.attention_mask[b], x.params.seed))
            values = explainer.attribute(
                embeds,
                baselines=pad.expand_as(embeds),
                target=int(x.targets[b]),
                additional_forward_args=(
                    x.attention_mask[b, real].unsqueeze(0),
                    None if x.token_type_ids is None else x.token_type_ids[b, real].unsqueeze(0),
                ),
                feature_mask=torch.arange(n, device=embeds.device).view(1, -1, 1).expand_as(embeds),
                n_samples=x.params.samples,
                **kwargs,
            )
        out[b, real, 0] = values[0, :, 0].float()
    return out


@PERTURBATION_METHODS.method("lime", "LIME", tuned_by_default=False, tuned_signed=True, signed=True)
def _lime(x: MethodInputs) -> Tensor:
    from captum.attr import Lime

    _need_sklearn("lime")
    return _captum_sampled(x, Lime)


@PERTURBATION_METHODS.method("kernel_shap", "KernelSHAP", tuned_by_default=False, tuned_signed=True, signed=True)
def _kernel_shap(x: MethodInputs) -> Tensor:
    from captum.attr import KernelShap

    _need_sklearn("kernel_shap")
    return _captum_sampled(x, KernelShap)


def _need_sklearn(method: str) -> None:
    """Captum fits LIME's and KernelSHAP's surrogate models with scikit-learn: the package depends on it,
    but a saved repo's remote code (its requirements.txt) does not."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        raise ImportError(f"{method} fits its surrogate model with scikit-learn: pip install scikit-learn")
