"""The model card a saved LAFA repo carries: ``model_card.md`` (beside this module) filled with the
repo's facts (model, reference data, settings, what ``lafa tune`` measured).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .base_methods import has_direction
from .metric_registry import METRIC_REGISTRY, names
from .tuning_report import AfterCheck, TuningReport

if TYPE_CHECKING:  # the pipeline imports this module to save its card
    from .feature_attribution import FeatureAttributionPipeline


SIGNED_SCORES = (
    "Token scores are signed by default: the base method's attribution summed over the embedding "
    "dimension, positive where a word pushes towards the explained class, negative where it pushes away "
    "(LAFA mixes them with the neighbors' signed scores; `signed=False` gives the paper's magnitudes)."
)
MAGNITUDE_SCORES = (
    "Token scores are the base method's attribution squared and summed over the embedding dimension "
    "(non-negative; `signed=True` gives signed scores for the methods with a direction)."
)


def render_model_card(pipe: FeatureAttributionPipeline) -> str | None:
    """The model card template (model_card.md beside this module) filled with this pipeline's facts."""
    template_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_card.md")
    if not os.path.isfile(template_path):  # remote-code copies carry only .py files
        return None
    with open(template_path, encoding="utf-8") as f:
        template = f.read()
    cfg = pipe.lafa_config
    index = pipe.index
    values = {
        "base_model": getattr(pipe.model.config, "_name_or_path", "") or type(pipe.model).__name__,
        "architecture": type(pipe.model).__name__,
        "problem_type": pipe.lafa.adapter.problem_type,
        "labels": ", ".join(str(v) for _, v in sorted((pipe.model.config.id2label or {}).items())),
        "reference_data": (index.meta.get("description") or f"{len(index)} reference texts")
        if index is not None
        else "none (base methods only)",
        "num_references": len(index) if index is not None else 0,
        "layer": cfg.layer,
        "pooling": cfg.pooling,
        "kernel": cfg.kernel,
        "kernel_params": cfg.resolved_kernel_params(),
        "lam": cfg.lam,
        "aggregation": cfg.aggregation,
        "neighbor_weighting": cfg.neighbor_weighting,
        "tuning": tuning_text(cfg.tuning),
        "eps": "none" if cfg.eps is None else f"{cfg.eps:.4f}",
        "quantile": cfg.quantile,
        "n_neighbors": cfg.n_neighbors,
        "same_label": cfg.same_label,
        "base_method": cfg.base_method,
        "index_type": cfg.index_type,
        "default_method": pipe.default_method().name,
        "metadata": _card_metadata(pipe),
        "scores": SIGNED_SCORES if cfg.signed and has_direction(cfg.base_method) else MAGNITUDE_SCORES,
    }
    return template.format(**values)


def _card_metadata(pipe: FeatureAttributionPipeline) -> str:
    """Extra YAML front matter: the base model and the reference dataset when they are Hub ids."""
    lines = []
    base = getattr(pipe.model.config, "_name_or_path", "") or ""
    if _looks_like_hub_id(base):
        lines += ["base_model:", f"- {base}"]
    dataset = (pipe.index.meta.get("dataset") if pipe.index is not None else None) or ""
    if _looks_like_hub_id(dataset):
        lines += ["datasets:", f"- {dataset}"]
    return "".join(line + "\n" for line in lines)


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not os.path.exists(name) and " " not in name


def tuning_text(tuning: dict | None) -> str:
    """The model card's account of ``lafa tune`` (``LafaConfig.tuning``, a ``TuningReport``'s record), or
    that the settings were not tuned."""
    if not tuning:
        return "These settings were not tuned on this model (`lafa tune` chooses them on your texts)."
    report = TuningReport.from_dict(tuning)
    return "".join(
        [
            _chosen_text(report),
            _sample_text(report),
            _alone_text(report),
            f" Texts: {report.source}." if report.source else "",
            _check_text(report),
            checked_text(report.checked),
        ]
    )


def _chosen_text(report: TuningReport) -> str:
    """What was maximised, what it reached, and the rules the pick obeyed."""
    objective = report.objective
    meaning = (
        f"{METRIC_REGISTRY.get(objective).description}, higher is better"
        if objective in METRIC_REGISTRY
        else "higher is better"
    )
    text = (
        f"Chosen by `lafa tune` on {report.tuning_texts} texts ({report.settings_tried} settings tried) "
        f"by {objective} ({meaning}): {report.tuned_value:.4f} against {report.base_value:.4f} for the best "
        f"base method alone (gain {report.gain:+.4f})."
    )
    if report.signed:
        text += (
            " Measured on signed scores (words pushing towards the explained class masked first; base methods "
            "without a direction by magnitude), so the repo explains with signed scores by default "
            "(`signed=False` gives magnitudes)."
        )
    if report.metric_guard:
        text += (
            " A LAFA setting could only be chosen if it was not clearly below "
            f"({report.guard_z:g} standard errors) the best base method alone on any of "
            f"{', '.join(names('faithfulness', objective=False))}"
            f" ({report.settings_refused_by_guard} settings the search reached were not)."
        )
    return text


def _sample_text(report: TuningReport) -> str:
    if not report.sampled:
        return ""
    return (
        f" The texts were a seeded sample of {report.texts_sampled} of the {report.texts_given} given, "
        f"as many as fit in {report.max_tokens} tokens."
    )


def _alone_text(report: TuningReport) -> str:
    """Each base method alone, and those left out of the LAFA search for cost."""
    text = ""
    if len(report.base_methods) > 1:
        text += (
            " Each base method alone: "
            + ", ".join(
                f"{m} {v:.4f}" if v is not None else f"{m} (dropped early, clearly behind)"
                for m, v in report.base_methods.items()
            )
            + "."
        )
    if report.over_reference_budget:
        text += (
            f" Compared alone only (scoring the references with them would have cost more than the budget of "
            f"{(report.reference_budget or 0) / 1e6:.0f}M tokens of model work): "
            f"{', '.join(report.over_reference_budget)}."
        )
    return text


def _check_text(report: TuningReport) -> str:
    """The check on texts the pick was not chosen on, and whether it kept the base method alone."""
    text = ""
    held = report.held_out
    if held and held.gain.n and held.folds:
        text += (
            f" Cross-validated ({held.folds} folds: the tuning rerun without each fold and its pick checked "
            f"on that fold, {held.gain.n} texts in all), the gain over the base method was "
            f"{held.gain.mean_diff:+.4f} (95 % CI [{held.gain.ci95[0]:+.4f}, {held.gain.ci95[1]:+.4f}])."
        )
    elif held and held.gain.n:
        measured = f" in {held.metric}" if held.metric else ""
        text += (
            f" On {held.gain.n} held-out texts the gain over the base method{measured} was "
            f"{held.gain.mean_diff:+.4f} (95 % CI [{held.gain.ci95[0]:+.4f}, {held.gain.ci95[1]:+.4f}])."
        )
    if report.folds_skipped:
        text += (
            f" Not cross-validated ({report.folds_skipped} folds): the pick is a base method alone, which the "
            "folds could not change."
        )
    if report.kept_base_for:
        text += (
            " On texts it had not seen the tuned setting was clearly below the base method on "
            f"{', '.join(report.kept_base_for)}, so the base method alone is used (lambda = 0)."
        )
    elif report.kept_base:
        text += " The tuning did not gain on texts it had not seen, so the base method alone is used (lambda = 0)."
    return text


def verdict(low: float, high: float) -> str:
    """Better, tie or worse from the 95 % CI of LAFA minus a method (positive = LAFA better).

    Example:
        >>> verdict(0.01, 0.05), verdict(-0.01, 0.02), verdict(-0.03, -0.001)
        ('better', 'tie', 'worse')
    """
    return "better" if low > 0 else "worse" if high < 0 else "tie"


def checked_text(checked: AfterCheck | None) -> str:
    """A check after tuning, on texts it did not see (``TuningReport.checked``: per method, per metric,
    LAFA minus the method as [mean, CI low, CI high], positive = LAFA better) as a table with a verdict
    per cell, so the card says where LAFA gains and where it does not.

    Example:
        >>> print(checked_text(AfterCheck("40 texts", {"occlusion": {"deletion_auc": [0.05, 0.03, 0.07]}})))
        <BLANKLINE>
        <BLANKLINE>
        Checked on 40 texts: LAFA minus each method, 95 % CI (positive = LAFA better; deletion and sufficiency flipped).
        <BLANKLINE>
        | LAFA minus | deletion_auc |
        | --- | --- |
        | occlusion | +0.050 [+0.030, +0.070] better |
    """
    if not checked or not checked.vs:
        return ""
    metrics = list(dict.fromkeys(metric for row in checked.vs.values() for metric in row))
    lines = [
        "",
        "",
        f"Checked on {checked.texts}: LAFA minus each method, 95 % CI (positive = LAFA better; deletion and "
        "sufficiency flipped).",
        "",
        "| LAFA minus | " + " | ".join(metrics) + " |",
        "| --- |" + " --- |" * len(metrics),
    ]
    for method, row in checked.vs.items():
        cells = []
        for metric in metrics:
            if metric not in row:
                cells.append("")
                continue
            mean, low, high = row[metric]
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] {verdict(low, high)}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
