"""Sampled methods at equal quality: how many samples/steps each sampling scheme needs.

For SmoothGrad, IntegratedGrad and SHAP+Zero, token scores with n samples (steps) under the
paper's i.i.d. sampling and under ``sampling="low_variance"`` (antithetic noise, Gauss-Legendre
nodes, stratified points) are compared with a converged reference (``REFERENCE_SAMPLES`` i.i.d.
samples; IntegratedGrad: Gauss-Legendre with as many nodes): mean Pearson correlation per text,
and the time per text. ``samples_for_equal_quality`` finds the fewest low-variance samples that
reach the agreement of the i.i.d. default, which is the speed-up at equal quality.

    python -m benchmarks.sampling --texts 30 --out benchmarks/SAMPLING.md   # also a section of RESULTS.md
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lafa_pipeline.base_methods import MethodParams, attribute
from lafa_pipeline.model_adapter import ModelAdapter

METHODS = ("smooth_grad", "integrated_grad", "shap_zero")
COUNTS = (3, 5, 7, 8, 9, 10, 15, 25)  # 8 and 9: the equal-quality point against Interpreto lies near there
REFERENCE_SAMPLES = 100


def timed_scores(adapter, tokenizer, texts, method, count, sampling, params) -> tuple[list[np.ndarray], float]:
    """Each text's token scores (predicted class, ``count`` samples/steps) and the mean ms per text."""
    out, start = [], time.perf_counter()
    for text in texts:
        enc = tokenizer(text, return_tensors="pt")
        p = MethodParams(**{**params.__dict__, "samples": count, "steps": count, "sampling": sampling})
        with torch.no_grad():
            target = adapter.transform(adapter.model(**enc).logits, "probability").argmax(-1)
        s = attribute(adapter, method, enc["input_ids"], enc["attention_mask"], target, enc.get("token_type_ids"), p)
        out.append(s[0, 1:-1].numpy().astype(np.float64))  # real tokens without [CLS] / [SEP]
    return out, 1000 * (time.perf_counter() - start) / len(texts)


def agreement(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Mean Pearson correlation per text of two lists of token scores."""
    values = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b) if len(x) > 1 and x.std() > 0 and y.std() > 0]
    return float(np.mean(values))


def sampling_rows(model, tokenizer, texts: list[str], counts=COUNTS, base: MethodParams | None = None) -> list[dict]:
    """One row per (method, sampling, count): Pearson with the reference and ms per text."""
    adapter = ModelAdapter(model)
    base = base or MethodParams()
    rows = []
    for method in METHODS:
        reference_sampling = "low_variance" if method == "integrated_grad" else "iid"
        reference, _ = timed_scores(adapter, tokenizer, texts, method, REFERENCE_SAMPLES, reference_sampling, base)
        for sampling in ("iid", "low_variance"):
            for count in counts:
                scores, ms = timed_scores(adapter, tokenizer, texts, method, count, sampling, base)
                rows.append(
                    {
                        "method": method,
                        "sampling": sampling,
                        "count": count,
                        "ms_per_text": ms,
                        "pearson_with_reference": agreement(scores, reference),
                        "texts": len(texts),
                    }
                )
    return rows


def samples_for_equal_quality(rows: list[dict], method: str, default: int = 10) -> dict:
    """The fewest low-variance samples whose agreement reaches i.i.d.'s at ``default`` samples."""
    iid = next(r for r in rows if r["method"] == method and r["sampling"] == "iid" and r["count"] == default)
    better = [
        r
        for r in rows
        if r["method"] == method
        and r["sampling"] == "low_variance"
        and r["pearson_with_reference"] >= iid["pearson_with_reference"]
    ]
    best = min(better, key=lambda r: r["count"], default=None)
    return {
        "method": method,
        "iid": iid,
        "low_variance": best,
        "passes_ratio": None if best is None else default / best["count"],
        "time_ratio": None if best is None else iid["ms_per_text"] / best["ms_per_text"],
    }


def sampling_section(rows: list[dict], default: int = 10) -> list[str]:
    counts = sorted({r["count"] for r in rows})
    lines = [
        f"Agreement (mean Pearson per text) with a converged reference ({REFERENCE_SAMPLES} i.i.d. samples; "
        f"IntegratedGrad: {REFERENCE_SAMPLES} Gauss-Legendre nodes), {rows[0]['texts']} SST-2 dev sentences, "
        "embedded default model, one text per call:",
        "",
        "| method | sampling | " + " | ".join(f"n = {c}" for c in counts) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in counts) + " |",
    ]
    for method in METHODS:
        for sampling in ("iid", "low_variance"):
            cells = []
            for c in counts:
                r = next(r for r in rows if (r["method"], r["sampling"], r["count"]) == (method, sampling, c))
                cells.append(f"{r['pearson_with_reference']:.3f} ({r['ms_per_text']:.0f} ms)")
            lines.append(f"| {method} | {sampling} | " + " | ".join(cells) + " |")
    lines += ["", f"Equal quality: the fewest low-variance samples that match i.i.d. at n = {default}:", ""]
    for method in METHODS:
        eq = samples_for_equal_quality(rows, method, default)
        if eq["low_variance"] is None:
            lines.append(f"- {method}: not reached within n = {counts[-1]}")
        else:
            lines.append(
                f"- {method}: n = {eq['low_variance']['count']} "
                f"({eq['low_variance']['pearson_with_reference']:.3f} vs {eq['iid']['pearson_with_reference']:.3f}): "
                f"{eq['passes_ratio']:.2f}x fewer forward/backward passes, {eq['time_ratio']:.2f}x in measured "
                "time per text"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=30)
    parser.add_argument("--out", help="also write the section to this Markdown file")
    args = parser.parse_args()
    from lafa_pipeline import load_explainer
    from lafa_pipeline.build.default_model import DEV_FILE, read_tsv

    pipe = load_explainer()
    texts = read_tsv(DEV_FILE)[0][: args.texts]
    rows = sampling_rows(pipe.model, pipe.tokenizer, texts, base=MethodParams.from_config(pipe.lafa_config))
    text = "\n".join(sampling_section(rows))
    print(text)
    if args.out:
        from lafa_pipeline.files import atomic_write_text

        atomic_write_text(
            args.out,
            f"# Sampled methods at equal quality\n\n`python -m benchmarks.sampling --texts "
            f"{args.texts} --out {args.out}` ({torch.get_num_threads()} torch threads, CPU)\n\n" + text + "\n",
        )


if __name__ == "__main__":
    main()
