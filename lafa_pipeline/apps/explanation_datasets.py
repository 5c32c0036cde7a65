"""Explanation datasets on the Hub: Parquet shards and a dataset card that says how they were made.

Thermostat showed that shared explanations are useful; its loading-script format no longer loads in
``datasets`` 4, so an explanation dataset here is Parquet under ``data/`` with a README whose YAML
header points ``datasets.load_dataset`` at it, and whose text (and ``lafa_provenance.json``) name the
model and its revision, the method, the LAFA settings, the library versions and the source data.
The card is made from that record and the row count only, so a resumed or distributed run, which
writes the same rows, gets the same card.

Example::

    from lafa_pipeline import load_explainer
    from lafa_pipeline.apps.explanation_datasets import provenance, push_explanations
    explainer = load_explainer()
    push_explanations("explanations.parquet", "me/sst2-lafa", provenance(explainer, {}, "glue sst2 dev"))
    # or: lafa explain --data dev.csv --output explanations.parquet --push-to-hub me/sst2-lafa
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml

PROVENANCE_NAME = "lafa_provenance.json"
SHARD = "data/train-00000-of-00001.parquet"
PACKAGES = ("lafa-pipeline", "transformers", "torch", "datasets", "faiss-cpu", "huggingface_hub")


def provenance(explainer, call_options: dict[str, Any], source: str | None) -> dict[str, Any]:
    """What makes an explainer's explanations of ``source`` (a file, a Hub dataset id or a description):
    the model and its revision, the call's options, the LAFA settings and index, the versions."""
    model = explainer.model
    index = explainer.index
    options = {k: v for k, v in call_options.items() if v is not None}
    return {
        "model": getattr(model, "name_or_path", None) or "unnamed model",
        "model_revision": getattr(model.config, "_commit_hash", None),
        "call_options": options,
        "lafa_settings": {k: v for k, v in explainer.lafa_config.to_dict().items() if k != "tuning"},
        "index": None
        if index is None
        else {"references": len(index), "description": index.meta.get("description") or None},
        "versions": {name: _version(name) for name in PACKAGES},
        "source": source,
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def dataset_card(record: dict[str, Any], rows: int, first: dict[str, Any]) -> str:
    """The README of an explanation dataset of ``rows`` rows (``first``: its first row, which says the
    method, base method and whether scores are signed).

    >>> card = dataset_card({"model": "m", "model_revision": None, "call_options": {}, "lafa_settings": {},
    ...     "index": None, "versions": {"lafa-pipeline": "0.1.0"}, "source": "dev.csv"}, 2,
    ...     {"method": "occlusion", "base_method": "occlusion"})
    >>> card.splitlines()[0], "occlusion" in card, "path: data/*.parquet" in card
    ('---', True, True)
    """
    method = first["method"] if first["method"] == first["base_method"] else f"lafa on {first['base_method']}"
    reading = "signed (positive pushes towards the explained class)" if first.get("signed") else "magnitudes"
    header = {
        "pretty_name": f"Explanations of {os.path.basename(str(record['model']))} by {method}",
        "tags": ["feature-attribution", "explainability", "lafa-pipeline"],
        "size_categories": [_size_category(rows)],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
    }
    revision = record["model_revision"] or "a local folder (no Hub revision)"
    settings = json.dumps(record["lafa_settings"], indent=1, sort_keys=True)
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {header['pretty_name']}",
        "",
        f"Word attributions of {rows} texts, made with lafa-pipeline "
        "(`lafa explain --data`, or `explain_dataset`). One row per text: its position (`row`), the text, "
        "the prediction (`label`, `score`), the explained class (`target`), the method and `tokens`, a "
        "list of `{token, score, start, end}` (word scores, character offsets into the text).",
        "",
        "| | |",
        "| --- | --- |",
        f"| model | `{record['model']}` |",
        f"| model revision | {revision} |",
        f"| method | {method} |",
        f"| scores | {reading} |",
        f"| call options | `{json.dumps(record['call_options'], sort_keys=True)}` |",
        f"| reference index | {_index_line(record['index'])} |",
        f"| source data | {record['source'] or 'not given'} |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in record["versions"].items() if v) + " |",
        "",
        "LAFA settings (the repo's `lafa_config.json`, as explained):",
        "",
        "```json",
        settings,
        "```",
        "",
        "```python",
        "from datasets import load_dataset",
        'rows = load_dataset("<this repo>", split="train")',
        "```",
        "",
        f"The same record, as JSON: `{PROVENANCE_NAME}`.",
    ]
    return "\n".join(lines) + "\n"


def _size_category(rows: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < bound:
            return name
    return "n>1M"


def _index_line(index: dict | None) -> str:
    if index is None:
        return "none (base methods only)"
    return f"{index['references']} reference texts" + (f": {index['description']}" if index["description"] else "")


def push_explanations(
    data: Any,
    repo_id: str,
    record: dict[str, Any],
    token: str | bool | None = None,
    private: bool | None = None,
) -> str:
    """Upload explanations (a ``.parquet`` or ``.jsonl`` file ``explain_to_file`` wrote, or a
    ``datasets.Dataset`` from ``explain_dataset``) to the dataset repo ``repo_id`` as one commit: the
    Parquet shard, the card and the provenance record. Returns the commit URL."""
    from datasets import Dataset

    from ..hub import upload_folder

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if path.endswith(".parquet"):
            dataset = Dataset.from_parquet(path)
        elif path.endswith(".jsonl"):
            dataset = Dataset.from_json(path)
        else:
            raise ValueError(f"Explanations to push must be a .parquet or .jsonl file or a Dataset, got {path}")
    else:
        dataset = data
    if len(dataset) == 0:
        raise ValueError("No explanations to push: the dataset is empty")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "data"))
        dataset.to_parquet(os.path.join(tmp, SHARD))
        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(dataset_card(record, len(dataset), dataset[0]))
        with open(os.path.join(tmp, PROVENANCE_NAME), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, sort_keys=True)
        message = f"Explanations of {len(dataset)} texts by lafa-pipeline"
        return upload_folder(tmp, repo_id, message, token=token, private=private, repo_type="dataset")[1]
