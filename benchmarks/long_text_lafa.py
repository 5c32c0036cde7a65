"""What LAFA on occlusion gains on long texts, and what its references cost (issue 24).

On long texts ``lafa tune`` keeps occlusion alone (``benchmarks/TUNE_SPEED.md``, part 2): occlusion is
the best base method there, and scoring the references its LAFA search reads with occlusion costs
over the reference budget (one model pass per token of each reference). This measures, on the same
index (``lafa build``'s defaults: every reference scored with SmoothGrad) and texts of the same kind,
against occlusion alone:

1. LAFA on occlusion reading the neighbors' *stored SmoothGrad* scores (no reference scored again):
   whether the index's own scores can stand in for the base's;
2. LAFA on occlusion with the neighbors scored by occlusion (lazily, as ``lafa tune`` would), and
   what that scoring took.

    python -m benchmarks.long_text_lafa                     # writes benchmarks/LONG_TEXT_LAFA.md
    python -m benchmarks.long_text_lafa --texts 6 --neighbors 5 --lams 0.25 --kernels indicator   # a smoke run

Every setting of the grid is measured on the same texts, so the best row's gain is an optimistic
estimate (no held-out texts): read it against the spread of the rows.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lafa_pipeline import load_explainer
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv
from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string
from lafa_pipeline.faithfulness.metrics import paired
from lafa_pipeline.faithfulness.tuning import OBJECTIVE, faithfulness_values, prepare_texts
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.metric_registry import METRIC_REGISTRY, names

from .common import long_texts
from .tune_speed import long_index

MEASURED = names("faithfulness", objective=False)  # the metric guard's columns

OUT = Path(__file__).resolve().parent / "LONG_TEXT_LAFA.md"


def paired_ci(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Mean of a - b per text and its 95 % bootstrap interval (``metrics.paired``), as [mean, low, high]."""
    c = paired(a, b)
    return [c["mean_diff"], *c["ci95"]]


def fmt(ci: list[float]) -> str:
    return f"{ci[0]:+.4f} [{ci[1]:+.4f}, {ci[2]:+.4f}]"


class Measure:
    """The four metrics (oriented: positive = better) and the tuning objective per text, for a setting."""

    def __init__(self, explainer, items, indexes: dict) -> None:
        self.explainer, self.items, self.indexes = explainer, items, indexes
        self.predict = Predictor(explainer.model, explainer.tokenizer, max_length=explainer.max_length)
        self.mask = mask_string(explainer.tokenizer)

    def __call__(self, config) -> tuple[np.ndarray, np.ndarray]:
        found = faithfulness_values(self.explainer, self.indexes, config, self.items, self.predict, self.mask, 10)
        metrics = np.array(
            [
                [METRIC_REGISTRY.get(name).oriented(METRIC_REGISTRY.get(name).compute(f)) for name in MEASURED]
                for f in found
            ]
        )
        return metrics, np.array([METRIC_REGISTRY.get(OBJECTIVE).compute(f) for f in found])


def grid_rows(measure: Measure, base, reference: tuple, grid: list[dict], label: str) -> list[dict]:
    """Each setting of ``grid`` (changes to ``base``) against ``reference`` (metrics, objective)."""
    rows = []
    for changes in grid:
        metrics, objective = measure(base.replace(**changes))
        row = {"neighbors": label, **changes, "objective": paired_ci(objective, reference[1])}
        for column, name in enumerate(MEASURED):
            row[name] = paired_ci(metrics[:, column], reference[0][:, column])
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def neighbor_keys(lafa: Lafa, items, n_neighbors: int) -> set[tuple[int, int]]:
    """The (reference, target) scores LAFA with ``lafa``'s settings reads for ``items``."""
    keys: set[tuple[int, int]] = set()
    cfg = lafa.config
    for item in items:
        inputs = (item.inputs["input_ids"], item.inputs["attention_mask"], item.inputs.get("token_type_ids"))
        pooled = lafa.adapter.predict(*inputs, layer=cfg.layer, pooling=cfg.pooling)[1]
        assert pooled is not None  # a layer was given
        keys.update((ref, item.target) for ref, _ in lafa.search(pooled, [item.target], n_neighbors)[0])
    return keys


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| neighbors' scores | n | lambda | kernel | objective | " + " | ".join(MEASURED) + " |",
        "| --- | ---: | ---: | --- | ---: |" + " ---: |" * len(MEASURED),
    ]
    for r in rows:
        cells = [r["neighbors"], str(r["n_neighbors"]), f"{r['lam']:g}", r["kernel"], fmt(r["objective"])]
        lines.append("| " + " | ".join(cells + [fmt(r[name]) for name in MEASURED]) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=40, help="long texts measured")
    parser.add_argument("--start", type=int, default=100, help="skip this many long texts first")
    parser.add_argument("--neighbors", default="10,20", help="n_neighbors values (comma-separated)")
    parser.add_argument("--lams", default="0.1,0.25,0.5", help="lambda values of the normalized aggregation")
    parser.add_argument("--kernels", default="indicator,cosine,cubic")
    parser.add_argument("--long-refs", type=int, default=1500, help="references of the index (as tune_speed)")
    parser.add_argument("--tokens", type=int, default=150, help="tokens per long text, about (as tune_speed)")
    parser.add_argument("--index-dir", help="the index, built once and reused (default: tune_speed's, in $LAFA_HOME)")
    parser.add_argument("--output", default=str(OUT), help="path of the .md (and .json) written")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    explainer = load_explainer()
    index, _, _ = long_index(args, explainer)
    explainer.index = explainer.lafa.index = index
    explainer.lafa_config = explainer.lafa.config = index.config
    texts = long_texts(read_tsv(DEV_FILE)[0], explainer.tokenizer, args.start + args.texts, args.tokens, cycle=True)
    items = prepare_texts(explainer, texts[args.start :], show_progress=True)
    occlusion = index.config.replace(base_method="occlusion", aggregation="normalized")
    neighbors = [int(n) for n in args.neighbors.split(",")]
    grid = [
        {"n_neighbors": n, "lam": float(lam), "kernel": kernel}
        for n in neighbors
        for lam in args.lams.split(",")
        for kernel in args.kernels.split(",")
    ]
    stored = Measure(explainer, items, {index.config.layer: index})  # its SmoothGrad scores
    alone = stored(occlusion.replace(lam=0.0))
    rows = grid_rows(
        stored, occlusion, alone, [g for g in grid if g["n_neighbors"] == neighbors[0]], index.config.base_method
    )
    lazy = index.for_base_method(occlusion)
    start = time.perf_counter()
    lafa = Lafa(explainer.model, lazy, occlusion)
    keys = neighbor_keys(lafa, items, max(neighbors))
    scored = lafa.fill_scores(keys)
    scoring_s = time.perf_counter() - start
    rows += grid_rows(Measure(explainer, items, {index.config.layer: lazy}), occlusion, alone, grid, "occlusion")
    tokens = sum(len(index.token_ids(ref)) for ref, _ in keys)
    summary = {
        "date": datetime.date.today().isoformat(),
        "texts": len(items),
        "references": len(index),
        "layer": index.config.layer,
        "occlusion_alone_objective": float(alone[1].mean()),
        "references_scored": scored,
        "reference_tokens": tokens,
        "scoring_seconds": round(scoring_s, 1),
        "rows": rows,
    }
    out = Path(args.output)
    atomic_write_text(out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    lengths = [int(item.inputs["attention_mask"].sum()) for item in items]
    best = max((r for r in rows if r["neighbors"] == "occlusion"), key=lambda r: r["objective"][0])
    lines = [
        "# LAFA on occlusion on long texts: with the index's stored scores, and with its own",
        "",
        f"`{' '.join(['python -m benchmarks.long_text_lafa', *sys.argv[1:]])}`, {summary['date']}, 2 CPU threads, the "
        f"embedded default model; {len(items)} long texts ({min(lengths)}-{max(lengths)} tokens, SST-2 dev "
        f"sentences joined, texts {args.start}-{args.start + len(items) - 1}); the index of {len(index)} long "
        f"references from `benchmarks.tune_speed`, built with `lafa build`'s defaults (SmoothGrad scores), "
        f"searched at its layer {index.config.layer}, normalized aggregation. Differences are LAFA minus "
        "occlusion alone per text (positive = better; deletion and sufficiency flipped), mean and 95 % "
        f"paired bootstrap CI; objective = `lafa tune`'s ({OBJECTIVE}; occlusion alone "
        f"{summary['occlusion_alone_objective']:.4f}).",
        "",
        f"Scoring the {scored} references the neighbors read ({tokens} tokens) with occlusion took "
        f"**{scoring_s:.0f} s** ({scoring_s / max(scored, 1):.1f} s each); every setting below then costs "
        "about what the metrics do.",
        "",
        *table(rows),
        "",
        f"Best row with occlusion-scored neighbors (optimistic: the best of {len(grid)} on the same texts): "
        f"{best['n_neighbors']} neighbors, lambda {best['lam']:g}, {best['kernel']} kernel, objective "
        f"{fmt(best['objective'])}.",
        "",
    ]
    atomic_write_text(out, "\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
