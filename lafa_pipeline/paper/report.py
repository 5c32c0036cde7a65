"""The evaluation's Markdown report and plots, written from ``results.json`` (``lafa evaluate --report-only``
rewrites them without rerunning).

Example:
    >>> fmt(0.4567, 0.12)
    '.457 (.120)'
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..base_methods import BASE_METHOD_REGISTRY
from ..files import atomic_path, atomic_write_text
from ..tuning_report import TuningReport

NAMES = {
    **{name: method.display_name for name, method in BASE_METHOD_REGISTRY.items()},
    "lafa_paper": "LAFA, paper settings",
    "lafa_tuned": "LAFA, tuned on gold",
    "lafa_tune": "LAFA, lafa tune (no gold)",
}
# The paper's numbers (../shared/PAPER.md): table 2 token AUC mean (std), table 3 Pearson mean.
PAPER_AUC = {  # method: {dataset: (mean, std)}
    "random": {"NYT": (0.498, 0.143), "WebNLG": (0.501, 0.121)},
    "simple_grad": {"NYT": (0.949, 0.071), "WebNLG": (0.670, 0.135)},
    "input_grad": {"NYT": (0.953, 0.061), "WebNLG": (0.713, 0.120)},
    "integrated_grad": {"NYT": (0.948, 0.077), "WebNLG": (0.663, 0.126)},
    "smooth_grad": {"NYT": (0.960, 0.064), "WebNLG": (0.664, 0.142)},
    "shap_zero": {"NYT": (0.805, 0.213), "WebNLG": (0.670, 0.133)},
    "shap_ref": {"NYT": (0.872, 0.169), "WebNLG": (0.675, 0.133)},
    "lafa": {"NYT": (0.958, 0.060), "WebNLG": (0.724, 0.115)},
}
PAPER_PEARSON = {  # method: {dataset: mean}
    "random": {"SST-2": 0.039, "SST": 0.040},
    "simple_grad": {"SST-2": 0.441, "SST": 0.430},
    "input_grad": {"SST-2": 0.456, "SST": 0.448},
    "integrated_grad": {"SST-2": 0.468, "SST": 0.454},
    "smooth_grad": {"SST-2": 0.484, "SST": 0.471},
    "shap_zero": {"SST-2": 0.400, "SST": 0.392},
    "shap_ref": {"SST-2": 0.279, "SST": 0.278},
    "lafa": {"SST-2": 0.494, "SST": 0.481},
}
PAPER_QUALITY = {
    "sst": "SST-2 92.4 % (SST 86.6 %), DistilBERT",
    "webnlg": "F1 87.7, BERT-base",
    "nyt": "F1 94.1, BERT-base (trained on NYT train)",
    "laptops": "private Amazon data, BERT-base",
}
TITLES = {
    "sst": "Case II — sentiment: SST-2 / SST",
    "webnlg": "Case I — relations: WebNLG",
    "nyt": "Case I — relations: NYT",
    "laptops": "Case III — price regression: generated laptop catalogue",
}
METRIC_NAMES = {"pearson": "Pearson correlation with gold word scores", "token_auc": "token AUC against gold words"}


def fmt(mean: float, std: float | None = None) -> str:
    def num(x: float) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "n/a"
        return f"{x:.3f}".replace("0.", ".", 1) if abs(x) < 1 else f"{x:.3f}"

    return num(mean) if std is None else f"{num(mean)} ({num(std)})"


def _paper(method: str, subset: str) -> str:
    key = "lafa" if method.startswith("lafa") else method
    if subset in ("SST", "SST-2"):
        pearson = PAPER_PEARSON.get(key, {}).get(subset)
        return "—" if pearson is None else fmt(pearson)
    auc = PAPER_AUC.get(key, {}).get(subset)
    return "—" if auc is None else fmt(*auc)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _comparison_lines(case: dict) -> list[str]:
    base = NAMES[case["base_method"]]
    rows = []
    for label, comparison in case["comparisons"].items():
        for part in ("all", "held_out", "held_out_vs_best"):
            if part not in comparison:  # results written before the comparison with the best base method
                continue
            c = comparison[part]
            own = NAMES[comparison["base"]] if "base" in comparison else base  # lafa tune may pick another base
            other = NAMES[c["method"]] if part == "held_out_vs_best" else own
            rows.append(
                [
                    f"{NAMES[label]} − {other}",
                    "all items" if part == "all" else "items outside the tuning texts",
                    f"{c['mean_diff']:+.4f}",
                    f"[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]",
                    f"{100 * c['wins']:.1f} %",
                    f"{100 * c.get('ties', 0):.1f} %",
                    str(c["n"]),
                ]
            )
    return _table(["difference", "over", "mean", "95 % bootstrap CI", "LAFA higher", "equal", "n"], rows)


def _quality_lines(case: dict) -> list[str]:
    rows = []
    for name, q in case["quality"].items():
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in q.items())
        rows.append([name, shown])
    t = case["training"]
    lines = _table(["evaluated on", "result"], rows)
    lines.append("")
    head = f" (head {t['head_learning_rate']})" if t.get("head_learning_rate") else ""
    weight = f", positive-label loss weight {t['positive_weight']}" if t.get("positive_weight") else ""
    lines.append(
        f"Fine-tuned from all-MiniLM-L6-v2 on {t['train_texts']} texts, {t['epochs']} epoch(s), learning rate "
        f"{t['learning_rate']}{head}{weight}, batch 32, max length {t['max_length']}: {t['seconds']} s"
        + (" (this run loaded it from the cache)" if t.get("cached") else "")
        + ". "
        f"Paper's model: {PAPER_QUALITY[case['case']]}."
    )
    return lines


def _settings_line(settings: dict) -> str:
    if settings.get("aggregation", "paper") == "normalized":
        how = "normalized aggregation (cosine-matched neighbor scores)"
    elif settings.get("neighbor_scale", "none") == "none":
        how = "raw neighbor scores (the paper's eq. 7)"
    else:
        how = "eq. 7 with neighbor scores rescaled to the text's total"
    weighting = settings.get("neighbor_weighting", "uniform")
    base = f"base {NAMES[settings['base_method']]}, " if "base_method" in settings else ""
    return (
        f"{base}layer {settings['layer']}, quantile {settings['quantile']}, {settings['n_neighbors']} neighbors "
        f"({weighting} weights), {settings['kernel']} kernel, lambda {settings['lam']}, {how}"
    )


def _sweep_lines(case: dict) -> list[str]:
    """Every setting the gold tuning tried (records of older releases: its coordinate steps)."""
    metric = case["metric"]
    columns = ["layer", "quantile", "n_neighbors", "kernel", "aggregation", "lam", "neighbor_scale"]
    columns += ["neighbor_weighting", metric, "neighbors_found", "dropped_after_texts"]
    rows = [[fmt(r[c]) if c == metric else str(r.get(c, "—")) for c in columns] for r in case["tuning"]["sweep"]]
    return _table(columns, rows)


def layer_rows(case: dict) -> list[dict]:
    """Per layer the gold tuning tried, its best setting there by the case's metric (scored on every
    tuning text); a record of an older release names its layer step's rows."""
    sweep = case["tuning"]["sweep"]
    if any("step" in r for r in sweep):
        return [r for r in sweep if r["step"] == "layer"]
    best: dict[int, dict] = {}
    for r in sweep:
        if "dropped_after_texts" not in r and (
            r["layer"] not in best or r[case["metric"]] > best[r["layer"]][case["metric"]]
        ):
            best[r["layer"]] = r
    return [best[layer] for layer in sorted(best)]


def _deletion_lines(case: dict) -> list[str]:
    d = case["deletion"]
    header = ["method"] + [f"{int(100 * f)} %" for f in d["fractions"]]
    rows = [[NAMES[m]] + [fmt(mu, sd) for mu, sd in zip(c["mean"], c["std"])] for m, c in d["curves"].items()]
    return _table(header, rows)


def case_section(case: dict) -> list[str]:
    metric = case["metric"]
    lines = [f"## {TITLES[case['case']]}", ""] + [f"- {n}" for n in case["notes"]] + [""]
    lines += ["Model quality:", ""] + _quality_lines(case) + [""]
    header = ["method"]
    for subset in case["subsets"]:
        header += [f"{subset} {metric}", f"paper {subset}", "n"]
    header.append("ms per text")
    rows = []
    for method in case["results"][case["subsets"][0]]:
        row = [NAMES[method]]
        for subset in case["subsets"]:
            r = case["results"][subset][method]
            row += [fmt(r["mean"], r["std"]), _paper(method, subset), str(r["n"])]
        row.append(f"{case['timing_ms_per_text'][method]:.1f}")
        rows.append(row)
    lines += [f"{METRIC_NAMES[metric]}, mean (std) over items (higher is better):", ""] + _table(header, rows) + [""]
    lines += [
        f"LAFA uses {NAMES[case['base_method']]} as its base. Paper settings: "
        f"{_settings_line(case['paper_settings'])} (eps = {case['paper_settings']['eps']:.4f}); tuned on the "
        f"{case['tuning']['items']} items of the first {case['tuning']['texts']} test texts: "
        f"{_settings_line(case['tuned_settings'])}."
        + _lafa_tune_text(case)
        + " LAFA's time = its base method's + search and aggregation.",
        "",
    ]
    lines += ["Paired difference to the base method (bootstrap over items):", ""] + _comparison_lines(case) + [""]
    d = case["deletion"]
    what = (
        "absolute percentage change of the predicted price"
        if d["mode"] == "mape"
        else "drop in the explained class's log-odds"
    )
    lines += (
        [
            f"Deletion: {what} when the top p % of words (by score) are replaced by [MASK], mean (std) over "
            f"{next(iter(d['curves'].values()))['n']} texts (higher = more faithful); "
            f"plot: `deletion_{case['case']}.png`.",
            "",
        ]
        + _deletion_lines(case)
        + [""]
    )
    lines += _faithfulness_lines(case)
    lines += [
        "<details><summary>Tuning on gold: every setting tried on the first texts (dropped: clearly behind on the "
        "texts given)</summary>",
        "",
    ]
    lines += _sweep_lines(case) + ["", "</details>", ""]
    return lines


def _faithfulness_lines(case: dict) -> list[str]:
    f = case.get("faithfulness")
    if not f:  # results written before the faithfulness check, or a case with no texts left over
        return []
    return (
        [
            f"Faithfulness to the model, as `lafa evaluate --data` measures it: every method, and LAFA as "
            f"`lafa tune` set it (base {NAMES[f['base_method']]}), on {f['texts']} test texts after those it "
            "tuned on (mean (std); deletion and sufficiency: lower is better):",
            "",
            f["table"],
            "",
        ]
        + _table(
            ["metric", "best other method", "LAFA − best other (95 % CI)", "LAFA − its base (95 % CI)"],
            [
                [metric, NAMES.get(c["best"], c["best"]), _ci(c["vs_best"]), _ci(c["vs_base"])]
                for metric, c in f["comparisons"].items()
            ],
        )
        + ["", "Differences are signed so that positive means LAFA is better.", ""]
    )


def faithfulness_summary_lines(results: dict) -> list[str]:
    """Per case and faithfulness metric: LAFA (as lafa tune set it) against the best other method."""
    rows = []
    for case in results["cases"].values():
        f = case.get("faithfulness")
        if not f:
            continue
        for metric, c in f["comparisons"].items():
            if metric == "insertion_minus_deletion":
                continue
            verdict = "better" if c["vs_best"]["ci95"][0] > 0 else "worse" if c["vs_best"]["ci95"][1] < 0 else "tie"
            rows.append(
                [
                    TITLES[case["case"]].split(": ")[-1],
                    metric,
                    NAMES.get(c["best"], c["best"]),
                    _ci(c["vs_best"]),
                    verdict,
                ]
            )
    if not rows:
        return []
    return (
        [
            "Faithfulness to the model on test texts `lafa tune` did not see (positive = LAFA better):",
            "",
        ]
        + _table(["data", "metric", "best other method", "LAFA − best other (95 % CI)", "verdict"], rows)
        + [""]
    )


def _lafa_tune_text(case: dict) -> str:
    if "lafa_tune" not in case:
        return ""
    t = case["lafa_tune"]
    tuning = TuningReport.from_dict(t["tuning"])
    held = tuning.held_out
    held_text = ""
    if held:
        how = (
            f"cross-validated over {held.folds} folds as `lafa tune` does (each of its {held.gain.n} texts "
            f"checks a pick made without it), the tuning gained"
            if held.folds
            else f"on {held.gain.n} more of those texts, held out as `lafa tune --holdout` does, its gain was"
        )
        held_text = (
            f"; {how} {held.gain}"
            + (", so the base method alone was kept" if tuning.kept_base else "")
            + (
                f" instead of {_settings_line({'quantile': t['settings']['quantile'], **tuning.rejected})}"
                if tuning.rejected
                else ""
            )
        )
    texts = t.get("texts", case["tuning"]["texts"])  # results written before lafa tune had texts of its own
    folds_text = f" ({tuning.settings_with_folds} with the folds' searches)" if tuning.settings_with_folds else ""
    return (
        f" `lafa tune` (no gold: insertion − deletion of the model's own output, on {tuning.tuning_texts} of "
        f"the first {texts} test texts, {t['settings_tried']} settings{folds_text}, {t['seconds']:.0f} s; "
        f"its row is compared on "
        f"items outside those {texts}) chose {_settings_line(t['settings'])} "
        f"(objective {tuning.tuned_value:.4f} against {tuning.base_value:.4f} for the base method alone"
        f"{held_text})."
    )


def _ci(c: dict) -> str:
    return f"{c['mean_diff']:+.4f} [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]"


def summary_lines(results: dict) -> list[str]:
    rows = []
    for case in results["cases"].values():
        base = case["base_method"]
        for subset in case["subsets"]:
            res = case["results"][subset]
            bases = {m: r for m, r in res.items() if not m.startswith("lafa")}
            best = max(bases, key=lambda m: -1 if math.isnan(bases[m]["mean"]) else bases[m]["mean"])
            c = case["comparisons"].get("lafa_tune")  # absent from results written before lafa tune was run here
            rows.append(
                [
                    subset,
                    case["metric"],
                    f"{NAMES[best]} {fmt(bases[best]['mean'])}",
                    f"{NAMES[base]} {fmt(res[base]['mean'])}",
                    fmt(res["lafa_paper"]["mean"]),
                    fmt(res["lafa_tuned"]["mean"]),
                    fmt(res["lafa_tune"]["mean"]) if c else "—",
                    f"{NAMES[c.get('base', base)]}: {_ci(c['held_out'])}" if c else "—",
                    f"{NAMES[c['held_out_vs_best']['method']]}: {_ci(c['held_out_vs_best'])}" if c else "—",
                ]
            )
    return _table(
        [
            "data",
            "metric",
            "best base method",
            "LAFA's base",
            "LAFA paper settings",
            "LAFA tuned on gold",
            "LAFA, lafa tune",
            "lafa tune − base, held-out (95 % CI)",
            "lafa tune − best base on held-out (95 % CI)",
        ],
        rows,
    )


def layer_lines(results: dict) -> list[str]:
    lines = []
    for name, case in results["cases"].items():
        precision = {p["layer"]: p for p in case["layer_precision"]}
        rows = [
            [
                str(r["layer"]),
                fmt(r[case["metric"]]),
                f"{r['neighbors_found']:.1f}" if "neighbors_found" in r else "—",
                fmt(precision[r["layer"]]["precision"], precision[r["layer"]]["std"])
                if r["layer"] in precision
                else "—",
            ]
            for r in layer_rows(case)
        ]
        lines += [
            f"{name} ({case['metric']} of LAFA's best setting at each layer on the tuning texts; neighbor "
            f"precision of the {case['paper_settings']['n_neighbors']} nearest references over all scored texts):",
            "",
        ]
        lines += _table(["layer", case["metric"], "neighbors within eps", "neighbor precision"], rows) + [""]
    return lines


def write_plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, case in results["cases"].items():
        d = case["deletion"]
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [0] + [100 * f for f in d["fractions"]]
        for method, curve in d["curves"].items():
            style = "-" if method.startswith("lafa") else "--"
            ax.plot(xs, [0] + curve["mean"], style, marker="o", markersize=3, label=NAMES[method])
        ax.set_xlabel("words masked (top p %, by score)")
        ax.set_ylabel("prediction change (MAPE)" if d["mode"] == "mape" else "log-odds drop")
        ax.set_title(f"Deletion: {name}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(_save(fig, out / f"deletion_{name}.png"))
        plt.close(fig)
    cases = list(results["cases"].values())
    fig, axes = plt.subplots(1, len(cases), figsize=(4 * len(cases), 3.5), squeeze=False)
    for ax, case in zip(axes[0], cases):
        by_layer = layer_rows(case)
        ax.plot(
            [r["layer"] for r in by_layer],
            [r[case["metric"]] for r in by_layer],
            marker="o",
            label=f"LAFA {case['metric']}",
        )
        ax.set_xlabel("encoder layer")
        ax.set_ylabel(case["metric"])
        ax.set_title(case["case"])
        if case["layer_precision"]:
            twin = ax.twinx()
            twin.plot(
                [p["layer"] for p in case["layer_precision"]],
                [p["precision"] for p in case["layer_precision"]],
                "--",
                color="tab:orange",
                marker="s",
                label="neighbor precision",
            )
            twin.set_ylabel("neighbor precision")
    fig.tight_layout()
    written.append(_save(fig, out / "layer_sweep.png"))
    plt.close(fig)
    return written


def _save(fig, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return str(path)


def write_report(results: dict, out: Path) -> None:
    """``README.md`` and the PNG plots for ``results`` (as written to ``results.json``)."""
    out = Path(out)
    write_plots(results, out)
    mode = (
        "quick check (`--quick`: small training sets, a few texts; numbers mean nothing)"
        if results["quick"]
        else "full run"
    )
    lines = (
        [
            "# LAFA evaluation",
            "",
            f"{mode}; lafa-pipeline {results['lafa_pipeline']}, {results['device']}, "
            f"{results['torch_threads']} torch threads, {results['seconds'] / 60:.1f} minutes in all "
            f"(fine-tuning included unless loaded from the cache; see each case). Written by `lafa evaluate`; "
            "every number below is in `results.json`, per-item values included."
            + (
                f" Cases {', '.join(results['kept_cases'])} come from an earlier run into this folder "
                f"({results.get('kept_note', 'same settings')}; the time above does not include them)."
                if results.get("kept_cases")
                else ""
            ),
            "",
            f"Sampled methods (SmoothGrad, IntegratedGrad, SHAP) use {results['sizes']['samples']} samples/steps.",
            "",
            "## Summary",
            "",
        ]
        + summary_lines(results)
        + [""]
        + faithfulness_summary_lines(results)
    )
    for case in results["cases"].values():
        lines += case_section(case)
    lines += ["## Layer sweep", "", "![layer sweep](layer_sweep.png)", ""] + layer_lines(results)
    lines += ["## Deletion curves", ""] + [f"![deletion {n}](deletion_{n}.png)" for n in results["cases"]] + [""]
    atomic_write_text(out / "README.md", "\n".join(lines) + "\n")


def rewrite_report(folder: str) -> None:
    """Regenerate README.md and plots from ``folder/results.json``."""
    path = Path(folder) / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"No results.json in {folder}; run `lafa evaluate` first")
    write_report(json.loads(path.read_text()), Path(folder))
