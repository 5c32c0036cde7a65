"""The paper's base attribution methods (eq. 1-3), batched over padded texts.

Every method computes a matrix S (T x d) per text at the input word embeddings H and ends with the
paper's reduction m_i = sum_d S_id^2, so all token scores are non-negative. Captum computes
integrated_grad (IntegratedGradients, right Riemann sum, which is the paper's formula). The plain
gradient methods are written here (Captum's Saliency would need a second forward pass for the
prediction and the hidden states LAFA searches with; ``forward_gradients`` gets all three from
one). The sampled methods are written here because they draw their noise from a generator seeded
by each text's token ids: a text gets the same scores whatever batch it is in, and the scores
cached in an index equal the ones recomputed live. The SHAP variants follow the paper's formulas,
which differ from Captum's GradientShap (no (H - H') factor in shap_zero / shap_ref).

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
from captum.attr import IntegratedGradients
from torch import Tensor

from .config import BASE_METHODS, check_choice
from .model_adapter import ModelAdapter, layer_states


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
        if method in ("simple_grad", "input_grad"):
            grads = forward_gradients(adapter, embeds, attention_mask, token_type_ids, targets,
                                      params.internal_batch_size).grads
            return grads if method == "simple_grad" else embeds * grads
        if method == "integrated_grad":
            if params.ig_reference == "pad":
                baseline = adapter.embed(torch.full_like(input_ids, adapter.pad_id)).detach()
            else:
                baseline = torch.zeros_like(embeds)
            return IntegratedGradients(adapter.forward).attribute(
                embeds.clone().requires_grad_(True),  # Captum warns on inputs without requires_grad
                baselines=baseline,
                target=target_list,
                additional_forward_args=extra,
                n_steps=params.steps,
                method="riemann_right",
                internal_batch_size=max(params.internal_batch_size, input_ids.shape[0]),
            ).detach()
        return _sampled(adapter, method, embeds, input_ids, attention_mask, token_type_ids, targets, params,
                        references)


@dataclass
class ForwardPass:
    """What one forward/backward over each row gives: gradients, prediction, targets, pooled states."""

    grads: Tensor
    prediction: Tensor
    targets: Tensor
    pooled: Tensor | None


def forward_gradients(
    adapter: ModelAdapter,
    points: Tensor,
    attention_mask: Tensor,
    token_type_ids: Tensor | None,
    targets: Tensor | None,
    chunk: int,
    layer: int | None = None,
    pooling: str = "mean",
) -> ForwardPass:
    """dF_target/dH at each row of ``points`` (R, T, d), ``chunk`` rows per forward/backward.

    ``targets=None`` differentiates each row's predicted class, read from the same forward pass,
    which with ``layer`` also gives the pooled states of that layer: LAFA on SimpleGrad costs one
    forward and one backward per text. Rows run in order of length, each chunk cut to its longest
    row, so a batch of mixed lengths pads little (exact for right padding; left-padded batches
    run uncut).
    """
    rows_total, width_total, _ = points.shape
    lengths = attention_mask.sum(1)
    right_padded = bool((attention_mask[:, 0] == 1).all())
    order = torch.argsort(lengths, stable=True) if right_padded else torch.arange(rows_total)
    grads = torch.zeros_like(points)
    prediction: Tensor | None = None
    pooled: Tensor | None = None
    chosen = torch.zeros(rows_total, dtype=torch.long, device=points.device)
    for start in range(0, rows_total, chunk):
        rows = order[start:start + chunk].to(points.device)
        width = int(lengths[rows].max()) if right_padded else width_total
        x = points[rows, :width].detach().requires_grad_(True)
        mask = attention_mask[rows, :width]
        types = None if token_type_ids is None else token_type_ids[rows, :width]
        with torch.enable_grad():
            out = adapter.model(inputs_embeds=x, output_hidden_states=layer is not None,
                                **adapter.model_kwargs(mask, types))
            logits = out.logits
            probs = adapter.transform(logits.detach(), "probability")
            row_targets = adapter.predicted_targets(probs) if targets is None else targets[rows]
            selected = adapter.transform(logits).gather(1, row_targets.view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(selected, x)
        grads[rows, :width] = grad.detach()
        chosen[rows] = row_targets
        if prediction is None:
            prediction = torch.zeros((rows_total, probs.shape[1]), dtype=probs.dtype, device=probs.device)
        prediction[rows] = probs
        if layer is not None:
            states = layer_states(out.hidden_states, layer, mask, pooling)
            if pooled is None:
                pooled = torch.zeros((rows_total, states.shape[1]), dtype=states.dtype, device=states.device)
            pooled[rows] = states
    return ForwardPass(grads, prediction, chosen, pooled)


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
        grad = forward_gradients(adapter, embeds, attention_mask, token_type_ids, targets,
                                 params.internal_batch_size).grads
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
    grads = forward_gradients(adapter, points, expand(attention_mask), expand(token_type_ids), expand(targets),
                              params.internal_batch_size).grads
    return grads.view(batch, n, *embeds.shape[1:]).mean(1)
