"""Two levers for sampled methods one text per call on CPU, measured: bfloat16 weights and torch.compile.

    python benchmarks/cpu_levers.py                # 30 SST-2 dev sentences, SmoothGrad at 7 and 10 samples

On the embedded default model, SmoothGrad (antithetic samples) one text per call, in one process: median ms per
text and agreement (mean Pearson per text) with the float32 100-sample value, for the float32 model, the same
model in bfloat16 (what ``pipeline(..., explain_dtype="model")`` keeps for a model loaded in bfloat16), and the
float32 model under ``torch.compile(dynamic=True)`` (its compile time printed apart). Neither is a default: on
CPUs without bfloat16 instructions bfloat16 is slower, and a compiled model recompiles for new shapes.

Measured on 2026-11-30 (2 AMD EPYC cores with avx512_bf16, torch 2.13.0+cpu), ms per text at 7 / 10 samples:
float32 61 / 84 (agreement .9916 / .9952), bfloat16 57 / 77 (.9915 / .9951), torch.compile 81 / 125 (.9916 /
.9952; compiling took 44 s on a first run). So bfloat16 saves 7-8 % at the same agreement and compiling costs
1.3-1.5x here: neither closes the gap to 1.5x Interpreto one text per call (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import numpy as np
import torch

from lafa_pipeline import load_explainer
from lafa_pipeline.base_methods import MethodParams, attribute
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv
from lafa_pipeline.model_adapter import ModelAdapter


def smooth_grad(adapter: ModelAdapter, tokenizer, texts: list[str], params: MethodParams) -> tuple[list, float]:
    """Each text's SmoothGrad token scores (class 1) and the median ms per text."""
    scores, ms = [], []
    for text in texts:
        enc = tokenizer(text, return_tensors="pt")
        start = time.perf_counter()
        out = attribute(adapter, "smooth_grad", enc["input_ids"], enc["attention_mask"], torch.tensor([1]),
                        enc.get("token_type_ids"), params)
        ms.append(1000 * (time.perf_counter() - start))
        scores.append(out[0].float().numpy())
    return scores, statistics.median(ms)


def agreement(scores: list, reference: list) -> float:
    return float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(scores, reference)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=30)
    parser.add_argument("--samples", type=int, nargs="+", default=[7, 10])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    pipe = load_explainer()
    tokenizer, model = pipe.tokenizer, pipe.model
    texts = read_tsv(DEV_FILE)[0][:args.texts]
    base = MethodParams.from_config(pipe.lafa_config)
    with_samples = lambda n: MethodParams(**{**base.__dict__, "samples": n, "sampling": "low_variance"})  # noqa: E731
    float32 = ModelAdapter(model)
    reference, _ = smooth_grad(float32, tokenizer, texts, MethodParams(**{**base.__dict__, "samples": 100}))
    bfloat16 = ModelAdapter(copy.deepcopy(model).to(torch.bfloat16))
    compiled = ModelAdapter(model)
    compiled.model = torch.compile(model, dynamic=True)
    start = time.perf_counter()
    smooth_grad(compiled, tokenizer, texts[:3], with_samples(args.samples[0]))
    print(f"torch.compile: first 3 texts (compiling) {time.perf_counter() - start:.0f} s")
    print("| model | samples | ms per text | agreement with float32, 100 samples |")
    print("| --- | ---: | ---: | ---: |")
    for n in args.samples:
        for name, adapter in (("float32", float32), ("bfloat16", bfloat16), ("float32, torch.compile", compiled)):
            scores, ms = smooth_grad(adapter, tokenizer, texts, with_samples(n))
            print(f"| {name} | {n} | {ms:.1f} | {agreement(scores, reference):.4f} |", flush=True)


if __name__ == "__main__":
    main()
