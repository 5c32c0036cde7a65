"""One forward and backward pass over rows of input embeddings: the gradient every gradient method
starts from, with the prediction and the pooled hidden states LAFA searches with read from the same pass.

Rows run in order of length and in chunks bounded by a token budget, so memory stays bounded
whatever the texts' lengths; an out-of-memory error retries a chunk at half its rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from .host_memory import release_freed
from .model_adapter import ModelAdapter, layer_states


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
