"""Occlusion side by side with the peers' (issue 53): ours one text a call and batched, Captum's
FeatureAblation and Interpreto's Occlusion, on the same model and texts.

    python -m benchmarks.occlusion [--texts 40] [--start 300]   # writes benchmarks/OCCLUSION.md and .json

The embedded default's model; shipped SST-2 dev sentences ``--start`` .. ``--start + --texts``; each
token (special ones too) a feature, replaced by the [PAD] embedding; the softmax probability of the
predicted class. Ours through the pipeline (``method="occlusion"``, ``signed=True``: tokenizing and
word grouping included), one text a call and ``batch_size=32``; Captum's ``FeatureAblation`` on the
input embeddings with the same features and baseline, at each ``perturbations_per_eval`` of
``PER_EVAL`` (the best is the one to beat); Interpreto's ``Occlusion`` (token granularity, softmax,
batch 64; its own replacement) one text a call and all in one call. Per row: seconds a text (mean
over the texts, after one warm-up text), the ratio to ours one by one measured in the same run,
and the median Spearman, text by text, of its token scores with Captum's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lafa_pipeline import load_explainer
from lafa_pipeline.base_methods import MethodParams, attribute_raw
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv
from lafa_pipeline.files import atomic_write_text

from .peers import spearman

PER_EVAL = (1, 16, 64)
HERE = Path(__file__).resolve().parent


def timed(run: Callable[[], object], n: int) -> float:
    """Seconds a text of ``run`` (which handles ``n`` texts)."""
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / n


def captum_scores(pipe, text: str, per_eval: int) -> np.ndarray:
    """Captum's FeatureAblation of ``text``'s tokens: [PAD] embedding as the baseline, predicted class."""
    from captum.attr import FeatureAblation

    adapter = pipe.lafa.adapter
    enc = pipe.tokenizer(text, return_tensors="pt", truncation=True, max_length=pipe.max_length)
    embeds = adapter.embed(enc["input_ids"])
    mask, types = enc["attention_mask"], enc.get("token_type_ids")
    with torch.no_grad():
        target = int(adapter.forward(embeds, mask, types).argmax(-1))
        pad = adapter.embed(torch.tensor([adapter.pad_id]))[0]
        features = torch.arange(embeds.shape[1]).view(1, -1, 1).expand_as(embeds)
        values = FeatureAblation(adapter.forward).attribute(
            embeds,
            baselines=pad.expand_as(embeds),
            target=target,
            additional_forward_args=(mask, types),
            feature_mask=features,
            perturbations_per_eval=per_eval,
        )
    return values[0, :, 0].numpy()


def our_scores(pipe, text: str) -> np.ndarray:
    """Our occlusion's token scores of ``text`` (signed), the pipeline's own function."""
    adapter = pipe.lafa.adapter
    enc = pipe.tokenizer(text, return_tensors="pt", truncation=True, max_length=pipe.max_length)
    with torch.no_grad():
        target = adapter.forward(adapter.embed(enc["input_ids"]), enc["attention_mask"], enc.get("token_type_ids"))
    raw = attribute_raw(
        adapter,
        "occlusion",
        enc["input_ids"],
        enc["attention_mask"],
        target.argmax(-1),
        enc.get("token_type_ids"),
        MethodParams.from_config(pipe.lafa_config),
    )
    return raw[0, :, 0].numpy()


def interpreto_explainer(pipe):
    """Interpreto's Occlusion over tokens on the softmax output, batch 64."""
    from interpreto import Granularity, Occlusion
    from interpreto.attributions.inference_wrappers.inference_wrapper import InferenceModes

    return Occlusion(
        pipe.model, pipe.tokenizer, batch_size=64, granularity=Granularity.TOKEN, inference_mode=InferenceModes.SOFTMAX
    )


def measure(pipe, texts: list[str]) -> list[dict]:
    """Every row: name, seconds a text, token scores per text (or None)."""
    rows = []
    reference = [captum_scores(pipe, t, 64) for t in texts]
    pipe(texts[0], method="occlusion", signed=True)  # warm-up
    rows.append(
        {
            "method": "lafa-pipeline occlusion, one text a call",
            "seconds": timed(lambda: [pipe(t, method="occlusion", signed=True) for t in texts], len(texts)),
            "scores": [our_scores(pipe, t) for t in texts],
        }
    )
    rows.append(
        {
            "method": "lafa-pipeline occlusion, batch_size=32",
            "seconds": timed(lambda: pipe(texts, method="occlusion", signed=True, batch_size=32), len(texts)),
            "scores": None,  # the same function as one by one, packed differently
        }
    )
    for per_eval in PER_EVAL:
        rows.append(
            {
                "method": f"Captum FeatureAblation, perturbations_per_eval={per_eval}",
                "seconds": timed(lambda k=per_eval: [captum_scores(pipe, t, k) for t in texts], len(texts)),
                "scores": reference if per_eval == 64 else None,
            }
        )
    try:
        explainer = interpreto_explainer(pipe)
    except ImportError:
        return rows
    explainer.explain(texts[0])  # warm-up
    single = timed(lambda: [explainer.explain(t) for t in texts], len(texts))
    found = explainer.explain(list(texts))
    rows.append(
        {
            "method": "Interpreto Occlusion (token, batch 64), one text a call",
            "seconds": single,
            "scores": [o.attributions.reshape(-1).numpy() for o in found],
        }
    )
    rows.append(
        {
            "method": "Interpreto Occlusion (token, batch 64), all texts in one call",
            "seconds": timed(lambda: explainer.explain(list(texts)), len(texts)),
            "scores": None,
        }
    )
    for row in rows:
        if row["scores"] is not None:
            pairs = [(a, b) for a, b in zip(row["scores"], reference) if len(a) == len(b)]
            row["spearman"] = float(np.median([spearman(list(a), list(b)) for a, b in pairs])) if pairs else None
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--start", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(2)
    pipe = load_explainer()
    texts = read_tsv(DEV_FILE)[0][args.start : args.start + args.texts]
    rows = measure(pipe, texts)
    ours = rows[0]["seconds"]
    best_captum = min(r["seconds"] for r in rows if r["method"].startswith("Captum"))
    interpreto = [r["seconds"] for r in rows if r["method"].startswith("Interpreto")]
    summary = {
        "captum_best_over_ours_one_by_one": best_captum / ours,
        "captum_best_over_ours_batched": best_captum / rows[1]["seconds"],
        "interpreto_best_over_ours_one_by_one": min(interpreto) / ours if interpreto else None,
        "interpreto_best_over_ours_batched": min(interpreto) / rows[1]["seconds"] if interpreto else None,
    }
    command = shlex.join(["python", "-m", "benchmarks.occlusion", *sys.argv[1:]])
    lines = [
        "# Occlusion against Captum's FeatureAblation and Interpreto's Occlusion",
        "",
        f"`{command}` ({datetime.date.today()}, {torch.get_num_threads()} CPU threads, one run): {len(texts)} "
        f"shipped SST-2 dev sentences from {args.start}, the embedded default's model. Ratios are the peer's time "
        "over ours in this run (above 1: ours faster). Spearman: median over texts of the token scores' rank "
        "correlation with Captum's (perturbations_per_eval=64; Interpreto replaces tokens its own way).",
        "",
        "| method | ms a text | our one-by-one time over it | Spearman with Captum |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        rho = r.get("spearman")
        lines.append(
            f"| {r['method']} | {r['seconds'] * 1000:.0f} | {ours / r['seconds']:.2f} | "
            + ("" if rho is None else f"{rho:.3f}")
            + " |"
        )
    lines += ["", "Peer's best time over ours: " + json.dumps({k: v and round(v, 2) for k, v in summary.items()})]
    print("\n".join(lines))
    atomic_write_text(HERE / "OCCLUSION.md", "\n".join(lines) + "\n")
    record = {"command": command, "texts": len(texts), "summary": summary}
    record["rows"] = [{k: v for k, v in r.items() if k != "scores"} for r in rows]
    atomic_write_text(HERE / "OCCLUSION.json", json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
