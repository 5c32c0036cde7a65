"""20 concurrent requests to the Gradio app through gradio_client, under Gradio's default queue.

    python -m benchmarks.space_load [--model FOLDER] [--requests 20]

Starts the app in this process (the embedded default model unless --model is given), sends the
requests at once from 20 threads, checks every answer against the pipeline called directly, and
prints the wall time.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client  # noqa: E402

from lafa_pipeline import load_explainer  # noqa: E402
from lafa_pipeline.apps.space_app import PREDICTED, build_demo  # noqa: E402
from lafa_pipeline.build.default_model import DEV_FILE, read_tsv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    pipe = load_explainer(args.model)
    texts = read_tsv(DEV_FILE)[0][: args.requests]
    cfg = pipe.lafa_config
    expected = [pipe(t) for t in texts]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo(pipe).queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)

    def ask(text):
        return client.predict(text, "lafa", cfg.kernel, cfg.lam, cfg.n_neighbors, PREDICTED, api_name="/explain")[4]

    start = time.perf_counter()
    with ThreadPoolExecutor(len(texts)) as pool:
        results = list(pool.map(ask, texts))
    elapsed = time.perf_counter() - start
    demo.close()
    wrong = sum(
        [t["token"] for t in r["tokens"]] != [t["token"] for t in e["tokens"]]
        or any(
            abs(a["score"] - b["score"]) > 1e-5 * max(1e-12, abs(b["score"])) for a, b in zip(r["tokens"], e["tokens"])
        )
        for r, e in zip(results, expected)
    )
    print(
        f"{len(texts)} concurrent LAFA requests ({pipe.model.name_or_path}): {elapsed:.2f} s in all, "
        f"{elapsed / len(texts) * 1000:.0f} ms per request; {len(texts) - wrong}/{len(texts)} answers equal "
        "the pipeline's"
    )


if __name__ == "__main__":
    main()
