"""Subprocess worker for the Hub round-trip tests (huggingface_hub reads HF_ENDPOINT and
HF_HUB_OFFLINE at import, so each side of a round trip runs in a fresh interpreter).

    python -m tests.hub_worker push  WORKDIR   # build the tiny LAFA repo and index, push both
    python -m tests.hub_worker pull  WORKDIR   # load them from the Hub id, print scores as JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

QUERIES = ["the acting was good", "awful plot , boring"]
MODEL_REPO, INDEX_REPO = "org/lafa-tiny", "org/tiny-index"


def explain(explainer) -> list:
    return [[explainer(q, method=m) for q in QUERIES] for m in ("lafa", "simple_grad")]


def main() -> None:
    mode, workdir = sys.argv[1], Path(sys.argv[2])
    from transformers import pipeline

    import lafa_pipeline  # noqa: F401

    if mode == "push":
        from lafa_pipeline import LafaIndex

        from .tiny import INDEX_CONFIG, LABELS, TEXTS, make_tokenizer, tiny_model

        model, tokenizer = tiny_model(), make_tokenizer(workdir)
        index = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=INDEX_CONFIG, show_progress=False)
        explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
        explainer.push_to_hub(MODEL_REPO)
        # A second index over other reference texts, in a repo of its own.
        other = LafaIndex.build(
            model, tokenizer, TEXTS[::-1][:10], labels=LABELS[::-1][:10], config=INDEX_CONFIG, show_progress=False
        )
        other.push_to_hub(INDEX_REPO)
        with_other = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=other)
        print(json.dumps({"repo": explain(explainer), "other_index": explain(with_other)}))
    else:
        explainer = pipeline("feature-attribution", model=MODEL_REPO, trust_remote_code=True)
        with_other = pipeline("feature-attribution", model=MODEL_REPO, trust_remote_code=True, index=INDEX_REPO)
        print(json.dumps({"repo": explain(explainer), "other_index": explain(with_other)}))


if __name__ == "__main__":
    main()
