"""The model card a saved LAFA repo carries: ``model_card.md`` (beside this module) filled with the
repo's facts (model, reference data, settings, what ``lafa tune`` measured).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pipeline imports this module to save its card
    from .feature_attribution import FeatureAttributionPipeline


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


# What each of ``faithfulness.tune.OBJECTIVES`` measures (named here: a Hub copy of this module has no
# faithfulness package to import them from).
OBJECTIVE_WORDS = {
    "insertion_minus_deletion": "insertion minus deletion area of the explained probability, higher is better",
    "comprehensiveness_minus_sufficiency": "ERASER's comprehensiveness minus sufficiency, higher is better",
    "all_four": "the mean of insertion minus deletion and comprehensiveness minus sufficiency, higher is better",
}


def tuning_text(tuning: dict | None) -> str:
    """The model card's account of ``lafa tune`` (or that the settings were not tuned)."""
    if not tuning:
        return "These settings were not tuned on this model (`lafa tune` chooses them on your texts)."
    text = (
        f"Chosen by `lafa tune` on {tuning['tuning_texts']} texts ({tuning['settings_tried']} settings tried) "
        f"by {tuning['objective']} ({OBJECTIVE_WORDS.get(tuning['objective'], 'higher is better')}): "
        f"{tuning['tuned_value']:.4f} against {tuning['base_value']:.4f} for the best base method alone "
        f"(gain {tuning['gain']:+.4f})."
    )
    if tuning.get("signed"):
        text += (
            " Measured on signed scores (words pushing towards the explained class masked first; base methods "
            "without a direction by magnitude), so the repo explains with signed scores by default "
            "(`signed=False` gives magnitudes)."
        )
    if tuning.get("metric_guard"):
        text += (
            " A LAFA setting could only be chosen if it was not clearly below "
            f"({tuning.get('guard_z', 2.0):g} standard errors) the best base method alone on any of deletion, "
            "insertion, comprehensiveness and sufficiency"
            f" ({tuning.get('settings_refused_by_guard', 0)} settings the search reached were not)."
        )
    if tuning.get("texts_given", 0) > tuning.get("texts_sampled", tuning.get("texts_given", 0)):
        text += (
            f" The texts were a seeded sample of {tuning['texts_sampled']} of the {tuning['texts_given']} given, "
            "as many as fit in "
            f"{tuning['max_tokens']} tokens."
        )
    alone = tuning.get("base_methods") or {}
    if len(alone) > 1:
        text += (
            " Each base method alone: "
            + ", ".join(
                f"{m} {v:.4f}" if v is not None else f"{m} (dropped early, clearly behind)" for m, v in alone.items()
            )
            + "."
        )
    over = tuning.get("over_reference_budget") or {}
    if over:
        text += (
            f" Compared alone only (scoring the references with them would have cost more than the budget of "
            f"{tuning['reference_budget'] / 1e6:.0f}M tokens of model work): {', '.join(over)}."
        )
    if tuning.get("source"):
        text += f" Texts: {tuning['source']}."
    held = tuning.get("held_out")
    if held and held.get("n") and held.get("folds"):
        text += (
            f" Cross-validated ({held['folds']} folds: the tuning rerun without each fold and its pick checked "
            f"on that fold, {held['n']} texts in all), the gain over the base method was "
            f"{held['mean_diff']:+.4f} (95 % CI [{held['ci95'][0]:+.4f}, {held['ci95'][1]:+.4f}])."
        )
    elif held and held.get("n"):
        measured = f" in {held['metric']}" if held.get("metric") else ""
        text += (
            f" On {held['n']} held-out texts the gain over the base method{measured} was "
            f"{held['mean_diff']:+.4f} (95 % CI [{held['ci95'][0]:+.4f}, {held['ci95'][1]:+.4f}])."
        )
    if tuning.get("folds_skipped"):
        text += (
            f" Not cross-validated ({tuning['folds_skipped']} folds): the pick is a base method alone, which the "
            "folds could not change."
        )
    if tuning.get("kept_base_for"):
        text += (
            " On texts it had not seen the tuned setting was clearly below the base method on "
            f"{', '.join(tuning['kept_base_for'])}, so the base method alone is used (lambda = 0)."
        )
    elif tuning.get("kept_base"):
        text += " The tuning did not gain on texts it had not seen, so the base method alone is used (lambda = 0)."
    return text + checked_text(tuning.get("checked"))


def verdict(low: float, high: float) -> str:
    """Better, tie or worse from the 95 % CI of LAFA minus a method (positive = LAFA better).

    Example:
        >>> verdict(0.01, 0.05), verdict(-0.01, 0.02), verdict(-0.03, -0.001)
        ('better', 'tie', 'worse')
    """
    return "better" if low > 0 else "worse" if high < 0 else "tie"


def checked_text(checked: dict | None) -> str:
    """A check after tuning, on texts it did not see (``tuning["checked"]``: ``texts``, and ``vs``: per
    method, per metric, LAFA minus the method as [mean, CI low, CI high], positive = LAFA better) as a
    table with a verdict per cell, so the card says where LAFA gains and where it does not.

    Example:
        >>> print(checked_text({"texts": "40 texts", "vs": {"occlusion": {"deletion_auc": [0.05, 0.03, 0.07]}}}))
        <BLANKLINE>
        <BLANKLINE>
        Checked on 40 texts: LAFA minus each method, 95 % CI (positive = LAFA better; deletion and sufficiency flipped).
        <BLANKLINE>
        | LAFA minus | deletion_auc |
        | --- | --- |
        | occlusion | +0.050 [+0.030, +0.070] better |
    """
    if not checked or not checked.get("vs"):
        return ""
    metrics = list(dict.fromkeys(metric for row in checked["vs"].values() for metric in row))
    lines = [
        "",
        "",
        f"Checked on {checked['texts']}: LAFA minus each method, 95 % CI (positive = LAFA better; deletion and "
        "sufficiency flipped).",
        "",
        "| LAFA minus | " + " | ".join(metrics) + " |",
        "| --- |" + " --- |" * len(metrics),
    ]
    for method, row in checked["vs"].items():
        cells = []
        for metric in metrics:
            if metric not in row:
                cells.append("")
                continue
            mean, low, high = row[metric]
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] {verdict(low, high)}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
