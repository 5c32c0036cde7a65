"""Choose a LAFA repo's base method and aggregation settings on the user's own texts, by faithfulness,
without gold.

Each text's scores under each base method are computed once; every candidate setting then only
searches neighbors, reads their scores and aggregates (milliseconds), and is scored on the model's
own outputs by an objective of the metric registry (``TuneOptions.objective``, by default the mean of
insertion - deletion and comprehensiveness - sufficiency); a LAFA setting must also not be clearly
below the best base method alone on any of the other faithfulness metrics (the metric guard). The
search is coordinate ascent over the base method, aggregation, lambda (on past the grid's largest
while larger ones keep winning), kernel, neighbors and their weighting and the hidden layer searched
for neighbors, starting from the repo's settings with the best base method alone. Every base method
alone (lambda = 0) is a candidate, so on the tuning texts the chosen setting is never worse than the
best base method. A base method the index does not cache is scored on the references as the search
needs them (a lazy copy of the index; the repo's own is left as it was).

The cost is bounded whatever the texts: the tuning runs on a seeded sample of them that fits in
``MAX_TUNING_TOKENS`` tokens; candidates are raced (scored on a few texts, then twice as many, and
dropped once clearly behind); LAFA is searched only on base methods alone that are not clearly behind
the best of them (LAFA gains a little over its base, not a lot); and on a base method the index has
no scores of only when scoring the references its search can read fits ``REFERENCE_BUDGET``.

The best of some 40 settings on a few hundred texts is partly luck, so the pick is checked on texts
it was not chosen on: by default cross-validated (``folds=3``: the search rerun without each third of
the texts, its pick compared with that run's best base method alone on that third, so every text
checks once; a single held-out share is noisier), or on one held-out share (``holdout``). When the
check shows no gain, or with the metric guard a loss on some metric, the best base method alone is
kept. The check can only overturn a LAFA pick, so when the search picks a base method alone the folds
are not searched (with ``early_stop``, the default).

The modules, one concern each: ``options`` (``TuneOptions`` and the defaults' constants), ``texts``
(the tuning texts, their sample, folds and measurement), ``indexes`` (base methods, layers and their
indexes), ``race`` (racing, coordinate ascent, the metric guard's test), ``search`` (the tuner and
its reference budget and check), ``result`` (``TuningResult``; the record is ``TuningReport``).

Example::

    from lafa_pipeline import load_explainer, tune_explainer
    explainer = load_explainer("my-lafa-repo")
    result = tune_explainer(explainer, my_texts)  # 3-fold cross-validated; or TuneOptions(...) / keywords
    print(result.summary())
    result.apply(explainer)  # then explainer.save_pretrained(...); or: lafa tune --model my-lafa-repo --data texts.csv
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...model_adapter import remembering_predictions
from ...text_inputs import TextInput, check_text
from ...tuning_report import TuningCheck, TuningReport
from .indexes import base_method_choices, indexes_by_base, layer_choices
from .options import (
    GUARD_Z,
    LAM_STEP,
    MAX_BASE_METHODS,
    MAX_TUNING_TOKENS,
    OBJECTIVE,
    REFERENCE_BUDGET,
    TuneOptions,
    setting_key,
    tuned_fields,
    tuned_settings,
)
from .result import TuningResult
from .search import Pick, Tuner
from .texts import (
    GoldWords,
    TuningText,
    faithfulness_values,
    gold_values,
    objective_values,
    prepare_texts,
    sample_texts,
    scores_for,
    split_texts,
    word_scores,
)

__all__ = [
    "GUARD_Z",
    "GoldWords",
    "LAM_STEP",
    "MAX_BASE_METHODS",
    "MAX_TUNING_TOKENS",
    "OBJECTIVE",
    "REFERENCE_BUDGET",
    "TuneOptions",
    "Tuner",
    "TuningResult",
    "TuningText",
    "base_method_choices",
    "faithfulness_values",
    "gold_values",
    "indexes_by_base",
    "objective_values",
    "prepare_texts",
    "sample_texts",
    "scores_for",
    "setting_key",
    "tune_explainer",
    "tuned_fields",
    "tuned_settings",
    "word_scores",
]


def tune_explainer(
    explainer,
    texts: Sequence[TextInput],
    options: TuneOptions | None = None,
    *,
    targets: Sequence[int | None] | None = None,
    gold: Sequence[GoldWords] | None = None,
    **changes: Any,
) -> TuningResult:
    """Tune ``explainer``'s LAFA settings on ``texts`` (see the module docstring) with ``options``
    (default ``TuneOptions()``), changed by keyword (``tune_explainer(explainer, texts, folds=5)``).

    ``targets``: the class to explain in each text (None: the predicted class). ``gold``: each text's
    gold words, to tune on a gold metric (``objective="token_auc"`` or ``"pearson"``, as the paper
    evaluation tunes LAFA on gold) instead of faithfulness; the metric guard, which reads faithfulness
    metrics, then has nothing to refuse.

    Returns the chosen config with ``tuning`` filled in (``TuningReport``'s record), and the index at
    the chosen layer, holding the chosen base method's scores.
    """
    if explainer.index is None:
        raise ValueError("Tuning LAFA needs an explainer with an index (a LAFA repo, or index=...)")
    for name, per_text in (("targets", targets), ("gold", gold)):
        if per_text is not None and len(per_text) != len(texts):
            raise ValueError(f"{len(per_text)} {name} for {len(texts)} texts; give one per text")
    options = (options or TuneOptions()).replace(**changes).checked(gold=gold is not None)
    given = [check_text(t) for t in texts]
    kept = sample_texts(explainer, given, options.max_tokens, options.seed)
    sampled = [given[i] for i in kept]
    layers = layer_choices(explainer, options.layers)
    tune_ids, checks = split_texts(len(sampled), options.folds or 0, options.holdout, options.seed)
    bases = base_method_choices(explainer, options.base_methods, bool(options.signed))
    tuner = Tuner(
        explainer,
        prepare_texts(
            explainer,
            sampled,
            options.show_progress,
            bool(options.signed),
            None if targets is None else [targets[i] for i in kept],
            None if gold is None else [gold[i] for i in kept],
        ),
        indexes_by_base(explainer, bases, layers, options.show_progress),
        [explainer.lafa_config.replace(lam=0.0, base_method=base) for base in bases],
        layers,
        options,
    )
    with remembering_predictions():  # every setting tried on a text searches from the same states
        pick = tuner.search(tune_ids)
        # The check only decides whether a LAFA pick stands. The folds' searches are most of a run's
        # cost (each reruns the search on fewer texts), which a base method alone need not pay.
        skip_folds = options.early_stop and (options.folds or 0) > 1 and pick.best is pick.base
        held, fold_picks = tuner.check(pick, checks) if checks and not skip_folds else (None, [])
    tuner.close()
    report = _report(tuner, pick, held, len(given), len(sampled), tune_ids)
    if skip_folds:
        report.folds_skipped = options.folds
    elif (options.folds or 0) > 1:
        report.fold_picks = fold_picks
        report.settings_with_folds = len(tuner.cache)  # every setting scored, the folds' searches included
    best = pick.base if report.kept_base else pick.best
    # The chosen layer's index config carries that layer's eps; the tuned fields come from the search.
    index = tuner.by_base[best.base_method][best.layer]
    chosen = index.config.replace(**tuned_settings(best), tuning=report.to_dict(), signed=bool(options.signed))
    return TuningResult(chosen, report, pick.history, index)


def _report(
    tuner: Tuner, pick: Pick, held: TuningCheck | None, given: int, sampled: int, tune_ids: list[int]
) -> TuningReport:
    """The run's record; with a check, the pick gives way to its base method alone where the check saw no
    gain or (metric guard) a loss on some metric: the search's guard saw the texts it chose on, where a
    pick looks better than it is, and the check's texts were not chosen on."""
    options = tuner.options
    below = held.below if held is not None and options.metric_guard else []
    kept_base = (
        held is not None and pick.best is not pick.base and (bool(below) or not held.gain.mean_diff > 0)
    )  # nan (no comparable text) keeps the base
    return TuningReport(
        objective=options.objective,
        signed=bool(options.signed),
        texts_given=given,
        texts_sampled=sampled,  # tuning texts plus any held out
        max_tokens=options.max_tokens,
        tuning_texts=len(tune_ids),
        base_value=pick.base_value,
        tuned_value=pick.base_value if kept_base else pick.best_value,
        gain=(0.0 if kept_base else pick.best_value - pick.base_value),
        settings_tried=len(pick.history),
        settings_dropped_early=sum("dropped_after_texts" in t for t in pick.history),
        metric_guard=options.metric_guard,
        guard_z=options.guard_z,
        settings_refused_by_guard=len(tuner.guarded),
        held_out=held,
        kept_base=kept_base,
        rejected={**tuned_settings(pick.best), options.objective: pick.best_value} if kept_base else None,
        kept_base_for=below if kept_base else [],
        base_methods={c.base_method: tuner.full_mean(c, tune_ids) for c in tuner.alone},
        reference_budget=options.reference_budget,
        over_reference_budget=dict(tuner.over_budget),
        behind_best_alone=[c.base_method for c in tuner.alone if c.base_method in tuner.behind],
    )
