"""Dataset explanations with 1 and 2 processes (issue 25, item 1): rows per second and scaling efficiency.

    python -m benchmarks.distributed          # prints the table for benchmarks/RESULTS.md (about 10 minutes)

``lafa explain --data`` on SST-2 dev sentences with the embedded default, once in one process and
once under ``accelerate launch --num_processes 2`` (CPU processes over gloo), each process one
thread (``OMP_NUM_THREADS=1``), each run from a fresh copy of the repo (a cold lazy index: the
neighbors' scores are computed as queries need them, by whichever process needs them). Efficiency
= (rows/s with 2) / (2 x rows/s with 1). The outputs of the two runs are checked to hold the same
rows and words.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lafa_pipeline.build.default_model import DEV_FILE, ensure_default_repo, read_tsv

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str], cwd: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = str(ROOT)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def measure(method: str, n: int, tmp: str) -> list[str]:
    data = os.path.join(tmp, f"data-{method}.jsonl")
    with open(data, "w", encoding="utf-8") as f:
        for text in read_tsv(DEV_FILE)[0][:n]:
            f.write(json.dumps({"text": text}) + "\n")
    explain = ["-m", "lafa_pipeline.apps.cli", "explain", "--data", data, "--method", method, "--batch-size", "8"]
    seconds, outputs = {}, {}
    for procs in (1, 2):
        repo = os.path.join(tmp, f"repo-{method}-{procs}")
        shutil.copytree(ensure_default_repo(), repo)
        out = os.path.join(tmp, f"out-{method}-{procs}.jsonl")
        launcher = [sys.executable] if procs == 1 else [shutil.which("accelerate") or "accelerate", "launch"]
        if procs == 2:
            launcher += ["--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
            launcher += ["--mixed_precision", "no", "--dynamo_backend", "no"]
        seconds[procs] = run(launcher + explain + ["--model", repo, "--output", out], tmp)
        with open(out, encoding="utf-8") as f:
            outputs[procs] = [json.loads(line) for line in f]
    same = [r["row"] for r in outputs[1]] == [r["row"] for r in outputs[2]] and all(
        [w["token"] for w in a["tokens"]] == [w["token"] for w in b["tokens"]] for a, b in zip(outputs[1], outputs[2])
    )
    one, two = n / seconds[1], n / seconds[2]
    return [
        f"| {method} | {n} | {seconds[1]:.0f} | {one:.2f} | {seconds[2]:.0f} | {two:.2f} | {two / (2 * one):.0%} | "
        f"{'yes' if same else 'NO'} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64, help="SST-2 dev sentences per run (LAFA: half)")
    args = parser.parse_args()
    lines = [
        "| method | texts | 1 process (s) | rows/s | 2 processes (s) | rows/s | efficiency | same rows |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        lines += measure("occlusion", args.texts, tmp)
        lines += measure("lafa", args.texts // 2, tmp)
    print(f"`python -m benchmarks.distributed --texts {args.texts}` (process start-up included)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
