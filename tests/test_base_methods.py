"""Each base method against an independent computation (plain autograd) on a tiny model."""

from __future__ import annotations

import pytest
import torch

from lafa_pipeline.base_methods import MethodParams, attribute, attribute_raw, text_generator
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import tiny_model


@pytest.fixture(scope="module")
def batch(tokenizer):
    enc = tokenizer(
        ["the acting was good", "awful plot .", "loved the music , brilliant"], padding=True, return_tensors="pt"
    )
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def output_of(model, embeds, mask, types, kind="probability"):
    logits = model(inputs_embeds=embeds, attention_mask=mask, token_type_ids=types).logits
    if model.config.problem_type == "regression" or model.config.num_labels == 1 or kind == "logit":
        return logits
    if model.config.problem_type == "multi_label_classification":
        return torch.sigmoid(logits)
    return torch.softmax(logits, -1)


def hand_grad(model, embeds, mask, types, targets, kind="probability"):
    """dF_target/dH for each text, one text at a time, with plain autograd."""
    grads = []
    for b in range(embeds.shape[0]):
        x = embeds[b : b + 1].detach().clone().requires_grad_(True)
        out = output_of(model, x, mask[b : b + 1], types[b : b + 1], kind)[0, targets[b]]
        grads.append(torch.autograd.grad(out, x)[0][0])
    return torch.stack(grads)


def close(actual, expected):
    """Equal up to float32 rounding, relative to the largest value."""
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def sum_sq(raw, mask):
    """The paper's reduction, written out: sum over d of S_id^2, zero at padding."""
    out = torch.zeros(raw.shape[:2])
    for b in range(raw.shape[0]):
        for i in range(raw.shape[1]):
            if mask[b, i]:
                out[b, i] = sum(float(v) ** 2 for v in raw[b, i])
    return out


@pytest.mark.parametrize("problem", ["single", "multi", "regression"])
def test_simple_grad_matches_autograd(batch, problem):
    model = {
        "single": tiny_model(),
        "multi": tiny_model(3, "multi_label_classification"),
        "regression": tiny_model(1, "regression"),
    }[problem]
    ids, mask, types = batch
    targets = torch.tensor([0, 1, 0]) if problem != "regression" else torch.zeros(3, dtype=torch.long)
    if problem == "multi":
        targets = torch.tensor([2, 1, 0])
    embeds = model.get_input_embeddings()(ids)
    expected = sum_sq(hand_grad(model, embeds, mask, types, targets), mask)
    got = attribute(ModelAdapter(model), "simple_grad", ids, mask, targets, types)
    close(got, expected)
    assert (got[mask == 0] == 0).all()


def test_logit_output(batch, model):
    ids, mask, types = batch
    targets = torch.tensor([1, 0, 1])
    embeds = model.get_input_embeddings()(ids)
    expected = sum_sq(hand_grad(model, embeds, mask, types, targets, "logit"), mask)
    got = attribute(ModelAdapter(model, output="logit"), "simple_grad", ids, mask, targets, types)
    close(got, expected)


def test_input_grad_is_embedding_times_gradient(batch, model):
    ids, mask, types = batch
    targets = torch.tensor([1, 0, 1])
    embeds = model.get_input_embeddings()(ids)
    expected = sum_sq(embeds.detach() * hand_grad(model, embeds, mask, types, targets), mask)
    got = attribute(ModelAdapter(model), "input_grad", ids, mask, targets, types)
    close(got, expected)


@pytest.mark.parametrize(
    ("method", "reference", "token"),
    [
        ("integrated_grad", "zero", None),
        ("integrated_grad", "pad", 0),
        ("integrated_grad", "mask", 4),
        ("integrated_grad_pad", "zero", 0),  # the named variants ignore ig_reference
        ("integrated_grad_mask", "zero", 4),
        ("integrated_grad_pad_mask", "zero", (0, 4)),  # the mean of the [PAD] and [MASK] paths
    ],
)
def test_integrated_grad_matches_riemann_sum(batch, model, tokenizer, method, reference, token):
    ids, mask, types = batch
    targets = torch.tensor([0, 1, 1])
    steps = 7
    model.config.mask_token_id = tokenizer.mask_token_id  # what the pipeline copies from its tokenizer
    assert tokenizer.mask_token_id == 4 and tokenizer.pad_token_id == 0
    embeds = model.get_input_embeddings()(ids).detach()
    tokens = token if isinstance(token, tuple) else (token,)
    raw_expected = torch.zeros_like(embeds)
    for t in tokens:
        base = torch.zeros_like(embeds) if t is None else model.get_input_embeddings()(torch.full_like(ids, t)).detach()
        total = torch.zeros_like(embeds)
        for k in range(1, steps + 1):
            total += hand_grad(model, base + k / steps * (embeds - base), mask, types, targets)
        raw_expected += (embeds - base) / steps * total / len(tokens)
    params = MethodParams(steps=steps, ig_reference=reference, internal_batch_size=5)
    raw = attribute_raw(ModelAdapter(model), method, ids, mask, targets, types, params)
    close(raw, raw_expected)
    scores = attribute(ModelAdapter(model), method, ids, mask, targets, types, params)
    close(scores, sum_sq(raw_expected, mask))


def test_mask_baseline_needs_the_mask_token(batch):
    ids, mask, types = batch
    bare = tiny_model()
    assert getattr(bare.config, "mask_token_id", None) is None
    with pytest.raises(ValueError, match="mask_token_id"):
        attribute_raw(ModelAdapter(bare), "integrated_grad_mask", ids, mask, torch.tensor([0, 1, 1]), types)


@pytest.mark.parametrize("sampling", ["iid", "low_variance"])
def test_sequential_integrated_grad_by_hand(batch, model, tokenizer, sampling):
    """Each token's own path from [MASK] with the others kept (Enguehard 2023), one token at a time."""
    import numpy as np

    ids, mask, types = batch
    targets = torch.tensor([1, 0, 1])
    steps = 5
    model.config.mask_token_id = tokenizer.mask_token_id
    embeds = model.get_input_embeddings()(ids).detach()
    base = model.get_input_embeddings()(torch.tensor([tokenizer.mask_token_id]))[0].detach()
    if sampling == "iid":
        alphas, weights = [k / steps for k in range(1, steps + 1)], [1 / steps] * steps
    else:
        nodes, w = np.polynomial.legendre.leggauss(steps)
        alphas, weights = list((nodes + 1) / 2), list(w / 2)
    expected = torch.zeros_like(embeds)
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            if not mask[b, t]:
                continue
            for alpha, weight in zip(alphas, weights):
                point = embeds[b : b + 1].clone()
                point[0, t] = base + float(alpha) * (embeds[b, t] - base)
                grad = hand_grad(model, point, mask[b : b + 1], types[b : b + 1], targets[b : b + 1])[0, t]
                expected[b, t] += float(weight) * grad
            expected[b, t] *= embeds[b, t] - base
    # internal_batch_size 7: paths of one token per pass, chunks cut mid-text (the loop's edges)
    params = MethodParams(steps=steps, sampling=sampling, internal_batch_size=7)
    raw = attribute_raw(ModelAdapter(model), "sequential_integrated_grad", ids, mask, targets, types, params)
    close(raw, expected)
    wide = MethodParams(steps=steps, sampling=sampling, internal_batch_size=64)  # several tokens a pass
    close(attribute_raw(ModelAdapter(model), "sequential_integrated_grad", ids, mask, targets, types, wide), expected)


def test_integrated_grad_completeness(batch, model):
    """Sum of IG attributions = F(H) - F(H') (up to the Riemann error)."""
    ids, mask, types = batch
    targets = torch.tensor([0, 1, 0])
    raw = attribute_raw(
        ModelAdapter(model),
        "integrated_grad",
        ids,
        mask,
        targets,
        types,
        MethodParams(steps=400, internal_batch_size=512),
    )
    embeds = model.get_input_embeddings()(ids).detach()
    with torch.no_grad():
        f_input = output_of(model, embeds, mask, types).gather(1, targets.view(-1, 1)).flatten()
        f_base = output_of(model, torch.zeros_like(embeds), mask, types).gather(1, targets.view(-1, 1)).flatten()
    delta = f_input - f_base
    assert delta.abs().min() > 1e-3  # the check below is not vacuous
    torch.testing.assert_close(raw.sum(dim=(1, 2)), delta, rtol=0.02, atol=1e-4)


def hand_noisy_gradients(model, batch, targets, params, noises) -> list[torch.Tensor]:
    """Per text, plain-autograd gradients (samples, T, d) at H + each noise that ``noises(generator, shape,
    std)`` draws from the text's own seeded generator, added on its real tokens."""
    ids, mask, types = batch
    embeds = model.get_input_embeddings()(ids).detach()
    std = params.sigma * model.get_input_embeddings().weight.std().item()
    out = []
    for b in range(ids.shape[0]):
        real = mask[b].bool()
        gen = text_generator(ids[b], mask[b], params.seed)
        grads = []
        for noise in noises(gen, (int(real.sum()), embeds.shape[-1]), std):
            x = embeds[b : b + 1].clone()
            x[0, real] += noise
            grads.append(hand_grad(model, x, mask[b : b + 1], types[b : b + 1], targets[b : b + 1])[0])
        out.append(torch.stack(grads))
    return out


def iid_noise(samples):
    return lambda gen, shape, std: torch.randn((samples, *shape), generator=gen) * std


def test_smooth_grad_matches_hand_noise(batch, model):
    ids, mask, types = batch
    targets = torch.tensor([1, 1, 0])
    params = MethodParams(samples=4, sigma=0.7, internal_batch_size=5, seed=3)
    grads = hand_noisy_gradients(model, batch, targets, params, iid_noise(params.samples))
    raw = attribute_raw(ModelAdapter(model), "smooth_grad", ids, mask, targets, types, params)
    close(raw, torch.stack([g.mean(0) for g in grads]))


def test_var_grad_is_the_variance_of_the_hand_noise_gradients(batch, model):
    ids, mask, types = batch
    targets = torch.tensor([0, 1, 1])
    params = MethodParams(samples=5, sigma=0.6, internal_batch_size=3, seed=1)
    grads = hand_noisy_gradients(model, batch, targets, params, iid_noise(params.samples))
    expected = torch.stack([g.var(0, unbiased=False).sum(-1) for g in grads]) * mask
    close(attribute(ModelAdapter(model), "var_grad", ids, mask, targets, types, params), expected)


def test_smooth_grad_without_noise_is_simple_grad(batch, model):
    ids, mask, types = batch
    targets = torch.tensor([1, 0, 0])
    adapter = ModelAdapter(model)
    smooth = attribute(adapter, "smooth_grad", ids, mask, targets, types, MethodParams(samples=3, sigma=0.0))
    simple = attribute(adapter, "simple_grad", ids, mask, targets, types)
    close(smooth, simple)


def test_shap_zero_matches_hand_interpolation(batch, model):
    ids, mask, types = batch
    targets = torch.tensor([0, 0, 1])
    params = MethodParams(samples=5, internal_batch_size=4)
    embeds = model.get_input_embeddings()(ids).detach()
    expected = torch.zeros_like(embeds)
    for b in range(3):
        alpha = torch.rand((params.samples, 1, 1), generator=text_generator(ids[b], mask[b], params.seed))
        for s in range(params.samples):
            x = alpha[s] * embeds[b : b + 1]
            expected[b] += (
                hand_grad(model, x, mask[b : b + 1], types[b : b + 1], targets[b : b + 1])[0] / params.samples
            )
    raw = attribute_raw(ModelAdapter(model), "shap_zero", ids, mask, targets, types, params)
    close(raw, expected)


def test_shap_ref_and_deep_use_references(batch, model, tokenizer):
    ids, mask, types = batch
    targets = torch.tensor([1, 0, 1])
    refs = [torch.stack([ids[(b + 1) % 3], ids[(b + 2) % 3]]) for b in range(3)]
    params = MethodParams(samples=4, internal_batch_size=3)
    emb = model.get_input_embeddings()
    embeds = emb(ids).detach()
    deep_expected = hand_grad(model, embeds, mask, types, targets) * (
        embeds - torch.stack([emb(r).mean(0) for r in refs]).detach()
    )
    deep = attribute_raw(ModelAdapter(model), "shap_deep", ids, mask, targets, types, params, refs)
    close(deep, deep_expected)
    ref_expected = torch.zeros_like(embeds)
    for b in range(3):
        gen = text_generator(ids[b], mask[b], params.seed)
        alpha = torch.rand((params.samples, 1, 1), generator=gen)
        pick = torch.randint(2, (params.samples,), generator=gen)
        for s in range(params.samples):
            x = alpha[s] * embeds[b : b + 1] + (1 - alpha[s]) * emb(refs[b][pick[s]]).detach()
            ref_expected[b] += hand_grad(model, x, mask[b : b + 1], types[b : b + 1], targets[b : b + 1])[0] / 4
    got = attribute_raw(ModelAdapter(model), "shap_ref", ids, mask, targets, types, params, refs)
    close(got, ref_expected)
    with pytest.raises(ValueError, match="needs reference texts"):
        attribute(ModelAdapter(model), "shap_ref", ids, mask, targets, types, params)


def test_random_is_deterministic_per_text_and_nonnegative(batch, model):
    ids, mask, types = batch
    adapter = ModelAdapter(model)
    targets = torch.zeros(3, dtype=torch.long)
    a = attribute(adapter, "random", ids, mask, targets, types)
    b = attribute(adapter, "random", ids[[2, 0, 1]], mask[[2, 0, 1]], targets, types[[2, 0, 1]])
    torch.testing.assert_close(a[[2, 0, 1]], b)
    assert (a >= 0).all() and (a[mask.bool()] > 0).all()
    assert not torch.allclose(a[0, 1:3], a[1, 1:3])


def test_unknown_method_lists_valid(batch, model):
    ids, mask, types = batch
    with pytest.raises(ValueError, match="Unknown method 'lrp'.*simple_grad"):
        attribute(ModelAdapter(model), "lrp", ids, mask, torch.zeros(3, dtype=torch.long), types)


def test_plain_gradients_equal_captum(batch, model):
    """simple_grad and input_grad (written by hand to share the forward pass) against Captum's own."""
    from captum.attr import InputXGradient, Saliency

    ids, mask, types = batch
    targets = torch.tensor([1, 0, 1])
    adapter = ModelAdapter(model)
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    extra = (mask, types)
    saliency = Saliency(adapter.forward).attribute(
        embeds, target=targets.tolist(), abs=False, additional_forward_args=extra
    )
    ixg = InputXGradient(adapter.forward).attribute(embeds, target=targets.tolist(), additional_forward_args=extra)
    close(attribute_raw(adapter, "simple_grad", ids, mask, targets, types), saliency.detach())
    close(attribute_raw(adapter, "input_grad", ids, mask, targets, types), ixg.detach())


def test_forward_gradients_share_one_pass(batch, model):
    """Predicted targets, prediction and pooled states from the gradient's own forward pass."""
    from lafa_pipeline.base_methods import forward_gradients

    ids, mask, types = batch
    adapter = ModelAdapter(model)
    embeds = model.get_input_embeddings()(ids).detach()
    fwd = forward_gradients(adapter, embeds, mask, types, None, chunk=2, layer=1)
    prediction, pooled = adapter.predict(ids, mask, types, layer=1)
    close(fwd.prediction, prediction)
    close(fwd.pooled, pooled)
    assert fwd.targets.tolist() == prediction.argmax(-1).tolist()
    close(fwd.grads, hand_grad(model, embeds, mask, types, fwd.targets))


def test_low_variance_smooth_grad_uses_antithetic_noise(batch, model):
    ids, mask, types = batch
    targets = torch.tensor([1, 1, 0])
    params = MethodParams(samples=5, sigma=0.7, internal_batch_size=7, seed=3, sampling="low_variance")

    def antithetic(gen, shape, std):  # 5 samples: 3 draws, 2 of them mirrored
        half = torch.randn((3, *shape), generator=gen) * std
        return [half[0], half[1], half[2], -half[0], -half[1]]

    grads = hand_noisy_gradients(model, batch, targets, params, antithetic)
    close(
        attribute_raw(ModelAdapter(model), "smooth_grad", ids, mask, targets, types, params),
        torch.stack([g.mean(0) for g in grads]),
    )


def test_low_variance_integrated_grad_is_closer_to_completeness(batch, model):
    """Gauss-Legendre nodes: with 6 steps, the attributions sum closer to F(H) - F(0) than the
    right Riemann sum does."""
    ids, mask, types = batch
    targets = torch.tensor([0, 1, 0])
    embeds = model.get_input_embeddings()(ids).detach()
    with torch.no_grad():
        delta = (
            (output_of(model, embeds, mask, types) - output_of(model, torch.zeros_like(embeds), mask, types))
            .gather(1, targets.view(-1, 1))
            .flatten()
        )
    error = {}
    for sampling in ("iid", "low_variance"):
        raw = attribute_raw(
            ModelAdapter(model), "integrated_grad", ids, mask, targets, types, MethodParams(steps=6, sampling=sampling)
        )
        error[sampling] = float((raw.sum(dim=(1, 2)) - delta).abs().max())
    assert error["low_variance"] < 0.5 * error["iid"], error  # measured: about a third


def test_low_variance_shap_draws_one_point_per_stratum(batch, model, monkeypatch):
    from lafa_pipeline import base_methods

    ids, mask, types = batch
    seen = []
    real_gradients = base_methods.MethodInputs.gradients

    def capture(self, points=None, repeats=1):
        seen.append(points.clone())
        return real_gradients(self, points, repeats)

    monkeypatch.setattr(base_methods.MethodInputs, "gradients", capture)
    n = 7
    attribute_raw(
        ModelAdapter(model),
        "shap_zero",
        ids,
        mask,
        torch.tensor([0, 1, 0]),
        types,
        MethodParams(samples=n, sampling="low_variance"),
    )
    embeds = model.get_input_embeddings()(ids).detach()
    for b in range(3):
        alphas = (seen[0][b * n : (b + 1) * n, 0, 0] / embeds[b, 0, 0]).tolist()  # points = alpha * H
        assert sorted(int(a * n) for a in alphas) == list(range(n))


def test_embedding_std_is_kept_until_the_weights_change():
    model = tiny_model()
    adapter = ModelAdapter(model)
    weight = model.get_input_embeddings().weight
    assert adapter.embedding_std() == pytest.approx(weight.std().item(), rel=1e-6)
    with torch.no_grad():
        weight.mul_(3.0)  # an in-place change (fine-tuning steps do the same) must not serve the old value
    assert adapter.embedding_std() == pytest.approx(weight.std().item(), rel=1e-6)


def test_out_of_memory_retries_the_chunk_at_half_size(batch, model):
    """A simulated accelerator out-of-memory error above 4 rows a pass: the chunk is halved and retried,
    the gradients equal an unhindered run; one row a pass that still fails raises."""
    from lafa_pipeline.base_methods import forward_gradients

    ids, mask, types = batch
    adapter = ModelAdapter(model)
    embeds = adapter.embed(ids).detach().repeat(4, 1, 1)  # 12 rows
    rows_mask, rows_types, targets = mask.repeat(4, 1), types.repeat(4, 1), torch.tensor([0, 1, 1] * 4)
    expected = forward_gradients(adapter, embeds, rows_mask, rows_types, targets, 64).grads
    run, passes = adapter.run, []

    def limited(x, *args, **kwargs):
        passes.append(x.shape[0])
        if x.shape[0] > 4:
            raise torch.OutOfMemoryError("simulated")
        return run(x, *args, **kwargs)

    adapter.run = limited
    with pytest.warns(UserWarning, match="out of memory with 12 rows a pass; retrying with 6"):
        got = forward_gradients(adapter, embeds, rows_mask, rows_types, targets, 12).grads
    close(got, expected)
    assert passes[:3] == [12, 6, 3] and max(passes[2:]) <= 4
    adapter.run = lambda x, *a, **k: (_ for _ in ()).throw(torch.OutOfMemoryError("simulated"))
    with pytest.raises(torch.OutOfMemoryError), pytest.warns(UserWarning):
        forward_gradients(adapter, embeds[:2], rows_mask[:2], rows_types[:2], targets[:2], 2)
