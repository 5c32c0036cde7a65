"""Reproduce the paper's three experiments: fine-tune, explain with every method, score, tune, report.

``lafa evaluate --data-dir ../shared/data --output evaluation`` runs the full evaluation (cases:
sst, webnlg, nyt, laptops); ``--quick`` runs a few dozen texts with small training sets to check
the path from data to tables. Fine-tuned models and their indexes are cached under
``$LAFA_HOME/evaluation`` (or ``--cache-dir``) and reused by later runs.

For each case: fine-tune the packaged MiniLM, measure its quality, index the reference texts
with the paper's LAFA settings, compute every base method's token scores for the test queries
once, tune LAFA with the one tuner (``tune_explainer``) twice: on the gold of the items of the first
``tune_texts`` test texts (the case's gold metric as its objective, the paper's base method kept), and
as ``lafa tune`` (no gold: the faithfulness objective, the base method among its settings) on the
first test texts, then score LAFA with the paper's settings and both tuned settings on all queries,
and measure every method's faithfulness to the model (``faithfulness_check``) on test texts after
``lafa tune``'s. Results go to ``results.json``; the Markdown report and plots are written by
``report.write_report``.

This module scores a case and runs the evaluation; the cases' settings and run sizes are in
``specs.py``, loading, fine-tuning and indexing in ``prepare.py``, explaining the queries in
``case_explainer.py`` and both tunings in ``tuning.py``.

Example (a tiny run on generated data, about a minute on a CPU):
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> results = run_evaluation(None, out, cases=["laptops"], quick=True, show_progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..base_methods import BASE_METHOD_REGISTRY
from ..faithfulness.evaluate import Predictor
from ..faithfulness.metrics import deletion_curve, neighbor_precision, paired, summarize
from ..faithfulness.tuning import TuningResult
from ..files import atomic_write_text
from ..metric_registry import METRIC_REGISTRY, names
from . import CASES
from .case_explainer import CaseExplainer
from .cases import CaseData, words_of
from .prepare import PreparedCase, prepare_case
from .specs import CaseSpec, RunSizes
from .tuning import settings_of, tune_with_gold, tune_without_gold

BASE_METHODS_EVALUATED = BASE_METHOD_REGISTRY.names  # every registered base method
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
LAFA_LABELS = ("lafa_paper", "lafa_tuned", "lafa_tune")
"""LAFA with the paper's settings, tuned on gold of the tuning texts, and tuned by ``lafa tune`` (no gold)."""


# ----- what is measured on a case's queries --------------------------------------------------------------
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


# ----- one case: its steps, then evaluate_case ------------------------------------------------------------
def score_base_methods(
    explainer: CaseExplainer, queries: list[int], metric: str, name: str, show_progress: bool
) -> tuple[dict[str, dict], dict[str, dict], dict[int, int]]:
    """Every base method on ``queries``: its values on the case's items by ``metric`` and time per text,
    its token scores (which LAFA and the deletion curves reuse), and the targets explained."""
    methods: dict[str, dict] = {}
    stored: dict[str, dict] = {}
    targets: dict[int, int] = {}
    for method in BASE_METHODS_EVALUATED:
        t0 = time.perf_counter()
        scores, targets, _ = explainer.scores(queries, method, desc=f"{name}: {method}" if show_progress else None)
        seconds = time.perf_counter() - t0
        stored[method] = scores
        methods[method] = {
            "values": explainer.item_values(scores, metric),
            "ms_per_text": 1000 * seconds / len(queries),
        }
    return methods, stored, targets


def tune_on_gold(
    explainer: CaseExplainer, spec: CaseSpec, tune_texts: int, show_progress: bool, say: Callable[..., None]
) -> tuple[dict, dict]:
    """LAFA tuned (``tune_with_gold``) on the gold of the items of the case's first ``tune_texts`` test
    texts: the settings and the tuning's record (every setting tried: its ``sweep``)."""
    case = explainer.case
    texts = set(case.texts_in_order[:tune_texts])
    queries = [q for q in range(len(case.queries)) if case.queries[q].text in texts]
    query_set = set(queries)
    items = [i for i, it in enumerate(case.items) if it.query in query_set]
    say(f"   tuning LAFA on the gold of the {len(items)} items of the first {len(texts)} test texts")
    t0 = time.perf_counter()
    result = tune_with_gold(explainer, spec, items, show_progress)
    seconds = time.perf_counter() - t0
    return settings_of(result.config), {
        "texts": len(texts),
        "queries": len(queries),
        "items": len(items),
        "seconds": round(seconds, 1),
        "sweep": result.trials,
        "report": result.report.to_dict(),
    }


def run_lafa_tune(
    prepared: PreparedCase, n_texts: int, sizes: RunSizes, show_progress: bool, say: Callable[..., None]
) -> tuple[TuningResult, dict]:
    """``lafa tune`` (no gold) on the case's first ``n_texts`` test texts: its result and its record."""
    say(f"   lafa tune (no gold: insertion - deletion) on the first {n_texts} test texts")
    t0 = time.perf_counter()
    result = tune_without_gold(
        prepared.model,
        prepared.tokenizer,
        prepared.index,
        prepared.case.texts_in_order[:n_texts],
        show_progress,
        rounds=sizes.tune_rounds,
        steps=sizes.tune_steps,
        folds=sizes.tune_folds,
    )
    seconds = time.perf_counter() - t0
    return result, {
        "settings": settings_of(result.config),
        "tuning": result.config.tuning,
        "texts": n_texts,
        "seconds": round(seconds, 1),
        "settings_tried": len(result.trials),
    }


def score_lafa(
    explainer: CaseExplainer,
    queries: list[int],
    methods: dict[str, dict],
    stored: dict[str, dict],
    metric: str,
    settings_by_label: dict[str, dict],
) -> tuple[dict[str, dict], dict[str, dict]]:
    """LAFA with each label's settings over the stored scores of its base method: per label, its values
    on the items by ``metric``, settings, neighbors found and time per text (its base's and LAFA's), and
    its token scores."""
    records: dict[str, dict] = {}
    scores_by_label: dict[str, dict] = {}
    for label, settings in settings_by_label.items():
        t0 = time.perf_counter()
        own_base = settings["base_method"]  # lafa tune's may differ from the paper's
        scores, found = explainer.lafa_scores(queries, stored[own_base], settings)
        scores_by_label[label] = scores
        records[label] = {
            "values": explainer.item_values(scores, metric),
            "settings": settings,
            "neighbors_found": float(np.mean(list(found.values()))),
            "ms_per_text": methods[own_base]["ms_per_text"] + 1000 * (time.perf_counter() - t0) / len(queries),
        }
    return records, scores_by_label


def results_by_subset(case: CaseData, methods: dict[str, dict], metric: str) -> dict[str, dict[str, dict]]:
    """Per subset of the case's items, each method's summary of its values there (the values left out)."""
    by_subset = {}
    for subset in case.subsets:
        rows = [i for i, it in enumerate(case.items) if subset in it.subsets]
        by_subset[subset] = {m: asdict(summarize(metric, [r["values"][i] for i in rows])) for m, r in methods.items()}
        for m in by_subset[subset]:
            by_subset[subset][m].pop("values")
    return by_subset


def lafa_comparisons(case: CaseData, methods: dict[str, dict], tune_texts: int, tune_texts_no_gold: int) -> dict:
    """Each LAFA row against its base method on all items and on the items held out of its tuning
    (the first ``tune_texts`` test texts; ``lafa tune``'s first ``tune_texts_no_gold``), and against the
    best base method there."""
    texts_in_order = case.texts_in_order
    comparisons = {}
    for label in LAFA_LABELS:
        # Held out: items outside the texts this row was tuned on (lafa tune's may be more than the gold tuning's).
        tuned_on = set(texts_in_order[: tune_texts_no_gold if label == "lafa_tune" else tune_texts])
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
    return comparisons


def deletion_curves(
    explainer: CaseExplainer,
    stored: dict[str, dict],
    targets: dict,
    queries: list[int],
    spec: CaseSpec,
    deletion_texts: int,
) -> dict:
    """Every method's mean deletion curve (and its spread) over the first ``deletion_texts`` of ``queries``
    (all of them for the price regression)."""
    regression = explainer.case.problem_type == "regression"
    del_queries = queries[:deletion_texts] if not regression else queries
    curves_by_method = {}
    for method in list(BASE_METHODS_EVALUATED) + list(LAFA_LABELS):
        curves = deletion(explainer, stored[method], targets, del_queries, spec.deletion_mode, spec.max_length)
        arr = np.asarray(curves)
        curves_by_method[method] = {"mean": arr.mean(0).tolist(), "std": arr.std(0).tolist(), "n": len(curves)}
    return {"fractions": list(FRACTIONS[1:]), "mode": spec.deletion_mode, "curves": curves_by_method}


def case_counts(case: CaseData) -> dict[str, int]:
    """How many queries, gold items, references and training texts the case holds."""
    return {
        "queries": len(case.queries),
        "items": len(case.items),
        "references": len(case.ref_texts),
        "train_texts": len(case.train_texts),
    }


def evaluate_case(name: str, data_dir, sizes: RunSizes, cache_dir: Path, show_progress: bool) -> dict:
    """Case ``name`` evaluated as the module's docstring says: its record in ``results.json``."""
    start = time.perf_counter()
    say = print if show_progress else (lambda *a, **k: None)
    prepared = prepare_case(name, data_dir, sizes, cache_dir, show_progress)
    case, spec, model, tokenizer = prepared.case, prepared.spec, prepared.model, prepared.tokenizer
    explainer = CaseExplainer(case, model, tokenizer, prepared.index)
    queries = list(range(len(case.queries)))
    methods, stored, targets = score_base_methods(explainer, queries, spec.metric, name, show_progress)
    tuned, tuning = tune_on_gold(explainer, spec, sizes.tune_texts, show_progress, say)
    n_no_gold = max(sizes.tune_texts, min(sizes.tune_texts_no_gold, len(case.texts_in_order) // 2))
    by_faithfulness, lafa_tune = run_lafa_tune(prepared, n_no_gold, sizes, show_progress, say)
    explainer.adopt(by_faithfulness.index)  # the reference scores lafa tune computed for its base
    settings_by_label = {
        "lafa_paper": settings_of(spec.lafa),
        "lafa_tuned": tuned,
        "lafa_tune": settings_of(by_faithfulness.config),
    }
    lafa_methods, lafa_stored = score_lafa(explainer, queries, methods, stored, spec.metric, settings_by_label)
    methods.update(lafa_methods)
    stored.update(lafa_stored)
    say("   deletion curves")
    deletion_record = deletion_curves(explainer, stored, targets, queries, spec, sizes.deletion_texts)
    precision = layer_precision(explainer, queries, model.config.num_hidden_layers, spec.lafa.n_neighbors)
    unseen = case.texts_in_order[n_no_gold:][: sizes.faithfulness_texts]
    say(f"   faithfulness to the model: every method and lafa tune's LAFA on {len(unseen)} texts it did not tune on")
    faithfulness = faithfulness_check(model, tokenizer, by_faithfulness, unseen, show_progress) if unseen else None
    return {
        "case": name,
        "notes": case.notes,
        "metric": spec.metric,
        "subsets": case.subsets,
        "base_method": spec.lafa.base_method,
        "training": prepared.training,
        "quality": prepared.quality,
        "index": prepared.index_info,
        "paper_settings": {**spec.lafa.to_dict(), "eps": prepared.index.config.eps},
        "tuned_settings": tuned,
        "tuning": tuning,
        "lafa_tune": lafa_tune,
        "results": results_by_subset(case, methods, spec.metric),
        "comparisons": lafa_comparisons(case, methods, sizes.tune_texts, n_no_gold),
        "timing_ms_per_text": {m: r["ms_per_text"] for m, r in methods.items()},
        "deletion": deletion_record,
        "layer_precision": precision,
        "faithfulness": faithfulness,
        "counts": case_counts(case),
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
