"""The paper's base attribution methods (eq. 1-3), batched over padded texts.

Every method computes a matrix S (T x d) per text at the input word embeddings H and ends with the
paper's reduction m_i = sum_d S_id^2, so all token scores are non-negative. Captum computes
simple_grad (Saliency), input_grad (InputXGradient) and integrated_grad (IntegratedGradients,
right Riemann sum, which is the paper's formula) exactly, and is used for them. The sampled methods
are written here because they draw their noise from a generator seeded by each text's token ids:
a text gets the same scores whatever batch it is in, and the scores cached in an index equal the
ones recomputed live. The SHAP variants follow the paper's formulas, which differ from Captum's
GradientShap (no (H - H') factor in shap_zero / shap_ref).

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertForSequenceClassification
    >>> model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8,
    ...     num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).eval()
    >>> ids = torch.tensor([[2, 7, 9, 3]]); mask = torch.ones_like(ids)
    >>> scores = attribute(ModelAdapter(model), "simple_grad", ids, mask, targets=torch.tensor([1]))
    >>> tuple(scores.shape), bool((scores >= 0).all())
    ((1, 4), True)
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import Tensor

from .config import BASE_METHODS, check_choice
from .model_adapter import ModelAdapter


@dataclass
class MethodParams:
    """Parameters of the base methods (see LafaConfig for their meaning)."""

    samples: int = 25
    sigma: float = 0.5
    steps: int = 25
    ig_reference: str = "zero"
    internal_batch_size: int = 64
    seed: int = 0

    @classmethod
    def from_config(cls, config) -> "MethodParams":
        return cls(**{k: getattr(config, k) for k in cls.__dataclass_fields__})


def text_generator(input_ids: Tensor, attention_mask: Tensor, seed: int) -> torch.Generator:
    """A CPU generator seeded by the text's real token ids: same text, same random draws."""
    ids = input_ids[attention_mask.bool()].to("cpu", torch.int64).numpy().tobytes()
    return torch.Generator().manual_seed((zlib.crc32(ids) + 1_000_003 * seed) % (2**63))


def reduce_sum_of_squares(raw: Tensor, attention_mask: Tensor) -> Tensor:
    """Paper's token score: sum over the embedding dimension of the squared attribution."""
    return raw.pow(2).sum(-1) * attention_mask.to(raw.dtype)


def attribute(
    adapter: ModelAdapter,
    method: str,
    input_ids: Tensor,
    attention_mask: Tensor,
    targets: Tensor,
    token_type_ids: Tensor | None = None,
    params: MethodParams | None = None,
    references: list[Tensor] | None = None,
) -> Tensor:
    """Token scores (B, T) of ``method``; zero at padding.

    ``references`` (shap_ref, shap_deep): per text, token ids (R, T) of reference texts aligned to
    the text's padded length.
    """
    return reduce_sum_of_squares(
        attribute_raw(adapter, method, input_ids, attention_mask, targets, token_type_ids, params, references),
        attention_mask,
    )


def attribute_raw(
    adapter: ModelAdapter,
    method: str,
    input_ids: Tensor,
    attention_mask: Tensor,
    targets: Tensor,
    token_type_ids: Tensor | None = None,
    params: MethodParams | None = None,
    references: list[Tensor] | None = None,
) -> Tensor:
    """The matrix S (B, T, d) of ``method`` before the sum-of-squares reduction."""
    check_choice("method", method, BASE_METHODS)
    params = params or MethodParams()
    device = adapter.device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    token_type_ids = None if token_type_ids is None else token_type_ids.to(device)
    targets = targets.to(device)
    embeds = adapter.embed(input_ids).detach()
    extra = (attention_mask, token_type_ids)
    target_list = targets.tolist()
    with torch.enable_grad():
        if method == "random":
            return _random(embeds, input_ids, attention_mask, params)
        leaf = embeds.clone().requires_grad_(True)  # Captum warns on inputs without requires_grad
        if method == "simple_grad":
            return Saliency(adapter.forward).attribute(
                leaf, target=target_list, abs=False, additional_forward_args=extra
            ).detach()
        if method == "input_grad":
            return InputXGradient(adapter.forward).attribute(
                leaf, target=target_list, additional_forward_args=extra
            ).detach()
        if method == "integrated_grad":
            if params.ig_reference == "pad":
                pad_id = getattr(adapter.model.config, "pad_token_id", None) or 0
                baseline = adapter.embed(torch.full_like(input_ids, pad_id)).detach()
            else:
                baseline = torch.zeros_like(embeds)
            return IntegratedGradients(adapter.forward).attribute(
                leaf,
                baselines=baseline,
                target=target_list,
                additional_forward_args=extra,
                n_steps=params.steps,
                method="riemann_right",
                internal_batch_size=max(params.internal_batch_size, input_ids.shape[0]),
            ).detach()
        return _sampled(adapter, method, embeds, input_ids, attention_mask, token_type_ids, targets, params,
                        references)


def gradients(
    adapter: ModelAdapter,
    points: Tensor,
    attention_mask: Tensor,
    token_type_ids: Tensor | None,
    targets: Tensor,
    chunk: int,
) -> Tensor:
    """dF_target/dH at each row of ``points`` (R, T, d), ``chunk`` rows per forward/backward."""
    grads = []
    for start in range(0, points.shape[0], chunk):
        rows = slice(start, start + chunk)
        x = points[rows].detach().requires_grad_(True)
        out = adapter.forward(x, attention_mask[rows], None if token_type_ids is None else token_type_ids[rows])
        selected = out.gather(1, targets[rows].view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(selected, x)
        grads.append(grad.detach())
    return torch.cat(grads)


def _random(embeds: Tensor, input_ids: Tensor, attention_mask: Tensor, params: MethodParams) -> Tensor:
    raw = torch.zeros_like(embeds)
    for b in range(embeds.shape[0]):
        real = attention_mask[b].bool()
        gen = text_generator(input_ids[b], attention_mask[b], params.seed)
        raw[b, real] = torch.randn((int(real.sum()), embeds.shape[-1]), generator=gen).to(embeds)
    return raw


def _sampled(adapter, method, embeds, input_ids, attention_mask, token_type_ids, targets, params, references):
    """smooth_grad, shap_zero, shap_ref, shap_deep: many gradient rows per text, chunked."""
    batch, _, dim = embeds.shape
    if method in ("shap_ref", "shap_deep"):
        if references is None or len(references) != batch or any(r.shape[0] == 0 for r in references):
            raise ValueError(f"{method} needs reference texts (the LAFA neighbours): explain with an index")
    if method == "shap_deep":
        # mean over references of dF/dH at H times (H - H'_r) = dF/dH at H times (H - mean_r H'_r)
        grad = gradients(adapter, embeds, attention_mask, token_type_ids, targets, params.internal_batch_size)
        ref_mean = torch.stack([adapter.embed(r).mean(0) for r in references]).detach()
        return grad * (embeds - ref_mean)
    n = params.samples
    points = embeds.repeat_interleave(n, dim=0).clone()
    noise_std = params.sigma * adapter.embedding.weight.std().item()
    for b in range(batch):
        real = attention_mask[b].bool()
        gen = text_generator(input_ids[b], attention_mask[b], params.seed)
        rows = slice(b * n, (b + 1) * n)
        if method == "smooth_grad":
            noise = torch.randn((n, int(real.sum()), dim), generator=gen).to(embeds) * noise_std
            points[rows][:, real] += noise
        else:  # shap_zero / shap_ref: a*H + (1-a)*H', a ~ U(0, 1)
            alpha = torch.rand((n, 1, 1), generator=gen).to(embeds)
            if method == "shap_zero":
                reference = torch.zeros_like(points[rows])
            else:
                pick = torch.randint(references[b].shape[0], (n,), generator=gen)
                reference = adapter.embed(references[b][pick]).detach()
            points[rows] = alpha * points[rows] + (1 - alpha) * reference
    expand = lambda t: None if t is None else t.repeat_interleave(n, dim=0)  # noqa: E731
    grads = gradients(adapter, points, expand(attention_mask), expand(token_type_ids), expand(targets),
                      params.internal_batch_size)
    return grads.view(batch, n, *embeds.shape[1:]).mean(1)
