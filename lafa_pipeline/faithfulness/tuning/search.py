"""The tuner: one tuning run's texts, each setting's objective and metrics per text (computed once), the
search over base methods and aggregation settings, the reference budget, and the check of a pick on
texts it was not chosen on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ...aggregation import AGGREGATION_REGISTRY
from ...config import LafaConfig
from ...index_encoding import pooled_states
from ...lafa import Lafa
from ...metric_registry import METRIC_REGISTRY, names
from ...tuning_report import Comparison, TuningCheck
from ..evaluate import Predictor, mask_string
from ..metrics import paired
from .options import SHARED_SETTINGS, TuneOptions, setting_key, tuned_settings
from .race import Race, clearly_below, starting_point
from .texts import Check, TuningText, faithfulness_values, gold_values, scores_for


@dataclass
class Pick:
    """A search's result: the best setting and its value, the best base method alone and its value,
    and every setting scored (those dropped early with the number of texts they were scored on)."""

    best: LafaConfig
    best_value: float
    base: LafaConfig
    base_value: float
    history: list[dict]


class Tuner:
    """One tuning run: the texts, their objective per setting (computed once: the folds' searches
    mostly revisit the same settings) and the search over settings."""

    def __init__(
        self,
        explainer,
        items: list[TuningText],
        by_base: dict,
        alone: list[LafaConfig],
        layer_choices: list[int],
        options: TuneOptions,
    ) -> None:
        """``options`` checked, with ``signed`` resolved (``TuneOptions.checked``, a bool)."""
        self.explainer, self.items, self.by_base, self.alone = explainer, items, by_base, alone
        self.layer_choices, self.options = layer_choices, options
        self.objective = METRIC_REGISTRY.get(options.objective)
        self.guarded_metrics = [METRIC_REGISTRY.get(name) for name in names("faithfulness", objective=False)]
        """The metric guard's columns: every faithfulness metric that is not an objective."""
        self.signed = bool(options.signed)
        self.states: dict[int, np.ndarray] | None = None  # the texts' pooled states by layer (``pooled_states``)
        self.regression = explainer.lafa.adapter.problem_type == "regression"
        self.over_budget: dict[str, float] = {}  # base method -> estimated work of scoring its references
        self.behind: set[str] = set()  # base methods alone clearly behind the best alone: not searched with LAFA
        self.predict = Predictor(explainer.model, explainer.tokenizer, max_length=explainer.max_length)
        self.mask = mask_string(explainer.tokenizer)
        # setting -> (objective per text, computed, the guard's metrics per text, oriented: higher is better)
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.guarded: set[tuple] = set()  # settings the metric guard refused (they lose a metric to the base)
        self.bar = tqdm(desc="Settings tried", disable=not options.show_progress, unit="setting")
        self.reference_bar: tqdm | None = None  # opened when a reference is first scored (``fill_neighbor_scores``)

    def close(self) -> None:
        """Close the progress bars."""
        for bar in (self.bar, self.reference_bar):
            if bar is not None:
                bar.close()

    def values(self, config: LafaConfig, ids: Sequence[int]) -> np.ndarray:
        """The objective of ``config`` on texts ``ids``, computed for those not scored yet."""
        key = setting_key(config)
        if key not in self.cache:
            n = len(self.items)
            self.cache[key] = (
                np.full(n, np.nan),
                np.zeros(n, dtype=bool),
                np.full((n, len(self.guarded_metrics)), np.nan),
            )
            self.bar.update(1)
        row, computed, metrics = self.cache[key]
        missing = [i for i in ids if not computed[i]]
        if missing:
            self.fill_neighbor_scores(config, missing)
            indexes, chosen = self.by_base[config.base_method], [self.items[i] for i in missing]
            if self.objective.family == "gold":  # gold words: no faithfulness metric to guard
                row[missing] = gold_values(self.explainer, indexes, config, chosen, self.objective.name, self.signed)
            else:
                found = faithfulness_values(
                    self.explainer,
                    indexes,
                    config,
                    chosen,
                    self.predict,
                    self.mask,
                    self.options.steps,
                    signed=self.signed,
                )
                row[missing] = [self.objective.compute(f) for f in found]
                metrics[missing] = [[m.oriented(m.compute(f)) for m in self.guarded_metrics] for f in found]
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
        found = lafa.search(torch.cat(states), [item.target for item in items], config.n_neighbors)
        keys = {(ref, item.target) for item, neighbors in zip(items, found) for ref, _ in neighbors}
        if self.reference_bar is None:  # what LAFA's search on a base method without scores costs, as it goes
            self.reference_bar = tqdm(
                desc="References scored", disable=not self.options.show_progress, unit="reference"
            )
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
        """Gain of ``config`` over ``base`` per text of ``ids`` (rows) and metric (columns, ``guarded_metrics``:
        positive = better)."""
        for setting in (config, base):  # scored on ``ids`` first where they are not yet
            self.values(setting, ids)
        rows = list(ids)
        return self.cache[setting_key(config)][2][rows] - self.cache[setting_key(base)][2][rows]

    def full_mean(self, config: LafaConfig, ids: Sequence[int]) -> float | None:
        """The objective's mean over ``ids`` if ``config`` was scored on all of them, else None."""
        row, computed, _ = self.cache[setting_key(config)]
        return float(np.nanmean(row[list(ids)])) if computed[list(ids)].all() else None

    def search(self, ids: Sequence[int]) -> Pick:
        """The best base method alone on ``ids``, then coordinate ascent from it for each aggregation."""
        race = Race(self, ids)
        # The base methods alone, raced like any candidate: on long texts scoring a base method is most
        # of the cost, and one clearly behind the best so far stops after its first few texts.
        base = self.alone[0]
        for candidate in self.alone[1:]:
            if race.beats(candidate, base, race.score(base)) is not None:  # ties keep the repo's own
                base = candidate
        base_value = race.score(base)
        race.guard_base = base if self.options.metric_guard else None
        scored = [c for c in self.alone if setting_key(c) in race.seen]
        ranked = sorted(scored, key=lambda c: -race.score(c))
        if self.options.early_stop:  # LAFA gains a little over its base: a base clearly behind the best alone is left
            ranked = [c for c in ranked if c is base or not self.clearly_behind(c, base, ids)]
        affordable = [c for c in ranked if self.affordable(c.base_method)]
        searched = affordable[: self.options.max_base_methods or len(self.alone)]
        best, best_value = base, base_value
        if not searched:  # no base method within reach whose references fit the budget: the best one alone
            return Pick(best, best_value, base, base_value, race.history(self.objective.name))
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
            if not self.options.every_aggregation_fully and lafa_best is not None:
                # Shortcut: another aggregation starts from the best setting so far and first tries its
                # own settings only (lambda, weighting), the searched layer, neighbors and kernel kept;
                # only if that beats the best does it get the whole search.
                own = {k: v for k, v in entry.search_space.items() if k not in SHARED_SETTINGS}
                current, current_value = race.ascend(starting_point(lafa_best, aggregation), own, self.options.rounds)
                if current_value > lafa_best_value + 1e-12:
                    current, current_value = race.ascend(current, space, self.options.rounds)
            else:
                current, current_value = race.ascend(starting_point(origin, aggregation), space, self.options.rounds)
            if current_value > lafa_best_value + 1e-12:
                lafa_best, lafa_best_value = current, current_value
            if current_value > best_value + 1e-12:
                best, best_value = current, current_value
        return Pick(best, best_value, base, base_value, race.history(self.objective.name))

    def clearly_behind(self, config: LafaConfig, best: LafaConfig, ids: Sequence[int]) -> bool:
        """Whether ``config``'s mean gain over ``best`` on ``ids`` is below zero by ``EARLY_STOP_Z``
        standard errors (recorded in ``behind``)."""
        behind = clearly_below(self.values(config, ids) - self.values(best, ids))
        if behind:
            self.behind.add(config.base_method)
        return behind

    def affordable(self, base: str) -> bool:
        """Whether LAFA may be searched on ``base``: the repo's own, or one whose reference scores are
        estimated to cost at most the budget (its model work per token on the tuning texts, times
        the tokens of the references the search can read that it has no scores of)."""
        if base == self.alone[0].base_method or self.options.reference_budget is None:
            return True
        index = self.by_base[base][self.explainer.lafa_config.layer]
        items = [item for item in self.items if base in item.work]
        if not items:  # not measured yet: score one text with it (the search would anyway)
            config = next(c for c in self.alone if c.base_method == base)
            scores_for(self.explainer, self.items[0], Lafa(self.explainer.model, index, config), self.signed)
            items = self.items[:1]
        tokens = sum(int(item.inputs["attention_mask"].numel()) for item in items)
        cost = sum(item.work[base] for item in items) / max(tokens, 1) * self.reachable_tokens(base)
        if cost > self.options.reference_budget:
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

    def check(self, pick: Pick, checks: list[Check]) -> tuple[TuningCheck, list[dict]]:
        """Each check's pick against its best base method alone, on the texts it left out: the paired
        difference over all of them (``metrics``: on each metric, positive = better; ``below``: the
        metrics on which it is clearly below, ``guard_z``), and the picks."""
        chosen_values: list[float] = []
        base_values: list[float] = []
        gains = []
        picks = []
        for train, test in checks:
            fold = pick if train is None else self.search(train)
            picks.append(tuned_settings(fold.best))
            chosen_values += list(self.values(fold.best, test))
            base_values += list(self.values(fold.base, test))
            gains.append(self.metric_gains(fold.best, fold.base, test))
        by_metric = np.concatenate(gains)
        columns = dict(zip((m.name for m in self.guarded_metrics), by_metric.T))
        held = TuningCheck(
            Comparison.from_dict(paired(chosen_values, base_values)),
            {name: Comparison.from_dict(paired(column, np.zeros_like(column))) for name, column in columns.items()},
            [name for name, column in columns.items() if clearly_below(column, self.options.guard_z)],
            self.options.folds if (self.options.folds or 0) > 1 else None,
        )
        return held, picks
