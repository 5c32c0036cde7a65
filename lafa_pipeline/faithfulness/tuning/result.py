"""The result of a tuning run: the chosen config, its typed report, every setting tried, and the index at
the chosen layer, which ``apply`` puts in an explainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config import LafaConfig
from ...tuning_report import TuningCheck, TuningReport
from .options import tuned_settings


@dataclass
class TuningResult:
    """The chosen config (its ``tuning`` holds ``report``'s record), the run's typed report, every setting
    tried, and the index searched at the chosen layer (the repo's own when neither the layer nor the
    base method changed)."""

    config: LafaConfig
    report: TuningReport
    trials: list[dict] = field(default_factory=list)
    index: Any = None

    @property
    def best_value(self) -> float:
        return self.report.tuned_value

    @property
    def base_value(self) -> float:
        return self.report.base_value

    @property
    def n_texts(self) -> int:
        return self.report.tuning_texts

    @property
    def holdout(self) -> TuningCheck | None:
        """The check on texts the pick was not chosen on (folds or a held-out share); None without one."""
        return self.report.held_out

    def apply(self, explainer) -> None:
        """Make ``explainer`` explain with the chosen settings (and the index at the chosen layer)."""
        explainer.use_settings(self.config, self.index)

    def summary(self) -> str:
        """What a user reads after ``lafa tune``: the pick, its gain, and why anything was left out."""
        report = self.report
        objective = report.objective + (
            " of signed scores (the repo now explains signed by default)" if report.signed else ""
        )
        dropped = sum("dropped_after_texts" in t for t in self.trials)
        lines = [
            f"chosen: {tuned_settings(self.config)}",
            f"{objective} on {report.tuning_texts} tuning texts: {report.tuned_value:.4f} "
            f"(best base method alone {report.base_value:.4f}, gain {report.tuned_value - report.base_value:+.4f}); "
            f"{len(self.trials)} settings tried ({dropped} dropped early, clearly behind)",
        ]
        if report.sampled:
            lines.append(
                f"tuned on a sample of {report.texts_sampled} of the {report.texts_given} texts "
                f"(at most {report.max_tokens} tokens; max_tokens / --max-tokens to change)"
            )
        if report.settings_refused_by_guard:
            lines.append(
                f"{report.settings_refused_by_guard} settings clearly below the best base method alone on some "
                "metric were refused by the metric guard (metric_guard / --no-metric-guard)"
            )
        if report.behind_best_alone:
            lines.append(
                "not searched with LAFA, clearly behind the best base method alone: "
                + ", ".join(report.behind_best_alone)
            )
        for base, cost in report.over_reference_budget.items():
            lines.append(
                f"{base}: compared alone only; scoring the references with it would cost about "
                f"{cost / 1e6:.0f}M tokens of model work (budget {(report.reference_budget or 0) / 1e6:.0f}M; "
                "reference_budget / --reference-budget to change)"
            )
        if len(report.base_methods) > 1:
            lines.append(
                "base methods alone: "
                + ", ".join(
                    f"{m} {v:.4f}" if v is not None else f"{m} (dropped early)" for m, v in report.base_methods.items()
                )
            )
        return "\n".join(lines + self.check_lines())

    def check_lines(self) -> list[str]:
        """The summary's account of the check and of a pick it overturned."""
        report, held, lines = self.report, self.report.held_out, []
        if held:
            where = (
                f"cross-validated ({held.folds} folds, each of {held.gain.n} texts held out once)"
                if held.folds
                else f"held out ({held.gain.n} texts)"
            )
            low, high = held.gain.ci95
            lines.append(
                f"{where}: gain {held.gain.mean_diff:+.4f}, 95 % CI [{low:+.4f}, {high:+.4f}], "
                f"better on {held.gain.wins:.0%}"
            )
            if report.kept_base:
                why = (
                    f"clearly below the base method on {', '.join(report.kept_base_for)} there (metric guard)"
                    if report.kept_base_for
                    else "no gain on the held-out texts"
                )
                lines.append(f"{why}: kept the base method alone (lambda = 0) instead of {report.rejected}")
        if report.folds_skipped:
            lines.append(
                f"not cross-validated ({report.folds_skipped} folds): the pick is a base method alone, which "
                "the folds could not change (early_stop=False / --full-search runs them)"
            )
        return lines
