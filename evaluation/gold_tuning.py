"""The paper evaluation's "LAFA tuned on gold" row regenerated with the one tuner (``tune_explainer`` with
the case's gold metric as its objective, ``paper.tuning.tune_with_gold``), against the numbers the
published evaluation (``evaluation/results.json``, made by the coordinate-wise gold search it replaced)
reports, case by case.

Per case it runs what that row needs of ``lafa evaluate``: the case's fine-tuned model and index
(cached as ``lafa evaluate`` caches them), the paper's base method on every query, the gold tuning,
and LAFA with the paper's and the tuned settings on every query. The base method's and the paper
settings' rows come out as published when the model is the published one (a check of the rerun); the
tuned row then moved by the change of tuner alone.

    python evaluation/gold_tuning.py --data-dir ../shared/data [--cases laptops,webnlg,nyt,sst]

Writes ``gold_tuning.md`` and ``gold_tuning.json`` to ``--output`` (default: evaluation), after each
case, so that a run cut short keeps the cases it finished.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from lafa_pipeline.build.default_model import lafa_home
from lafa_pipeline.faithfulness.metrics import paired, summarize
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.paper.case_explainer import CaseExplainer
from lafa_pipeline.paper.evaluation import tune_on_gold
from lafa_pipeline.paper.prepare import prepare_case
from lafa_pipeline.paper.specs import RunSizes
from lafa_pipeline.paper.tuning import settings_of

ROWS = ("base", "lafa_paper", "lafa_tuned")


def regenerate(name: str, args: argparse.Namespace, sizes: RunSizes) -> dict:
    """Case ``name``'s base, paper-settings and gold-tuned rows: per-item values and the tuned settings."""
    t0 = time.perf_counter()
    prepared = prepare_case(name, args.data_dir, sizes, Path(args.cache_dir), show_progress=True)
    spec, case = prepared.spec, prepared.case
    explainer = CaseExplainer(case, prepared.model, prepared.tokenizer, prepared.index)
    queries = list(range(len(case.queries)))
    base = spec.lafa.base_method
    stored, _, _ = explainer.scores(queries, base, desc=f"{name}: {base}")
    tuned, tuning = tune_on_gold(explainer, spec, sizes.tune_texts, True, print)
    values = {"base": explainer.item_values(stored, spec.metric)}
    for label, settings in (("lafa_paper", settings_of(spec.lafa)), ("lafa_tuned", tuned)):
        scores, _ = explainer.lafa_scores(queries, stored, settings)
        values[label] = explainer.item_values(scores, spec.metric)
    tuned_on = set(case.texts_in_order[: sizes.tune_texts])
    held = [i for i, it in enumerate(case.items) if case.queries[it.query].text not in tuned_on]
    return {
        "metric": spec.metric,
        "base_method": base,
        "tuned_settings": tuned,
        "settings_tried": len(tuning["sweep"]),  # every setting the tuning tried
        "tuning_seconds": tuning["seconds"],
        "held_out_items": held,
        "values": values,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def compare(name: str, new: dict, published: dict) -> list[str]:
    """Report lines: each row's mean now and as published, and the tuned row's paired move on the items
    outside the tuning texts (positive = the one tuner's pick is better by the case's metric)."""
    metric, held = new["metric"], new["held_out_items"]
    old_values = {"base": published["values"][new["base_method"]], **{r: published["values"][r] for r in ROWS[1:]}}
    lines = [f"### {name} ({metric}; base {new['base_method']}; {new['seconds']:.0f} s)", ""]
    lines += ["| row | now, all items | published, all items | now, held out | published, held out |"]
    lines += ["| --- | ---: | ---: | ---: | ---: |"]
    for row in ROWS:
        now, then = new["values"][row], old_values[row]
        cells = [summarize(metric, v).mean for v in (now, then, [now[i] for i in held], [then[i] for i in held])]
        lines.append(f"| {row} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    moved = paired([new["values"]["lafa_tuned"][i] for i in held], [old_values["lafa_tuned"][i] for i in held])
    gain = paired([new["values"]["lafa_tuned"][i] for i in held], [new["values"]["base"][i] for i in held])
    lines += [
        "",
        f"Tuned row, one tuner minus published, items outside the tuning texts (n = {moved['n']}): "
        f"{moved['mean_diff']:+.4f} [{moved['ci95'][0]:+.4f}, {moved['ci95'][1]:+.4f}]; one tuner's pick minus "
        f"its base there: {gain['mean_diff']:+.4f} [{gain['ci95'][0]:+.4f}, {gain['ci95'][1]:+.4f}].",
        f"Pick ({new['settings_tried']} settings tried, {new['tuning_seconds']:.0f} s): {new['tuned_settings']}; "
        f"published: {published['tuned_settings']}.",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--cases", default="laptops,webnlg,nyt,sst")
    parser.add_argument("--published", default="evaluation/results.json")
    parser.add_argument("--cache-dir", default=str(lafa_home() / "evaluation"))
    parser.add_argument("--output", default="evaluation")
    args = parser.parse_args()
    published = json.loads(Path(args.published).read_text())["cases"]
    sizes = RunSizes()
    command = shlex.join(["python", "evaluation/gold_tuning.py", *sys.argv[1:]])
    records: dict[str, dict] = {}
    lines: list[str] = []
    for name in args.cases.split(","):
        records[name] = regenerate(name, args, sizes)
        lines += compare(name, records[name], published[name])
        out = Path(args.output)
        header = [
            "# The gold-tuned row with the one tuner",
            "",
            f"Written by `{command}`. Means by the case's metric (higher is better); held out: the items outside "
            f"the first {sizes.tune_texts} test texts, which the gold tuning sees. Published: "
            f"`{args.published}` (the coordinate-wise gold search this replaced).",
            "",
        ]
        atomic_write_text(out / "gold_tuning.md", "\n".join(header + lines) + "\n")
        summary = {n: {k: v for k, v in r.items() if k != "values"} for n, r in records.items()}
        atomic_write_text(out / "gold_tuning.json", json.dumps({"command": command, "cases": summary}, indent=1))
        print(f"{name} done: {np.round(records[name]['seconds'])} s")


if __name__ == "__main__":
    main()
