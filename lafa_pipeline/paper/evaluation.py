"""Reproduce the paper's three experiments: fine-tune, explain with every method, score, tune, report.

``lafa evaluate --data-dir ../shared/data --output evaluation`` runs the full evaluation (cases:
sst, webnlg, nyt, laptops); ``--quick`` runs a few dozen texts with small training sets to check
the path from data to tables. Fine-tuned models and their indexes are cached under
``$LAFA_HOME/evaluation`` (or ``--cache-dir``) and reused by later runs.

For each case: fine-tune the packaged MiniLM, measure its quality, index the reference texts
with the paper's LAFA settings, compute every base method's token scores for the test queries
once, tune LAFA (layer, quantile and neighbors, kernel, lambda: one coordinate at a time) on the
gold of the queries of the first ``tune_texts`` test texts from those stored base scores, run
``lafa tune`` (no gold: the faithfulness objective, the base method among its settings) on the
first test texts, then score LAFA with the paper's settings and both tuned settings on all queries,
and measure every method's faithfulness to the model (``faithfulness_check``) on test texts after
``lafa tune``'s. Results go to ``results.json``; the
Markdown report and plots are written by ``evaluation_report``.

Example (a tiny run on generated data, about a minute on a CPU):
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> results = run_evaluation(None, out, cases=["laptops"], quick=True, show_progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..base_methods import BASE_METHOD_REGISTRY
from ..config import KERNELS, NEIGHBOR_SCALES, LafaConfig
from ..faithfulness.evaluate import Predictor
from ..faithfulness.metrics import deletion_curve, neighbor_precision, paired, pearson, summarize, token_auc
from ..faithfulness.tuning import tuned_settings
from ..files import atomic_write_text
from ..index import LafaIndex
from ..index_encoding import pooled_states
from ..lafa import Lafa
from ..metric_registry import METRIC_REGISTRY, names
from ..model_adapter import ModelAdapter, copy_mask_token
from ..text_inputs import encode, max_length_of, pad_right
from . import CASES
from .cases import CaseData, words_of
from .prepare import prepare_case
from .specs import CaseSpec, RunSizes
from .sst_trees import scores_per_word

if TYPE_CHECKING:  # the tuner is imported when the case is tuned
    from ..faithfulness.tuning import TuningResult

BASE_METHODS_EVALUATED = BASE_METHOD_REGISTRY.names  # every registered base method
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
LAFA_LABELS = ("lafa_paper", "lafa_tuned", "lafa_tune")
"""LAFA with the paper's settings, tuned on gold of the tuning texts, and tuned by ``lafa tune`` (no gold)."""


# ----- explaining the queries --------------------------------------------------------------------------
class CaseExplainer:
    """The case's model, tokenized queries, stored base-method scores, and LAFA with any settings."""

    def __init__(self, case: CaseData, model, tokenizer, index: LafaIndex, batch_size: int = 16):
        self.case, self.model, self.tokenizer, self.index = case, model, tokenizer, index
        copy_mask_token(model, tokenizer)
        self.adapter = ModelAdapter(model)
        self.batch_size = batch_size
        limit = max_length_of(tokenizer, model.config)
        self.encoded = [encode(tokenizer, q.text, limit, warn=False) for q in case.queries]
        self.lengths = np.array([e["input_ids"].shape[1] for e, _ in self.encoded])
        self.ref_layers: dict[int, np.ndarray] | None = None
        self._indexes: dict[tuple[int, float, str], LafaIndex] = {}
        self._by_base: dict[str, LafaIndex] = {index.config.base_method: index}

    def batches(
        self, queries: list[int]
    ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        order = sorted(queries, key=lambda q: self.lengths[q])
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            ids, mask = pad_right([self.encoded[q][0]["input_ids"][0] for q in part], self.adapter.pad_id)
            types = torch.zeros_like(ids) if self.adapter.uses_token_types else None
            yield part, ids, mask, types

    def scores(
        self,
        queries: list[int],
        method: str,
        lafa: Lafa | None = None,
        base: dict | None = None,
        desc: str | None = None,
        **kwargs,
    ) -> tuple[dict[int, np.ndarray], dict[int, int], dict[int, int]]:
        """Token scores per query (real tokens), the targets explained and the neighbors found."""
        lafa = lafa or Lafa(self.model, self.index, self.index.config)
        scores, targets, found = {}, {}, {}
        with tqdm(total=len(queries), desc=desc or method, disable=desc is None, unit="text") as bar:
            for part, ids, mask, types in self.batches(queries):
                wanted = [self.case.queries[q].target for q in part]
                base_scores = None
                if base is not None:
                    base_scores = torch.zeros(ids.shape)
                    for row, q in enumerate(part):
                        base_scores[row, : len(base[q])] = torch.from_numpy(base[q])
                out = lafa.attribute(
                    ids,
                    mask,
                    types,
                    wanted if any(t is not None for t in wanted) else None,
                    method=method,
                    base_scores=base_scores,
                    **kwargs,
                )
                for row, q in enumerate(part):
                    scores[q] = out.scores[row, : self.lengths[q]].numpy().astype(np.float64)
                    targets[q] = out.targets[row]
                    found[q] = len(out.neighbors[row]) if out.neighbors else 0
                bar.update(len(part))
        return scores, targets, found

    def word_scores(self, q: int, scores: np.ndarray, spans: list[tuple[int, int]]) -> list[float]:
        """Token scores summed per word span (special tokens left out)."""
        meta = self.encoded[q][1]
        tokens = [
            {"start": start, "end": end, "score": float(score)}
            for (start, end), special, score in zip(meta["offsets"], meta["special"], scores)
            if not special
        ]
        return scores_per_word(spans, tokens)

    def item_values(self, scores: dict[int, np.ndarray], metric: str, items: list[int] | None = None) -> list[float]:
        fn = pearson if metric == "pearson" else token_auc
        chosen = range(len(self.case.items)) if items is None else items
        values = []
        for i in chosen:
            item = self.case.items[i]
            values.append(fn(self.word_scores(item.query, scores[item.query], item.spans), item.gold))
        return values

    # ----- indexes at other layers, quantiles and base methods (same references) ------------------
    def index_for(self, layer: int, quantile: float, base_method: str | None = None) -> LafaIndex:
        """The index searched at ``layer`` with eps at ``quantile``, holding ``base_method``'s scores
        (default: the index's own; another base's are computed as neighbors need them, once, and
        shared by every layer and quantile, as ``lafa tune`` does)."""
        base_method = base_method or self.index.config.base_method
        key = (layer, quantile, base_method)
        if key not in self._indexes:
            if self.ref_layers is None:
                self.ref_layers = self.states(self.index.sequence, len(self.index))
            if base_method not in self._by_base:
                config = self.index.config.replace(base_method=base_method)
                self._by_base[base_method] = self.index.for_base_method(config)
            scored = self._by_base[base_method]
            self._indexes[key] = LafaIndex.from_encoded(
                self.model,
                scored.texts,
                self.ref_layers[layer],
                scored.arrays,
                scored.config.replace(layer=layer, quantile=quantile, eps=None),
                self.case.ref_labels is not None,
            )
        return self._indexes[key]

    def adopt(self, index: LafaIndex) -> None:
        """Use ``index``'s reference scores for its base method (same references: ``lafa tune``'s
        index at another layer, say), unless this explainer already holds that method's."""
        self._by_base.setdefault(index.config.base_method, index)

    def states(self, sequence, count: int) -> dict[int, np.ndarray]:
        """Pooled states of ``count`` sequences at every layer (the index's pooling)."""
        layers = range(self.model.config.num_hidden_layers + 1)
        return pooled_states(self.adapter, sequence, count, layers, self.index.config.pooling)

    def query_sequence(self, q: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Query ``q`` as model inputs: token ids and token type ids (all 0: the cases hold single texts)."""
        ids = self.encoded[q][0]["input_ids"][0]
        return ids, torch.zeros_like(ids)

    def lafa_scores(self, queries: list[int], base: dict, settings: dict) -> tuple[dict, dict]:
        """LAFA with ``settings`` over the queries' ``base`` scores (those of ``settings["base_method"]``)."""
        index = self.index_for(settings["layer"], settings["quantile"], settings.get("base_method"))
        lafa = Lafa(
            self.model,
            index,
            index.config.replace(
                aggregation=settings["aggregation"], neighbor_weighting=settings.get("neighbor_weighting", "uniform")
            ),
        )
        scores, _, found = self.scores(
            queries,
            "lafa",
            lafa,
            base,
            kernel=settings["kernel"],
            lam=settings["lam"],
            n_neighbors=settings["n_neighbors"],
            neighbor_scale=settings["neighbor_scale"],
        )
        return scores, found


# ----- tuning ------------------------------------------------------------------------------------------------
def tune(
    explainer: CaseExplainer, spec: CaseSpec, base: dict, queries: list[int], items: list[int], num_layers: int
) -> tuple[dict, list[dict]]:
    """Coordinate-wise search from the paper settings: neighbor scale, layer, quantile x neighbors,
    kernel, aggregation x lambda (x neighbor scale for eq. 7), then the kernel again."""
    best = settings_of(spec.lafa)
    records: list[dict] = []

    def value(settings: dict) -> tuple[float, float]:
        scores, found = explainer.lafa_scores(queries, base, settings)
        return summarize(spec.metric, explainer.item_values(scores, spec.metric, items)).mean, float(
            np.mean([found[q] for q in queries])
        )

    grids: list[tuple[str, list[dict[str, Any]]]] = [
        ("neighbor scale", [{"neighbor_scale": scale} for scale in NEIGHBOR_SCALES]),
        ("layer", [{"layer": layer} for layer in range(num_layers + 1)]),
        (
            "quantile x neighbors",
            [{"quantile": qu, "n_neighbors": k} for qu in (0.05, 0.2, 0.39, 0.6, 1.0) for k in (5, 10, 20)],
        ),
        ("kernel", [{"kernel": k} for k in KERNELS]),
        # E(w) divides by the neighbor's length, so it is small next to m_i: lambda goes up to 100.
        (
            "aggregation x lambda",
            [
                {"aggregation": "paper", "lam": lam, "neighbor_scale": scale}
                for scale in NEIGHBOR_SCALES
                for lam in (0.1, 0.44, 1.0, 3.0, 10.0, 30.0, 100.0)
            ]
            + [{"aggregation": "normalized", "lam": lam, "neighbor_scale": "none"} for lam in (0.25, 0.5, 0.75, 1.0)],
        ),
        ("kernel (again)", [{"kernel": k} for k in KERNELS]),
    ]
    for step, grid in grids:
        step_records = []
        for change in grid:
            settings = {**best, **change}
            mean, neighbors = value(settings)
            step_records.append({"step": step, **settings, spec.metric: mean, "neighbors_found": neighbors})
        winner = max(step_records, key=lambda r: (r[spec.metric], -abs(r["lam"] - 1.0)))
        best = {k: winner[k] for k in best}
        records += step_records
    return best, records


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
    from ..faithfulness.tuning import tune_explainer
    from ..feature_attribution import FeatureAttributionPipeline

    explainer = FeatureAttributionPipeline(model=model, tokenizer=tokenizer, index=index)
    return tune_explainer(
        explainer, texts, folds=folds, rounds=rounds, steps=steps, show_progress=show_progress, signed=signed
    )


def layer_precision(explainer: CaseExplainer, queries: list[int], num_layers: int, k: int) -> list[dict]:
    """Neighbor precision (eq. 8) of the k nearest references at each layer, no label filter or cut-off."""
    case = explainer.case
    counted = [q for q in queries if case.queries[q].category is not None]
    if not counted:
        return []
    vectors = explainer.states(lambda i: explainer.query_sequence(counted[i]), len(counted))
    out = []
    for layer in range(num_layers + 1):
        index = explainer.index_for(layer, explainer.index.config.quantile)
        found = index.search(vectors[layer], k, labels=None, use_eps=False)
        values = [
            neighbor_precision([case.queries[q].category in case.ref_categories[ref] for ref, _ in nbs], True)
            for q, nbs in zip(counted, found)
        ]
        result = summarize("neighbor_precision", values)
        out.append({"layer": layer, "precision": result.mean, "std": result.std, "n": result.n})
    return out


# ----- deletion -----------------------------------------------------------------------------------------------------
def deletion(
    explainer: CaseExplainer, scores: dict, targets: dict, queries: list[int], mode: str, max_length: int
) -> list[list[float]]:
    """Per query, the deletion curve over FRACTIONS of its words ranked by ``scores``."""
    case = explainer.case
    mask = explainer.tokenizer.mask_token or explainer.tokenizer.unk_token
    outputs = Predictor(explainer.model, explainer.tokenizer, max_length=max_length)

    spans_of: dict[int, list[tuple[int, int]]] = {}
    for item in case.items:
        spans_of.setdefault(item.query, item.spans)
    curves = []
    for q in queries:
        spans = spans_of.get(q) or words_of(case.queries[q].text)
        words = [{"start": s, "end": e} for s, e in spans]
        word_scores = explainer.word_scores(q, scores[q], spans)
        curves.append(
            deletion_curve(
                outputs,
                case.queries[q].text,
                words,
                word_scores,
                target=targets[q],
                fractions=FRACTIONS[1:],
                mode=mode,
                mask=mask,
            )
        )
    return curves


# ----- one case ------------------------------------------------------------------------------------------------------
def faithfulness_check(
    model,
    tokenizer,
    tuned: TuningResult,
    texts: list[str],
    show_progress: bool,
    methods: list[str] | None = None,
    signed: bool = False,
) -> dict:
    """What a user measures with ``lafa evaluate --data``: ``methods`` (default every method of the
    pipeline) and LAFA as ``lafa tune`` set it (its base method included), on ``texts`` (none of them tuned on), by the
    faithfulness metrics (the model's own output as words are removed or kept), with paired
    bootstrap CIs of LAFA against its base and against the best other method on each metric
    (``signed``: ``evaluate_explainer(signed=True)``)."""
    from ..faithfulness.evaluate import evaluate_explainer
    from ..feature_attribution import FeatureAttributionPipeline

    explainer = FeatureAttributionPipeline(model=model, tokenizer=tokenizer, index=tuned.index)
    tuned.apply(explainer)
    base = tuned.config.base_method
    if methods is not None:
        methods = list(dict.fromkeys(["lafa", base, *methods]))
    report = evaluate_explainer(explainer, texts, methods=methods, show_progress=show_progress, signed=signed)
    comparisons = {}
    for metric in names("faithfulness"):
        sign = METRIC_REGISTRY.get(metric).sign
        others = [m for m in report.per_text if m != "lafa"]
        best = max(others, key=lambda m: sign * float(np.nanmean(report.per_text[m][metric])))
        comparisons[metric] = {
            "best": best,
            "vs_best": report.compare("lafa", best, metric),
            "vs_base": report.compare("lafa", base, metric),
        }
    summary = report.to_dict()
    return {
        "texts": len(texts),
        "base_method": base,
        "table": report.table(),
        "comparisons": comparisons,
        "summary": summary["summary"],
        "seconds_per_text": summary["seconds_per_text"],
        "signed": summary["signed"],
        "per_text": summary["per_text"],
    }


def evaluate_case(name: str, data_dir, sizes: RunSizes, cache_dir: Path, show_progress: bool) -> dict:
    start = time.perf_counter()
    say = print if show_progress else (lambda *a, **k: None)
    prepared = prepare_case(name, data_dir, sizes, cache_dir, show_progress)
    case, spec, model, tokenizer, index = (
        prepared.case,
        prepared.spec,
        prepared.model,
        prepared.tokenizer,
        prepared.index,
    )
    training, quality, index_info = prepared.training, prepared.quality, prepared.index_info
    explainer = CaseExplainer(case, model, tokenizer, index)
    queries = list(range(len(case.queries)))
    num_layers = model.config.num_hidden_layers
    texts_in_order = case.texts_in_order
    tune_texts = set(texts_in_order[: sizes.tune_texts])
    tune_queries = [q for q in queries if case.queries[q].text in tune_texts]
    tune_query_set = set(tune_queries)
    tune_items = [i for i, it in enumerate(case.items) if it.query in tune_query_set]

    methods: dict[str, dict] = {}
    stored: dict[str, dict] = {}
    targets: dict[int, int] = {}
    for method in BASE_METHODS_EVALUATED:
        t0 = time.perf_counter()
        scores, targets, _ = explainer.scores(queries, method, desc=f"{name}: {method}" if show_progress else None)
        seconds = time.perf_counter() - t0
        stored[method] = scores
        methods[method] = {
            "values": explainer.item_values(scores, spec.metric),
            "ms_per_text": 1000 * seconds / len(queries),
        }

    base_method = spec.lafa.base_method
    say(f"   tuning LAFA on the {len(tune_queries)} queries of the first {len(tune_texts)} test texts")
    t0 = time.perf_counter()
    tuned, sweep = tune(explainer, spec, stored[base_method], tune_queries, tune_items, num_layers)
    tuning_seconds = time.perf_counter() - t0
    n_no_gold = max(sizes.tune_texts, min(sizes.tune_texts_no_gold, len(texts_in_order) // 2))
    say(f"   lafa tune (no gold: insertion - deletion) on the first {n_no_gold} test texts")
    t0 = time.perf_counter()
    by_faithfulness = tune_without_gold(
        model,
        tokenizer,
        index,
        texts_in_order[:n_no_gold],
        show_progress,
        rounds=sizes.tune_rounds,
        steps=sizes.tune_steps,
        folds=sizes.tune_folds,
    )
    tune_seconds = time.perf_counter() - t0
    explainer.adopt(by_faithfulness.index)  # the reference scores lafa tune computed for its base
    paper_settings = settings_of(spec.lafa)
    for label, settings in (
        ("lafa_paper", paper_settings),
        ("lafa_tuned", tuned),
        ("lafa_tune", settings_of(by_faithfulness.config)),
    ):
        t0 = time.perf_counter()
        own_base = settings["base_method"]  # lafa tune's may differ from the paper's
        scores, found = explainer.lafa_scores(queries, stored[own_base], settings)
        stored[label] = scores
        methods[label] = {
            "values": explainer.item_values(scores, spec.metric),
            "settings": settings,
            "neighbors_found": float(np.mean(list(found.values()))),
            "ms_per_text": methods[own_base]["ms_per_text"] + 1000 * (time.perf_counter() - t0) / len(queries),
        }

    by_subset = {}
    for subset in case.subsets:
        rows = [i for i, it in enumerate(case.items) if subset in it.subsets]
        by_subset[subset] = {
            m: asdict(summarize(spec.metric, [r["values"][i] for i in rows])) for m, r in methods.items()
        }
        for m in by_subset[subset]:
            by_subset[subset][m].pop("values")
    comparisons = {}
    for label in LAFA_LABELS:
        # Held out: items outside the texts this row was tuned on (lafa tune's may be more than the gold tuning's).
        tuned_on = set(texts_in_order[: n_no_gold if label == "lafa_tune" else sizes.tune_texts])
        held_out = [i for i, it in enumerate(case.items) if case.queries[it.query].text not in tuned_on]
        # The best base method by the gold metric over those items, for "LAFA - best base" (done-when of issue 10).
        best_base = max(
            BASE_METHODS_EVALUATED,
            key=lambda m: np.nanmean([methods[m]["values"][i] for i in held_out]) if held_out else 0.0,
        )
        own_base = methods[label]["settings"]["base_method"]
        comparisons[label] = {
            "base": own_base,
            "all": paired(methods[label]["values"], methods[own_base]["values"]),
            "held_out": paired(
                [methods[label]["values"][i] for i in held_out], [methods[own_base]["values"][i] for i in held_out]
            ),
            "held_out_vs_best": {
                "method": best_base,
                **paired(
                    [methods[label]["values"][i] for i in held_out], [methods[best_base]["values"][i] for i in held_out]
                ),
            },
        }
    say("   deletion curves")
    del_queries = queries[: sizes.deletion_texts] if case.problem_type != "regression" else queries
    deletion_curves = {}
    for method in list(BASE_METHODS_EVALUATED) + list(LAFA_LABELS):
        curves = deletion(explainer, stored[method], targets, del_queries, spec.deletion_mode, spec.max_length)
        arr = np.asarray(curves)
        deletion_curves[method] = {"mean": arr.mean(0).tolist(), "std": arr.std(0).tolist(), "n": len(curves)}
    precision = layer_precision(explainer, queries, num_layers, spec.lafa.n_neighbors)
    unseen = texts_in_order[n_no_gold:][: sizes.faithfulness_texts]
    say(f"   faithfulness to the model: every method and lafa tune's LAFA on {len(unseen)} texts it did not tune on")
    faithfulness = faithfulness_check(model, tokenizer, by_faithfulness, unseen, show_progress) if unseen else None
    return {
        "case": name,
        "notes": case.notes,
        "metric": spec.metric,
        "subsets": case.subsets,
        "base_method": base_method,
        "training": training,
        "quality": quality,
        "index": index_info,
        "paper_settings": {**spec.lafa.to_dict(), "eps": index.config.eps},
        "tuned_settings": tuned,
        "tuning": {
            "texts": len(tune_texts),
            "queries": len(tune_queries),
            "items": len(tune_items),
            "seconds": round(tuning_seconds, 1),
            "sweep": sweep,
        },
        "lafa_tune": {
            "settings": settings_of(by_faithfulness.config),
            "tuning": by_faithfulness.config.tuning,
            "texts": n_no_gold,
            "seconds": round(tune_seconds, 1),
            "settings_tried": len(by_faithfulness.trials),
        },
        "results": by_subset,
        "comparisons": comparisons,
        "timing_ms_per_text": {m: r["ms_per_text"] for m, r in methods.items()},
        "deletion": {"fractions": list(FRACTIONS[1:]), "mode": spec.deletion_mode, "curves": deletion_curves},
        "layer_precision": precision,
        "faithfulness": faithfulness,
        "counts": {
            "queries": len(case.queries),
            "items": len(case.items),
            "references": len(case.ref_texts),
            "train_texts": len(case.train_texts),
        },
        "values": {m: r["values"] for m, r in methods.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }


def run_evaluation(
    data_dir: str | os.PathLike | None,
    output: str | os.PathLike,
    cases: list[str] | None = None,
    quick: bool = False,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool = True,
) -> dict:
    """Evaluate ``cases`` and write ``results.json``, ``README.md`` and the plots into ``output``."""
    from .. import __version__
    from ..build.default_model import lafa_home
    from .report import write_report

    cases = list(cases or CASES)
    for name in cases:
        if name not in CASES:
            raise ValueError(f"Unknown case {name!r}; valid: {', '.join(CASES)}")
    sizes = RunSizes.quick() if quick else RunSizes()
    cache = Path(cache_dir) if cache_dir else lafa_home() / "evaluation"
    start = time.perf_counter()
    results: dict[str, Any] = {
        "lafa_pipeline": __version__,
        "quick": quick,
        "sizes": asdict(sizes),
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "cases": {},
    }
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    previous = out / "results.json"
    if previous.exists():  # rerunning some cases keeps the other cases' results of the same kind of run
        earlier = json.loads(previous.read_text())
        if earlier.get("quick") == quick:
            results["cases"] = {k: v for k, v in earlier.get("cases", {}).items() if k not in cases}
            results["kept_cases"] = list(results["cases"])
    for name in cases:
        results["cases"][name] = evaluate_case(name, data_dir, sizes, cache, show_progress)
        # Written after every case, so a failure later leaves the finished cases on disk.
        results["seconds"] = round(time.perf_counter() - start, 1)
        atomic_write_text(out / "results.json", json.dumps(results, indent=1) + "\n")
        write_report(results, out)
    return results
