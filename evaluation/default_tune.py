"""How the embedded default's LAFA settings were chosen: ``lafa tune`` with its defaults, no gold.

    python evaluation/default_tune.py [--start 0] [--texts 60]

Runs ``tune_explainer`` with every default (objective ``all_four``, base methods and layers "auto",
3-fold cross-validation) on the embedded default's model and index, over shipped SST-2 dev sentences
``--start`` .. ``--start + --texts``. Those sentences are outside the default's held-out checks
(``default_check.HELD_OUT_START`` on), which then judge the pick. Writes ``evaluation/default_tune.md``
(the summary) and ``lafa_pipeline/data/default_tune.json`` (the chosen settings, which
``lafa_pipeline/build/default_model.py`` writes out in ``DEFAULT_CONFIG`` and a test compares, and the
``tuning`` record its model card shows). The search starts from the
default's current settings, so a rerun on a rebuilt default may climb by another path.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from default_check import open_default  # evaluation/ is the script's folder, first on sys.path

from lafa_pipeline import tune_explainer
from lafa_pipeline.build.default_model import TUNE_FILE
from lafa_pipeline.faithfulness.tuning import tuned_fields
from lafa_pipeline.files import atomic_write_text

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--texts", type=int, default=60)
    args = parser.parse_args()
    start = time.perf_counter()
    explainer, texts = open_default(args.start, args.texts)
    began_at = {k: getattr(explainer.lafa_config, k) for k in tuned_fields()}
    result = tune_explainer(explainer, texts, show_progress=False)
    seconds = time.perf_counter() - start
    chosen = {k: getattr(result.config, k) for k in tuned_fields()}
    record = {
        "command": shlex.join(["python", "evaluation/default_tune.py", *sys.argv[1:]]),
        "seconds": round(seconds),
        "started_from": began_at,
        "chosen": chosen,
        "eps": result.config.eps,
        "tuning": result.config.tuning,
    }
    atomic_write_text(TUNE_FILE, json.dumps(record, indent=2) + "\n")
    lines = [
        "# How the embedded default's settings were chosen",
        "",
        f"`{record['command']}` ({seconds:.0f} s, 2 CPU threads): `lafa tune` with its defaults on "
        f"{len(texts)} shipped SST-2 dev sentences from {args.start}, no gold. It started from {began_at}.",
        "",
        "```",
        result.summary(),
        "```",
    ]
    atomic_write_text(HERE / "default_tune.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
