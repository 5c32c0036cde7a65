"""``lafa tune``'s options as one dataclass (``lafa tune``'s command-line options are generated from its
fields and their help), with the constants behind their defaults and the check of their values.

Example:
    >>> TuneOptions(folds=5).checked().folds
    5
    >>> TuneOptions(holdout=0.3).checked().folds  # a held-out share instead of folds
    0
    >>> TuneOptions(objective="f1").checked()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown objective 'f1'; valid choices: insertion_minus_deletion, ..., all_four
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...aggregation import AGGREGATION_REGISTRY
from ...config import LafaConfig
from ...metric_registry import names
from ...registry import check_choice

OBJECTIVE = "all_four"
"""The default objective: over the settings one tuning run tries, it agreed best with each of the
others and with human gold word scores (Kendall's tau; docs/results.md)."""
GUARD_Z = 2.0
"""The metric guard refuses a LAFA setting whose paired mean difference from the best base method alone,
on some metric, is below zero by this many standard errors."""
EARLY_STOP_Z = 2.0
"""A candidate setting is dropped once its mean gain over the current one, on the first texts it was
scored on, is below zero by this many standard errors (racing: most settings lose clearly)."""
RACE_FIRST_TEXTS = 8
"""With early stopping, a candidate is first scored on this many texts, then on twice as many at
each step (successive halving over texts): most candidates lose clearly on the first few, and on
long texts every text scored costs dozens of model passes."""
MAX_BASE_METHODS = 2
"""Base methods whose LAFA settings are searched: the best ones alone (lambda = 0) on the tuning texts.
Each base searched needs its scores of the texts' neighbors at every layer searched (most of a small
index), which costs far more than scoring the texts: the others stop at lambda = 0."""
MAX_TUNING_TOKENS = 4096
"""The tuning runs on a seeded sample of the texts given, as many as fit in this many tokens (at least
``MIN_TUNING_TEXTS``): each text costs model passes in proportion to its length, so this bounds the
run's cost whatever the texts' number and length (about 170 short sentences)."""
MIN_TUNING_TEXTS = 24
REFERENCE_BUDGET = 8_000_000
"""Model work (``model_adapter.ModelWork``: token positions, a differentiated pass counting three
times) that scoring the references under another base method may cost before LAFA is searched on it:
estimated from that method's work per token on the tuning texts, times the tokens of the references
the search can read that have no scores for it. Counted, not timed, so that the choice does not
depend on the machine."""
LAM_STEP = 3.0
"""Where the largest lambda of an aggregation's grid is the best so far, the search goes on past it,
this many times larger at each step while that keeps winning, up to the aggregation's ``lam_range``:
the paper aggregation's eq. 7 divides each neighbor's scores by its length and the neighbor count, so
the weight that suits a case can be far above its grid."""
SHARED_SETTINGS = ("kernel", "n_neighbors")
"""Settings that mean the same under every aggregation: unless ``every_aggregation_fully``, an
aggregation searched after the repo's keeps the best values found for them (and the base method and
layer) and first searches only its own."""
AUTO_LAYERS_MAX_REFERENCES = 50_000
"""Up to this many references, ``layers="auto"`` compares every hidden layer (one forward pass over the
references); above it only the repo's layer."""


def comma_list(text: str, convert: Callable[[str], Any]) -> list | str:
    """A command-line list ("0,2,4") read item by item; "auto", or a text that is no such list, as given
    (the tuner's check of the option then names the valid values).

    >>> comma_list("0, 2,4", int), comma_list("auto", int), comma_list("first", int)
    ([0, 2, 4], 'auto', 'first')
    """
    if text == "auto":
        return text
    try:
        return [convert(part.strip()) for part in text.split(",")]
    except ValueError:
        return text


def whole_or_all(text: str) -> int | None:
    """A command-line limit: a whole number, 0 meaning none (None).

    >>> whole_or_all("0"), whole_or_all("3")
    (None, 3)
    """
    try:
        return int(text) or None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (0: no limit), got {text!r}") from None


def tuned_fields() -> tuple[str, ...]:
    """The settings a tuning chooses: the base method, aggregation and layer, and every setting some
    registered aggregation's ``search_space`` varies (so an aggregation that adds one is searched, kept
    apart in the tuner's cache and saved, without a list to update)."""
    spaces = (AGGREGATION_REGISTRY.get(name).search_space for name in AGGREGATION_REGISTRY.names)
    return ("base_method", "aggregation", "layer") + tuple(dict.fromkeys(k for space in spaces for k in space))


@dataclass(frozen=True)
class TuneOptions:
    """How ``tune_explainer`` searches and checks; every field is a ``lafa tune`` option of the same name."""

    folds: int | None = field(
        default=None,
        metadata={
            "help": "cross-validate the tuning over this many folds and keep the base method alone unless it "
            "gains on texts it did not see (default 3 unless --holdout; 0: no check; skipped when the pick is a "
            "base method alone, unless --full-search)"
        },
    )
    holdout: float = field(
        default=0.0,
        metadata={"help": "instead of --folds: share of the texts kept out of tuning for that check (e.g. 0.3)"},
    )
    layers: Sequence[int] | str = field(
        default="auto",
        metadata={
            "help": "hidden layers to compare for the neighbor search, e.g. 0,2,4 (0 = embedding output); "
            f"'auto': every layer up to {AUTO_LAYERS_MAX_REFERENCES:,} references, else the repo's own",
            "parse": lambda text: comma_list(text, int),
        },
    )
    base_methods: Sequence[str] | str = field(
        default="auto",
        metadata={
            "help": "base methods LAFA may smooth, e.g. smooth_grad,integrated_grad (each is also tried alone); "
            "'auto': the gradient methods and occlusion (signed: those with a direction, LIME and KernelSHAP); "
            "a new one's reference scores are computed as "
            "needed and saved with the repo",
            "parse": lambda text: comma_list(text, str),
        },
    )
    objective: str = field(
        default=OBJECTIVE,
        metadata={
            "help": "what is maximised per text: a faithfulness objective of the metric registry (or, for "
            "texts with gold words, a gold metric such as token_auc or pearson)"
        },
    )
    max_base_methods: int | None = field(
        default=MAX_BASE_METHODS,
        metadata={
            "help": "search LAFA's settings on only this many base methods, the best alone (None / 0: all): "
            "each needs its scores of the texts' neighbors",
            "parse": whole_or_all,
        },
    )
    max_tokens: int | None = field(
        default=MAX_TUNING_TOKENS,
        metadata={
            "help": "tune on a seeded sample of the texts that fits in this many tokens (about 170 short "
            "sentences; None / 0: every text): the run's cost grows with the tokens tuned on",
            "parse": whole_or_all,
        },
    )
    reference_budget: float | None = field(
        default=REFERENCE_BUDGET,
        metadata={
            "help": "search LAFA on a base method the index has no scores of only if scoring with it the "
            "references the search can read (the tuning texts' nearest ones at every layer searched) is "
            "estimated to cost at most this many tokens of model work (about 15 minutes on 2 CPU cores for "
            "each base searched; inf / None: no limit); every base method alone is compared anyway"
        },
    )
    early_stop: bool = field(
        default=True,
        metadata={
            "help": "drop a candidate once it is clearly behind on its first texts, and skip the folds when "
            "the pick is a base method alone"
        },
    )
    every_aggregation_fully: bool = field(
        default=False,
        metadata={
            "help": "search every aggregation over every setting from the repo's (else aggregations after the "
            "repo's start from the best setting found and search their own settings first)"
        },
    )
    signed: bool = field(
        default=True,
        metadata={
            "help": "tune the scores signed=True gives (the default): the metrics mask the words that push "
            "towards the explained class first, as ferret and Interpreto read them; base methods without a "
            "direction are measured by magnitude; the tuned repo explains as it was tuned (--no-signed: magnitudes)"
        },
    )
    metric_guard: bool = field(
        default=True,
        metadata={
            "help": "choose a LAFA setting only if on the tuning texts it is not clearly below (guard_z "
            "standard errors) the best base method alone on any faithfulness metric, not only better on the "
            "objective, and keep it only if the cross-validated check finds no such loss either"
        },
    )
    guard_z: float = field(
        default=GUARD_Z,
        metadata={
            "help": "how many standard errors below zero a metric's mean difference must be for the guard to "
            "refuse (smaller refuses smaller losses, and more settings)"
        },
    )
    rounds: int = field(default=2, metadata={"help": "coordinate-ascent rounds"})
    steps: int = field(default=10, metadata={"help": "masking steps of the deletion/insertion curves"})
    seed: int = field(default=0, metadata={"help": "seed of the sample of texts and of the folds"})
    show_progress: bool = field(default=True, metadata={"help": "show progress bars"})

    def replace(self, **changes) -> TuneOptions:
        return dataclasses.replace(self, **changes)

    def checked(self, gold: bool = False) -> TuneOptions:
        """These options with ``folds`` resolved (3 unless a holdout is given), or a ValueError naming the
        bad value and the valid ones (``gold``: the texts have gold words, so gold metrics are objectives too)."""
        if not 0.0 <= self.holdout < 1.0:
            raise ValueError(f"holdout must be in [0, 1), got {self.holdout}")
        if self.folds is not None and (self.folds < 0 or (self.holdout and self.folds > 1)):
            raise ValueError(
                f"choose one check: folds >= 2 (cross-validation) or holdout in (0, 1), not both; "
                f"got folds={self.folds}, holdout={self.holdout}"
            )
        check_choice(
            "objective", self.objective, names("faithfulness", objective=True) + (names("gold") if gold else ())
        )
        for name, what in (("max_base_methods", "(all)"), ("max_tokens", "(every text)")):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None {what}, got {value!r}")
        budget = self.reference_budget
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget < 0):
            raise ValueError(f"reference_budget must be a number >= 0 or None (no limit), got {budget!r}")
        z = self.guard_z
        if isinstance(z, bool) or not isinstance(z, (int, float)) or not z >= 0:
            raise ValueError(f"guard_z must be a number of standard errors >= 0, got {z!r}")
        if not isinstance(self.signed, (bool, np.bool_)):
            raise ValueError(f"signed must be True or False, got {self.signed!r}")
        folds = (0 if self.holdout else 3) if self.folds is None else self.folds
        return self.replace(folds=folds, signed=bool(self.signed), guard_z=float(z))


def tuned_settings(config: LafaConfig) -> dict[str, Any]:
    """``config``'s values of the tuned settings (``tuned_fields``)."""
    return {k: getattr(config, k) for k in tuned_fields()}


def setting_key(config: LafaConfig) -> tuple:
    """A setting as a dict key: its tuned settings."""
    return tuple(sorted(tuned_settings(config).items()))
