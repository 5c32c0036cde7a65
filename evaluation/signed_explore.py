"""A first look at signed LAFA (issue 52): LAFA on a signed base method against that base, read signed.

    python evaluation/signed_explore.py [--start 100] [--end 180] [--base integrated_grad_mask]

On the embedded default's model and index (the index lazily scored with ``--base``, signed scores
kept beside the magnitudes), shipped SST-2 dev sentences ``--start`` .. ``--end`` (outside the
default's held-out sentences, 300 on): the base alone and LAFA on it over a grid of aggregations,
kernels and lambdas (10 neighbors), each measured with ``lafa tune``'s signed faithfulness (words
pushing towards the explained class masked first, 10 steps) on the same texts. Means only, every
setting on the same texts: a look at what to search, not a check (``default_check.py`` and
``case_check.py`` judge a tuned pick on held-out texts with intervals). Writes
``evaluation/signed_explore.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from lafa_pipeline import load_explainer
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv
from lafa_pipeline.faithfulness.evaluate import Predictor, mask_string
from lafa_pipeline.faithfulness.tuning import prepare_texts
from lafa_pipeline.faithfulness.tuning.texts import faithfulness_values
from lafa_pipeline.files import atomic_write_text

METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")
GRID = [("normalized", (0.1, 0.25, 0.5)), ("paper", (0.1, 0.44, 1.0)), ("median", (0.25, 0.5))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--end", type=int, default=180)
    parser.add_argument("--base", default="integrated_grad_mask", help="a base method with a direction")
    args = parser.parse_args()
    explainer = load_explainer()
    texts = read_tsv(DEV_FILE)[0][args.start : args.end]
    items = prepare_texts(explainer, texts, show_progress=False, signed=True)
    predict = Predictor(explainer.model, explainer.tokenizer, max_length=explainer.max_length)
    mask = mask_string(explainer.tokenizer)
    config = explainer.lafa_config.replace(base_method=args.base, n_neighbors=10)
    indexes = {config.layer: explainer.index.for_base_method(config)}
    variants = {f"{args.base} alone": config.replace(lam=0.0)}
    for aggregation, lams in GRID:
        for kernel in ("indicator", "cosine", "cubic"):
            for lam in lams:
                variants[f"{aggregation} {kernel} {lam}"] = config.replace(
                    aggregation=aggregation, kernel=kernel, lam=lam
                )
    lines = [
        "# Signed LAFA, a first look",
        "",
        f"`{shlex.join(['python', 'evaluation/signed_explore.py', *sys.argv[1:]])}`: {len(texts)} shipped SST-2 dev "
        f"sentences {args.start} .. {args.end}, signed faithfulness means (10 neighbors; seconds include "
        "scoring the neighbors a setting needs first).",
        "",
        "| setting | " + " | ".join(METRICS) + " | s |",
        "|" + " --- |" * (len(METRICS) + 2),
    ]
    for name, variant in variants.items():
        start = time.perf_counter()
        found = faithfulness_values(explainer, indexes, variant, items, predict, mask, 10, signed=True)
        means = [f"{np.mean([getattr(f, m) for f in found]):.4f}" for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(means) + f" | {time.perf_counter() - start:.0f} |")
        print(lines[-1], flush=True)
    atomic_write_text(Path(__file__).resolve().parent / "signed_explore.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
