"""Time per explanation on the embedded default model, every method measured in one run.

    python -m benchmarks.explain_timing [--texts 40] [--model FOLDER]

Explains the first N SST-2 dev sentences shipped with the package one by one with simple_grad,
smooth_grad (the default's base method), LAFA with cached neighbor scores and LAFA recomputing
the neighbors live (the paper's way), interleaving the methods text by text so that machine noise
hits them alike, and prints mean and median milliseconds per text and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lafa_pipeline import load_explainer
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv

RUNS = {
    "simple_grad": {"method": "simple_grad"},
    "smooth_grad": {"method": "smooth_grad"},
    "lafa (cached neighbors)": {"method": "lafa"},
    "lafa (live neighbors)": {"method": "lafa", "live_neighbors": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--model", help="LAFA repo folder (default: the embedded default)")
    args = parser.parse_args()
    explainer = load_explainer(args.model)
    texts = read_tsv(DEV_FILE)[0][: args.texts]
    for text in texts[:3]:  # warm up
        for kwargs in RUNS.values():
            explainer(text, **kwargs)
    times: dict[str, list[float]] = {name: [] for name in RUNS}
    neighbors = []
    for text in texts:
        for name, kwargs in RUNS.items():
            start = time.perf_counter()
            result = explainer(text, **kwargs)
            times[name].append(1000 * (time.perf_counter() - start))
            if name == "lafa (cached neighbors)":
                neighbors.append(len(result["neighbors"]))
    cfg = explainer.lafa_config
    tokens = [len(explainer.tokenizer(t)["input_ids"]) for t in texts]
    print(
        f"model: {explainer.model.name_or_path}; {len(texts)} SST-2 dev sentences, "
        f"{statistics.mean(tokens):.1f} tokens on average; torch threads: {torch.get_num_threads()}"
    )
    print(
        f"LAFA base: {cfg.base_method} ({cfg.samples} samples), {cfg.n_neighbors} neighbors max, "
        f"{statistics.mean(neighbors):.1f} found on average within eps"
    )
    base = statistics.mean(times["smooth_grad"])
    print("\n| method | mean ms/text | median ms/text | x smooth_grad |\n| --- | ---: | ---: | ---: |")
    for name, values in times.items():
        print(
            f"| {name} | {statistics.mean(values):.1f} | {statistics.median(values):.1f} | "
            f"{statistics.mean(values) / base:.2f} |"
        )
    live, cached = statistics.mean(times["lafa (live neighbors)"]), statistics.mean(times["lafa (cached neighbors)"])
    print(f"\nlive / cached: {live / cached:.1f}x")


if __name__ == "__main__":
    main()
