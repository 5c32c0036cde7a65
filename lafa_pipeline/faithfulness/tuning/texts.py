"""The tuning texts: each encoded once with its target and base-method scores, sampled within the token
budget and split into folds, and measured under a setting by the registered faithfulness metrics.

Example:
    >>> order, folds = split_texts(6, folds=3, holdout=0.0, seed=0)  # (texts searched, texts checked) a fold
    >>> sorted(i for _, checked in folds for i in checked) == sorted(order) == list(range(6))  # each checked once
    True
    >>> all(not set(searched) & set(checked) for searched, checked in folds)
    True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ...base_methods import MethodParams, has_direction
from ...config import LAFA, LafaConfig
from ...lafa import Lafa
from ...metric_registry import METRIC_REGISTRY
from ...model_adapter import counting_work
from ...results import WordScore
from ...text_inputs import TextInput, check_text, encode
from ...words import group_scores, span_scores
from ..evaluate import Predictor
from ..metrics import Faithfulness, faithfulness
from .options import MIN_TUNING_TEXTS, OBJECTIVE


@dataclass(frozen=True)
class GoldWords:
    """Gold values of a text's words, by character span: what a gold objective (``token_auc``,
    ``pearson``...) compares a setting's scores with. The tuner sums a setting's token scores inside
    each span, as the paper's cases score their gold words."""

    spans: list[tuple[int, int]]
    values: list[float]


@dataclass
class TuningText:
    """One text as the tuner needs it: model inputs, word metadata, tokens, target and base scores."""

    text: TextInput
    inputs: dict[str, torch.Tensor]
    meta: dict
    tokens: list[str]
    target: int
    base_scores: torch.Tensor
    """The scores of the explainer's own base method, as the tuning reads them: signed in a signed
    tuning of a method with a direction, the paper's magnitudes otherwise."""
    other_scores: dict[str, torch.Tensor] = field(default_factory=dict)
    """Scores of other base methods (of the same kind), by name, computed when a setting first needs them
    (``scores_for``)."""
    work: dict[str, float] = field(default_factory=dict)
    """The model's work (``ModelWork.tokens``) each base method took on this text."""
    gold: GoldWords | None = None
    """With a gold objective: the text's gold words."""
    by_ranking: dict[tuple, Faithfulness] = field(default_factory=dict, repr=False)
    """Faithfulness by the word order it masks in: settings that rank the words alike share one
    measurement (the masked texts, hence the model's outputs, depend on nothing else)."""

    @property
    def special(self) -> torch.Tensor:
        return torch.tensor([self.meta["special"]], dtype=torch.bool)


def prepare_texts(
    explainer,
    texts: Sequence[TextInput],
    show_progress: bool,
    signed: bool = False,
    targets: Sequence[int | None] | None = None,
    gold: Sequence[GoldWords] | None = None,
) -> list[TuningText]:
    """Encode each text and compute its base-method scores and target once (``targets``: the class
    explained per text, None: the predicted class; ``signed``: its signed scores too, if the base method
    has a direction; ``gold``: each text's gold words, for a gold objective)."""
    lafa = explainer.lafa
    base = lafa.config.base_method
    with_sign = signed and has_direction(base)
    prepared = []
    for i, text in enumerate(tqdm(texts, desc=f"Base scores ({base})", disable=not show_progress, unit="text")):
        inputs, meta = encode(explainer.tokenizer, check_text(text), explainer.max_length, warn=False)
        wanted = None if targets is None or targets[i] is None else [targets[i]]
        with counting_work() as work:
            out = lafa.attribute(
                inputs["input_ids"],
                inputs["attention_mask"],
                inputs.get("token_type_ids"),
                targets=wanted,
                method=base,
                signed=with_sign,
            )
        tokens = explainer.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
        item = TuningText(text, inputs, meta, tokens, out.targets[0], out.scores, work={base: work.tokens})
        item.gold = None if gold is None else gold[i]
        prepared.append(item)
    return prepared


def scores_for(explainer, item: TuningText, lafa: Lafa, signed: bool = False) -> torch.Tensor:
    """``item``'s scores under the base method of ``lafa`` (an explainer with the setting being scored):
    the stored ones, or computed with ``lafa`` once and kept (``signed``: signed if the method has a
    direction, the paper's magnitudes otherwise)."""
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
        item.other_scores[config.base_method] = out.scores
        item.work[config.base_method] = work.tokens
    return item.other_scores[config.base_method]


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
    score = METRIC_REGISTRY.get(objective).compute
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
    """``item``'s word entries (as the pipeline reports them) under the setting of ``lafa``
    (``setting_scores``)."""
    return group_scores(item.meta, setting_scores(explainer, lafa, item, signed)[0].tolist(), item.tokens, "word")


def gold_values(
    explainer, indexes: dict, config: LafaConfig, items: list[TuningText], objective: str, signed: bool = False
) -> list[float]:
    """The gold objective ``objective`` per text for LAFA with ``config`` (searching
    ``indexes[config.layer]``): its token scores summed inside each gold word's span, against the gold."""
    lafa = Lafa(explainer.model, indexes[config.layer], config)
    metric = METRIC_REGISTRY.get(objective)
    values = []
    for item in items:
        if item.gold is None:
            raise ValueError(f"the gold objective {objective!r} needs gold words for every tuning text")
        scores = setting_scores(explainer, lafa, item, signed)[0].tolist()
        values.append(metric.compute(span_scores(item.meta, scores, item.gold.spans), item.gold.values))
    return values


def setting_scores(explainer, lafa: Lafa, item: TuningText, signed: bool = False) -> torch.Tensor:
    """``item``'s token scores (1, T) under the setting of ``lafa``, from its stored base scores: lambda
    = 0 is the base method itself, read without a neighbor search. ``signed``: as ``signed=True``
    reports them for a base method with a direction (the text's and its neighbors' signed scores
    aggregated), so the metrics mask the words that push towards the target first; a method without a
    direction keeps its magnitudes."""
    base = scores_for(explainer, item, lafa, signed)
    if lafa.config.lam == 0:
        return base
    return lafa.attribute(
        item.inputs["input_ids"],
        item.inputs["attention_mask"],
        item.inputs.get("token_type_ids"),
        targets=[item.target],
        method=LAFA,
        base_scores=base,
        special_tokens_mask=item.special,
        signed=signed and has_direction(lafa.config.base_method),
    ).scores


def _column(explainer, target: int) -> int:
    return 0 if explainer.lafa.adapter.problem_type == "regression" else target


def sample_texts(explainer, texts: list[TextInput], max_tokens: int | None, seed: int) -> list[int]:
    """Which texts to tune on: all of them, or a seeded sample (in the given order) that fits in
    ``max_tokens`` tokens, at least ``MIN_TUNING_TEXTS`` of them; their positions in ``texts``."""
    if max_tokens is None:
        return list(range(len(texts)))
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
    return sorted(chosen)


Check = tuple[list[int] | None, list[int]]
"""(the texts a pick is made on, None: all tuning texts; the texts it is checked on)."""


def split_texts(n: int, folds: int, holdout: float, seed: int) -> tuple[list[int], list[Check]]:
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
