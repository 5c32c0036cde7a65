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

from .aggregation import AGGREGATION_REGISTRY, NEIGHBOR_SCALES, NEIGHBOR_WEIGHTINGS
from .base_methods import BASE_METHOD_REGISTRY, MethodParams
from .files import atomic_write_text
from .index_types import check_index_params, index_type_choices, is_switch
from .kernels import KERNEL_REGISTRY
from .registry import check_choice, check_integer, check_number

CONFIG_NAME = "lafa_config.json"

# Names of what the registries hold; a new method, kernel or index type is one entry in its module.
BASE_METHODS = BASE_METHOD_REGISTRY.names
KERNELS = KERNEL_REGISTRY.names
INDEX_TYPES = index_type_choices()


LAFA = "lafa"
"""The method name that means LAFA around the repo's base method (``lafa.Method``)."""


def method_names() -> tuple[str, ...]:
    """Every method by name, methods registered after import included (``register_attribution``)."""
    return (LAFA, *BASE_METHOD_REGISTRY.names)


def indexable_base_methods() -> tuple[str, ...]:
    """Base methods whose scores an index can cache, registered ones included."""
    return BASE_METHOD_REGISTRY.where(lambda m: not m.needs_references)


METHODS = method_names()
INDEXABLE_BASE_METHODS = indexable_base_methods()
"""Base methods whose scores can be cached for every reference text at build time."""
POOLINGS = ("mean", "cls", "last")
OUTPUTS = ("probability", "logit")
IG_REFERENCES = ("zero", "pad", "mask")
CACHE_TARGETS = ("label", "all")
SAMPLINGS = ("iid", "low_variance")
PRESCORE_SECONDS = 60.0
"""How long ``lafa build --lazy`` and the embedded default's build prescore the reference scores
queries will need most by default (``LafaIndex.prescore``): a build's minute buys the first
explanations most of their neighbors' scores."""


def check_lam(value: Any, aggregation: str) -> float:
    """lambda as a float within the range of ``aggregation`` (its registry entry's ``lam_range``)."""
    return AGGREGATION_REGISTRY.get(aggregation).check_lam(aggregation, value)


_METHOD_DEFAULTS = MethodParams()
"""The base methods' parameters are LafaConfig fields too; their defaults live in one place, MethodParams."""


@dataclass
class LafaConfig:
    """Settings of a LAFA index and the defaults of explanations made with it.

    The search defaults are the paper's case II settings (SST-2): SmoothGrad base, encoder layer 2,
    10 neighbors within the 0.39 quantile of pairwise distances, restricted to the class being
    explained. The aggregation defaults are not the paper's: eq. 6-7 with its indicator kernel and
    lambda 0.44 made explanations worse than the base method (evaluation/aggregation_study.md), so
    the default is the normalized aggregation with the cosine kernel and lambda 0.5, which beat the
    base method there; ``LafaConfig(aggregation="paper", kernel="indicator", lam=0.44)`` reproduces
    the paper, and ``lafa tune`` chooses them on your own texts.
    """

    layer: int = field(default=2, metadata={"help": "hidden layer searched for neighbors (0 = embedding output)"})
    """Hidden layer of the model used to find neighbors (0 = embedding output)."""
    pooling: str = field(
        default="mean",
        metadata={
            "help": "token states to one vector per text: mean, first (CLS) or last real token (decoder-only models)"
        },
    )
    """How token states become one vector per text: mean over real tokens, the first (CLS) token, or the
    last real token (what decoder-only classifiers read)."""
    n_neighbors: int = field(default=10, metadata={"help": "neighbors per explained text"})
    quantile: float = field(
        default=0.39, metadata={"help": "distance cut-off eps: this quantile of pairwise distances between references"}
    )
    """Distance cut-off eps = this quantile of pairwise L2 distances between reference texts."""
    eps: float | None = None
    """Set by ``LafaIndex.build``; None means no cut-off."""
    same_label: bool = field(default=True, metadata={"help": "keep only neighbors whose label is the explained class"})
    """Keep only neighbors whose label equals the class being explained."""
    kernel: str = field(default="cosine", metadata={"help": "token-similarity kernel of the aggregation"})
    kernel_params: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "overrides of the kernel's parameters (the paper's by default), a JSON object such as "
            "'{\"length_scale\": 1}' for rbf"
        },
    )
    """Overrides of the kernel's parameters (the defaults are the paper's, in ``kernels.KERNEL_REGISTRY``)."""
    lam: float = field(default=0.5, metadata={"help": "weight of the neighbors' scores (lambda)"})
    aggregation: str = field(
        default="normalized",
        metadata={"help": "how neighbor scores enter a text's (aggregation.py; paper = eq. 6-7 exactly)"},
    )
    """How neighbor scores enter the text's: "paper" (eq. 6-7 exactly: m + lambda * E, E a sum over
    kernel matches) or "normalized" (every text's scores divided by their mean, E the kernel-weighted
    mean of like tokens' relative scores, the result (1 - lambda) * own + lambda * E in the text's
    units; lambda in [0, 1], 0 = the base method). See ``aggregation.py``."""
    neighbor_weighting: str = field(
        default="uniform",
        metadata={"help": "neighbors count equally, or closer ones more (exp(-distance / mean distance))"},
    )
    """Normalized aggregation: neighbors count equally, or by exp(-distance / mean distance)."""
    signed: bool = field(
        default=True,
        metadata={
            "help": "explain with signed scores by default (positive pushes towards the explained class) where the "
            "method has a direction; --no-signed: the paper's magnitudes"
        },
    )
    """Whether explanations are signed by default (``signed=True``: positive pushes towards the
    explained class) for methods with a direction, as the peers' pictures and evaluators read them;
    ``lafa tune`` sets it to the kind it tuned (``--no-signed``: magnitudes). A call's own ``signed``
    wins; methods without a direction give magnitudes."""
    tuning: dict[str, Any] | None = None
    """What ``lafa tune`` measured when it chose these settings (objective, gain, texts); None if untuned."""
    neighbor_scale: str = field(
        default="none",
        metadata={
            "help": "paper aggregation: neighbor scores as computed (none, eq. 7), or rescaled to sum to the "
            "explained text's total (query)"
        },
    )
    """How neighbor scores enter eq. 7: as computed ("none", the paper's formula), or rescaled so
    each neighbor's scores sum to the explained text's total ("query"). Gradient scores of
    confident predictions are orders of magnitude smaller than those of unsure ones, so raw
    neighbor scores can swamp the text's own; rescaling keeps LAFA in the text's units."""
    base_method: str = field(
        default="smooth_grad",
        metadata={"help": "the attribution LAFA smooths (lafa tune --base-methods compares them on your texts)"},
    )
    samples: int = field(
        default=_METHOD_DEFAULTS.samples, metadata={"help": "SmoothGrad / VarGrad / SHAP / LIME samples"}
    )
    """SmoothGrad samples and SHAP draws."""
    sigma: float = field(
        default=_METHOD_DEFAULTS.sigma,
        metadata={"help": "SmoothGrad noise std, as a multiple of the std of the model's input-embedding table"},
    )
    """SmoothGrad noise std, as a multiple of the std of the model's input-embedding table."""
    steps: int = field(default=_METHOD_DEFAULTS.steps, metadata={"help": "integrated-gradients steps"})
    """Integrated-gradients steps."""
    sampling: str = field(
        default=_METHOD_DEFAULTS.sampling,
        metadata={
            "help": "iid (the paper's) or low_variance (antithetic noise, stratified points, Gauss-Legendre nodes: "
            "the same accuracy with fewer samples/steps)"
        },
    )
    """How the sampled methods place their samples: "iid" (the paper's: independent Gaussian noise,
    uniform interpolation points, right Riemann sum for IntegratedGrad) or "low_variance" (the same
    estimators with fewer samples for the same accuracy: antithetic noise pairs +e/-e for
    SmoothGrad/VarGrad, stratified interpolation points for the SHAP variants, Gauss-Legendre nodes
    for IntegratedGrad; benchmarks/RESULTS.md measures the gain)."""
    ig_reference: str = field(
        default=_METHOD_DEFAULTS.ig_reference,
        metadata={
            "help": "integrated-gradients reference: all-zero embeddings, or every token the [PAD] or [MASK] token's "
            "embedding"
        },
    )
    """Integrated-gradients reference: all-zero embeddings, or every token the [PAD] or [MASK] token's embedding."""
    output: str = field(
        default="probability",
        metadata={
            "help": "what is attributed: the target's probability (softmax/sigmoid) or its logit; regression models "
            "use their raw output"
        },
    )
    """What is differentiated: softmax/sigmoid probability of the target, or its logit.
    Regression models always use the raw output value."""
    internal_batch_size: int = field(
        default=_METHOD_DEFAULTS.internal_batch_size,
        metadata={"help": "rows per forward/backward pass when samples or steps are expanded"},
    )
    """Rows per forward/backward when samples or steps are expanded."""
    tokens_per_pass: int = field(
        default=_METHOD_DEFAULTS.tokens_per_pass,
        metadata={
            "help": "padded tokens (rows x width) per forward/backward pass at most: bounds the gradient methods' "
            "memory on long texts; raise it on a GPU with memory to spare"
        },
    )
    """Padded tokens (rows x width) per forward/backward at most: what bounds the memory of the
    gradient methods on long texts (autograd keeps every layer's activations of a pass), at the
    cost of fewer rows a pass there. Raise it on a GPU with memory to spare."""
    index_type: str = field(
        default="flat",
        metadata={
            "help": "flat = exact search (default); approximate = chosen from the number of texts (exact up to 20k, "
            "HNSW up to 100k, IVF + PQ fast scan with exact re-ranking above); or a type itself"
        },
    )
    index_params: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "the index type's parameters, a JSON object (HNSW: M, ef_search, ef_construction; IVF: nlist, "
            "nprobe; IVF-PQ: nlist, m, by_residual, nprobe, k_factor)"
        },
    )
    """HNSW: M, ef_search, ef_construction; IVF: nlist, nprobe; IVF-PQ: nlist, m, by_residual, nprobe, k_factor.
    ``index_type="approximate"`` (no parameters) picks the type and its parameters from the number of
    references when the index is built (``index_types.choose_index``) and saves the pick."""
    cache_targets: str = field(
        default="label",
        metadata={"help": "which targets get cached neighbor scores: each reference's own label(s), or every class"},
    )
    """Which targets get cached neighbor scores: each text's own label(s), or every class."""
    pair_samples: int = field(default=20000, metadata={"help": "random pairs of references sampled to estimate eps"})
    """Random pairs sampled to estimate eps."""
    seed: int = field(
        default=_METHOD_DEFAULTS.seed,
        metadata={"help": "seed of the sampled methods' draws (each text's draws also depend on its tokens)"},
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (type, range, finiteness); raise ValueError naming the bad one and what is allowed."""
        for name in ("layer", "seed"):
            check_integer(name, getattr(self, name), minimum=0)
        for name in ("n_neighbors", "samples", "steps", "internal_batch_size", "tokens_per_pass", "pair_samples"):
            check_integer(name, getattr(self, name), minimum=1)
        check_number("quantile", self.quantile, low=0.0, high=1.0, low_open=True)
        check_number("sigma", self.sigma, low=0.0)
        check_choice("aggregation", self.aggregation, AGGREGATION_REGISTRY.names)
        check_lam(self.lam, self.aggregation)
        if self.eps is not None:
            check_number("eps", self.eps, low=0.0, low_open=True)
        if not isinstance(self.same_label, bool):
            raise ValueError(f"same_label must be true or false, got {self.same_label!r}")
        for name in ("kernel_params", "index_params"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a mapping of parameter names to values, got {getattr(self, name)!r}")
        if self.tuning is not None and not isinstance(self.tuning, dict):
            raise ValueError(f"tuning must be a mapping or null, got {self.tuning!r}")
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("kernel", self.kernel, KERNEL_REGISTRY.names)
        check_choice("base_method", self.base_method, BASE_METHOD_REGISTRY.names)
        check_choice("index_type", self.index_type, index_type_choices())
        check_index_params(self.index_type, self.index_params)
        check_choice("output", self.output, OUTPUTS)
        check_choice("ig_reference", self.ig_reference, IG_REFERENCES)
        check_choice("sampling", self.sampling, SAMPLINGS)
        check_choice("cache_targets", self.cache_targets, CACHE_TARGETS)
        check_choice("neighbor_scale", self.neighbor_scale, NEIGHBOR_SCALES)
        check_choice("neighbor_weighting", self.neighbor_weighting, NEIGHBOR_WEIGHTINGS)
        defaults = KERNEL_REGISTRY.get(self.kernel).defaults
        unknown = set(self.kernel_params) - set(defaults)
        if unknown:
            valid = ", ".join(defaults) or "none"
            raise ValueError(f"Unknown parameter(s) {sorted(unknown)} for kernel {self.kernel!r}; valid: {valid}")
        for name, value in self.index_params.items():
            if is_switch(self.index_type, name):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false, got {value!r}")
            else:
                check_number(name, value)
        for name, value in self.kernel_params.items():
            check_number(name, value)

    def resolved_kernel_params(self, kernel: str | None = None, overrides: dict | None = None) -> dict[str, Any]:
        """The paper's parameters of ``kernel`` with this config's (or ``overrides``) on top."""
        kernel = kernel or self.kernel
        params = dict(KERNEL_REGISTRY.get(kernel).defaults)
        extra = overrides if overrides is not None else (self.kernel_params if kernel == self.kernel else {})
        params.update({k: v for k, v in extra.items() if k in params})
        return params

    def replace(self, **changes: Any) -> LafaConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LafaConfig:
        """A config from saved fields; files written before ``aggregation`` existed used eq. 6-7, and
        those written before ``signed`` existed explained magnitudes."""
        data = {"aggregation": "paper", "signed": False, **data}
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
    def load(cls, path: str | os.PathLike) -> LafaConfig:
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
