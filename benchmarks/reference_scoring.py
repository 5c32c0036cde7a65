"""What scoring references for LAFA's search on a new base method costs in ``lafa tune``: one text's
neighbors at a time (how the tuner read them before ``Lafa.fill_scores``) against a race step's
neighbors in one length-sorted call (how it reads them now). Both score the same references with the
same method; the figures are seconds on this machine, in one run.

    python -m benchmarks.reference_scoring                       # the embedded default, SST-2 dev sentences
    python -m benchmarks.reference_scoring --case nyt --data-dir ../shared/data   # an evaluation case
    python -m benchmarks.reference_scoring --texts 8 --neighbors 5                # a smoke run

On short texts most of a tuning's time is this scoring (py-spy on the NYT case check: ``Lafa._score_live``
under the IntegratedGrad variants), since the reference budget admits those methods there.
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
from lafa_pipeline.build.default_model import DEV_FILE, ensure_default_repo, lafa_home, read_tsv
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.index_encoding import pooled_states, score_rows
from lafa_pipeline.lafa import Lafa
from lafa_pipeline.model_adapter import copy_mask_token
from lafa_pipeline.text_inputs import encode

OUT = Path(__file__).resolve().parent / "REFERENCE_SCORING.md"


def model_index_texts(args) -> tuple:
    """(model, tokenizer, index, texts, what) for the embedded default or an evaluation case."""
    if args.case == "default":
        explainer = load_explainer(ensure_default_repo(show_progress=True))
        texts = read_tsv(DEV_FILE)[0][: args.texts]
        return explainer.model, explainer.tokenizer, explainer.index, texts, "the embedded default, SST-2 dev"
    from lafa_pipeline.paper.prepare import prepare_case
    from lafa_pipeline.paper.specs import RunSizes

    prepared = prepare_case(args.case, args.data_dir, RunSizes(), lafa_home() / "evaluation", show_progress=True)
    texts = prepared.case.texts_in_order[: args.texts]
    what = f"the evaluation's {args.case} case, its test texts"
    return prepared.model, prepared.tokenizer, prepared.index, texts, what


def neighbor_keys(lafa: Lafa, tokenizer, texts: list[str], n_neighbors: int) -> list[list[tuple[int, int]]]:
    """Per text, the (reference, target) scores LAFA reads for it: its neighbors at the index's layer."""
    cfg = lafa.config
    max_length = min(tokenizer.model_max_length, 512)
    encoded = [encode(tokenizer, text, max_length, warn=False)[0] for text in texts]
    sequences = [(e["input_ids"][0], e.get("token_type_ids", e["input_ids"] * 0)[0]) for e in encoded]
    states = pooled_states(lafa.adapter, sequences.__getitem__, len(texts), [cfg.layer], cfg.pooling)[cfg.layer]
    targets = []
    for e in encoded:
        prediction, _ = lafa.adapter.predict(e["input_ids"], e["attention_mask"], e.get("token_type_ids"))
        targets.append(int(lafa.adapter.predicted_targets(prediction)[0]))
    regression = lafa.adapter.problem_type == "regression"
    found = lafa.index.search(states, n_neighbors, targets if cfg.same_label and not regression else None)
    return [[(ref, target) for ref, _ in neighbors] for target, neighbors in zip(targets, found)]


def per_text(lafa: Lafa, keys: list[list[tuple[int, int]]]) -> tuple[float, dict]:
    """Each text's missing neighbors scored on their own, in index order, batches of 16 (the old path)."""
    done: dict = {}
    start = time.perf_counter()
    for text_keys in keys:
        missing = sorted({k for k in text_keys if k not in done})
        done.update(score_rows(lafa.adapter, lafa.config, lafa.index.sequence, missing, 16, False))
    return time.perf_counter() - start, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="default", help="default, or an evaluation case: sst, webnlg, nyt, laptops")
    parser.add_argument("--data-dir", help="the evaluation's data folder (with --case other than default)")
    parser.add_argument("--texts", type=int, default=40, help="tuning texts whose neighbors are scored")
    parser.add_argument("--neighbors", type=int, default=10, help="neighbors per text")
    parser.add_argument("--base-method", default="integrated_grad_pad_mask")
    parser.add_argument("--output", default=str(OUT), help="path of the .md (and .json) written")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    model, tokenizer, index, texts, what = model_index_texts(args)
    copy_mask_token(model, tokenizer)  # as the pipeline does: the [MASK] baselines read it from the config
    config = index.config.replace(base_method=args.base_method)
    keys = neighbor_keys(Lafa(model, index, config), tokenizer, texts, args.neighbors)
    unique = sorted({k for text_keys in keys for k in text_keys})
    old_lafa = Lafa(model, index.for_base_method(config), config)
    old_s, old_scores = per_text(old_lafa, keys)
    new_lafa = Lafa(model, index.for_base_method(config), config)
    start = time.perf_counter()
    filled = new_lafa.fill_scores(unique)
    new_s = time.perf_counter() - start
    assert filled == len(unique) == len(old_scores)
    diff = max(float(np.abs(new_lafa.index.cached_scores(*k) - old_scores[k]).max()) for k in unique)
    scale = max(float(np.abs(old_scores[k]).max()) for k in unique)
    tokens = sum(len(index.token_ids(ref)) for ref, _ in unique)
    lengths = [len(index.token_ids(ref)) for ref, _ in unique]
    row = {
        "date": datetime.date.today().isoformat(),
        "what": what,
        "base_method": args.base_method,
        "steps": config.steps,
        "texts": len(texts),
        "neighbors": args.neighbors,
        "references": len(unique),
        "tokens": tokens,
        "length_range": [min(lengths), max(lengths)],
        "per_text_s": round(old_s, 1),
        "one_call_s": round(new_s, 1),
        "speedup": round(old_s / new_s, 2),
        "max_abs_diff": diff,
        "max_abs_score": scale,
    }
    print(json.dumps(row, indent=1))
    out = Path(args.output)
    atomic_write_text(out.with_suffix(".json"), json.dumps(row, indent=1) + "\n")
    atomic_write_text(
        out.with_suffix(".md"),
        "# Reference scoring in lafa tune: one text's neighbors at a time against one call\n\n"
        f"`python -m benchmarks.reference_scoring {' '.join(sys.argv[1:])}`, {row['date']}, 2 CPU threads, "
        f"{what}: the {row['references']} references ({tokens} tokens, {min(lengths)}-{max(lengths)} each) that "
        f"{row['texts']} texts' {args.neighbors} nearest neighbors make, scored with {args.base_method} "
        f"({config.steps} steps).\n\n"
        "| how | seconds |\n| --- | ---: |\n"
        f"| one text's neighbors at a time, index order, batches of 16 (before) | {row['per_text_s']} |\n"
        f"| all in one call, length-sorted (`Lafa.fill_scores`, now) | {row['one_call_s']} |\n\n"
        f"Speed-up {row['speedup']}x; the two give the same scores (largest difference {diff:.1e}, "
        f"largest score {scale:.1e}).\n",
    )


if __name__ == "__main__":
    main()
