"""Regenerate the SST-2 sentences shipped for the embedded default model.

    python scripts/make_default_data.py --data-dir ../shared/data

Writes lafa_pipeline/data/sst2_train_8k.tsv (8,000 GLUE SST-2 train rows of at least six words,
drawn with seed 0) and lafa_pipeline/data/sst2_dev.tsv (the 872 GLUE SST-2 dev rows), both with the
GLUE header ``sentence<TAB>label``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random

OUT = os.path.join(os.path.dirname(__file__), "..", "lafa_pipeline", "data")


def read(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def write(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for row in rows:
            f.write(f"{row['sentence'].strip()}\t{row['label']}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding sst2/train.tsv and sst2/dev.tsv")
    parser.add_argument("--size", type=int, default=8000)
    args = parser.parse_args()
    train = [r for r in read(os.path.join(args.data_dir, "sst2", "train.tsv")) if len(r["sentence"].split()) >= 6]
    random.Random(0).shuffle(train)
    write(os.path.join(OUT, "sst2_train_8k.tsv"), train[: args.size])
    write(os.path.join(OUT, "sst2_dev.tsv"), read(os.path.join(args.data_dir, "sst2", "dev.tsv")))


if __name__ == "__main__":
    main()
