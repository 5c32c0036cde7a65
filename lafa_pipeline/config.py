"""LAFA settings: one dataclass saved as ``lafa_config.json`` beside a model or an index.

Example:
    >>> from lafa_pipeline.config import LafaConfig
    >>> LafaConfig(layer=2, kernel="rbf").kernel
    'rbf'
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from .files import atomic_write_text

CONFIG_NAME = "lafa_config.json"

BASE_METHODS = (
    "random",
    "simple_grad",
    "input_grad",
    "smooth_grad",
    "integrated_grad",
    "shap_zero",
    "shap_ref",
    "shap_deep",
)
# shap_ref and shap_deep take the LAFA neighbours as their references, so they cannot be the base
# method whose scores are cached for every reference text at build time.
INDEXABLE_BASE_METHODS = tuple(m for m in BASE_METHODS if m not in ("shap_ref", "shap_deep"))
METHODS = ("lafa",) + BASE_METHODS
KERNELS = ("rbf", "laplacian", "cubic", "cosine", "l2", "indicator")
POOLINGS = ("mean", "cls")
INDEX_TYPES = ("flat", "hnsw", "ivf")
OUTPUTS = ("probability", "logit")
IG_REFERENCES = ("zero", "pad")
CACHE_TARGETS = ("label", "all")
NEIGHBOR_SCALES = ("none", "query")

# Appendix E of the paper: kernel parameters used there.
DEFAULT_KERNEL_PARAMS: dict[str, dict[str, Any]] = {
    "rbf": {"length_scale": 2.0},
    "laplacian": {"length_scale": 2.0},
    "cubic": {"gamma": 7.0, "coef0": 0.0, "degree": 3},
    "cosine": {},
    "l2": {"clip_min": 0.3, "clip_max": 3.0},
    "indicator": {},
}


def check_choice(name: str, value: Any, choices: tuple) -> None:
    """Raise a ValueError naming ``name`` and the valid ``choices`` when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; valid choices: {', '.join(map(str, choices))}")


@dataclass
class LafaConfig:
    """Settings of a LAFA index and the defaults of explanations made with it.

    The defaults are the paper's case II settings (SST-2): SmoothGrad base, encoder layer 2,
    10 neighbours within the 0.39 quantile of pairwise distances, indicator kernel, lambda 0.44,
    neighbours restricted to the class being explained.
    """

    layer: int = 2
    """Hidden layer of the model used to find neighbours (0 = embedding output)."""
    pooling: str = "mean"
    """How token states become one vector per text: mean over real tokens, or the first (CLS) token."""
    n_neighbors: int = 10
    quantile: float = 0.39
    """Distance cut-off eps = this quantile of pairwise L2 distances between reference texts."""
    eps: float | None = None
    """Set by ``LafaIndex.build``; None means no cut-off."""
    same_label: bool = True
    """Keep only neighbours whose label equals the class being explained."""
    kernel: str = "indicator"
    kernel_params: dict[str, Any] = field(default_factory=dict)
    """Overrides of the kernel's parameters (see DEFAULT_KERNEL_PARAMS)."""
    lam: float = 0.44
    neighbor_scale: str = "none"
    """How neighbour scores enter eq. 7: as computed ("none", the paper's formula), or rescaled so
    each neighbour's scores sum to the explained text's total ("query"). Gradient scores of
    confident predictions are orders of magnitude smaller than those of unsure ones, so raw
    neighbour scores can swamp the text's own; rescaling keeps LAFA in the text's units."""
    base_method: str = "smooth_grad"
    samples: int = 25
    """SmoothGrad samples and SHAP draws."""
    sigma: float = 0.5
    """SmoothGrad noise std, as a multiple of the std of the model's input-embedding table."""
    steps: int = 25
    """Integrated-gradients steps."""
    ig_reference: str = "zero"
    """Integrated-gradients reference: all-zero embeddings, or the [PAD] token's embedding."""
    output: str = "probability"
    """What is differentiated: softmax/sigmoid probability of the target, or its logit.
    Regression models always use the raw output value."""
    internal_batch_size: int = 64
    """Rows per forward/backward when samples or steps are expanded."""
    index_type: str = "flat"
    index_params: dict[str, Any] = field(default_factory=dict)
    """HNSW: M, ef_search, ef_construction; IVF: nlist, nprobe."""
    cache_targets: str = "label"
    """Which targets get cached neighbour scores: each text's own label(s), or every class."""
    pair_samples: int = 20000
    """Random pairs sampled to estimate eps."""
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; raise ValueError naming the bad one and its valid values."""
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("kernel", self.kernel, KERNELS)
        check_choice("base_method", self.base_method, BASE_METHODS)
        check_choice("index_type", self.index_type, INDEX_TYPES)
        check_choice("output", self.output, OUTPUTS)
        check_choice("ig_reference", self.ig_reference, IG_REFERENCES)
        check_choice("cache_targets", self.cache_targets, CACHE_TARGETS)
        check_choice("neighbor_scale", self.neighbor_scale, NEIGHBOR_SCALES)
        unknown = set(self.kernel_params) - set(DEFAULT_KERNEL_PARAMS[self.kernel])
        if unknown:
            valid = ", ".join(DEFAULT_KERNEL_PARAMS[self.kernel]) or "none"
            raise ValueError(f"Unknown parameter(s) {sorted(unknown)} for kernel {self.kernel!r}; valid: {valid}")
        if not 0.0 < self.quantile <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {self.quantile}")
        for name in ("n_neighbors", "samples", "steps", "internal_batch_size", "pair_samples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.layer < 0:
            raise ValueError(f"layer must be >= 0, got {self.layer}")

    def resolved_kernel_params(self, kernel: str | None = None, overrides: dict | None = None) -> dict[str, Any]:
        """The paper's parameters of ``kernel`` with this config's (or ``overrides``) on top."""
        kernel = kernel or self.kernel
        check_choice("kernel", kernel, KERNELS)
        params = dict(DEFAULT_KERNEL_PARAMS[kernel])
        extra = overrides if overrides is not None else (self.kernel_params if kernel == self.kernel else {})
        params.update({k: v for k, v in extra.items() if k in params})
        return params

    def replace(self, **changes: Any) -> "LafaConfig":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LafaConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"Unknown LafaConfig field(s) {sorted(unknown)}; valid: {', '.join(sorted(names))}")
        return cls(**data)

    def save(self, directory: str | os.PathLike) -> str:
        path = os.path.join(directory, CONFIG_NAME)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LafaConfig":
        """Read a ``lafa_config.json`` file (or the one inside a folder)."""
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_NAME)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"LAFA config file is missing: {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"LAFA config file is corrupt: {path} ({e})") from None
        return cls.from_dict(data)
