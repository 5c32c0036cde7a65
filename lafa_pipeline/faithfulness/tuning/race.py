"""Racing and coordinate ascent: one search's scores of settings on its texts, a candidate dropped once
it is clearly behind, the metric guard's test of a LAFA setting, and lambda followed past its grid.

Example:
    >>> import numpy as np
    >>> clearly_below(np.array([-0.3, -0.2, -0.25, -0.35])), clearly_below(np.array([-0.3, 0.2, -0.1]))
    (True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...aggregation import AGGREGATION_REGISTRY
from ...config import LafaConfig
from .options import EARLY_STOP_Z, LAM_STEP, RACE_FIRST_TEXTS, setting_key

if TYPE_CHECKING:  # the tuner owns the races it runs
    from .search import Tuner


class Race:
    """One search's scores of settings on its texts; with ``early_stop`` a candidate is scored on a
    few texts, then twice as many at each step, and dropped once clearly below the current setting."""

    def __init__(self, tuner: Tuner, ids: Sequence[int]) -> None:
        self.tuner, self.ids = tuner, ids
        self.seen: dict[tuple, float] = {}
        self.dropped: dict[tuple, tuple[float, int]] = {}  # setting -> its mean on the texts it was scored on, how many
        self.guard_base: LafaConfig | None = None
        """The best base method alone: with the metric guard, a LAFA setting must be at least as good as it
        on every metric (means over the texts), set once the base methods alone have been raced."""

    def admissible(self, config: LafaConfig) -> bool:
        """Whether ``config`` may be chosen: a base method alone always; a LAFA setting, with the metric
        guard, only if on no metric it is clearly below the best base method alone on the texts (the
        race's ``clearly_below`` on the paired differences). The objective averages the metrics, so
        without the guard a setting could buy a gain on one metric with a loss on another, and users
        read each metric. The loss must be clear (``guard_z`` standard errors), not any loss of a mean:
        on a few dozen texts a mean below the base's by a hair is noise, and refusing it would refuse
        settings that tie or gain on texts they were not chosen on."""
        if self.guard_base is None or config.lam == 0:
            return True
        gains = self.tuner.metric_gains(config, self.guard_base, self.ids)
        if not any(clearly_below(column, self.tuner.options.guard_z) for column in gains.T):
            return True
        self.tuner.guarded.add(setting_key(config))
        return False

    def score(self, config: LafaConfig) -> float:
        key = setting_key(config)
        if key not in self.seen:  # coordinate ascent revisits its current setting in every round
            self.seen[key] = float(np.nanmean(self.tuner.values(config, self.ids)))
        return self.seen[key]

    def beats(self, candidate: LafaConfig, current: LafaConfig, current_value: float) -> float | None:
        """The candidate's value if it beats the current setting; None once it is clearly below."""
        key, ids, values = setting_key(candidate), self.ids, self.tuner.values
        if key in self.dropped:
            return None
        # (racing against a current setting the guard refuses would drop candidates for losing to it)
        if self.tuner.options.early_stop and key not in self.seen and np.isfinite(current_value):
            reference = values(current, ids)
            for end in race_steps(len(ids)):  # then all of them, below
                if clearly_below(values(candidate, ids[:end]) - reference[:end]):
                    self.dropped[key] = (float(np.nanmean(values(candidate, ids[:end]))), end)
                    return None
        value = self.score(candidate)
        return value if value > current_value + 1e-12 and self.admissible(candidate) else None

    def ascend(self, current: LafaConfig, space: dict[str, tuple], rounds: int) -> tuple[LafaConfig, float]:
        """Coordinate ascent from ``current`` over ``space`` (setting -> choices), at most ``rounds`` rounds;
        a start the metric guard refuses counts as -inf, so that any admissible candidate replaces it."""
        current_value = self.score(current) if self.admissible(current) else -np.inf
        for _ in range(rounds):
            changed = False
            for name, choices in space.items():
                for choice in choices:
                    candidate = current.replace(**{name: choice})
                    candidate_value = self.beats(candidate, current, current_value)
                    if candidate_value is not None:
                        current, current_value, changed = candidate, candidate_value, True
                if name == "lam":
                    current, current_value, extended = self.beyond_grid(current, current_value, choices)
                    changed = changed or extended
            if not changed:
                break
        return current, current_value

    def beyond_grid(self, current: LafaConfig, current_value: float, choices: tuple) -> tuple[LafaConfig, float, bool]:
        """Lambdas past the grid's largest, ``LAM_STEP`` times larger at each step within the
        aggregation's ``lam_range``, while each beats the current setting (and is admissible): where
        the grid's edge wins, the best lambda may lie beyond it (the paper aggregation's grid ends at 1,
        its range at ``MAX_PAPER_LAM``). Whether it moved."""
        if not choices or current.lam < max(choices):
            return current, current_value, False
        high = AGGREGATION_REGISTRY.get(current.aggregation).lam_range[1]
        moved = False
        lam = current.lam * LAM_STEP
        while lam <= high:
            candidate = current.replace(lam=lam)
            value = self.beats(candidate, current, current_value)
            if value is None:
                break
            current, current_value, moved = candidate, value, True
            lam *= LAM_STEP
        return current, current_value, moved

    def history(self, objective: str) -> list[dict]:
        return [{**dict(k), objective: v} for k, v in self.seen.items()] + [
            {**dict(k), objective: v, "dropped_after_texts": n} for k, (v, n) in self.dropped.items()
        ]


def clearly_below(diff: np.ndarray, z: float = EARLY_STOP_Z) -> bool:
    """Whether paired differences (NaN: a text without a value, left out) are below zero by ``z``
    standard errors: the race's drop rule and the rule for bases left out of LAFA (``EARLY_STOP_Z``),
    the metric guard's (``GUARD_Z``)."""
    diff = diff[~np.isnan(diff)]
    return bool(len(diff) > 1 and diff.mean() + z * diff.std(ddof=1) / np.sqrt(len(diff)) < 0)


def race_steps(n: int) -> list[int]:
    """How many texts a raced candidate is scored on before each early look: ``RACE_FIRST_TEXTS``
    (or half the texts, at least 2, when there are fewer than twice as many), then doubling, below
    ``n``. Halving keeps a race on few texts (a quick evaluation's folds) from scoring every
    candidate on every text.

    >>> race_steps(40), race_steps(16), race_steps(6), race_steps(2)
    ([8, 16, 32], [8], [3], [])
    """
    steps, end = [], min(RACE_FIRST_TEXTS, max(2, -(-n // 2)))
    while end < n:
        steps.append(end)
        end *= 2
    return steps


def starting_point(start: LafaConfig, aggregation: str) -> LafaConfig:
    """Where the search over ``aggregation`` begins: the repo's settings with that aggregation, at the
    entry's ``tuning_start_lam`` when switching to it, else the repo's lambda if it is in range."""
    if start.aggregation == aggregation:
        return start
    entry = AGGREGATION_REGISTRY.get(aggregation)
    low, high = entry.lam_range
    lam = entry.tuning_start_lam if entry.tuning_start_lam is not None else min(max(start.lam, low), high)
    return start.replace(aggregation=aggregation, lam=lam)
