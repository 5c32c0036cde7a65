"""Write tests/data/release-0.1.0/: tiny LAFA repos saved by release 0.1.0, with the scores it gave.

Run once per release whose repos must keep loading (``python -m tests.make_release_repos``); the
folders are committed, and tests/test_release_repos.py checks that today's code loads them and
gives the same scores.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from transformers import pipeline

import lafa_pipeline
from lafa_pipeline import LafaIndex

from .tiny import INDEX_CONFIG, LABELS, TEXTS, make_tokenizer, tiny_model

OUT = Path(__file__).parent / "data" / f"release-{lafa_pipeline.__version__}"
QUERIES = ["good film , great acting", "the plot was boring and slow", "loved the story"]
METHODS = ("lafa", "simple_grad", "smooth_grad", "integrated_grad")
REPOS = {"paper": INDEX_CONFIG, "normalized": INDEX_CONFIG.replace(aggregation="normalized", kernel="cosine")}


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = make_tokenizer(Path(tmp))
        model = tiny_model()
        for name, config in REPOS.items():
            index = LafaIndex.build(
                model,
                tokenizer,
                TEXTS,
                labels=LABELS,
                config=config,
                show_progress=False,
                description="tiny test texts",
            )
            explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
            explainer.save_pretrained(OUT / name)
            expected = {m: explainer(QUERIES, method=m) for m in METHODS}
            (OUT / f"{name}.expected.json").write_text(
                json.dumps({"queries": QUERIES, "results": expected}, indent=1) + "\n"
            )


if __name__ == "__main__":
    main()
