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
    """Leave one token out: F(H) - F(H with token t's embedding replaced by [PAD]'s), for each real t.

    Every text's variants (the text as it is, then one per real token) are packed across the batch
    into passes of texts of similar length, each pass cut to its longest text and holding at most
    ``internal_batch_size`` rows and ``tokens_per_pass`` tokens (rows x width): a short text's few
    variants no longer make a pass of their own, and no variant runs at the padded width of the
    batch's longest text. (Larger passes are no faster a row on CPU: past some 64 rows of a
    sentence, the cost a row grows.) Captum's FeatureAblation and Interpreto's Occlusion
    batch the perturbations of one input at a time, so this packing across texts is written here.
    """
    pad = x.token_embedding(x.adapter.pad_id)
    out = torch.zeros(x.embeds.shape[:2] + (1,), dtype=torch.float32, device=x.embeds.device)
    real = [torch.nonzero(x.attention_mask[b]).flatten() for b in range(x.embeds.shape[0])]
    # One row per variant: (text, position occluded; -1 = none), the shortest texts first.
    rows = [(b, p) for b in sorted(range(len(real)), key=lambda b: len(real[b])) for p in [-1, *real[b].tolist()]]
    full: dict[int, Tensor] = {}
    with torch.no_grad():
        for chunk in _passes(rows, [len(r) for r in real], x.params.tokens_per_pass, x.params.internal_batch_size):
            values = _run_variants(x, chunk, real, pad)
            for (b, p), value in zip(chunk, values):
                if p < 0:
                    full[b] = value
                else:  # the text as it is comes before its variants, in the same pass or an earlier one
                    out[b, p, 0] = (full[b] - value).float()
    return out


def _passes(rows: list[tuple[int, int]], lengths: list[int], tokens: int, most: int) -> list[list[tuple[int, int]]]:
    """``rows`` (in order of their text's length) cut into passes of at most ``most`` rows and
    ``tokens`` tokens (rows x the pass's longest text), one row at least.

    >>> _passes([(0, -1), (0, 0), (1, -1), (1, 0), (1, 1)], [1, 2], tokens=4, most=64)
    [[(0, -1), (0, 0)], [(1, -1), (1, 0)], [(1, 1)]]
    >>> _passes([(0, -1), (0, 0), (1, -1), (1, 0), (1, 1)], [1, 2], tokens=64, most=3)
    [[(0, -1), (0, 0), (1, -1)], [(1, 0), (1, 1)]]
    """
    out: list[list[tuple[int, int]]] = []
    for row in rows:
        width = lengths[row[0]]  # rows come shortest text first: the new row's text is the pass's longest
        if out and (len(out[-1]) + 1) * width <= tokens and len(out[-1]) < most:
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _run_variants(x: MethodInputs, chunk: list[tuple[int, int]], real: list[Tensor], pad: Tensor) -> Tensor:
    """The target's output for each (text, occluded position) of ``chunk``: each text's real tokens
    left-aligned and padded to the pass's longest (``ModelAdapter.run`` re-aligns them for models
    that read the last token)."""
    width = max(len(real[b]) for b, _ in chunk)
    embeds = pad.expand(len(chunk), width, -1).clone()
    mask = torch.zeros(len(chunk), width, dtype=x.attention_mask.dtype, device=x.attention_mask.device)
    types = None if x.token_type_ids is None else torch.zeros_like(mask, dtype=x.token_type_ids.dtype)
    for i, (b, p) in enumerate(chunk):
        n = len(real[b])
        embeds[i, :n] = x.embeds[b, real[b]]
        mask[i, :n] = 1
        if types is not None and x.token_type_ids is not None:
            types[i, :n] = x.token_type_ids[b, real[b]]
        if p >= 0:
            embeds[i, int(torch.searchsorted(real[b], p))] = pad
    targets = torch.tensor([int(x.targets[b]) for b, _ in chunk], device=embeds.device)
    return x.adapter.forward(embeds, mask, types).gather(1, targets.view(-1, 1)).squeeze(1)


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
