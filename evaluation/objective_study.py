"""Which objective should ``lafa tune`` maximise? (issue 24, item 2)

On SST test sentences explained by the embedded default model (MiniLM fine-tuned on SST-2, its
3,000-sentence index), no gold used for any choice:

1. ``lafa tune`` is run once per objective (``OBJECTIVES``: insertion - deletion, comprehensiveness -
   sufficiency, the mean of both) on the tuning sentences, over the base methods ``--bases``.
2. Every setting any of those runs scored fully is measured again on the held-out sentences: the
   four faithfulness metrics, the per-text normalised differences (divided by the full text's
   probability of the explained class) and the per-sentence Pearson with the gold word scores
   (|leaf label - 2| from the PTB trees). Agreement between objectives, and with gold, is Kendall's
   tau over those settings' held-out means.
3. Each objective's pick, and each base method alone, on the held-out sentences: per metric, the
   pick minus the best base method alone on that metric, with a 95 % bootstrap CI.

    python evaluation/objective_study.py --data-dir ../shared/data [--texts 300] [--tune 60]

Writes ``objective_study.json`` and ``objective_study.md`` to ``--output`` (default: evaluation).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from lafa_pipeline import load_explainer, tune_explainer
from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string
from lafa_pipeline.faithfulness.metrics import faithfulness, paired, pearson
from lafa_pipeline.faithfulness.tuning import prepare_texts, tuned_fields, word_scores
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.metric_registry import METRIC_REGISTRY, names
from lafa_pipeline.paper.sst_trees import read_trees
from lafa_pipeline.words import scores_per_word

OBJECTIVES = names("faithfulness", objective=True)  # every objective lafa tune takes

METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency", "pearson")
CRITERIA = (
    *OBJECTIVES,
    "insertion_minus_deletion_normalised",
    "comprehensiveness_minus_sufficiency_normalised",
    "rank_average",
    "pearson",
)


def measure(explainer, indexes, setting: dict, items, trees, predict, mask) -> dict[str, list[float]]:
    """Per held-out text: the four metrics, both normalised differences and gold Pearson for ``setting``."""
    config = explainer.lafa_config.replace(**setting)
    lafa = Lafa(explainer.model, indexes[config.base_method], config)
    out: dict[str, list[float]] = {k: [] for k in (*METRICS, *CRITERIA[:5])}
    for item, tree in zip(items, trees):
        words = word_scores(explainer, lafa, item)
        f = faithfulness(predict, item.text, words, None, item.target, 10, mask)
        full = float(predict([item.text])[0][item.target])
        values = {
            "deletion_auc": f.deletion_auc,
            "insertion_auc": f.insertion_auc,
            "comprehensiveness": f.comprehensiveness,
            "sufficiency": f.sufficiency,
            "pearson": pearson(scores_per_word(list(tree.spans), words), tree.gold),
            **{name: METRIC_REGISTRY.get(name).compute(f) for name in OBJECTIVES},
            "insertion_minus_deletion_normalised": (f.insertion_auc - f.deletion_auc) / full,
            "comprehensiveness_minus_sufficiency_normalised": (f.comprehensiveness - f.sufficiency) / full,
        }
        for k, v in values.items():
            out[k].append(float(v))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder with sst/test.txt")
    parser.add_argument("--texts", type=int, default=300, help="SST test sentences (seeded sample)")
    parser.add_argument("--tune", type=int, default=60, help="of them, used by lafa tune; the rest are held out")
    parser.add_argument("--bases", default="smooth_grad,input_grad,integrated_grad,integrated_grad_mask,occlusion")
    parser.add_argument("--output", default="evaluation")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    start = time.perf_counter()
    trees = random.Random(0).sample(read_trees(Path(args.data_dir) / "sst" / "test.txt"), args.texts)
    tune_trees, held_trees = trees[: args.tune], trees[args.tune :]
    bases = args.bases.split(",")

    picks, runs = {}, {}
    for objective in OBJECTIVES:
        t0 = time.perf_counter()
        result = tune_explainer(
            load_explainer(),
            [t.text for t in tune_trees],
            folds=0,
            layers=[2],
            base_methods=bases,
            rounds=1,
            objective=objective,
            show_progress=False,
        )
        picks[objective] = {k: getattr(result.config, k) for k in tuned_fields()}
        runs[objective] = {"seconds": time.perf_counter() - t0, "summary": result.summary(), "trials": result.trials}
        print(objective, picks[objective], f"{runs[objective]['seconds']:.0f} s", flush=True)

    # every setting scored on all tuning texts by some run, each base alone, the picks
    explainer = load_explainer()
    own = explainer.lafa_config
    settings: dict[tuple, dict] = {}
    for run in runs.values():
        for trial in run["trials"]:
            if "dropped_after_texts" not in trial:
                s = {k: trial[k] for k in tuned_fields()}
                settings[tuple(sorted(s.items()))] = s
    for base in bases:
        s = {k: getattr(own, k) for k in tuned_fields()} | {"base_method": base, "lam": 0.0}
        settings[tuple(sorted(s.items()))] = s
    indexes = {b: explainer.index.for_base_method(own.replace(base_method=b)) for b in bases}
    indexes[own.base_method] = explainer.index
    predict = Predictor(explainer.model, explainer.tokenizer, max_length=explainer.max_length)
    mask = mask_string(explainer.tokenizer)
    items = prepare_texts(explainer, [t.text for t in held_trees], show_progress=False)
    measured = {}
    for n, (key, s) in enumerate(settings.items()):
        measured[key] = measure(explainer, indexes, s, items, held_trees, predict, mask)
        print(f"measured {n + 1}/{len(settings)}", flush=True)

    keys = list(settings)
    means = {c: np.array([np.nanmean(measured[k][c]) for k in keys]) for c in CRITERIA if c != "rank_average"}
    # rank average over the four metrics (each setting's mean rank, lower-is-better metrics flipped)
    ranks = []
    for m in METRICS[:4]:
        v = np.array([np.nanmean(measured[k][m]) for k in keys]) * METRIC_REGISTRY.get(m).sign
        ranks.append(np.argsort(np.argsort(v)))
    means["rank_average"] = np.mean(ranks, axis=0)
    agreement = {a: {b: float(kendalltau(means[a], means[b]).statistic) for b in CRITERIA} for a in CRITERIA}

    def alone(base: str) -> tuple:
        return tuple(sorted(({k: getattr(own, k) for k in tuned_fields()} | {"base_method": base, "lam": 0.0}).items()))

    comparisons = {}
    for objective, pick in picks.items():
        pk = tuple(sorted(pick.items()))
        comparisons[objective] = {}
        for metric in METRICS:
            sign = METRIC_REGISTRY.get(metric).sign
            best = max(bases, key=lambda b: sign * np.nanmean(measured[alone(b)][metric]))
            c = paired([sign * v for v in measured[pk][metric]], [sign * v for v in measured[alone(best)][metric]])
            comparisons[objective][metric] = {"best_base": best, **c}

    command = shlex.join(["python", "evaluation/objective_study.py", *sys.argv[1:]])
    lines = [
        "# Which objective should `lafa tune` maximise?",
        "",
        f"`{command}` "
        f"({time.perf_counter() - start:.0f} s). Embedded default model; {args.tune} SST test sentences for tuning, "
        f"{len(held_trees)} held out (seeded sample); base methods {', '.join(bases)}; tuning with folds=0, "
        "layer 2, one round, the default shortcuts (2 bases searched, early dropping). No gold chose anything.",
        "",
        "## Picks",
        "",
    ]
    for objective, pick in picks.items():
        lines.append(f"- **{objective}** ({runs[objective]['seconds']:.0f} s): `{pick}`")
    lines += [
        "",
        f"## Agreement over {len(keys)} settings (Kendall's tau of held-out means)",
        "",
        "| | " + " | ".join(CRITERIA) + " |",
        "|" + " --- |" * (len(CRITERIA) + 1),
    ]
    for a in CRITERIA:
        lines.append(f"| {a} | " + " | ".join(f"{agreement[a][b]:+.2f}" for b in CRITERIA) + " |")
    lines += [
        "",
        "## Each pick on the held-out sentences against the best base method alone on that metric",
        "",
        "Positive = the pick is better (signs flipped for deletion and sufficiency); 95 % bootstrap CI.",
        "",
        "| objective | " + " | ".join(METRICS) + " |",
        "|" + " --- |" * (len(METRICS) + 1),
    ]
    for objective, per in comparisons.items():
        cells = [
            f"{c['mean_diff']:+.4f} [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}] vs {c['best_base']}"
            for c in per.values()
        ]
        lines.append(f"| {objective} | " + " | ".join(cells) + " |")
    lines += ["", "## Held-out means", "", "| setting | " + " | ".join(METRICS) + " |", "|" + " --- |" * 6]
    for k in keys:
        s = settings[k]
        name = f"{s['base_method']} lam {s['lam']}" + (
            f" {s['aggregation']} {s['kernel']} k={s['n_neighbors']} {s['neighbor_weighting']}"
            + (f" scale={s['neighbor_scale']}" if s["neighbor_scale"] != "none" else "")
            if s["lam"]
            else ""
        )
        lines.append(f"| {name} | " + " | ".join(f"{np.nanmean(measured[k][m]):.4f}" for m in METRICS) + " |")
    out = Path(args.output)
    atomic_write_text(out / "objective_study.md", "\n".join(lines) + "\n")
    atomic_write_text(
        out / "objective_study.json",
        json.dumps(
            {
                "picks": picks,
                "runs": {o: {"seconds": r["seconds"], "summary": r["summary"]} for o, r in runs.items()},
                "agreement": agreement,
                "comparisons": comparisons,
                "settings": [
                    {**settings[k], **{m: float(np.nanmean(v)) for m, v in measured[k].items()}} for k in keys
                ],
            },
            indent=1,
        )
        + "\n",
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
