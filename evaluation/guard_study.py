"""How strict should ``lafa tune``'s metric guard be? Per case, the tuning at several strictnesses
(``guard_z``: standard errors below zero at which a metric's loss to the best base method alone refuses
a setting), each pick measured on held-out texts against its base and the strongest other methods.

    python evaluation/guard_study.py --data-dir ../shared/data --case laptops --tune 40 --held 160 \\
        --z 2,1,0.5 --others occlusion,simple_grad,integrated_grad_mask

``lafa tune`` refuses, with its metric guard, a LAFA setting clearly below the best base method alone on
any of the four metrics, first on the texts it searches on and then in its cross-validated check (texts
each fold's search did not see, where a pick does not look better than it is). At ``guard_z`` 2 the
NYT pick of ``case_check.md`` still lost one metric on held-out texts (about 1 standard error of a
40-text tuning set), and so did the laptops pick of a split that tuned on the best-predicted listings
(before commit 9f4f892; the laptops run below is on that split). Each strictness's pick is reported
as the search made it and as the check left it (the base method alone when the check refused it), so
one run per strictness shows both guards. The runs share their per-text measurements (the model's
outputs on masked texts, base scores, reference scores), which depend on the setting's word ranking
only, so a strictness after the first costs little. Written to ``evaluation/guard_study_<case>.json``
and, over every case found, ``evaluation/guard_study.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lafa_pipeline.build.default_model import lafa_home
from lafa_pipeline.card import verdict
from lafa_pipeline.faithfulness import tune
from lafa_pipeline.faithfulness.evaluate import evaluate_explainer
from lafa_pipeline.faithfulness.metrics import HIGHER_IS_BETTER, paired
from lafa_pipeline.faithfulness.tune import TUNED_FIELDS, tune_explainer
from lafa_pipeline.feature_attribution import FeatureAttributionPipeline
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.paper.evaluation import RunSizes, prepare_case

METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")
HERE = Path(__file__).resolve().parent


def share_measurements() -> dict[tuple, dict]:
    """Make repeated ``tune_explainer`` runs on the same texts share their per-text measurements: the
    prepared texts (which keep the model's outputs on masked texts by word ranking) and the lazy
    reference-score indexes. Only this study reruns the tuner on the same texts, so the library
    does not cache across runs. Returns the indexes by (bases, layers), then base method and layer."""
    texts_cache: dict[tuple, list] = {}
    index_cache: dict[tuple, dict] = {}
    prepare, indexes = tune.prepare_texts, tune._indexes_by_base

    def prepare_once(explainer, texts, show_progress, signed=False):
        key = (tuple(map(str, texts)), signed)
        if key not in texts_cache:
            texts_cache[key] = prepare(explainer, texts, show_progress, signed)
        return texts_cache[key]

    def indexes_once(explainer, bases, layer_choices, show_progress):
        key = (tuple(bases), tuple(layer_choices))
        if key not in index_cache:
            index_cache[key] = indexes(explainer, bases, layer_choices, show_progress)
        return index_cache[key]

    tune.prepare_texts, tune._indexes_by_base = prepare_once, indexes_once
    return index_cache


def oriented(per_text: dict[str, list[float]], metric: str) -> np.ndarray:
    """A metric's per-text values with the sign that makes higher better."""
    return np.asarray(per_text[metric], dtype=float) * (1.0 if HIGHER_IS_BETTER[metric] else -1.0)


def study(args) -> dict:
    started = time.perf_counter()
    prepared = prepare_case(args.case, args.data_dir, RunSizes(), Path(args.cache_dir), show_progress=True)
    texts = prepared.case.texts_in_order
    tuning_texts, held = texts[: args.tune], texts[args.tune : args.tune + args.held]
    explainer = FeatureAttributionPipeline(model=prepared.model, tokenizer=prepared.tokenizer, index=prepared.index)
    repo_config, repo_index = explainer.lafa_config, explainer.index
    indexes = share_measurements()
    runs = []
    for z in args.z:
        explainer.lafa_config, explainer.index = repo_config, repo_index
        explainer.lafa = Lafa(explainer.model, repo_index, repo_config)
        t0 = time.perf_counter()
        result = tune_explainer(explainer, tuning_texts, folds=3, guard_z=z, show_progress=True)
        t = result.config.tuning
        kept = {k: getattr(result.config, k) for k in TUNED_FIELDS}
        # the search's own pick: the one the check refused, else the one kept (only its settings: a
        # refused pick's record carries its objective value too)
        searched = t["rejected"] or kept
        runs.append(
            {
                "guard_z": z,
                "seconds": round(time.perf_counter() - t0, 1),
                "kept": kept,
                "searched": {k: searched[k] for k in TUNED_FIELDS},
                "kept_base_for": t["kept_base_for"],
                "refused_in_search": t["settings_refused_by_guard"],
                "cross_validated": t["held_out"],
                "result": result,
            }
        )
        print(f"guard_z {z}: searched {runs[-1]['searched']}, kept {runs[-1]['kept']}", flush=True)
    # Held-out measurements: the other methods once, then each distinct LAFA pick.
    bases = {r["kept"]["base_method"] for r in runs} | {r["searched"]["base_method"] for r in runs}
    others = list(dict.fromkeys([*sorted(bases), *args.others]))
    explainer.lafa_config, explainer.index = repo_config, repo_index
    explainer.lafa = Lafa(explainer.model, repo_index, repo_config)
    report = evaluate_explainer(explainer, held, methods=others, show_progress=True)
    per_text = dict(report.per_text)
    for r in runs:
        for which in ("searched", "kept"):
            setting = r[which]
            key = json.dumps(setting, sort_keys=True, default=float)
            if setting["lam"] == 0 or key in per_text:
                continue
            (by_base,) = indexes.values()  # one tuning setup: the same bases and layers in every run
            index = by_base[setting["base_method"]][setting["layer"]]
            config = index.config.replace(**setting)
            index.config = explainer.lafa_config = config
            explainer.index, explainer.lafa = index, Lafa(explainer.model, index, config)
            per_text[key] = evaluate_explainer(explainer, held, methods=["lafa"], show_progress=True).per_text["lafa"]
    rows = []
    for r in runs:
        for which in ("searched", "kept"):
            setting = r[which]
            key = setting["base_method"] if setting["lam"] == 0 else json.dumps(setting, sort_keys=True, default=float)
            row = {"guard_z": r["guard_z"], "which": which, "setting": setting, "metrics": {}}
            for metric in METRICS:
                mine = oriented(per_text[key], metric)
                best = max(others, key=lambda m: float(np.nanmean(oriented(per_text[m], metric))))
                vs_best = paired(mine, oriented(per_text[best], metric))
                row["metrics"][metric] = {
                    "best_other": best,
                    "vs_best": vs_best,
                    "verdict": verdict(*vs_best["ci95"]),
                    "vs_base": paired(mine, oriented(per_text[setting["base_method"]], metric)),
                }
            rows.append(row)
    return {
        "case": args.case,
        "code": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "tune_texts": args.tune,
        "held_texts": len(held),
        "others": others,
        "seconds": round(time.perf_counter() - started, 1),
        "runs": [{k: v for k, v in r.items() if k != "result"} for r in runs],
        "rows": rows,
    }


def lines_of(result: dict) -> list[str]:
    out = [
        f"## {result['case']}",
        "",
        f"Tuned on the first {result['tune_texts']} test texts, measured on the next {result['held_texts']}; "
        f"other methods: {', '.join(result['others'])}. Code: commit {result['code']}; {result['seconds']:.0f} s.",
        "",
        "| guard_z | pick | setting | cross-validated gain per metric (del, ins, comp, suff) | "
        + " | ".join(f"{m}: vs best other" for m in METRICS)
        + " | done-when |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in METRICS) + " | --- |",
    ]
    runs = {r["guard_z"]: r for r in result["runs"]}
    for row in result["rows"]:
        s, run = row["setting"], runs[row["guard_z"]]
        setting = (
            f"{s['base_method']} alone"
            if s["lam"] == 0
            else f"{s['base_method']}, {s['aggregation']}, layer {s['layer']}, {s['kernel']}, λ {s['lam']:g}, "
            f"{s['n_neighbors']}nn"
        )
        cv = run["cross_validated"] or {}
        gains = ", ".join(f"{v['mean_diff']:+.4f}" for v in (cv.get("metrics") or {}).values()) or "(not checked)"
        cells, verdicts = [], []
        for metric in METRICS:
            m = row["metrics"][metric]
            v = m["vs_best"]
            verdicts.append(m["verdict"])
            cells.append(
                f"{v['mean_diff']:+.4f} [{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}] {m['verdict']} ({m['best_other']})"
            )
        met = "worse" not in verdicts and verdicts.count("better") >= 2
        which = "search's" if row["which"] == "searched" else "kept"
        if row["which"] == "kept" and run["kept_base_for"]:
            which += f" (check refused: {', '.join(run['kept_base_for'])})"
        out.append(
            f"| {row['guard_z']:g} | {which} | {setting} | {gains} | "
            + " | ".join(cells)
            + f" | {'met' if met else 'missed'} |"
        )
    return out + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with sst/, sst2/, webnlg/, nyt/")
    parser.add_argument("--case", required=True, help="laptops, webnlg, nyt or sst")
    parser.add_argument("--tune", type=int, default=40, help="test texts the tuning sees (the first)")
    parser.add_argument("--held", type=int, default=160, help="held-out test texts after them")
    parser.add_argument("--z", type=lambda s: [float(v) for v in s.split(",")], default=[2.0, 1.0, 0.5])
    parser.add_argument(
        "--others", type=lambda s: [v for v in s.split(",") if v], default=[], help="other methods to compare with"
    )
    parser.add_argument("--cache-dir", default=str(lafa_home() / "evaluation"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    result = study(args)
    atomic_write_text(HERE / f"guard_study_{args.case}.json", json.dumps(result, indent=1, default=float) + "\n")
    lines = ["# The metric guard's strictness, per case", "", __doc__.split("\n\n")[2].replace("\n", " "), ""]
    for path in sorted(HERE.glob("guard_study_*.json")):
        lines += lines_of(json.loads(path.read_text()))
    atomic_write_text(HERE / "guard_study.md", "\n".join(lines))
    print("\n".join(lines_of(result)))


if __name__ == "__main__":
    main()
