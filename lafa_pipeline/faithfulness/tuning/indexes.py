"""What a tuning searches over besides the aggregation settings: the base methods and hidden layers it
compares, and an index of each base method at each layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...base_methods import BASE_METHOD_REGISTRY
from ...config import check_choice, indexable_base_methods
from ...index_arrays import CACHE_KEYS
from .options import AUTO_LAYERS_MAX_REFERENCES


def base_method_choices(explainer, base_methods: Sequence[str] | str = "auto", signed: bool = False) -> list[str]:
    """The base methods to compare: checked names, or "auto", the explainer's own first. "auto" is every
    indexable registered method marked ``tuned_by_default`` (the gradient methods and occlusion); for a
    signed tuning, those with a direction and the ones marked ``tuned_signed`` (LIME, KernelSHAP): a
    method without a direction has nothing to offer a signed reading."""
    own = explainer.lafa.config.base_method
    entries = {m: BASE_METHOD_REGISTRY.get(m) for m in indexable_base_methods()}
    if signed:
        available = [m for m, e in entries.items() if e.signed and (e.tuned_by_default or e.tuned_signed)]
    else:
        available = [m for m, e in entries.items() if e.tuned_by_default]
    if isinstance(base_methods, str):
        if base_methods != "auto":
            raise ValueError(f"base_methods must be 'auto' or a list of base methods from {', '.join(available)}")
        chosen = available
    else:
        for name in base_methods:
            check_choice("base method to tune", name, indexable_base_methods())
        chosen = list(base_methods)
    return [own] + [m for m in dict.fromkeys(chosen) if m != own]


def layer_choices(explainer, layers: Sequence[int] | str) -> list[int]:
    """The layers to compare: checked numbers, or "auto" (see ``AUTO_LAYERS_MAX_REFERENCES``)."""
    own = explainer.lafa_config.layer
    available = range(explainer.model.config.num_hidden_layers + 1)
    if isinstance(layers, str):
        if layers != "auto":
            raise ValueError(
                f"layers must be 'auto' or a list of layer numbers in {available[0]}..{available[-1]}, got {layers!r}"
            )
        return list(available) if len(explainer.index) <= AUTO_LAYERS_MAX_REFERENCES else [own]
    bad = [layer for layer in layers if layer not in available]
    if bad or not layers:
        raise ValueError(
            f"layers must be layer numbers in {available[0]}..{available[-1]} (0 = embedding output), "
            f"got {list(layers)}"
        )
    return sorted(set(layers) | {own})


def indexes_by_base(explainer, bases: list[str], layer_choices: list[int], show_progress: bool) -> dict:
    """base method -> layer -> index searched there, holding that method's reference scores.

    The repo's own method reads its index (and its copies at other layers); another method gets a
    lazy copy at each layer, one cache per method shared by its layers.
    """
    start = explainer.lafa_config
    indexes = {start.layer: explainer.index}
    others = [layer for layer in layer_choices if layer != start.layer]
    if others:
        indexes.update(explainer.index.at_layers(explainer.model, others, show_progress=show_progress))
    by_base: dict[str, dict[int, Any]] = {start.base_method: indexes}
    for base in bases[1:]:
        first = explainer.index.for_base_method(start.replace(base_method=base))
        shared = {key: first.arrays[key] for key in CACHE_KEYS}
        by_base[base] = {
            layer: first if layer == start.layer else index.for_base_method(first.config, shared)
            for layer, index in indexes.items()
        }
    return by_base
