"""The paper's base attribution methods (eq. 1-3), batched over padded texts.

Every method computes a matrix S (T x d) per text at the input word embeddings H and ends with the
paper's reduction m_i = sum_d S_id^2, so all token scores are non-negative (``signed=True``: the
sum over d, for the methods whose sum has a direction). Captum computes
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

import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from captum.attr import IntegratedGradients
from torch import Tensor

from .host_memory import release_freed
from .model_adapter import ModelAdapter, layer_states
from .registry import Registry


@dataclass
class MethodParams:
    """Parameters of the base methods (see LafaConfig for their meaning), with the defaults LafaConfig takes."""

    samples: int = 25
    sigma: float = 0.5
    steps: int = 25
    ig_reference: str = "zero"
    sampling: str = "iid"
    internal_batch_size: int = 64
    tokens_per_pass: int = 4096
    seed: int = 0

    @classmethod
    def from_config(cls, config) -> MethodParams:
        return cls(**{k: getattr(config, k) for k in cls.__dataclass_fields__})


@dataclass
class MethodInputs:
    """What a base method reads: the texts, their input embeddings H, targets and parameters."""

    adapter: ModelAdapter
    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor | None
    targets: Tensor
    embeds: Tensor
    params: MethodParams
    references: list[Tensor] | None = None
    """shap_ref, shap_deep: per text, token ids (R, T) of reference texts aligned to its padded length."""

    def token_embedding(self, token: int) -> Tensor:
        """The static input embedding (d,) of one token id, e.g. [PAD]'s or [MASK]'s as a baseline."""
        return self.adapter.embed(torch.tensor([token], device=self.embeds.device))[0].detach()

    def texts(self, rows: slice) -> MethodInputs:
        """The same inputs for the texts ``rows`` only (the sampled methods expand a few at a time)."""
        return replace(
            self,
            input_ids=self.input_ids[rows],
            attention_mask=self.attention_mask[rows],
            token_type_ids=None if self.token_type_ids is None else self.token_type_ids[rows],
            targets=self.targets[rows],
            embeds=self.embeds[rows],
            references=None if self.references is None else self.references[rows],
        )

    def text_groups(self, rows_per_text: int) -> list[slice]:
        """Consecutive groups of texts whose ``rows_per_text`` expanded rows each fill about one pass
        (at least one text a group): what a sampled method holds in memory at once, whatever the batch."""
        per_group = max(1, self.params.internal_batch_size // rows_per_text)
        return [slice(s, s + per_group) for s in range(0, self.input_ids.shape[0], per_group)]

    def gradients(self, points: Tensor | None = None, repeats: int = 1) -> Tensor:
        """dF_target/dH at ``points`` (default: H), ``repeats`` consecutive rows per text."""

        def expand(t: Tensor) -> Tensor:
            return t.repeat_interleave(repeats, dim=0)

        return forward_gradients(
            self.adapter,
            self.embeds if points is None else points,
            expand(self.attention_mask),
            None if self.token_type_ids is None else expand(self.token_type_ids),
            expand(self.targets),
            self.params.internal_batch_size,
            tokens=self.params.tokens_per_pass,
        ).grads


@dataclass(frozen=True)
class BaseMethod:
    """One base method: S (B, T, d) from ``MethodInputs``, with what it needs and can do."""

    compute: Callable[[MethodInputs], Tensor]
    display_name: str
    needs_references: bool = False
    """Takes the LAFA neighbors as references, so its scores cannot be cached in an index."""
    from_gradient: Callable[[Tensor, Tensor], Tensor] | None = None
    """S from (H, dF/dH at H): the method then shares LAFA's forward pass (one forward, one backward)."""
    signed: bool = False
    """Its S summed over the embedding dimension has a direction (``signed=True`` calls): attributions
    whose sum estimates the output's change (input x gradient, the integrated-gradients family,
    occlusion, LIME, KernelSHAP, SHAP+Deep), not plain or noisy gradients, whose sign over d means nothing."""
    tuned_by_default: bool = True
    """Whether ``lafa tune`` compares it as LAFA's base unless told which: the gradient methods and
    occlusion; not the control (random), nor LIME and KernelSHAP (noisy at affordable sample counts,
    and many model calls a text)."""


BASE_METHOD_REGISTRY: Registry[BaseMethod] = Registry("method")


def base_method(name: str, display_name: str, **capabilities: Any) -> Callable:
    """Register the decorated ``compute(inputs) -> S`` as base method ``name``."""

    def add(compute: Callable[[MethodInputs], Tensor]) -> Callable[[MethodInputs], Tensor]:
        BASE_METHOD_REGISTRY.register(name, BaseMethod(compute, display_name, **capabilities))
        return compute

    return add


def text_seed(input_ids: Tensor, attention_mask: Tensor, seed: int) -> int:
    """A random seed from the text's real token ids: same text, same random draws."""
    ids = input_ids[attention_mask.bool()].to("cpu", torch.int64).numpy().tobytes()
    return (zlib.crc32(ids) + 1_000_003 * seed) % (2**63)


def text_generator(input_ids: Tensor, attention_mask: Tensor, seed: int) -> torch.Generator:
    """A CPU generator seeded by the text's real token ids (``text_seed``)."""
    return torch.Generator().manual_seed(text_seed(input_ids, attention_mask, seed))


def reduce_sum_of_squares(raw: Tensor, attention_mask: Tensor) -> Tensor:
    """Paper's token score: sum over the embedding dimension of the squared attribution, in float32
    (the attribution of a half-precision model is widened first: squares of bfloat16 values overflow
    or lose what float32 keeps)."""
    raw = raw.float()
    return raw.pow(2).sum(-1) * attention_mask.to(raw.device, raw.dtype)


def reduce_signed(raw: Tensor, attention_mask: Tensor) -> Tensor:
    """Signed token score: the sum over the embedding dimension (positive pushes the explained output up)."""
    raw = raw.float()
    return raw.sum(-1) * attention_mask.to(raw.device, raw.dtype)


def has_direction(method: str) -> bool:
    """Whether ``method``'s scores (and LAFA's on it) can be signed (``BaseMethod.signed``)."""
    return BASE_METHOD_REGISTRY.get(method).signed


def check_signed(method: str) -> None:
    """Refuse ``signed=True`` for a method without a direction, naming those with one."""
    if not has_direction(method):
        raise ValueError(
            f"{method} has no direction (its scores are magnitudes); signed scores come from: "
            + ", ".join(BASE_METHOD_REGISTRY.where(lambda m: m.signed))
        )


def attribute(
    adapter: ModelAdapter,
    method: str,
    input_ids: Tensor,
    attention_mask: Tensor,
    targets: Tensor,
    token_type_ids: Tensor | None = None,
    params: MethodParams | None = None,
    references: list[Tensor] | None = None,
    signed: bool = False,
) -> Tensor:
    """Token scores (B, T) of ``method``; zero at padding. ``signed``: the sum over the embedding
    dimension instead of the paper's sum of squares (methods with a direction only, ``BaseMethod.signed``).

    ``references`` (shap_ref, shap_deep): per text, token ids (R, T) of reference texts aligned to
    the text's padded length.
    """
    if signed:
        check_signed(method)
    raw = attribute_raw(adapter, method, input_ids, attention_mask, targets, token_type_ids, params, references)
    return (reduce_signed if signed else reduce_sum_of_squares)(raw, attention_mask)


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
    entry = BASE_METHOD_REGISTRY.get(method)
    if entry.needs_references and (
        references is None or len(references) != input_ids.shape[0] or any(r.shape[0] == 0 for r in references)
    ):
        raise ValueError(f"{method} needs reference texts (the LAFA neighbors): explain with an index")
    device = adapter.device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    inputs = MethodInputs(
        adapter,
        input_ids,
        attention_mask,
        None if token_type_ids is None else token_type_ids.to(device),
        targets.to(device),
        adapter.embed(input_ids).detach(),
        params or MethodParams(),
        references,
    )
    with torch.enable_grad():
        return entry.compute(inputs).detach()


# ----- the methods (paper eq. 1-3) ----------------------------------------------------------------
@base_method("random", "Rand", tuned_by_default=False)
def _random(x: MethodInputs) -> Tensor:
    raw = torch.zeros_like(x.embeds)
    for b in range(x.embeds.shape[0]):
        real = x.attention_mask[b].bool()
        gen = text_generator(x.input_ids[b], x.attention_mask[b], x.params.seed)
        raw[b, real] = torch.randn((int(real.sum()), x.embeds.shape[-1]), generator=gen).to(x.embeds)
    return raw


@base_method("simple_grad", "SimpleGrad", from_gradient=lambda embeds, grads: grads)
def _simple_grad(x: MethodInputs) -> Tensor:
    return x.gradients()


@base_method("input_grad", "InputGrad", from_gradient=lambda embeds, grads: embeds * grads, signed=True)
def _input_grad(x: MethodInputs) -> Tensor:
    return x.embeds * x.gradients()


@base_method("smooth_grad", "SmoothGrad")
def _smooth_grad(x: MethodInputs) -> Tensor:
    return _noisy_gradients(x, lambda grads: grads.mean(1))


@base_method("var_grad", "VarGrad")
def _var_grad(x: MethodInputs) -> Tensor:
    """VarGrad (Adebayo et al. 2018): the variance of the noisy gradients; S = their std, so m_i = sum_d Var."""
    return _noisy_gradients(x, lambda grads: grads.std(1, unbiased=False))


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


@base_method("integrated_grad", "IntegratedGrad", signed=True)
def _integrated_grad(x: MethodInputs) -> Tensor:
    return _integrated(x, x.params.ig_reference)


# The same path from a fixed token instead of ``ig_reference``, so that a table can hold all three.
@base_method("integrated_grad_pad", "IntegratedGrad [PAD]", signed=True)
def _integrated_grad_pad(x: MethodInputs) -> Tensor:
    return _integrated(x, "pad")


@base_method("integrated_grad_mask", "IntegratedGrad [MASK]", signed=True)
def _integrated_grad_mask(x: MethodInputs) -> Tensor:
    return _integrated(x, "mask")


# Averaging the paths from several baselines (Sturmfels, Lundberg and Lee 2020, "Visualizing the Impact
# of Feature Attribution Baselines", Distill; Expected Gradients draws them at random) keeps what
# either token baseline alone misses: the sum over tokens is F(x) minus the mean of F at the two
# baselines. Twice IntegratedGrad's cost.
@base_method("integrated_grad_pad_mask", "IntegratedGrad [PAD]+[MASK]", signed=True)
def _integrated_grad_pad_mask(x: MethodInputs) -> Tensor:
    return 0.5 * (_integrated(x, "pad") + _integrated(x, "mask"))


@base_method("sequential_integrated_grad", "SequentialIG", tuned_by_default=False, signed=True)
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
    """Points alpha along a path and their weights (summing to one), Captum's own for IntegratedGrad:
    the right Riemann sum k / steps (``sampling="iid"``, the paper's) or Gauss-Legendre nodes."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("riemann_right" if sampling == "iid" else "gausslegendre")
    return torch.tensor(alphas(steps)).to(like), torch.tensor(step_sizes(steps)).to(like)


@base_method("shap_zero", "SHAP+Zero")
def _shap_zero(x: MethodInputs) -> Tensor:
    return _interpolated_gradients(x, lambda b, n, gen: torch.zeros_like(x.embeds[b]).expand(n, -1, -1))


@base_method("shap_ref", "SHAP+Ref", needs_references=True)
def _shap_ref(x: MethodInputs) -> Tensor:
    references = x.references
    assert references is not None  # attribute_raw refuses a call without them

    def reference(b: int, n: int, gen: torch.Generator) -> Tensor:
        pick = torch.randint(references[b].shape[0], (n,), generator=gen)
        return x.adapter.embed(references[b][pick].to(x.adapter.device)).detach()

    return _interpolated_gradients(x, reference)


@base_method("shap_deep", "SHAP+Deep", needs_references=True, signed=True)
def _shap_deep(x: MethodInputs) -> Tensor:
    # mean over references of dF/dH at H times (H - H'_r) = dF/dH at H times (H - mean_r H'_r)
    assert x.references is not None  # attribute_raw refuses a call without them
    ref_mean = torch.stack([x.adapter.embed(r.to(x.adapter.device)).mean(0) for r in x.references]).detach()
    return x.gradients() * (x.embeds - ref_mean)


# ----- perturbation baselines: the model's output with tokens replaced, no gradient -----------------------
# Users compare gradient methods with these; each replaces a token's input embedding by the [PAD]
# token's (the models' own "nothing here"), scores one number per token (B, T, 1) and, like every
# method, ends as its square. They work on tokens, not words: the pipeline sums a word's tokens.
@base_method("occlusion", "Occlusion", signed=True)
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


@base_method("lime", "LIME", tuned_by_default=False, signed=True)
def _lime(x: MethodInputs) -> Tensor:
    from captum.attr import Lime

    _need_sklearn("lime")
    return _captum_sampled(x, Lime)


@base_method("kernel_shap", "KernelSHAP", tuned_by_default=False, signed=True)
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


# ----- any Captum attribution, or a plain function, as a base method ----------------------------------
class EmbeddingModel(torch.nn.Module):
    """The explained output F(H) as a module over input embeddings, for Captum methods that need one
    (DeepLift, GradientShap's layer variants): ``forward(embeds, attention_mask, token_type_ids)``."""

    def __init__(self, adapter: ModelAdapter) -> None:
        super().__init__()
        self.adapter = adapter
        self.model = adapter.model

    def forward(self, embeds: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        return self.adapter.forward(embeds, attention_mask, token_type_ids)


def register_attribution(
    name: str, method: Callable, display_name: str | None = None, signed: bool = False, **attribute_kwargs: Any
) -> None:
    """Make a Captum attribution (or any function) a base method called ``name``, LAFA included.

    ``method`` is either a Captum attribution class or factory, called with an ``nn.Module`` that maps
    input embeddings (and the attention mask, token types) to the explained outputs — e.g.
    ``Saliency``, ``DeepLift``, ``lambda f: NoiseTunnel(Saliency(f))`` — whose ``attribute`` gets
    the embeddings, ``target`` and ``attribute_kwargs`` (``nt_samples=10``, ``baselines=...``); or a
    plain function ``method(forward, embeds, attention_mask, token_type_ids, targets) -> S`` with S of
    shape (B, T, d) or per-token scores (B, T). Scores end as every method's: summed squares over d
    (per-token scores are squared); ``signed=True`` declares that their sum over d has a direction
    (``signed=True`` calls then sum instead). Registered in this process: an index built with it caches its
    scores, and the name can be used wherever a base method's can.

    >>> from captum.attr import NoiseTunnel, Saliency
    >>> register_attribution("noisy_saliency", lambda f: NoiseTunnel(Saliency(f)), nt_type="smoothgrad", nt_samples=4)
    >>> "noisy_saliency" in BASE_METHOD_REGISTRY
    True
    >>> _ = BASE_METHOD_REGISTRY.remove("noisy_saliency")  # registrations live in this process only
    """
    import inspect

    from captum.attr import Attribution

    is_captum = inspect.isclass(method) and issubclass(method, Attribution)

    def compute(x: MethodInputs) -> Tensor:
        module = EmbeddingModel(x.adapter)
        embeds = x.embeds.clone().requires_grad_(True)
        if is_captum or not _takes_five(method):
            attribution = method(module)
            raw = attribution.attribute(
                embeds,
                target=x.targets.tolist(),
                additional_forward_args=(x.attention_mask, x.token_type_ids),
                **attribute_kwargs,
            )
        else:
            raw = method(module, embeds, x.attention_mask, x.token_type_ids, x.targets)
        raw = raw.detach()
        return raw.unsqueeze(-1) if raw.dim() == 2 else raw  # per-token scores: squared by the reduction

    BASE_METHOD_REGISTRY.register(name, BaseMethod(compute, display_name or name, signed=signed))


def _takes_five(function: Callable) -> bool:
    """Whether ``function`` is a plain attribution function (five arguments) rather than a Captum factory."""
    import inspect

    try:
        return len(inspect.signature(function).parameters) >= 5
    except (TypeError, ValueError):
        return False


# ----- shared by the sampled methods --------------------------------------------------------------
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


def _interpolated_gradients(x: MethodInputs, reference: Callable[[int, int, torch.Generator], Tensor]) -> Tensor:
    """Mean over ``samples`` draws of dF/dH at a*H + (1-a)*H', a ~ U(0, 1), H' from ``reference(b, n, gen)``
    for text b of the batch (``sampling="low_variance"``: one a in each of n equal strata of [0, 1], in
    random order). A few texts are expanded at a time, as in ``_noisy_gradients``."""
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
    tokens: int | None = None,
) -> ForwardPass:
    """dF_target/dH at each row of ``points`` (R, T, d), at most ``chunk`` rows and ``tokens`` padded
    tokens (rows x width; one row at least) per forward/backward.

    Autograd keeps every layer's activations of a pass for its backward, so a pass's memory grows
    with its rows times their width: the ``tokens`` budget keeps it bounded whatever the length of
    the texts (64 short sentences a pass, a few long documents).

    ``targets=None`` differentiates each row's predicted class, read from the same forward pass,
    which with ``layer`` also gives the pooled states of that layer: LAFA on SimpleGrad costs one
    forward and one backward per text. Rows run in order of length, each chunk cut to its longest
    row, so a batch of mixed lengths pads little (exact for right padding; left-padded batches
    run uncut). An out-of-memory error retries the chunk at half its rows (down to one row), and the
    smaller chunk is kept for the rest of the call.
    """
    rows_total, width_total, _ = points.shape
    lengths = attention_mask.sum(1)
    right_padded = bool((attention_mask[:, 0] == 1).all())
    order = torch.argsort(lengths, stable=True) if right_padded else torch.arange(rows_total)
    grads = torch.zeros_like(points)
    prediction: Tensor | None = None
    pooled: Tensor | None = None
    chosen = torch.zeros(rows_total, dtype=torch.long, device=points.device)
    start = 0
    while start < rows_total:
        rows = order[start : start + chunk].to(points.device)
        width = int(lengths[rows].max()) if right_padded else width_total
        if tokens is not None and len(rows) * width > tokens:  # fewer rows; in length order none is wider
            rows = rows[: max(1, tokens // width)]
            width = int(lengths[rows].max()) if right_padded else width_total
        x = points[rows, :width].detach().requires_grad_(True)
        mask = attention_mask[rows, :width]
        types = None if token_type_ids is None else token_type_ids[rows, :width]
        try:
            with torch.enable_grad():
                out, mask = adapter.run(x, mask, types, output_hidden_states=layer is not None)
                logits = out.logits
                probs = adapter.transform(logits.detach(), "probability")
                row_targets = adapter.predicted_targets(probs) if targets is None else targets[rows]
                selected = adapter.transform(logits).gather(1, row_targets.view(-1, 1)).sum()
                (grad,) = torch.autograd.grad(selected, x)
        except torch.OutOfMemoryError:
            # Out of accelerator memory: the same rows again in halves (a chunk of one row has nowhere to go).
            if len(rows) == 1:
                raise
            chunk = max(1, len(rows) // 2)
            if points.is_cuda:
                torch.cuda.empty_cache()
            warnings.warn(f"out of memory with {len(rows)} rows a pass; retrying with {chunk}", stacklevel=2)
            continue
        start += len(rows)
        if not points.is_cuda:
            release_freed()  # the pass's activations are free now: bound resident memory over the run
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
    assert prediction is not None, "no rows to differentiate"
    return ForwardPass(grads, prediction, chosen, pooled)
