"""A lazy index's first explanations: how many neighbor scores they compute, and LAFA's time against its
base method's, from an empty cache and after prescoring (issue 25, item 2).

    python -m benchmarks.cold_start           # prints the tables for benchmarks/RESULTS.md (about 15 minutes)

The embedded default (LAFA on occlusion over a lazy index of SST-2 training sentences) explains
SST-2 dev sentences, one per call. 1. For the first ``--queries`` texts, the neighbor scores each
would compute with the cache empty or prescored (``LafaIndex.prescore``) at several shares: a
replay of LAFA's own search, no scoring, so every share is cheap to compare. Queries and references
are sentences of the same kind, so a neighbor score costs about what the query's own base scores
cost, and LAFA's time is about (1 + new scores a query) x its base method's. 2. Measured: the
first ``--timed`` texts with the base method alone, and LAFA from an empty cache and from a
prescored one (a fresh copy of the repo each), and the time prescoring took.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import numpy as np
import torch

from lafa_pipeline import LafaIndex, load_explainer
from lafa_pipeline.build.default_model import DEV_FILE, ensure_default_repo, read_tsv
from lafa_pipeline.index_files import write_arrays
from lafa_pipeline.text_inputs import encode

SHARES = (0.0, 0.1, 0.25, 0.5, 1.0)


def replay(explainer, texts: list[str], ready: np.ndarray) -> list[int]:
    """New neighbor scores each query computes, in order, starting from the cache rows ``ready``."""
    index, cfg, adapter = explainer.index, explainer.lafa_config, explainer.lafa.adapter
    ready = ready.copy()
    new = []
    for text in texts:
        enc, _ = encode(explainer.tokenizer, text, explainer.max_length, warn=False)
        probs, pooled = adapter.predict(
            enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"), layer=cfg.layer
        )
        target = int(adapter.predicted_targets(probs)[0])
        labels = [target] if cfg.same_label and adapter.problem_type != "regression" else None
        neighbors = index.search(pooled.float().cpu().numpy(), cfg.n_neighbors, labels)[0]
        rows = [index.cache_row(ref, target) for ref, _ in neighbors]
        fresh = [r for r in rows if r is not None and not ready[r]]
        ready[fresh] = True
        new.append(len(fresh))
    return new


def empty_copy(destination: str) -> str:
    """A copy of the default repo with every cached neighbor score dropped (earlier runs may have kept some)."""
    shutil.copytree(ensure_default_repo(), destination)
    index = LafaIndex.from_pretrained(destination)
    write_arrays(destination, {**index.arrays, "cache_ready": np.zeros_like(index.arrays["cache_ready"])})
    return destination


def timed(repo: str, texts: list[str], method: str) -> float:
    explainer = load_explainer(repo)
    start = time.perf_counter()
    for text in texts:
        explainer(text, method=method)
    return (time.perf_counter() - start) / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=400, help="texts replayed (no scoring)")
    parser.add_argument("--timed", type=int, default=60, help="texts timed, one per call")
    parser.add_argument("--share", type=float, default=0.25, help="prescored share in the timed runs")
    args = parser.parse_args()
    torch.set_num_threads(2)
    texts = read_tsv(DEV_FILE)[0][: args.queries]
    explainer = load_explainer()
    index = explainer.index
    counts = index.neighbor_counts(explainer.model, show_progress=False)
    missing = np.arange(len(index.arrays["cache_ready"]))  # replayed from an empty cache
    print(f"`python -m benchmarks.cold_start --queries {args.queries} --timed {args.timed} --share {args.share}`")
    print(f"The default's lazy index: {len(index)} references, {len(missing)} cache rows.\n")
    print("| prescored share | rows prescored | new scores a query, first 100 | first 400 | modelled LAFA / base |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for share in SHARES:
        reached = missing[counts[missing] > 0]
        chosen = reached[np.argsort(-counts[reached], kind="stable")][: int(round(share * len(reached)))]
        ready = np.zeros(len(missing), dtype=bool)
        ready[chosen] = True
        new = replay(explainer, texts, ready)
        print(
            f"| {share:.2f} | {len(chosen)} | {np.mean(new[:100]):.1f} | {np.mean(new):.1f} | {1 + np.mean(new):.1f}x |"
        )

    timed_texts = texts[: args.timed]
    base = explainer.lafa_config.base_method
    with tempfile.TemporaryDirectory() as tmp:
        cold, warm = empty_copy(f"{tmp}/cold"), empty_copy(f"{tmp}/prescored")
        base_s = timed(cold, timed_texts, base)
        lafa_cold = timed(cold, timed_texts, "lafa")
        start = time.perf_counter()
        prescored = LafaIndex.from_pretrained(warm)
        filled = prescored.prescore(explainer.model, args.share, show_progress=False)
        prescored.save_scores()
        prescore_s = time.perf_counter() - start
        lafa_warm = timed(warm, timed_texts, "lafa")
    print(f"\nFirst {args.timed} dev sentences, one per call, 2 threads:\n")
    print("| run | ms a text | / base |")
    print("| --- | ---: | ---: |")
    print(f"| {base} alone | {1000 * base_s:.0f} | 1.0 |")
    print(f"| LAFA, empty cache | {1000 * lafa_cold:.0f} | {lafa_cold / base_s:.1f} |")
    print(
        f"| LAFA, {args.share:.0%} prescored ({filled} rows, {prescore_s:.0f} s once) | {1000 * lafa_warm:.0f} | "
        f"{lafa_warm / base_s:.1f} |"
    )


if __name__ == "__main__":
    main()
