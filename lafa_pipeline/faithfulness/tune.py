"""Choose a LAFA repo's base method and aggregation settings on the user's own texts, by faithfulness,
without gold.

Each text's scores under each base method are computed once; every candidate setting then only
searches neighbors, reads their scores and aggregates (milliseconds), and is scored on the model's
own outputs by ``OBJECTIVE`` (the mean of insertion - deletion and comprehensiveness - sufficiency;
higher is better); a LAFA setting must also not be clearly below the best base method alone on
any of the four metrics (the metric guard). The search is coordinate ascent over the base method,
aggregation, lambda (on past the grid's largest while larger ones keep winning: ``LAM_STEP``), kernel,
neighbors and their weighting and the hidden layer searched for neighbors (``LafaIndex.at_layers``),
starting from the repo's settings with the best base method alone. Every base method alone (lambda = 0) is a
candidate, so on the tuning texts the chosen setting is never worse than the best base method. A
base method the index does not cache is scored on the references as the search needs them
(``LafaIndex.for_base_method``: a lazy copy; the repo's own index is left as it was), those a race
step reads all in one length-sorted call (``_Tuner.fill_neighbor_scores``), counted by a progress bar.

The cost is bounded whatever the texts: the tuning runs on a seeded sample of them that fits in
``MAX_TUNING_TOKENS`` tokens; candidates are raced (scored on a few texts, then twice as many, and
dropped once clearly behind); LAFA is searched only on base methods alone that are not clearly behind
the best of them (LAFA gains a little over its base, not a lot); and on a base method the index has
no scores of only when scoring the references its search can read fits ``REFERENCE_BUDGET`` (model work,
counted, not timed, so the choice does not depend on the machine). Every base method alone is compared in any case.

The best of some 40 settings on a few hundred texts is partly luck (measured on SST,
``evaluation/tune_variants.md``), so the tuning is checked on texts it did not see: by default it is
cross-validated (``folds=3``: rerun without each third of the texts, its pick compared with that
run's best base method alone on that third, so every text checks once), or one share is held out
(``holdout``). When the check shows no gain (mean <= 0), or with the metric guard a loss on some
metric (clearly below its base there, ``guard_z``: the check's texts were not chosen on, so a loss
the search could not see shows), the best base method alone (lambda = 0) is kept.
Cross-validation checks on every text instead of a third of them: on SST a single 30 % holdout
missed a real gain of +0.008 about 30 % of the time. The check can only overturn a LAFA pick, so
when the whole search picks a base method alone the folds are not searched (with ``early_stop``,
the default).

Example::

    from lafa_pipeline import load_explainer, tune_explainer
    explainer = load_explainer("my-lafa-repo")
    result = tune_explainer(explainer, my_texts)  # 3-fold cross-validated
    print(result.summary())
    result.apply(explainer)  # then explainer.save_pretrained(...); or: lafa tune --model my-lafa-repo --data texts.csv
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..aggregation import AGGREGATION_REGISTRY
from ..base_methods import BASE_METHOD_REGISTRY, MethodParams, has_direction
from ..config import LAFA, LafaConfig, check_choice, indexable_base_methods
from ..index_encoding import pooled_states
from ..lafa import Lafa, signed_like
from ..model_adapter import counting_work, remembering_predictions
from ..results import WordScore
from ..text_inputs import TextInput, check_text, encode
from ..words import group_scores
from .evaluate import Predictor, mask_string
from .metrics import Faithfulness, faithfulness, paired

OBJECTIVES: dict[str, Callable[[Faithfulness], float]] = {
    "insertion_minus_deletion": lambda f: f.insertion_auc - f.deletion_auc,
    "comprehensiveness_minus_sufficiency": lambda f: f.comprehensiveness - f.sufficiency,
    # both families at once: the mean of the two differences above
    "all_four": lambda f: 0.5 * (f.insertion_auc - f.deletion_auc + f.comprehensiveness - f.sufficiency),
}
"""What the tuner can maximise, per text, from the four faithfulness metrics (``evaluation/objective_study.py``
compares them on held-out texts and human gold)."""
OBJECTIVE = "all_four"
"""The default objective: over the settings one tuning run tries, it agreed best with each of the
others and with human gold word scores (Kendall's tau, ``evaluation/objective_study.md``)."""
GUARD_Z = 2.0
"""The metric guard refuses a LAFA setting whose paired mean difference from the best base method alone,
on some metric, is below zero by this many standard errors (``guard_z`` / ``--guard-z``;
``evaluation/guard_study.md`` compares strictnesses on held-out texts)."""
METRIC_SIGNS = {"deletion_auc": -1.0, "insertion_auc": 1.0, "comprehensiveness": 1.0, "sufficiency": -1.0}
"""The four faithfulness metrics, each with the sign that makes higher better: the metric guard's columns."""
MAX_BASE_METHODS = 2
"""Base methods whose LAFA settings are searched: the best ones alone (lambda = 0) on the tuning texts.
Each base searched needs its scores of the texts' neighbors at every layer searched (most of a small
index), which costs far more than scoring the texts: the others stop at lambda = 0."""
EARLY_STOP_Z = 2.0
"""A candidate setting is dropped once its mean gain over the current one, on the first texts it was
scored on, is below zero by this many standard errors (racing: most settings lose clearly)."""
RACE_FIRST_TEXTS = 8
"""With early stopping, a candidate is first scored on this many texts, then on twice as many at
each step (successive halving over texts): most candidates lose clearly on the first few, and on
long texts every text scored costs dozens of model passes."""
MAX_TUNING_TOKENS = 4096
"""``lafa tune`` tunes on a seeded sample of the texts given, as many as fit in this many tokens (at
least ``MIN_TUNING_TEXTS``): each text costs model passes in proportion to its length, so this
bounds the run's cost whatever the texts' number and length. 4,096 tokens is about 170 SST
sentences or 27 texts of 150 tokens (``benchmarks/TUNE_SPEED.md``); ``max_tokens=None`` takes all."""
MIN_TUNING_TEXTS = 24
REFERENCE_BUDGET = 8_000_000
"""Model work (``model_adapter.ModelWork``: token positions, a differentiated pass counting three
times) that scoring the references under another base method may cost before ``lafa tune`` searches
LAFA on it: estimated from that method's work per token on the tuning texts, times the tokens of the
references the search can read that have no scores for it (``_Tuner.reachable_tokens``: the tuning
texts' nearest ones at every layer searched; the lazy copies score nothing else). About 15 minutes
on 2 CPU cores for each base searched (``MAX_BASE_METHODS``). The base methods alone are compared whatever
their cost."""
# The values tried for each setting come from each aggregation's registry entry (``search_space``).
LAM_STEP = 3.0
"""Where the largest lambda of an aggregation's grid is the best so far, the search goes on past it,
this many times larger at each step while that keeps winning, up to the aggregation's ``lam_range``
(``_Race.beyond_grid``). The paper aggregation's grid ends at its paper's lambda (1); its eq. 7 divides
each neighbor's scores by its length and the neighbor count, so the weight that suits a case can be
larger (``evaluation/paper_lambda.py``)."""
SHARED_SETTINGS = ("kernel", "n_neighbors")
"""Settings that mean the same under every aggregation: unless ``every_aggregation_fully``, an
aggregation searched after the repo's keeps the best values found for them (and the base method and
layer) and first searches only its own."""
TUNED_FIELDS = (
    "base_method",
    "aggregation",
    "layer",
    "lam",
    "kernel",
    "n_neighbors",
    "neighbor_weighting",
    "neighbor_scale",
)
# Up to this many references, ``layers="auto"`` compares every hidden layer (one forward pass over
# the references, about a minute per 10k short texts on 2 CPU cores); above it only the repo's layer.
AUTO_LAYERS_MAX_REFERENCES = 50_000


@dataclass
class TuningText:
    """One text as the tuner needs it: model inputs, word metadata, tokens, target and base scores."""

    text: TextInput
    inputs: dict[str, torch.Tensor]
    meta: dict
    tokens: list[str]
    target: int
    base_scores: torch.Tensor
    """The scores of the explainer's own base method."""
    other_scores: dict[str, torch.Tensor] = field(default_factory=dict)
    """Scores of other base methods, by name, computed when a setting first needs them (``scores_for``)."""
    signed: dict[str, torch.Tensor] = field(default_factory=dict)
    """With a signed tuning: the signed scores of each base method with a direction, by name (the
    scores above stay the paper's magnitudes, which the neighbors are aggregated from)."""
    work: dict[str, float] = field(default_factory=dict)
    """The model's work (``ModelWork.tokens``) each base method took on this text."""
    by_ranking: dict[tuple, Faithfulness] = field(default_factory=dict, repr=False)
    """Faithfulness by the word order it masks in: settings that rank the words alike share one
    measurement (the masked texts, hence the model's outputs, depend on nothing else)."""

    @property
    def special(self) -> torch.Tensor:
        return torch.tensor([self.meta["special"]], dtype=torch.bool)


@dataclass
class TuningResult:
    """The chosen settings, what they gained over lambda = 0, and every trial."""

    config: LafaConfig
    base_value: float
    best_value: float
    n_texts: int
    trials: list[dict] = field(default_factory=list)
    holdout: dict | None = None
    """On the held-out texts: chosen minus base (mean, 95 % CI, wins, n)."""
    index: Any = None
    """The index searched at the chosen layer (the repo's own index when the layer did not change)."""

    def apply(self, explainer) -> None:
        """Make ``explainer`` explain with the chosen settings (and the index at the chosen layer)."""
        explainer.index = self.index
        explainer.lafa_config = self.index.config = self.config
        explainer.lafa = Lafa(explainer.model, self.index, self.config)

    def summary(self) -> str:
        chosen = {k: getattr(self.config, k) for k in TUNED_FIELDS}
        objective = (self.config.tuning or {}).get("objective", OBJECTIVE)
        if (self.config.tuning or {}).get("signed"):
            objective += " of signed scores (the repo now explains signed by default)"
        lines = [
            f"chosen: {chosen}",
            f"{objective} on {self.n_texts} tuning texts: {self.best_value:.4f} "
            f"(best base method alone {self.base_value:.4f}, gain {self.best_value - self.base_value:+.4f}); "
            f"{len(self.trials)} settings tried"
            f" ({sum('dropped_after_texts' in t for t in self.trials)} dropped early, clearly behind)",
        ]
        tuning = self.config.tuning or {}
        if tuning.get("texts_given", 0) > tuning.get("texts_sampled", tuning.get("texts_given", 0)):
            lines.append(
                f"tuned on a sample of {tuning['texts_sampled']} of the {tuning['texts_given']} texts "
                f"(at most {tuning['max_tokens']} tokens; max_tokens / --max-tokens to change)"
            )
        if tuning.get("settings_refused_by_guard"):
            lines.append(
                f"{tuning['settings_refused_by_guard']} settings clearly below the best base method alone on some "
                "metric were refused by the metric guard (metric_guard / --no-metric-guard)"
            )
        if tuning.get("behind_best_alone"):
            lines.append(
                "not searched with LAFA, clearly behind the best base method alone: "
                + ", ".join(tuning["behind_best_alone"])
            )
        for base, cost in (tuning.get("over_reference_budget") or {}).items():
            lines.append(
                f"{base}: compared alone only; scoring the references with it would cost about "
                f"{cost / 1e6:.0f}M tokens of model work (budget {tuning['reference_budget'] / 1e6:.0f}M; "
                "reference_budget / --reference-budget to change)"
            )
        alone = tuning.get("base_methods") or {}
        if len(alone) > 1:
            lines.append(
                "base methods alone: "
                + ", ".join(f"{m} {v:.4f}" if v is not None else f"{m} (dropped early)" for m, v in alone.items())
            )
        if self.holdout:
            h = self.holdout
            where = (
                f"cross-validated ({h['folds']} folds, each of {h['n']} texts held out once)"
                if h.get("folds")
                else f"held out ({h['n']} texts)"
            )
            lines.append(
                f"{where}: gain {h['mean_diff']:+.4f}, 95 % CI [{h['ci95'][0]:+.4f}, "
                f"{h['ci95'][1]:+.4f}], better on {h['wins']:.0%}"
            )
            if self.config.tuning and self.config.tuning.get("kept_base"):
                below = self.config.tuning.get("kept_base_for")
                why = (
                    f"clearly below the base method on {', '.join(below)} there (metric guard)"
                    if below
                    else "no gain on the held-out texts"
                )
                rejected = self.config.tuning["rejected"]
                lines.append(f"{why}: kept the base method alone (lambda = 0) instead of {rejected}")
        if tuning.get("folds_skipped"):
            lines.append(
                f"not cross-validated ({tuning['folds_skipped']} folds): the pick is a base method alone, which "
                "the folds could not change (early_stop=False / --full-search runs them)"
            )
        return "\n".join(lines)


def prepare_texts(explainer, texts: Sequence[TextInput], show_progress: bool, signed: bool = False) -> list[TuningText]:
    """Encode each text and compute its base-method scores and target (the predicted class) once
    (``signed``: its signed scores too, if the base method has a direction)."""
    lafa = explainer.lafa
    base = lafa.config.base_method
    with_sign = signed and has_direction(base)
    prepared = []
    for text in tqdm(texts, desc=f"Base scores ({base})", disable=not show_progress, unit="text"):
        inputs, meta = encode(explainer.tokenizer, check_text(text), explainer.max_length, warn=False)
        with counting_work() as work:
            out = lafa.attribute(
                inputs["input_ids"],
                inputs["attention_mask"],
                inputs.get("token_type_ids"),
                method=base,
                signed=with_sign,
            )
        tokens = explainer.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
        item = TuningText(text, inputs, meta, tokens, out.targets[0], _magnitudes(out), work={base: work.tokens})
        if with_sign:
            item.signed[base] = out.scores
        prepared.append(item)
    return prepared


def _magnitudes(out) -> torch.Tensor:
    """The paper's magnitudes of a ``Lafa.attribute`` output, signed or not."""
    return out.magnitudes if out.magnitudes is not None else out.scores


def scores_for(explainer, item: TuningText, lafa: Lafa, signed: bool = False) -> torch.Tensor:
    """``item``'s scores (magnitudes) under the base method of ``lafa`` (an explainer with the setting
    being scored): the stored ones, or computed with ``lafa`` once and kept (``signed``: the signed
    ones too, in ``item.signed``, if the method has a direction)."""
    own, config = explainer.lafa.config, lafa.config
    if config.base_method == own.base_method and MethodParams.from_config(config) == MethodParams.from_config(own):
        return item.base_scores
    if config.base_method not in item.other_scores:
        with_sign = signed and has_direction(config.base_method)
        with counting_work() as work:
            out = lafa.attribute(
                item.inputs["input_ids"],
                item.inputs["attention_mask"],
                item.inputs.get("token_type_ids"),
                targets=[item.target],
                method=config.base_method,
                signed=with_sign,
            )
        item.other_scores[config.base_method] = _magnitudes(out)
        if with_sign:
            item.signed[config.base_method] = out.scores
        item.work[config.base_method] = work.tokens
    return item.other_scores[config.base_method]


def base_method_choices(explainer, base_methods: Sequence[str] | str = "auto") -> list[str]:
    """The base methods to compare: checked names, or "auto" (every indexable registered method marked
    ``tuned_by_default``: the gradient methods and occlusion), the explainer's own first."""
    own = explainer.lafa.config.base_method
    available = [m for m in indexable_base_methods() if BASE_METHOD_REGISTRY.get(m).tuned_by_default]
    if isinstance(base_methods, str):
        if base_methods != "auto":
            raise ValueError(f"base_methods must be 'auto' or a list of base methods from {', '.join(available)}")
        chosen = available
    else:
        for name in base_methods:
            check_choice("base method to tune", name, indexable_base_methods())
        chosen = list(base_methods)
    return [own] + [m for m in dict.fromkeys(chosen) if m != own]


def objective_values(
    explainer,
    indexes: dict,
    config: LafaConfig,
    items: list[TuningText],
    predict: Predictor,
    mask: str,
    steps: int,
    objective: str = OBJECTIVE,
    signed: bool = False,
) -> list[float]:
    """``objective`` per text for LAFA with ``config`` (searching ``indexes[config.layer]``, an index of
    ``config``'s base method), from each text's base scores under that method (``signed``: see
    ``word_scores``)."""
    score = OBJECTIVES[objective]
    return [score(f) for f in faithfulness_values(explainer, indexes, config, items, predict, mask, steps, signed)]


def faithfulness_values(
    explainer,
    indexes: dict,
    config: LafaConfig,
    items: list[TuningText],
    predict: Predictor,
    mask: str,
    steps: int,
    signed: bool = False,
) -> list[Faithfulness]:
    """The four faithfulness metrics per text for LAFA with ``config`` (see ``objective_values``); at
    lambda = 0, comparing base methods alone needs none of their reference scores (``word_scores``)."""
    lafa = Lafa(explainer.model, indexes[config.layer], config)
    regression = explainer.lafa.adapter.problem_type == "regression"
    values = []
    for item in items:
        words = word_scores(explainer, lafa, item, signed)
        by_word = np.asarray([w["score"] for w in words], dtype=float)
        ranking = (
            tuple(np.argsort(-by_word, kind="stable").tolist()),
            tuple(np.argsort(by_word, kind="stable").tolist()),
        )  # the orders metrics.masked_text and kept_text mask in
        if ranking not in item.by_ranking:
            column = _column(explainer, item.target)
            item.by_ranking[ranking] = faithfulness(predict, item.text, words, None, column, steps, mask, regression)
        values.append(item.by_ranking[ranking])
    return values


def word_scores(explainer, lafa: Lafa, item: TuningText, signed: bool = False) -> list[WordScore]:
    """``item``'s word entries (as the pipeline reports them) under the setting of ``lafa``, from its
    stored base scores: lambda = 0 is the base method itself, read without a neighbor search.
    ``signed``: as ``signed=True`` reports them for a base method with a direction (LAFA's magnitudes
    with the text's own signed base scores' direction, ``lafa.signed_like``), so the metrics mask the
    words that push towards the target first; a method without a direction keeps its magnitudes."""
    base = scores_for(explainer, item, lafa, signed)
    if lafa.config.lam == 0:
        scores = base
    else:
        scores = lafa.attribute(
            item.inputs["input_ids"],
            item.inputs["attention_mask"],
            item.inputs.get("token_type_ids"),
            targets=[item.target],
            method=LAFA,
            base_scores=base,
            special_tokens_mask=item.special,
        ).scores
    if signed and lafa.config.base_method in item.signed:
        scores = signed_like(item.signed[lafa.config.base_method], base, scores)
    return group_scores(item.meta, scores[0].tolist(), item.tokens, "word")


def _column(explainer, target: int) -> int:
    return 0 if explainer.lafa.adapter.problem_type == "regression" else target


def _settings(config: LafaConfig) -> dict[str, Any]:
    return {k: getattr(config, k) for k in TUNED_FIELDS}


def _key(config: LafaConfig) -> tuple:
    """A setting as a dict key: its tuned fields."""
    return tuple(sorted(_settings(config).items()))


def tune_explainer(
    explainer,
    texts: Sequence[TextInput],
    folds: int | None = None,
    holdout: float = 0.0,
    layers: Sequence[int] | str = "auto",
    base_methods: Sequence[str] | str = "auto",
    rounds: int = 2,
    steps: int = 10,
    seed: int = 0,
    show_progress: bool = True,
    objective: str = OBJECTIVE,
    max_base_methods: int | None = MAX_BASE_METHODS,
    early_stop: bool = True,
    max_tokens: int | None = MAX_TUNING_TOKENS,
    reference_budget: float | None = REFERENCE_BUDGET,
    every_aggregation_fully: bool = False,
    signed: bool | None = None,
    metric_guard: bool = True,
    guard_z: float = GUARD_Z,
) -> TuningResult:
    """Coordinate ascent over LAFA's aggregation settings on ``texts``; see the module docstring.

    ``folds`` (default 3 unless ``holdout`` is given; 0 or 1: no check): the whole tuning is cross-validated; the texts
    (shuffled with ``seed``) are split into ``folds`` parts, the search is rerun without each part
    and its pick compared with the base method on that part, so every text checks a pick it did
    not choose; the setting chosen on all texts is kept only when that estimate gains. With
    ``early_stop``, the folds are not searched when the whole search picks a base method alone:
    their verdict could only overturn a LAFA pick (``tuning["folds_skipped"]``).
    ``holdout``: instead of folds, one share of the texts kept out of tuning for the check.
    ``layers``: hidden layers whose pooled states may be searched instead of the repo's ("auto":
    all of them up to ``AUTO_LAYERS_MAX_REFERENCES`` references, else the repo's layer only).
    ``base_methods``: the base methods LAFA may smooth ("auto": the gradient methods and occlusion; a
    list: those, the repo's own always included). Each is also a candidate alone (lambda = 0), so on
    the tuning texts the pick is never below the best base method. A new base method's reference
    scores are computed as the search needs them and kept in a lazy copy of the index.
    ``objective``: what is maximised per text (``OBJECTIVES``). ``max_base_methods``: only the best
    this many base methods alone go on to the LAFA search (None: all of them). ``early_stop``: a
    candidate is scored on ``RACE_FIRST_TEXTS`` texts, then twice as many at each step, and dropped
    once it is clearly below the current setting (``EARLY_STOP_Z``); False scores every candidate on
    every text. ``max_tokens``: tune on a seeded sample of the texts that fits in this many tokens
    (``MAX_TUNING_TOKENS``; None: every text). ``reference_budget``: the model work (``ModelWork``)
    scoring the references may cost for a base method the index has no scores of, before LAFA is
    searched on it (``REFERENCE_BUDGET``; None: no limit). ``every_aggregation_fully``: search each
    aggregation over every setting from the repo's (False: the repo's aggregation so; then each other
    one from the best setting found, over its own settings first, and over all only if it wins).
    ``signed``: measure the scores ``signed=True`` gives (base methods with a direction, and LAFA on
    them; the others by their magnitudes), for a repo that will be explained with ``signed=True``:
    the metrics then mask the words that push towards the target first, as ferret's and Interpreto's
    evaluators read signed attributions; the chosen config then explains signed by default
    (``LafaConfig.signed``). None: as the repo explains now. ``metric_guard``: a LAFA setting is only
    chosen if on the tuning texts it is not clearly below the best base method alone on any of the
    four metrics (its paired mean difference less than ``guard_z`` standard errors below zero, ``GUARD_Z``),
    not only better on the objective, and only kept if the cross-validated check (or holdout) finds it
    clearly below its base on no metric either; False: the objective alone decides.
    Returns the chosen config with ``tuning`` filled in, and the index at the chosen layer, holding
    the chosen base method's scores.
    """
    _check_options(explainer, holdout, folds, objective, max_base_methods, max_tokens, reference_budget)
    if isinstance(guard_z, bool) or not isinstance(guard_z, (int, float)) or not guard_z >= 0:
        raise ValueError(f"guard_z must be a number of standard errors >= 0, got {guard_z!r}")
    if signed is None:
        signed = explainer.lafa_config.signed
    if not isinstance(signed, (bool, np.bool_)):
        raise ValueError(f"signed must be True, False or None (as the repo explains), got {signed!r}")
    signed = bool(signed)
    folds = (0 if holdout else 3) if folds is None else folds
    given = [check_text(t) for t in texts]
    texts = _sample(explainer, given, max_tokens, seed)
    layer_choices = _layer_choices(explainer, layers)
    tune_ids, checks = _split(len(texts), folds, holdout, seed)
    start = explainer.lafa_config
    bases = base_method_choices(explainer, base_methods)
    tuner = _Tuner(
        explainer,
        prepare_texts(explainer, texts, show_progress, signed),
        _indexes_by_base(explainer, bases, layer_choices, show_progress),
        [start.replace(lam=0.0, base_method=base) for base in bases],
        layer_choices,
        objective,
        steps,
        rounds,
        max_base_methods,
        early_stop,
        show_progress,
        reference_budget,
        every_aggregation_fully,
        signed,
        metric_guard,
        float(guard_z),
    )
    held: dict | None = None
    fold_picks: list[dict] = []
    with remembering_predictions():  # every setting tried on a text searches from the same states
        pick = tuner.search(tune_ids)
        # The check only decides whether a LAFA pick stands. The folds' searches are most of a run's
        # cost (each reruns the search on fewer texts), which a base method alone need not pay.
        skip_folds = early_stop and folds > 1 and pick.best is pick.base
        if checks and not skip_folds:
            held, fold_picks = tuner.check(pick, checks)
    best, best_value = pick.best, pick.best_value
    kept_base, rejected = False, None
    below: list[str] = []  # the metrics on which the check found the pick clearly below its base
    if held is not None:
        if folds > 1:
            held["folds"] = folds
        # The search's guard saw the texts it chose on, where a pick looks better than it is; the check's
        # texts were not chosen on, so it refuses a loss on any metric there too.
        below = held["below"] if metric_guard else []
        if best is not pick.base and (below or not held["mean_diff"] > 0):  # nan (no comparable text) keeps the base
            rejected = {**_settings(best), objective: best_value}
            best, best_value, kept_base = pick.base, pick.base_value, True
    for bar in (tuner.bar, tuner.reference_bar):
        if bar is not None:
            bar.close()
    tuning = {
        "objective": objective,
        "signed": signed,
        "texts_given": len(given),
        "texts_sampled": len(texts),  # the sample within max_tokens: tuning texts plus any held out
        "max_tokens": max_tokens,
        "tuning_texts": len(tune_ids),
        "base_value": pick.base_value,
        "tuned_value": best_value,
        "gain": best_value - pick.base_value,
        "settings_tried": len(pick.history),
        "settings_dropped_early": sum("dropped_after_texts" in t for t in pick.history),
        "metric_guard": metric_guard,
        "guard_z": float(guard_z),
        # settings (in any search, the folds' included) the search would have moved to or started from
        # but that were below the best base method alone on some metric
        "settings_refused_by_guard": len(tuner.guarded),
        "held_out": held,
        "kept_base": kept_base,
        "rejected": rejected,
        # the metrics on which the check found the pick clearly below its base (the guard then kept the base)
        "kept_base_for": below if kept_base else [],
        # each base method alone (lambda = 0) on the tuning texts: what the pick is measured against
        # (None: dropped early, clearly behind the best of them)
        "base_methods": {c.base_method: tuner.full_mean(c, tune_ids) for c in tuner.alone},
        # base methods not searched with LAFA because scoring the references would cost more than
        # the budget: their estimated model work
        "reference_budget": reference_budget,
        "over_reference_budget": dict(tuner.over_budget),
        # base methods alone clearly behind the best one alone (in some search): not searched with LAFA
        "behind_best_alone": [c.base_method for c in tuner.alone if c.base_method in tuner.behind],
    }
    if skip_folds:
        tuning["folds_skipped"] = folds
    elif folds > 1:
        tuning["fold_picks"] = fold_picks
        tuning["settings_with_folds"] = len(tuner.cache)  # every setting scored, the folds' searches included
    # The chosen layer's index config carries that layer's eps; the tuned fields come from the search.
    index = tuner.by_base[best.base_method][best.layer]
    chosen = index.config.replace(**_settings(best), tuning=tuning, signed=signed)
    return TuningResult(chosen, pick.base_value, best_value, len(tune_ids), pick.history, held, index)


def _check_options(
    explainer,
    holdout: float,
    folds: int | None,
    objective: str,
    max_base_methods: int | None,
    max_tokens: int | None,
    reference_budget: float | None,
) -> None:
    if explainer.index is None:
        raise ValueError("Tuning LAFA needs an explainer with an index (a LAFA repo, or index=...)")
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    if folds is not None and (folds < 0 or (holdout and folds > 1)):
        raise ValueError(
            f"choose one check: folds >= 2 (cross-validation) or holdout in (0, 1), not both; "
            f"got folds={folds}, holdout={holdout}"
        )
    check_choice("objective", objective, tuple(OBJECTIVES))
    if max_base_methods is not None and (
        isinstance(max_base_methods, bool) or not isinstance(max_base_methods, int) or max_base_methods < 1
    ):
        raise ValueError(f"max_base_methods must be a positive integer or None (all), got {max_base_methods!r}")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError(f"max_tokens must be a positive integer or None (every text), got {max_tokens!r}")
    if reference_budget is not None and not (
        isinstance(reference_budget, (int, float)) and not isinstance(reference_budget, bool) and reference_budget >= 0
    ):
        raise ValueError(f"reference_budget must be a number >= 0 or None (no limit), got {reference_budget!r}")


def _sample(explainer, texts: list[TextInput], max_tokens: int | None, seed: int) -> list[TextInput]:
    """The texts to tune on: all of them, or a seeded sample (in the given order) that fits in
    ``max_tokens`` tokens, at least ``MIN_TUNING_TEXTS`` of them."""
    if max_tokens is None:
        return texts
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    chosen: list[int] = []
    total = 0
    for i in order:
        length = len(encode(explainer.tokenizer, texts[i], explainer.max_length, warn=False)[0]["input_ids"][0])
        if total + length > max_tokens and len(chosen) >= MIN_TUNING_TEXTS:
            break
        chosen.append(i)
        total += length
    return [texts[i] for i in sorted(chosen)]


Check = tuple[list[int] | None, list[int]]
"""(the texts a pick is made on, None: all tuning texts; the texts it is checked on)."""


def _split(n: int, folds: int, holdout: float, seed: int) -> tuple[list[int], list[Check]]:
    """The tuning texts (shuffled with ``seed``) and the checks of their pick: ``folds`` folds, or one
    held-out share, or none."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    if folds > 1:
        if n < 2 * folds:
            raise ValueError(
                f"{folds}-fold cross-validation needs at least {2 * folds} texts; got {n} "
                f"(give more texts, fewer folds, or folds=0 for no check)"
            )
        # each fold's search goes through its texts in the whole search's order, so that its first texts
        # (those every raced candidate is scored on) are mostly the whole search's, already scored
        fold_of = {i: position % folds for position, i in enumerate(order)}
        return order, [([i for i in order if fold_of[i] != f], order[f::folds]) for f in range(folds)]
    n_held = int(round(holdout * n))
    if n - n_held < 2:
        raise ValueError(f"Tuning needs at least 2 texts outside the held-out share; got {n - n_held}")
    return order[n_held:], [(None, order[:n_held])] if n_held else []


def _indexes_by_base(explainer, bases: list[str], layer_choices: list[int], show_progress: bool) -> dict:
    """base method -> layer -> index searched there, holding that method's reference scores.

    The repo's own method reads its index (and its copies at other layers); another method gets a
    lazy copy at each layer, one cache per method shared by its layers.
    """
    start = explainer.lafa_config
    indexes = {start.layer: explainer.index}
    others = [layer for layer in layer_choices if layer != start.layer]
    if others:
        indexes.update(explainer.index.at_layers(explainer.model, others, show_progress=show_progress))
    by_base: dict[str, dict[int, Any]] = {start.base_method: indexes}
    for base in bases[1:]:
        first = explainer.index.for_base_method(start.replace(base_method=base))
        shared = {key: first.arrays[key] for key in ("cache_scores", "cache_ready")}
        by_base[base] = {
            layer: first if layer == start.layer else index.for_base_method(first.config, shared)
            for layer, index in indexes.items()
        }
    return by_base


@dataclass
class _Pick:
    """A search's result: the best setting and its value, the best base method alone and its value,
    and every setting scored (those dropped early with the number of texts they were scored on)."""

    best: LafaConfig
    best_value: float
    base: LafaConfig
    base_value: float
    history: list[dict]


class _Tuner:
    """One tuning run: the texts, their objective per setting (computed once: the folds' searches
    mostly revisit the same settings) and the search over settings."""

    def __init__(
        self,
        explainer,
        items: list[TuningText],
        by_base: dict,
        alone: list[LafaConfig],
        layer_choices: list[int],
        objective: str,
        steps: int,
        rounds: int,
        max_base_methods: int | None,
        early_stop: bool,
        show_progress: bool,
        reference_budget: float | None,
        every_aggregation_fully: bool,
        signed: bool = False,
        metric_guard: bool = True,
        guard_z: float = GUARD_Z,
    ) -> None:
        self.explainer, self.items, self.by_base, self.alone = explainer, items, by_base, alone
        self.signed = signed
        self.reference_budget, self.every_aggregation_fully = reference_budget, every_aggregation_fully
        self.states: dict[int, np.ndarray] | None = None  # the texts' pooled states by layer (``pooled_states``)
        self.regression = explainer.lafa.adapter.problem_type == "regression"
        self.over_budget: dict[str, float] = {}  # base method -> estimated work of scoring its references
        self.behind: set[str] = set()  # base methods alone clearly behind the best alone: not searched with LAFA
        self.layer_choices, self.objective, self.steps, self.rounds = layer_choices, objective, steps, rounds
        self.max_base_methods, self.early_stop = max_base_methods, early_stop
        self.predict = Predictor(explainer.model, explainer.tokenizer, max_length=explainer.max_length)
        self.mask = mask_string(explainer.tokenizer)
        self.metric_guard, self.guard_z = metric_guard, guard_z
        # setting -> (objective per text, computed, the four metrics per text oriented as METRIC_SIGNS)
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.guarded: set[tuple] = set()  # settings the metric guard refused (they lose a metric to the base)
        self.bar = tqdm(desc="Settings tried", disable=not show_progress, unit="setting")
        self.show_progress = show_progress
        self.reference_bar: tqdm | None = None  # opened when a reference is first scored (``fill_neighbor_scores``)

    def values(self, config: LafaConfig, ids: Sequence[int]) -> np.ndarray:
        """The objective of ``config`` on texts ``ids``, computed for those not scored yet."""
        key = _key(config)
        if key not in self.cache:
            n = len(self.items)
            self.cache[key] = (np.full(n, np.nan), np.zeros(n, dtype=bool), np.full((n, len(METRIC_SIGNS)), np.nan))
            self.bar.update(1)
        row, computed, metrics = self.cache[key]
        missing = [i for i in ids if not computed[i]]
        if missing:
            self.fill_neighbor_scores(config, missing)
            found = faithfulness_values(
                self.explainer,
                self.by_base[config.base_method],
                config,
                [self.items[i] for i in missing],
                self.predict,
                self.mask,
                self.steps,
                signed=self.signed,
            )
            row[missing] = [OBJECTIVES[self.objective](f) for f in found]
            metrics[missing] = [[sign * getattr(f, name) for name, sign in METRIC_SIGNS.items()] for f in found]
            computed[missing] = True
        return row[list(ids)]

    def fill_neighbor_scores(self, config: LafaConfig, ids: Sequence[int]) -> None:
        """Score the references LAFA with ``config`` reads for texts ``ids`` that its base method's lazy
        index lacks, all in one call (``Lafa.fill_scores``) before the texts are scored one by one:
        on short texts the lazy scoring is most of the tuning's time, and one text's neighbors at a
        time make small batches padded to their longest. Each text's states come from the call
        ``Lafa.attribute`` makes next (remembered, ``remembering_predictions``), so it finds the same
        neighbors, all scored."""
        index = self.by_base[config.base_method][config.layer]
        if config.lam == 0 or not index.missing_scores:
            return
        items = [self.items[i] for i in ids]
        lafa = Lafa(self.explainer.model, index, config)
        states = []
        for item in items:
            inputs = (item.inputs["input_ids"], item.inputs["attention_mask"], item.inputs.get("token_type_ids"))
            pooled = lafa.adapter.predict(*inputs, layer=config.layer, pooling=config.pooling)[1]
            assert pooled is not None  # a layer was given
            states.append(pooled)
        found = lafa._search(torch.cat(states), [item.target for item in items], config.n_neighbors)
        keys = {(ref, item.target) for item, neighbors in zip(items, found) for ref, _ in neighbors}
        if self.reference_bar is None:  # what LAFA's search on a base method without scores costs, as it goes
            self.reference_bar = tqdm(desc="References scored", disable=not self.show_progress, unit="reference")
        self.reference_bar.set_postfix_str(config.base_method, refresh=False)
        self.reference_bar.update(lafa.fill_scores(keys))

    def pooled_states(self) -> dict[int, np.ndarray]:
        """The tuning texts' pooled states (texts, d) at every layer searched, computed once."""
        if self.states is None:
            cfg = self.explainer.lafa_config
            sequences = [
                (item.inputs["input_ids"][0], item.inputs.get("token_type_ids", item.inputs["input_ids"] * 0)[0])
                for item in self.items
            ]
            layers = sorted(next(iter(self.by_base.values())))  # every base method's indexes: the same layers
            self.states = pooled_states(
                self.explainer.lafa.adapter,
                sequences.__getitem__,
                len(sequences),
                layers,
                cfg.pooling,
                tokens_per_pass=cfg.tokens_per_pass,
            )
        return self.states

    def metric_gains(self, config: LafaConfig, base: LafaConfig, ids: Sequence[int]) -> np.ndarray:
        """Gain of ``config`` over ``base`` per text of ``ids`` (rows) and metric (columns, ``METRIC_SIGNS``:
        positive = better)."""
        for setting in (config, base):  # scored on ``ids`` first where they are not yet
            self.values(setting, ids)
        rows = list(ids)
        return self.cache[_key(config)][2][rows] - self.cache[_key(base)][2][rows]

    def full_mean(self, config: LafaConfig, ids: Sequence[int]) -> float | None:
        """The objective's mean over ``ids`` if ``config`` was scored on all of them, else None."""
        row, computed, _ = self.cache[_key(config)]
        return float(np.nanmean(row[list(ids)])) if computed[list(ids)].all() else None

    def search(self, ids: Sequence[int]) -> _Pick:
        """The best base method alone on ``ids``, then coordinate ascent from it for each aggregation."""
        race = _Race(self, ids)
        # The base methods alone, raced like any candidate: on long texts scoring a base method is most
        # of the cost, and one clearly behind the best so far stops after its first few texts.
        base = self.alone[0]
        for candidate in self.alone[1:]:
            if race.beats(candidate, base, race.score(base)) is not None:  # ties keep the repo's own
                base = candidate
        base_value = race.score(base)
        race.guard_base = base if self.metric_guard else None
        scored = [c for c in self.alone if _key(c) in race.seen]
        ranked = sorted(scored, key=lambda c: -race.score(c))
        if self.early_stop:  # LAFA gains a little over its base: a base clearly behind the best alone is left
            ranked = [c for c in ranked if c is base or not self.clearly_behind(c, base, ids)]
        affordable = [c for c in ranked if self.affordable(c.base_method)]
        searched = affordable[: self.max_base_methods or len(self.alone)]
        best, best_value = base, base_value
        if not searched:  # no base method within reach whose references fit the budget: the best one alone
            return _Pick(best, best_value, base, base_value, race.history(self.objective))
        searched_bases = tuple(c.base_method for c in self.alone if c in searched)  # the repo's order
        # LAFA starts from the best base alone whose references can be scored (the repo's own always can)
        start_base = max(searched, key=lambda c: race.score(c)).base_method
        shared = {
            **({"base_method": searched_bases} if len(searched_bases) > 1 else {}),
            **({"layer": tuple(self.layer_choices)} if len(self.layer_choices) > 1 else {}),
        }
        origin = self.explainer.lafa_config.replace(base_method=start_base)  # the repo's settings
        lafa_best: LafaConfig | None = None  # the best LAFA setting so far, even if below the base alone
        lafa_best_value = -np.inf
        for aggregation in [origin.aggregation] + [a for a in AGGREGATION_REGISTRY.names if a != origin.aggregation]:
            entry = AGGREGATION_REGISTRY.get(aggregation)
            space = {**shared, **entry.search_space}
            if not self.every_aggregation_fully and lafa_best is not None:
                # Shortcut: another aggregation starts from the best setting so far and first tries its
                # own settings only (lambda, weighting), the searched layer, neighbors and kernel kept;
                # only if that beats the best does it get the whole search.
                own = {k: v for k, v in entry.search_space.items() if k not in SHARED_SETTINGS}
                current, current_value = race.ascend(_starting_point(lafa_best, aggregation), own, self.rounds)
                if current_value > lafa_best_value + 1e-12:
                    current, current_value = race.ascend(current, space, self.rounds)
            else:
                current, current_value = race.ascend(_starting_point(origin, aggregation), space, self.rounds)
            if current_value > lafa_best_value + 1e-12:
                lafa_best, lafa_best_value = current, current_value
            if current_value > best_value + 1e-12:
                best, best_value = current, current_value
        return _Pick(best, best_value, base, base_value, race.history(self.objective))

    def clearly_behind(self, config: LafaConfig, best: LafaConfig, ids: Sequence[int]) -> bool:
        """Whether ``config``'s mean gain over ``best`` on ``ids`` is below zero by ``EARLY_STOP_Z``
        standard errors (recorded in ``behind``)."""
        behind = _clearly_below(self.values(config, ids) - self.values(best, ids))
        if behind:
            self.behind.add(config.base_method)
        return behind

    def affordable(self, base: str) -> bool:
        """Whether LAFA may be searched on ``base``: the repo's own, or one whose reference scores are
        estimated to cost at most the budget (its model work per token on the tuning texts, times
        the tokens of the references the search can read that it has no scores of)."""
        if base == self.alone[0].base_method or self.reference_budget is None:
            return True
        index = self.by_base[base][self.explainer.lafa_config.layer]
        items = [item for item in self.items if base in item.work]
        if not items:  # not measured yet: score one text with it (the search would anyway)
            config = next(c for c in self.alone if c.base_method == base)
            scores_for(self.explainer, self.items[0], Lafa(self.explainer.model, index, config), self.signed)
            items = self.items[:1]
        tokens = sum(int(item.inputs["attention_mask"].numel()) for item in items)
        cost = sum(item.work[base] for item in items) / max(tokens, 1) * self.reachable_tokens(base)
        if cost > self.reference_budget:
            self.over_budget[base] = cost
            return False
        return True

    def reachable_tokens(self, base: str) -> int:
        """Tokens of the reference scores under ``base`` not computed yet that the search can read: each
        tuning text's nearest references, as many as the most neighbors any setting takes, for its
        target, at every layer searched. The lazy copies score only what is read, so this, not the
        whole index, is what LAFA's search on ``base`` costs (on a large index, a small share of it)."""
        cfg = self.explainer.lafa_config
        states = self.pooled_states()
        targets = [0 if self.regression else item.target for item in self.items]
        labels = targets if cfg.same_label and not self.regression else None
        most = max(
            [cfg.n_neighbors]
            + [
                n
                for name in AGGREGATION_REGISTRY.names
                for n in AGGREGATION_REGISTRY.get(name).search_space.get("n_neighbors", ())
            ]
        )
        keys: set[tuple[int, int]] = set()
        for layer, index in self.by_base[base].items():  # its layers share one score cache
            for target, found in zip(targets, index.search(states[layer], most, labels, use_eps=False)):
                keys.update((ref, target) for ref, _ in found)
        return index.missing_tokens_of(keys)

    def check(self, pick: _Pick, checks: list[Check]) -> tuple[dict, list[dict]]:
        """Each check's pick against its best base method alone, on the texts it left out: the paired
        difference over all of them (``metrics``: on each metric, positive = better; ``below``: the
        metrics on which it is clearly below, ``guard_z``), and the picks."""
        chosen_values: list[float] = []
        base_values: list[float] = []
        gains = []
        picks = []
        for train, test in checks:
            fold = pick if train is None else self.search(train)
            picks.append(_settings(fold.best))
            chosen_values += list(self.values(fold.best, test))
            base_values += list(self.values(fold.base, test))
            gains.append(self.metric_gains(fold.best, fold.base, test))
        held = paired(chosen_values, base_values)
        by_metric = np.concatenate(gains)
        columns = dict(zip(METRIC_SIGNS, by_metric.T))
        held["metrics"] = {name: paired(column, np.zeros_like(column)) for name, column in columns.items()}
        held["below"] = [name for name, column in columns.items() if _clearly_below(column, self.guard_z)]
        return held, picks


class _Race:
    """One search's scores of settings on its texts; with ``early_stop`` a candidate is scored on a
    few texts, then twice as many at each step, and dropped once clearly below the current setting."""

    def __init__(self, tuner: _Tuner, ids: Sequence[int]) -> None:
        self.tuner, self.ids = tuner, ids
        self.seen: dict[tuple, float] = {}
        self.dropped: dict[tuple, tuple[float, int]] = {}  # setting -> its mean on the texts it was scored on, how many
        self.guard_base: LafaConfig | None = None
        """The best base method alone: with the metric guard, a LAFA setting must be at least as good as it
        on every metric (means over the texts), set once the base methods alone have been raced."""

    def admissible(self, config: LafaConfig) -> bool:
        """Whether ``config`` may be chosen: a base method alone always; a LAFA setting, with the metric
        guard, only if on no metric it is clearly below the best base method alone on the texts (the
        race's ``_clearly_below`` on the paired differences). The objective averages the metrics, so
        without the guard a setting could buy a gain on one metric with a loss on another, and users
        check each metric (NYT: a pick that gained on deletion and comprehensiveness lost insertion on
        held-out texts). A guard that refused any loss of a mean, however small, acted on noise: it
        refused the embedded default's setting for an insertion mean that ties on held-out sentences,
        and on NYT every LAFA setting, one of which gains there (docs/results.md)."""
        if self.guard_base is None or config.lam == 0:
            return True
        gains = self.tuner.metric_gains(config, self.guard_base, self.ids)
        if not any(_clearly_below(column, self.tuner.guard_z) for column in gains.T):
            return True
        self.tuner.guarded.add(_key(config))
        return False

    def score(self, config: LafaConfig) -> float:
        key = _key(config)
        if key not in self.seen:  # coordinate ascent revisits its current setting in every round
            self.seen[key] = float(np.nanmean(self.tuner.values(config, self.ids)))
        return self.seen[key]

    def beats(self, candidate: LafaConfig, current: LafaConfig, current_value: float) -> float | None:
        """The candidate's value if it beats the current setting; None once it is clearly below."""
        key, ids, values = _key(candidate), self.ids, self.tuner.values
        if key in self.dropped:
            return None
        # (racing against a current setting the guard refuses would drop candidates for losing to it)
        if self.tuner.early_stop and key not in self.seen and np.isfinite(current_value):
            reference = values(current, ids)
            for end in _race_steps(len(ids)):  # then all of them, below
                if _clearly_below(values(candidate, ids[:end]) - reference[:end]):
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


def _clearly_below(diff: np.ndarray, z: float = EARLY_STOP_Z) -> bool:
    """Whether paired differences (NaN: a text without a value, left out) are below zero by ``z``
    standard errors: the race's drop rule and the rule for bases left out of LAFA (``EARLY_STOP_Z``),
    the metric guard's (``GUARD_Z``)."""
    diff = diff[~np.isnan(diff)]
    return bool(len(diff) > 1 and diff.mean() + z * diff.std(ddof=1) / np.sqrt(len(diff)) < 0)


def _race_steps(n: int) -> list[int]:
    """How many texts a raced candidate is scored on before each early look: ``RACE_FIRST_TEXTS``
    (or half the texts, at least 2, when there are fewer than twice as many), then doubling, below
    ``n``. Halving keeps a race on few texts (a quick evaluation's folds) from scoring every
    candidate on every text.

    >>> _race_steps(40), _race_steps(16), _race_steps(6), _race_steps(2)
    ([8, 16, 32], [8], [3], [])
    """
    steps, end = [], min(RACE_FIRST_TEXTS, max(2, -(-n // 2)))
    while end < n:
        steps.append(end)
        end *= 2
    return steps


def _starting_point(start: LafaConfig, aggregation: str) -> LafaConfig:
    """Where the search over ``aggregation`` begins: the repo's settings with that aggregation, at the
    entry's ``tuning_start_lam`` when switching to it, else the repo's lambda if it is in range."""
    if start.aggregation == aggregation:
        return start
    entry = AGGREGATION_REGISTRY.get(aggregation)
    low, high = entry.lam_range
    lam = entry.tuning_start_lam if entry.tuning_start_lam is not None else min(max(start.lam, low), high)
    return start.replace(aggregation=aggregation, lam=lam)


def _layer_choices(explainer, layers: Sequence[int] | str) -> list[int]:
    """The layers to compare: checked numbers, or "auto" (see ``AUTO_LAYERS_MAX_REFERENCES``)."""
    own = explainer.lafa_config.layer
    available = range(explainer.model.config.num_hidden_layers + 1)
    if isinstance(layers, str):
        if layers != "auto":
            raise ValueError(
                f"layers must be 'auto' or a list of layer numbers in {available[0]}..{available[-1]}, got {layers!r}"
            )
        return list(available) if len(explainer.index) <= AUTO_LAYERS_MAX_REFERENCES else [own]
    bad = [layer for layer in layers if layer not in available]
    if bad or not layers:
        raise ValueError(
            f"layers must be layer numbers in {available[0]}..{available[-1]} (0 = embedding output), "
            f"got {list(layers)}"
        )
    return sorted(set(layers) | {own})
