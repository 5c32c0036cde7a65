"""What ``lafa tune`` costs, and whether its shortcuts change its choice (issue 24, item 4).

    python -m benchmarks.tune_speed                       # writes benchmarks/TUNE_SPEED.md
    python -m benchmarks.tune_speed --short 20 --long 40 --long-refs 300   # a smoke run

1. Short texts (shipped SST-2 dev sentences, the embedded default): the full search (every base
   method searched with LAFA, every candidate scored on every text) against the default one (the
   best ``MAX_BASE_METHODS`` bases alone searched, candidates dropped once clearly behind), on the
   same texts in one run: seconds, settings scored, and whether the choice is the same.
2. Long texts (consecutive SST-2 dev sentences joined to about ``--tokens`` tokens) with an index
   of ``--long-refs`` such texts made of train sentences, built with ``lafa build``'s defaults (every
   reference scored with SmoothGrad; built once, kept under ``--index-dir``): ``lafa tune``'s
   defaults (3 folds, every layer, the base methods chosen automatically), timed. ``--part`` runs
   one part alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
import warnings
from pathlib import Path

import torch

from lafa_pipeline import LafaConfig, LafaIndex, load_explainer, tune_explainer
from lafa_pipeline.build.default_model import DEV_FILE, TRAIN_FILE, lafa_home, read_tsv
from lafa_pipeline.faithfulness.tuning import tuned_fields
from lafa_pipeline.files import atomic_write_text

from .common import long_texts

OUT = Path(__file__).resolve().parent / "TUNE_SPEED.md"
GOAL_S = 600
"""Issue 24's goal for the long-text run (there: 200 news articles, 1,500 references)."""


def timed_tune(explainer, texts, **kwargs):
    start = time.perf_counter()
    result = tune_explainer(explainer, texts, show_progress=False, **kwargs)
    return result, time.perf_counter() - start


def choice(result) -> dict:
    return {k: getattr(result.config, k) for k in tuned_fields()}


def short_part(args) -> list[str]:
    """1. short texts: the full search against the default shortcuts, one layer, no folds (the same
    search twice). ``--reuse-full`` takes the full search's row from an earlier run's JSON file
    (its code path, every candidate on every text with no budget, does not change with the shortcuts)."""
    dev = read_tsv(DEV_FILE)[0][: args.short]
    common = dict(folds=0, layers=[2], rounds=1, steps=10)
    json_out = Path(args.output).with_suffix(".json")
    stored = json.loads(json_out.read_text()) if json_out.is_file() else {}
    rows = {}
    if args.reuse_full and stored.get("short", {}).get("full", {}).get("texts") == args.short:
        rows["full"] = stored["short"]["full"]
    else:
        full, full_s = timed_tune(
            load_explainer(),
            dev,
            early_stop=False,
            max_base_methods=None,
            reference_budget=None,
            every_aggregation_fully=True,
            **common,
        )
        rows["full"] = row_of(full, full_s, args.short)
    fast, fast_s = timed_tune(load_explainer(), dev, **common)
    rows["default"] = row_of(fast, fast_s, args.short)
    stored["short"] = rows
    atomic_write_text(json_out, json.dumps(stored, indent=1) + "\n")
    lines = [
        f"## 1. {args.short} short texts (SST-2 dev), every base method, layer 2, no folds",
        "",
        "| search | run on | seconds | settings scored | dropped early | choice | objective |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['date']} | {row['seconds']:.0f} | {row['settings_tried']} | {row['dropped']} | "
            f"`{row['choice']}` | {row['objective']:.4f} |"
        )
    full_row, fast_row = rows["full"], rows["default"]
    notes = [f"The {name} search's row: {row['note']}" for name, row in rows.items() if row.get("note")]
    return lines + [
        "",
        *notes,
        *([""] if notes else []),
        f"Same choice: **{'yes' if full_row['choice'] == fast_row['choice'] else 'no'}**; the default search took "
        f"{fast_row['seconds'] / full_row['seconds']:.2f}x the full search's time. Base methods alone "
        "(the objective, on the full search): "
        + ", ".join(f"{m} {v:.4f}" for m, v in full_row["base_methods"].items()),
        "",
    ]


def row_of(result, seconds: float, texts: int) -> dict:
    t = result.config.tuning
    return {
        "date": str(datetime.date.today()),
        "texts": texts,
        "seconds": seconds,
        "settings_tried": t["settings_tried"],
        "dropped": t["settings_dropped_early"],
        "choice": choice(result),
        "objective": result.best_value,
        "base_methods": t["base_methods"],
    }


def long_index(args, explainer) -> tuple[LafaIndex, float, bool]:
    """The long-text run's index as ``lafa build`` makes it by default (every reference scored with
    ``LafaConfig()``'s base method, SmoothGrad), over ``--long-refs`` texts of train sentences, and
    its build seconds. Built once and kept under ``--index-dir``; later runs load it (build time then
    reported from that first run)."""
    folder = Path(args.index_dir or default_index_dir(args))
    timing = folder / "build_seconds.txt"
    if timing.is_file():
        return LafaIndex.from_pretrained(folder), float(timing.read_text()), False
    # the shipped 8k train sentences make about 1,100 texts of 150 tokens; further ones reuse them in another order
    refs = long_texts(read_tsv(TRAIN_FILE)[0], explainer.tokenizer, args.long_refs, args.tokens, cycle=True)
    start = time.perf_counter()
    index = LafaIndex.build(explainer.model, explainer.tokenizer, refs, config=LafaConfig(), show_progress=True)
    seconds = time.perf_counter() - start
    index.save_pretrained(folder)
    atomic_write_text(timing, f"{seconds:.1f}\n")  # written last: its presence means the index is complete
    return index, seconds, True


def default_index_dir(args) -> Path:
    return lafa_home() / f"bench-tune-long-{args.long_refs}x{args.tokens}"


def long_part(args) -> list[str]:
    """2. long texts, ``lafa tune``'s defaults, on an index built with ``lafa build``'s defaults."""
    explainer = load_explainer()
    index, build_s, built = long_index(args, explainer)
    queries = long_texts(read_tsv(DEV_FILE)[0], explainer.tokenizer, args.long, args.tokens, cycle=True)
    explainer.index = explainer.lafa.index = index
    explainer.lafa_config = explainer.lafa.config = index.config
    lengths = [len(explainer.tokenizer(t)["input_ids"]) for t in queries]
    result, tune_s = timed_tune(explainer, queries)
    t = result.config.tuning
    goal = "met" if tune_s <= GOAL_S else f"missed by {tune_s / GOAL_S:.1f}x"
    return [
        f"## 2. {len(queries)} long texts ({min(lengths)}-{max(lengths)} tokens), index of {len(index)} "
        f"built with `lafa build`'s defaults",
        "",
        f"Index build (every reference scored with SmoothGrad, as `lafa build` does by default): {build_s:.0f} s"
        f"{'' if built else ' (an earlier run; this one loaded it)'}. `tune_explainer` with its defaults: "
        f"**{tune_s:.0f} s** ({tune_s / 60:.1f} min); {t['settings_tried']} settings on the tuning texts, "
        + (
            "no fold searched (the pick is a base method alone), "
            if t.get("folds_skipped")
            else f"{t['settings_with_folds']} with the folds', "
        )
        + f"{t['settings_dropped_early']} dropped early.",
        "",
        f"Goal: this run under {GOAL_S // 60} minutes: {goal}.",
        "",
        "```",
        result.summary(),
        "```",
        "",
    ]


def kept_sections(path: Path) -> dict[str, str]:
    """The numbered sections ("## 1.", "## 2.") of an earlier output file, by number."""
    if not path.is_file():
        return {}
    parts = path.read_text(encoding="utf-8").split("\n## ")[1:]
    return {part.split(".", 1)[0]: "## " + part.rstrip("\n") for part in parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=40, help="short tuning texts (SST-2 dev sentences)")
    parser.add_argument("--long", type=int, default=200, help="long tuning texts")
    parser.add_argument("--long-refs", type=int, default=1500, help="long reference texts in the lazy index")
    parser.add_argument("--tokens", type=int, default=150, help="tokens per long text (about)")
    parser.add_argument(
        "--part",
        choices=("both", "short", "long"),
        default="both",
        help="run one part, keeping the other's section of an earlier --output file",
    )
    parser.add_argument(
        "--reuse-full",
        action="store_true",
        help="part 1: take the full search's row from the JSON file beside --output (an earlier run)",
    )
    parser.add_argument("--index-dir", help="the long part's index, built once and reused (default: in $LAFA_HOME)")
    parser.add_argument("--output", default=str(OUT))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    kept = kept_sections(Path(args.output))
    sections = {}
    for number, name, run in (("1", "short", short_part), ("2", "long", long_part)):
        if args.part in ("both", name):
            sections[number] = "\n".join(run(args)).rstrip("\n")
            print(sections[number], flush=True)
        elif number in kept:
            sections[number] = kept[number]
    lines = [
        "# lafa tune: cost and choice",
        "",
        f"`python -m benchmarks.tune_speed --short {args.short} --long {args.long} --long-refs {args.long_refs} "
        f"--tokens {args.tokens}` (the two parts may come from separate runs: `--part`), {datetime.date.today()}, "
        f"{torch.get_num_threads()} CPU threads, the embedded default model (MiniLM fine-tuned on SST-2).",
        "",
    ]
    text = "\n".join(lines) + "\n" + "\n\n".join(sections[k] for k in sorted(sections)) + "\n"
    atomic_write_text(args.output, text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
