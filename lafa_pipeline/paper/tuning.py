"""LAFA's tuning in the evaluation, both by the one tuner (``tune_explainer``): on the gold of the tuning
texts (``tune_with_gold``) and as a user runs ``lafa tune``, without gold (``tune_without_gold``)."""

from __future__ import annotations

from ..config import LafaConfig
from ..faithfulness.tuning import GoldWords, TuneOptions, TuningResult, tune_explainer, tuned_settings
from ..index import LafaIndex
from .case_explainer import CaseExplainer
from .specs import CaseSpec


def tune_with_gold(explainer: CaseExplainer, spec: CaseSpec, items: list[int], show_progress: bool) -> TuningResult:
    """LAFA tuned on the gold of the case's ``items`` by the one tuner: ``tune_explainer`` with the case's
    gold metric (``spec.metric``) as its objective, from the paper's settings, on the case's base method
    (the paper's protocol fixes it), over every layer. Each item is a tuning text with its query's class
    and its gold words. No check inside the tuning (folds=0): the evaluation compares the pick with its
    base on the items outside the tuning texts."""
    from ..feature_attribution import FeatureAttributionPipeline

    case = explainer.case
    chosen = [case.items[i] for i in items]
    pipe = FeatureAttributionPipeline(model=explainer.model, tokenizer=explainer.tokenizer, index=explainer.index)
    options = TuneOptions(
        objective=spec.metric,
        folds=0,
        base_methods=[spec.lafa.base_method],
        max_tokens=None,  # the case's tuning items, all of them
        metric_guard=False,  # it guards faithfulness metrics, which a gold tuning does not measure
        signed=False,  # the paper's gold (and scores) are magnitudes
        show_progress=show_progress,
    )
    return tune_explainer(
        pipe,
        [case.queries[it.query].text for it in chosen],
        options,
        targets=[case.queries[it.query].target for it in chosen],
        gold=[GoldWords(list(it.spans), [float(g) for g in it.gold]) for it in chosen],
    )


def settings_of(config: LafaConfig) -> dict:
    """The LAFA settings the tuning varies: ``lafa tune``'s (``tuned_settings``) and the quantile, which the
    gold tuning varies too (``lafa tune`` does not)."""
    return {**tuned_settings(config), "quantile": config.quantile}


def tune_without_gold(
    model,
    tokenizer,
    index: LafaIndex,
    texts: list[str],
    show_progress: bool,
    rounds: int = 2,
    steps: int = 10,
    folds: int = 3,
    signed: bool = False,
) -> TuningResult:
    """``lafa tune`` as a user runs it: the repo's (paper) settings as the start, the faithfulness
    objective on the model's own outputs, no gold labels; returns its ``TuningResult`` (``signed``:
    ``lafa tune --signed``)."""
    from ..feature_attribution import FeatureAttributionPipeline

    explainer = FeatureAttributionPipeline(model=model, tokenizer=tokenizer, index=index)
    return tune_explainer(
        explainer, texts, folds=folds, rounds=rounds, steps=steps, show_progress=show_progress, signed=signed
    )
