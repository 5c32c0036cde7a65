"""What ``lafa tune`` costs, and whether its shortcuts change its choice (issue 24, item 4).

    python -m benchmarks.tune_speed                       # writes benchmarks/TUNE_SPEED.md
    python -m benchmarks.tune_speed --short 20 --long 40 --long-refs 300   # a smoke run

1. Short texts (shipped SST-2 dev sentences, the embedded default): the full search (every base
   method searched with LAFA, every candidate scored on every text) against the default one (the
   best ``MAX_BASE_METHODS`` bases alone searched, candidates dropped once clearly behind), on the
   same texts in one run: seconds, settings scored, and whether the choice is the same.
2. Long texts (consecutive SST-2 dev sentences joined to about ``--tokens`` tokens) with a lazy
   index of ``--long-refs`` such texts made of train sentences: ``lafa tune``'s defaults (3 folds,
   every layer, the base methods chosen automatically), timed from a cold index (every reference
   score is computed as the search needs it). ``--part`` runs one part alone.
"""

from __future__ import annotations

import argparse
import datetime
import time
import warnings
from pathlib import Path

import torch

from lafa_pipeline import LafaIndex, load_explainer, tune_explainer
from lafa_pipeline.build.default_model import DEV_FILE, TRAIN_FILE, read_tsv
from lafa_pipeline.faithfulness.tune import TUNED_FIELDS
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
    return {k: getattr(result.config, k) for k in TUNED_FIELDS}


def short_part(args) -> list[str]:
    """1. short texts: the full search against the default shortcuts, one layer, no folds (the same search twice)."""
    dev = read_tsv(DEV_FILE)[0][: args.short]
    common = dict(folds=0, layers=[2], rounds=1, steps=10)
    full, full_s = timed_tune(load_explainer(), dev, early_stop=False, max_base_methods=None, **common)
    fast, fast_s = timed_tune(load_explainer(), dev, **common)
    lines = [
        f"## 1. {args.short} short texts (SST-2 dev), every base method, layer 2, no folds",
        "",
        "| search | seconds | settings scored | dropped early | choice | objective |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, result, seconds in (("full", full, full_s), ("default", fast, fast_s)):
        t = result.config.tuning
        lines.append(
            f"| {name} | {seconds:.0f} | {t['settings_tried']} | {t['settings_dropped_early']} | "
            f"`{choice(result)}` | {result.best_value:.4f} |"
        )
    same = choice(full) == choice(fast)
    return lines + [
        "",
        f"Same choice: **{'yes' if same else 'no'}**; the default search took {fast_s / full_s:.2f}x the full "
        "search's time. Base methods alone (insertion - deletion): "
        + ", ".join(f"{m} {v:.4f}" for m, v in full.config.tuning["base_methods"].items()),
        "",
    ]


def long_part(args) -> list[str]:
    """2. long texts, ``lafa tune``'s defaults, from a cold lazy index."""
    explainer = load_explainer()
    # queries from dev sentences, references from train sentences (the shipped 8k make about 1,100
    # texts of 150 tokens; further ones reuse the sentences in another order)
    queries = long_texts(read_tsv(DEV_FILE)[0], explainer.tokenizer, args.long, args.tokens, cycle=True)
    refs = long_texts(read_tsv(TRAIN_FILE)[0], explainer.tokenizer, args.long_refs, args.tokens, cycle=True)
    start = time.perf_counter()
    index = LafaIndex.build(
        explainer.model, explainer.tokenizer, refs, config=explainer.lafa_config, lazy=True, show_progress=False
    )
    build_s = time.perf_counter() - start
    explainer.index = index
    explainer.lafa.index = index
    lengths = [len(explainer.tokenizer(t)["input_ids"]) for t in queries]
    result, tune_s = timed_tune(explainer, queries)
    t = result.config.tuning
    goal = "met" if tune_s <= GOAL_S else f"missed by {tune_s / GOAL_S:.1f}x"
    return [
        f"## 2. {len(queries)} long texts ({min(lengths)}-{max(lengths)} tokens), lazy index of {len(refs)}",
        "",
        f"Lazy index build: {build_s:.0f} s. `tune_explainer` with its defaults (3 folds, layers 'auto', "
        f"base methods 'auto', at most 2 searched with LAFA, early dropping): **{tune_s:.0f} s** "
        f"({tune_s / 60:.1f} min); {t['settings_tried']} settings on all texts, "
        f"{t['settings_with_folds']} with the folds', {t['settings_dropped_early']} dropped early; "
        f"reference scores computed for {int(result.index.arrays['cache_ready'].sum())} (reference, class) pairs.",
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
