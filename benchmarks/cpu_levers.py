"""Two levers for sampled methods one text per call on CPU, measured: bfloat16 weights and torch.compile.

    python -m benchmarks.cpu_levers                # 30 SST-2 dev sentences, SmoothGrad at 7 and 10 samples

On the embedded default model, SmoothGrad (antithetic samples) one text per call, in one process, measured as
``benchmarks/sampling.py`` measures (its ``timed_scores``: mean ms per text, the predicted class's forward
included) with the agreement (mean Pearson per text) with the float32 100-sample value, for the float32 model, the same
model in bfloat16 (what ``pipeline(..., explain_dtype="model")`` keeps for a model loaded in bfloat16), and the
float32 model under ``torch.compile(dynamic=True)`` (its compile time printed apart). Neither is a default: on
CPUs without bfloat16 instructions bfloat16 is slower, and a compiled model recompiles for new shapes.

Measured on 2026-11-30 (2 AMD EPYC cores with avx512_bf16, torch 2.13.0+cpu, a shared machine whose speed moved
between runs), at 7 and 10 samples: agreement equal to the fourth decimal for all three (.9912 / .9950); bfloat16
took 0.78-0.95x float32's time (four runs, two of them medians of an earlier version of this script), torch.compile
0.98-1.5x (compiling 16-44 s). So bfloat16 saves 5-22 % at the same agreement and compiling does not pay here:
neither closes the gap to 1.5x Interpreto one text per call (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import torch

from lafa_pipeline import load_explainer
from lafa_pipeline.base_methods import MethodParams
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv
from lafa_pipeline.model_adapter import ModelAdapter

from .sampling import agreement, timed_scores  # the same measure as SAMPLING.md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=30)
    parser.add_argument("--samples", type=int, nargs="+", default=[7, 10])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    pipe = load_explainer()
    tokenizer, model = pipe.tokenizer, pipe.model
    texts = read_tsv(DEV_FILE)[0][: args.texts]
    base = MethodParams.from_config(pipe.lafa_config)
    float32 = ModelAdapter(model)
    reference, _ = timed_scores(float32, tokenizer, texts, "smooth_grad", 100, "iid", base)
    bfloat16 = ModelAdapter(copy.deepcopy(model).to(torch.bfloat16))
    compiled = ModelAdapter(model)
    compiled.model = torch.compile(model, dynamic=True)
    models = (("float32", float32), ("bfloat16", bfloat16), ("float32, torch.compile", compiled))
    for name, adapter in models:  # warm-up: compiling, and oneDNN's first bfloat16 kernels, outside the timings
        start = time.perf_counter()
        timed_scores(adapter, tokenizer, texts[:3], "smooth_grad", args.samples[0], "low_variance", base)
        print(f"{name}: warm-up on 3 texts {time.perf_counter() - start:.1f} s")
    print("| model | samples | ms per text | agreement with float32, 100 samples |")
    print("| --- | ---: | ---: | ---: |")
    for n in args.samples:
        for name, adapter in models:
            scores, ms = timed_scores(adapter, tokenizer, texts, "smooth_grad", n, "low_variance", base)
            print(f"| {name} | {n} | {ms:.1f} | {agreement(scores, reference):.4f} |", flush=True)


if __name__ == "__main__":
    main()
