"""The embedded default's faithfulness measured by two peers' own metric code, not ours.

    pip install -e ".[bench]"                       # Interpreto, beside our stack
    python3 -m venv /tmp/ferret && /tmp/ferret/bin/pip install torch==2.13.0 ferret-xai==0.4.2 pyarrow==17.0.0
    python evaluation/peer_metrics.py --texts 200 --ferret-python /tmp/ferret/bin/python

Issue 24 asks that the default's LAFA be at least as good as IntegratedGrad on Interpreto's deletion
and ferret's comprehensiveness. Our own metrics (``default_check.py``) could share a blind spot with
the explainer they judge, so this run hands every method's scores to the peers' evaluators, which
mask, re-tokenize and re-score the model themselves:

- Interpreto's ``Insertion`` and ``Deletion`` (word granularity, its defaults: [MASK] replacement,
  softmax of the explained class, AUC by the trapezoid rule), fed our word scores (subwords summed).
- ferret's ``AOPC_Comprehensiveness_Evaluation`` and ``AOPC_Sufficiency_Evaluation`` (its defaults:
  the top 10 %, 20 %, ... 100 % of positively scored tokens removed, [CLS] and [SEP] left out), fed
  our token scores. ferret 0.4.2 needs transformers < 5, so it runs in its own virtual environment
  (``--ferret-python``), on this file's ``ferret`` stage, which imports nothing of ours.

Texts: shipped SST-2 dev sentences 300 .. 300 + ``--texts``, the ones ``default_check.py`` uses, not
seen by any choice of the default. Per metric, LAFA minus each method with a 95 % bootstrap CI
(positive = LAFA better; deletion and sufficiency flipped). Writes ``evaluation/peer_metrics.md``
and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("lafa", "occlusion", "integrated_grad", "integrated_grad_pad", "smooth_grad", "input_grad", "simple_grad")
LOWER_IS_BETTER = {"interpreto_deletion": True, "interpreto_insertion": False, "ferret_comprehensiveness": False,
                   "ferret_sufficiency": True}  # fmt: skip


def ferret_stage(scores_file: Path, out_file: Path) -> None:
    """ferret's AOPC comprehensiveness and sufficiency per text and method (run in ferret's venv)."""
    from importlib.metadata import version

    import numpy as np
    import torch
    from ferret.evaluators.faithfulness_measures import (
        AOPC_Comprehensiveness_Evaluation,
        AOPC_Sufficiency_Evaluation,
    )
    from ferret.explainers.explanation import Explanation
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(2)
    data = json.loads(scores_file.read_text())
    model = AutoModelForSequenceClassification.from_pretrained(data["model"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(data["model"])
    evaluators = {
        "ferret_comprehensiveness": AOPC_Comprehensiveness_Evaluation(model, tokenizer),
        "ferret_sufficiency": AOPC_Sufficiency_Evaluation(model, tokenizer),
    }
    results: dict[str, dict[str, list[float]]] = {m: {} for m in evaluators}
    with torch.no_grad():
        for item in tqdm(data["items"], desc="ferret's evaluators"):
            enc = tokenizer(item["text"], truncation=True, return_tensors="pt")
            # The model as transformers 4 loads it must be ours: a key it failed to load would judge
            # the scores against another model.
            prob = model(**enc).logits.softmax(-1)[0, item["target"]].item()
            if abs(prob - item["probability"]) > 1e-4:
                raise ValueError(f"ferret's copy of the model gives {prob:.6f}, ours {item['probability']:.6f}")
            tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
            for method, token_scores in item["token_scores"].items():
                scores = np.array([0.0, *token_scores, 0.0])  # [CLS] and [SEP]: ferret drops them
                if len(scores) != len(tokens):
                    raise ValueError(f"{len(scores)} scores for {len(tokens)} tokens of {item['text']!r}")
                explanation = Explanation(item["text"], tokens, scores, method, item["target"])
                for name, evaluator in evaluators.items():
                    value = evaluator.compute_evaluation(explanation, target=item["target"]).score
                    results[name].setdefault(method, []).append(float(value))
    # The release's own metadata: ferret 0.4.2's __version__ still says 0.4.1.
    out_file.write_text(json.dumps({"version": version("ferret-xai"), "results": results}))


def score_texts(explainer, texts: list[str]) -> list[dict]:
    """Every method's token scores of each text (one per non-special token), its target and probability."""
    from tqdm.auto import tqdm

    items = []
    for text in tqdm(texts, desc="scoring texts"):
        enc = explainer.tokenizer(text, truncation=True)
        item = {"text": text, "token_scores": {}}
        for method in METHODS:
            out = explainer(text, method=method, aggregation_strategy="none")
            scores = [t["score"] for t in out["tokens"]]
            if out["truncated"] or len(scores) != len(enc["input_ids"]) - 2:
                raise ValueError(f"{method}: {len(scores)} token scores for {len(enc['input_ids'])} ids of {text!r}")
            item["token_scores"][method] = scores
            item["target"] = explainer.model.config.label2id[out["target"]]
            item["probability"] = out["score"]
        items.append(item)
    return items


def interpreto_stage(explainer, items: list[dict]) -> tuple[str, dict[str, dict[str, list[float]]]]:
    """Interpreto's Insertion and Deletion AUC per text and method, fed our word scores."""
    import dataclasses

    import interpreto
    import torch
    from interpreto import Granularity, Saliency
    from interpreto.attributions.metrics import Deletion, Insertion
    from tqdm.auto import tqdm

    model, tokenizer = explainer.model, explainer.tokenizer
    # A template output with Interpreto's own word split, inputs and layout; only the scores are ours.
    template = Saliency(model, tokenizer, granularity=Granularity.WORD, batch_size=32)
    metrics = {
        "interpreto_insertion": Insertion(model, tokenizer, batch_size=32),
        "interpreto_deletion": Deletion(model, tokenizer, batch_size=32),
    }
    outputs: dict[str, list] = {m: [] for m in METHODS}
    for item in tqdm(items, desc="Interpreto's inputs"):
        base = template.explain(item["text"], targets=torch.tensor([[item["target"]]]))[0]
        word_ids = tokenizer(item["text"], truncation=True).word_ids()[1:-1]
        for method, token_scores in item["token_scores"].items():
            words: dict[int, float] = {}
            for word, score in zip(word_ids, token_scores, strict=True):
                words[word] = words.get(word, 0.0) + score
            if len(words) != base.attributions.numel():
                n = base.attributions.numel()
                raise ValueError(f"{len(words)} words against Interpreto's {n}: {item['text']!r}")
            scores = torch.tensor([words[w] for w in sorted(words)], dtype=base.attributions.dtype)
            outputs[method].append(dataclasses.replace(base, attributions=scores.reshape(base.attributions.shape)))
    results: dict[str, dict[str, list[float]]] = {name: {} for name in metrics}
    for name, metric in metrics.items():
        for method, method_outputs in outputs.items():
            _, curves = metric.evaluate(method_outputs)
            # Interpreto's per-text AUC (its aggregate's formula), kept per text for paired intervals.
            results[name][method] = [float(torch.trapezoid(c[0], dim=0).item() / (c[0].shape[0] - 1)) for c in curves]
    return getattr(interpreto, "__version__", "0.5.2"), results


def report(
    results: dict[str, dict[str, list[float]]], versions: dict, command: str, elapsed: float, n: int, first: int
) -> str:
    """The Markdown tables: each method's mean per metric, then LAFA minus each method with CIs."""
    import numpy as np

    from lafa_pipeline.faithfulness.metrics import paired

    names = list(LOWER_IS_BETTER)
    arrows = {m: "↓" if LOWER_IS_BETTER[m] else "↑" for m in names}
    lines = [
        "# The embedded default, judged by Interpreto's and ferret's own metrics",
        "",
        f"`{command}` ({elapsed:.0f} s, 2 CPU threads; Interpreto {versions['interpreto']}, ferret "
        f"{versions['ferret']}). {n} shipped SST-2 dev sentences ({first} on), not used by any choice of the "
        "default. Each peer masks, re-tokenizes and re-scores the model itself; our scores are its only input. "
        "Seconds per text: `default_check.md`, measured alone on the cores.",
        "",
        "| method | " + " | ".join(f"{m} {arrows[m]}" for m in names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for method in METHODS:
        cells = [f"{np.mean(results[m][method]):.4f}" for m in names]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "LAFA minus each method, 95 % bootstrap CI; positive = LAFA better (deletion and sufficiency flipped).",
        "",
        "| LAFA minus | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for method in METHODS[1:]:
        cells = []
        for m in names:
            sign = -1.0 if LOWER_IS_BETTER[m] else 1.0
            c = paired(sign * np.array(results[m]["lafa"]), sign * np.array(results[m][method]))
            cells.append(f"{c['mean_diff']:+.4f} [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--ferret-python", required=True, help="python of a venv with ferret-xai 0.4.2")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "peer_metrics.md"))
    parser.add_argument("--stage", choices=["all", "ferret"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--scores", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ferret-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "ferret":
        ferret_stage(args.scores, args.ferret_out)
        return

    import warnings

    import torch
    from default_check import HELD_OUT_START  # evaluation/ is the script's folder, first on sys.path

    from lafa_pipeline import load_explainer
    from lafa_pipeline.build.default_model import DEV_FILE, read_tsv
    from lafa_pipeline.files import atomic_write_text

    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    start = time.perf_counter()
    explainer = load_explainer()
    texts = read_tsv(DEV_FILE)[0][HELD_OUT_START : HELD_OUT_START + args.texts]
    items = score_texts(explainer, texts)
    with tempfile.TemporaryDirectory() as tmp:
        scores_file, ferret_file = Path(tmp) / "scores.json", Path(tmp) / "ferret.json"
        scores_file.write_text(json.dumps({"model": explainer.model.name_or_path, "items": items}))
        ferret_cmd = [args.ferret_python, __file__, "--ferret-python", "-", "--stage", "ferret"]
        subprocess.run([*ferret_cmd, "--scores", str(scores_file), "--ferret-out", str(ferret_file)], check=True)
        ferret = json.loads(ferret_file.read_text())
    interpreto_version, results = interpreto_stage(explainer, items)
    results.update(ferret["results"])
    versions = {"interpreto": interpreto_version, "ferret": ferret["version"]}
    command = shlex.join(["python", "evaluation/peer_metrics.py", *sys.argv[1:]])
    text = report(results, versions, command, time.perf_counter() - start, len(items), HELD_OUT_START)
    out = Path(args.output)
    atomic_write_text(out.with_suffix(".json"), json.dumps({"versions": versions, "results": results}, indent=1))
    atomic_write_text(out, text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
