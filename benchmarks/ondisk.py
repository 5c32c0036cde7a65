"""Indexes that stay on disk: a million references loaded memory-mapped or read, with float32 and
float16 re-ranking vectors (issue 25, item 4).

    python -m benchmarks.ondisk                     # writes benchmarks/ONDISK.md (about 10 minutes)
    python -m benchmarks.ondisk --n 20000 --queries 100 --output /tmp/ONDISK.md   # a smoke run

Builds the index ``index_type="approximate"`` picks at ``--n`` vectors (IVF lists, 4-bit
product-quantizer codes, exact re-ranking), once with float32 and once with float16 re-ranking
vectors (``half_refine``), and saves each as a LafaIndex folder whose references hold ``--tokens``
tokens and one of two labels. Then, in a fresh process per row, ``LafaIndex.from_pretrained``
with and without ``mmap=True``, and ``--queries`` searches one query per call, each followed by
reading its neighbors' tokens and cache rows as an explanation does, labels restricted to the
query's class as LAFA's same-label search is. Resident memory is split as Linux counts it:
anonymous (the process's own; it must fit in memory) and file pages (the mapped files; the
system drops them again when memory runs short and reads them back on the next touch).

Vectors: a mixture of n/100 overlapping Gaussian clusters in 384 dimensions (as in RESULTS.md's
Search section), queries drawn from the same mixture; recall@10 against exact search over the
same label's references.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from lafa_pipeline import LafaConfig
from lafa_pipeline.files import atomic_write_text
from lafa_pipeline.index_files import FAISS_NAME, FORMAT_VERSION, write_index_files
from lafa_pipeline.index_types import INDEX_TYPE_REGISTRY, ivf_pq_pick

from .performance import clustered

OUT = Path(__file__).resolve().parent / "ONDISK.md"
K = 10

PROBE = """
import json, sys, time
import numpy as np
def rss():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("RssAnon", "RssFile")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out
folder, mmap, out = sys.argv[1], sys.argv[2] == "1", sys.argv[5]
queries, labels = np.load(sys.argv[3]), np.load(sys.argv[4])
from lafa_pipeline import LafaIndex
before = rss()
start = time.perf_counter()
index = LafaIndex.from_pretrained(folder, mmap=mmap)
load_s = time.perf_counter() - start
loaded = rss()
ids, times = [], []
for q, lab in zip(queries, labels):
    start = time.perf_counter()
    found = index.search(q[None], 10, [int(lab)], use_eps=False)[0]
    for ref, _ in found:  # what an explanation reads of each neighbor
        index.token_ids(ref).sum(), index.special_mask(ref), index.cached_scores(ref, int(lab))
    times.append(time.perf_counter() - start)
    ids.append([r for r, _ in found] + [-1] * (10 - len(found)))
after = rss()
np.save(out, np.array(ids))
print(json.dumps({"load_s": load_s, "before": before, "loaded": loaded, "after": after,
                  "ms_per_query": 1000 * float(np.median(times[len(times) // 10:]))}))
"""


def synthetic_arrays(labels: np.ndarray, tokens: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The packed arrays of ``len(labels)`` references of ``tokens`` tokens, one label and one scored
    cache row each: the layout ``index_arrays.pack_arrays`` writes, built in bulk."""
    n = len(labels)
    rng = np.random.default_rng(seed)
    special = np.zeros((n, tokens), dtype=np.uint8)
    special[:, [0, -1]] = 1
    steps = np.arange(n + 1, dtype=np.int64)
    return {
        "token_ids": rng.integers(1000, 30000, size=n * tokens).astype(np.int64),
        "special": special.ravel(),
        "token_types": np.zeros(n * tokens, dtype=np.uint8),
        "offsets": steps * tokens,
        "label_ptr": steps,
        "label_values": labels.astype(np.int64),
        "cache_ptr": steps,
        "cache_ref": steps[:-1],
        "cache_target": labels.astype(np.int64),
        "cache_scores": np.zeros(n * tokens, dtype=np.float32),
        "cache_ready": np.ones(n, dtype=np.uint8),  # a full build's: every search reads its neighbors' rows
    }


def save_folder(folder: Path, faiss_index, params: dict, arrays: dict, dim: int) -> float:
    """A LafaIndex folder around ``faiss_index``; returns the seconds writing took."""
    n = faiss_index.ntotal
    config = LafaConfig(index_type="ivf_pq", index_params=params, eps=1e9)
    meta = {"format_version": FORMAT_VERSION, "num_texts": n, "dim": dim, "model_name": "synthetic"}
    start = time.perf_counter()
    write_index_files(folder, config, meta, faiss_index, arrays, [f"reference {i}" for i in range(n)])
    return time.perf_counter() - start


def exact_neighbors(vectors: np.ndarray, labels: np.ndarray, queries: np.ndarray, qlabels: np.ndarray) -> np.ndarray:
    """The true K nearest references of each query among those of its label."""
    truth = np.full((len(queries), K), -1, dtype=np.int64)
    for lab in np.unique(qlabels):
        refs = np.flatnonzero(labels == lab)
        flat = faiss.IndexFlatL2(vectors.shape[1])
        flat.add(vectors[refs])
        rows = np.flatnonzero(qlabels == lab)
        truth[rows] = refs[flat.search(queries[rows], K)[1]]
    return truth


def probe(folder: Path, mmap: bool, tmp: Path) -> tuple[dict, np.ndarray]:
    out = tmp / "ids.npy"
    command = [sys.executable, "-c", PROBE, str(folder), "1" if mmap else "0"]
    done = subprocess.run(
        command + [str(tmp / "q.npy"), str(tmp / "l.npy"), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), np.load(out)


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids, truth)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="reference vectors")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=24, help="tokens per reference")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--output", default=str(OUT))
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the JSON beside it")
    args = parser.parse_args()
    if args.report_only:
        write_report(json.loads(Path(args.output).with_suffix(".json").read_text(encoding="utf-8")))
        return
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(100, args.n // 100), args.dim)).astype(np.float32) / np.sqrt(2)
    vectors = clustered(args.n, args.dim, rng, centres)
    queries = clustered(args.queries, args.dim, rng, centres)
    labels = rng.integers(0, 2, size=args.n)
    qlabels = rng.integers(0, 2, size=args.queries)
    kind, pick = "ivf_pq", ivf_pq_pick(args.n, args.dim)  # what "approximate" picks above 100k references
    start = time.perf_counter()
    truth = exact_neighbors(vectors, labels, queries, qlabels)
    exact_s = time.perf_counter() - start
    arrays = synthetic_arrays(labels, args.tokens)
    rows, sizes = [], {}
    tmp = Path(tempfile.mkdtemp(prefix="lafa-ondisk-"))
    try:
        np.save(tmp / "q.npy", queries)
        np.save(tmp / "l.npy", qlabels)
        for half in (False, True):
            params = {**pick, "half_refine": half}
            start = time.perf_counter()
            built = INDEX_TYPE_REGISTRY.get(kind).build(vectors, params)
            build_s = time.perf_counter() - start
            folder = tmp / ("half" if half else "full")
            write_s = save_folder(folder, built, params, arrays, args.dim)
            del built
            files_mb = {p.name: p.stat().st_size / 2**20 for p in folder.iterdir()}
            sizes[reranking(half)] = files_mb
            print(f"half_refine={half}: built in {build_s:.0f} s, written in {write_s:.0f} s, {files_mb}", flush=True)
            for mmap in (False, True):
                m, ids = probe(folder, mmap, tmp)
                rows.append({"half": half, "mmap": mmap, "build_s": build_s, "recall": recall(ids, truth), **m})
                print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    run = {"args": vars(args), "kind": kind, "pick": pick, "rows": rows, "sizes": sizes, "exact_s": exact_s}
    run["machine"] = {"date": str(datetime.date.today()), "cpus": os.cpu_count(), "faiss": faiss.__version__}
    atomic_write_text(Path(args.output).with_suffix(".json"), json.dumps(run, indent=1) + "\n")
    write_report(run)


def reranking(half: bool) -> str:
    """The re-ranking vectors' dtype of a row (``half_refine``)."""
    return "float16" if half else "float32"


def mb(value: float) -> str:
    return f"{value:,.0f}"


def grown(row: dict, stage: str, kind: str) -> float:
    """MB of ``kind`` (RssAnon, RssFile) the probe gained from its start to ``stage`` (loaded, after)."""
    return row[stage][kind] - row["before"][kind]


def write_report(run: dict) -> None:
    """The Markdown report of a run (``main``'s measurements, also saved beside it as JSON)."""
    args = argparse.Namespace(**run["args"])
    kind, pick, rows, exact_s, machine = run["kind"], run["pick"], run["rows"], run["exact_s"], run["machine"]
    sizes = run["sizes"]
    n = args.n
    lines = [
        "# Indexes that stay on disk",
        "",
        f"`python -m benchmarks.ondisk --n {n} --queries {args.queries} --tokens {args.tokens}`, "
        f"{machine['date']}, {machine['cpus']} CPUs, faiss {machine['faiss']}. {n:,} references of "
        f"{args.tokens} tokens, {args.dim}-dimensional vectors, the index `approximate` picks above "
        f"100,000 references, at this size: {kind} with {json.dumps({**pick, 'half_refine': 'both'})}. "
        "Each row is a fresh process: "
        f"`LafaIndex.from_pretrained(folder, mmap=...)`, then {args.queries} same-label searches for 10 "
        "neighbors, one query a call, each reading its neighbors' tokens and cache rows. Memory in MB, as "
        "/proc counts it: anonymous (the process's own) and file pages (mapped files, which the system "
        "can drop and read again).",
        "",
        "| re-ranking vectors | loading | files (MB) | load s | anonymous after load | file pages after load "
        "| anonymous after queries | file pages after queries | ms a query | recall@10 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    stages = [(stage, counter) for stage in ("loaded", "after") for counter in ("RssAnon", "RssFile")]
    for r in rows:
        memory = " | ".join(mb(grown(r, stage, counter)) for stage, counter in stages)
        lines.append(
            f"| {reranking(r['half'])} | {'mmap=True' if r['mmap'] else 'read'} | "
            f"{sum(sizes[reranking(r['half'])].values()):,.1f} | {r['load_s']:.2f} | {memory} | "
            f"{r['ms_per_query']:.2f} | {r['recall']:.3f} |"
        )
    full, half = sizes["float32"], sizes["float16"]
    mapped = {r["half"]: r for r in rows if r["mmap"]}
    read = {r["half"]: r for r in rows if not r["mmap"]}
    anon_mapped, anon_read = grown(mapped[True], "after", "RssAnon"), grown(read[False], "after", "RssAnon")
    per_ref_faiss = half[FAISS_NAME] * 2**20 / n
    files_mb = sum(half.values())
    loaded = grown(mapped[True], "loaded", "RssAnon")
    # met when loading maps rather than reads: the process's own memory under a quarter of the files
    goal = (
        f"{'met' if loaded < files_mb / 4 else 'missed'}, {loaded:,.0f} MB after loading {files_mb:,.0f} MB of "
        f"files ({anon_mapped:,.0f} MB after the queries, whose touched pages are file pages)"
    )
    lines += [
        "",
        f"Files of the float32 row: {', '.join(f'{k} {v:,.0f} MB' for k, v in sorted(full.items()))}; "
        f"with float16 re-ranking the FAISS file is {half[FAISS_NAME]:,.0f} MB. Ground truth: exact search "
        f"over each label's references took {exact_s:.0f} s for all queries.",
        "",
        f"Goal: with `mmap=True` the process's own memory grows with what queries touch, not with the files: {goal}.",
        "",
        f"Measured: loaded memory-mapped with float16 re-ranking, the process's own memory after {args.queries} "
        f"queries is {anon_mapped:,.0f} MB against {anon_read:,.0f} MB reading the index with float32 re-ranking "
        "(what LafaIndex did before); "
        f"recall@10 {mapped[True]['recall']:.3f} against {read[False]['recall']:.3f}, "
        f"{mapped[True]['ms_per_query']:.2f} against {read[False]['ms_per_query']:.2f} ms a query.",
        "",
        "## What ten million references would take on one machine",
        "",
        f"Scaled from the measured float16 row (per reference: {per_ref_faiss:,.0f} bytes of FAISS file, "
        f"{(sum(half.values()) - half[FAISS_NAME]) * 2**20 / n:,.0f} bytes of arrays and texts at "
        f"{args.tokens} tokens):",
        "",
        f"- Disk: about {10 * sum(half.values()) / 1024:,.1f} GB.",
        f"- Memory that must fit: about {10 * anon_mapped / 1024:,.1f} GB (ten times this run's anonymous "
        "memory: the IVF lists' codes and ids, the centroids, the reference texts, which a LafaIndex "
        "keeps as a Python list, and the label filters); file pages come and go with the lists and rows "
        "queries touch.",
        "- Search: the pick probes 1/18 of 4 sqrt(n) lists, so a query scans about n/18 codes: ten times "
        f"this run's, about {10 * mapped[True]['ms_per_query']:.0f} ms a query on these CPUs if it scales "
        "linearly (fewer lists probed trade recall for time: RESULTS.md, Search).",
        "- Building: training and adding need the vectors in memory (15 GB in float32 at 384 dimensions); "
        "past that, `build.sharding` encodes in shards, and FAISS can merge per-shard inverted lists on "
        "disk (`faiss.contrib.ondisk.merge_ondisk`), which this project does not do yet.",
    ]
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
