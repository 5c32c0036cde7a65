"""Subprocess workers for the kill tests of whole-repo saves (no state shared with the test process).

    python -m tests.save_worker loop FOLDER     # save two repos alternately over FOLDER forever (killed by the test)
    python -m tests.save_worker points FOLDER   # kill a save over a saved repo after each file write, one
                                                # forked child per kill point; prints one JSON line per point

Kept to the API of every release (``pipeline``, ``LafaIndex.build``, ``save_pretrained``), so the same
worker measures an older checkout too: ``PYTHONPATH=OLD_CHECKOUT python -m tests.save_worker points DIR``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile


def explainers():
    """Two different tiny repos (other weights, other index sizes), so a mix of their files is detectable."""
    from transformers import pipeline

    from lafa_pipeline import LafaConfig, LafaIndex

    from .tiny import LABELS, TEXTS, make_tokenizer, tiny_model

    tokenizer = make_tokenizer(tempfile.mkdtemp())
    config = LafaConfig(layer=1, n_neighbors=4, quantile=0.8, samples=2, base_method="smooth_grad")
    out = []
    for seed, texts in ((0, TEXTS), (1, TEXTS[:10])):
        model = tiny_model(seed=seed)
        index = LafaIndex.build(
            model, tokenizer, texts, labels=LABELS[: len(texts)], config=config, show_progress=False
        )
        out.append(pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index))
    return out


def state(folder: str, sizes: dict[int, str]) -> str:
    """'old' or 'new' if FOLDER loads whole as one of the two repos, else what failed."""
    from transformers import pipeline

    try:
        explainer = pipeline("feature-attribution", model=folder, trust_remote_code=True)
        explainer("good film")
        return sizes[len(explainer.index)]
    except Exception as e:  # noqa: BLE001 - any failure to load is the finding
        return f"broken: {type(e).__name__}: {str(e).splitlines()[0][:120]}"


def kill_points(folder: str) -> None:
    old, new = explainers()
    old.save_pretrained(folder)
    parent = os.path.dirname(os.path.abspath(folder))
    point = 0
    while True:
        point += 1
        pid = os.fork()
        if pid == 0:  # child: count file writes under the folder's parent, die at the point-th one
            writes = [0]

            def hook(event, args, writes=writes, point=point):  # runs in this child, at this point
                if (
                    event == "open"
                    and isinstance(args[0], (str, bytes))
                    and args[1]
                    and any(c in str(args[1]) for c in "wax+")
                ):
                    if os.fsdecode(os.path.abspath(args[0])).startswith(parent):
                        writes[0] += 1
                        if writes[0] == point:
                            os.kill(os.getpid(), signal.SIGKILL)

            sys.addaudithook(hook)
            new.save_pretrained(folder)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        finished = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        leftovers = sorted(n for n in os.listdir(parent) if n != os.path.basename(folder))
        print(
            json.dumps(
                {
                    "point": point,
                    "killed": not finished,
                    "state": state(folder, {16: "old", 10: "new"}),
                    "leftovers": len(leftovers),
                }
            ),
            flush=True,
        )
        if finished:
            return
        old.save_pretrained(folder)  # back to the old repo for the next point


def loop(folder: str) -> None:
    pair = explainers()
    print("saving", flush=True)
    turn = 0
    while True:
        pair[turn % 2].save_pretrained(folder)
        turn += 1


if __name__ == "__main__":
    {"loop": loop, "points": kill_points}[sys.argv[1]](sys.argv[2])
