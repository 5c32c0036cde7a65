"""What ``lafa tune`` found, typed: the record a tuned repo keeps in ``LafaConfig.tuning`` and its model
card, the CLI summary and the paper report read.

A saved repo stores the record as JSON (``to_dict``); ``from_dict`` reads it back, also from repos
saved by older releases (absent fields take their defaults; fields this release does not know are
kept and written back unchanged). This module is core (the model card, copied to the Hub with the
pipeline, reads it).

Example:
    >>> report = TuningReport.from_dict({"objective": "all_four", "tuning_texts": 40, "settings_tried": 12,
    ...                                  "base_value": 0.10, "tuned_value": 0.12, "gain": 0.02, "note": "kept"})
    >>> report.gain, report.held_out is None, report.to_dict()["note"]
    (0.02, True, 'kept')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Comparison:
    """A paired comparison over texts (``faithfulness.metrics.paired``): mean of a - b, its 95 %
    bootstrap interval, a's share of wins and ties, and the number of texts compared."""

    mean_diff: float
    ci95: tuple[float, float]
    wins: float
    n: int
    ties: float = float("nan")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        return cls(
            float(d["mean_diff"]), (float(d["ci95"][0]), float(d["ci95"][1])), float(d["wins"]), int(d["n"]),
            float(d.get("ties", float("nan"))),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"mean_diff": self.mean_diff, "ci95": list(self.ci95), "wins": self.wins, "ties": self.ties, "n": self.n}

    def __str__(self) -> str:
        return f"{self.mean_diff:+.4f} [{self.ci95[0]:+.4f}, {self.ci95[1]:+.4f}]"


@dataclass(frozen=True)
class TuningCheck:
    """The check of a pick on texts it was not chosen on: the pick's objective against its best base
    method alone (``gain``), per metric (positive = better), the metrics on which it was clearly below,
    and the folds (None: one held-out share)."""

    gain: Comparison
    metrics: dict[str, Comparison] = field(default_factory=dict)
    below: list[str] = field(default_factory=list)
    folds: int | None = None
    metric: str | None = None
    """What the gain measures where it is not the objective (records of older releases)."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuningCheck:
        return cls(
            Comparison.from_dict(d),
            {name: Comparison.from_dict(c) for name, c in (d.get("metrics") or {}).items()},
            list(d.get("below") or []),
            d.get("folds"),
            d.get("metric"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.gain.to_dict(), "metrics": {k: c.to_dict() for k, c in self.metrics.items()}}
        out["below"] = list(self.below)
        if self.folds:
            out["folds"] = self.folds
        if self.metric:
            out["metric"] = self.metric
        return out


@dataclass(frozen=True)
class AfterCheck:
    """A check after tuning on texts it did not see, as the embedded default's build records it:
    which texts, and per other method and metric LAFA's difference (mean, 95 % CI low, high)."""

    texts: str
    vs: dict[str, dict[str, list[float]]]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AfterCheck:
        return cls(str(d["texts"]), {m: {k: list(v) for k, v in by.items()} for m, by in d["vs"].items()})

    def to_dict(self) -> dict[str, Any]:
        return {"texts": self.texts, "vs": self.vs}


@dataclass
class TuningReport:
    """``lafa tune``'s record of one run (see the fields' comments)."""

    objective: str = "all_four"
    tuning_texts: int = 0
    settings_tried: int = 0
    base_value: float = float("nan")
    """The best base method alone's objective on the tuning texts."""
    tuned_value: float = float("nan")
    gain: float = float("nan")
    signed: bool = False
    texts_given: int = 0
    texts_sampled: int = 0
    """The sample within ``max_tokens``: tuning texts plus any held out."""
    max_tokens: int | None = None
    settings_dropped_early: int = 0
    metric_guard: bool = False
    guard_z: float = 2.0
    settings_refused_by_guard: int = 0
    """Settings (in any search, the folds' included) below the best base method alone on some metric."""
    held_out: TuningCheck | None = None
    kept_base: bool = False
    rejected: dict[str, Any] | None = None
    """The LAFA pick the check overturned: its settings and objective value."""
    kept_base_for: list[str] = field(default_factory=list)
    """The metrics on which the check found the pick clearly below its base (the guard kept the base)."""
    base_methods: dict[str, float | None] = field(default_factory=dict)
    """Each base method alone on the tuning texts (None: dropped early, clearly behind)."""
    reference_budget: float | None = None
    over_reference_budget: dict[str, float] = field(default_factory=dict)
    """Base methods compared alone only: scoring the references would cost this much model work."""
    behind_best_alone: list[str] = field(default_factory=list)
    folds_skipped: int | None = None
    """The folds not searched because the pick was a base method alone."""
    fold_picks: list[dict[str, Any]] | None = None
    settings_with_folds: int | None = None
    source: str | None = None
    """Where the tuning texts came from (set by whoever publishes the repo)."""
    checked: AfterCheck | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields of a record this release does not know, written back unchanged."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuningReport:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in d.items() if k in known}
        if kwargs.get("held_out") is not None:
            kwargs["held_out"] = TuningCheck.from_dict(kwargs["held_out"])
        if kwargs.get("checked") is not None:
            kwargs["checked"] = AfterCheck.from_dict(kwargs["checked"])
        for name in ("kept_base_for", "behind_best_alone"):
            kwargs[name] = list(kwargs.get(name) or [])
        for name in ("base_methods", "over_reference_budget"):
            kwargs[name] = dict(kwargs.get(name) or {})
        return cls(**kwargs, extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``LafaConfig.tuning``); fields left at None are left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                out.update(value)
            elif isinstance(value, (TuningCheck, AfterCheck)):
                out[f.name] = value.to_dict()
            elif value is not None or f.name in ("held_out", "rejected", "max_tokens", "reference_budget"):
                out[f.name] = value
        return out

    @property
    def sampled(self) -> bool:
        """Whether the tuning ran on a sample of the texts given (``max_tokens``)."""
        return self.texts_given > (self.texts_sampled or self.texts_given)
