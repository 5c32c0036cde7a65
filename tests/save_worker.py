"""Subprocess worker for the kill -9 test: saves two different LAFA repos over one folder, alternately, forever.

    python -m tests.save_worker FOLDER   # prints "saving" once the first save is about to start
"""
from __future__ import annotations

import sys
import tempfile


def main() -> None:
    folder = sys.argv[1]
    from transformers import pipeline

    from lafa_pipeline import LafaIndex

    from .tiny import INDEX_CONFIG, LABELS, TEXTS, make_tokenizer, tiny_model

    tokenizer = make_tokenizer(tempfile.mkdtemp())
    explainers = []
    for seed, texts in ((0, TEXTS), (1, TEXTS[:10])):  # different model and index sizes: a mix is detectable
        model = tiny_model(seed=seed)
        index = LafaIndex.build(model, tokenizer, texts, labels=LABELS[:len(texts)], config=INDEX_CONFIG,
                                show_progress=False)
        explainers.append(pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index))
    print("saving", flush=True)
    turn = 0
    while True:
        explainers[turn % 2].save_pretrained(folder)
        turn += 1


if __name__ == "__main__":
    main()
