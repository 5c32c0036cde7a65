"""The commands that make LAFA repos: ``lafa build`` (index reference texts), ``lafa push`` and ``lafa default``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from ..aggregation import AGGREGATION_REGISTRY, NEIGHBOR_SCALES
from ..config import (
    CACHE_TARGETS,
    IG_REFERENCES,
    INDEX_TYPES,
    INDEXABLE_BASE_METHODS,
    KERNELS,
    NEIGHBOR_WEIGHTINGS,
    OUTPUTS,
    POOLINGS,
    PRESCORE_SECONDS,
    SAMPLINGS,
    LafaConfig,
)
from .cli_explain import lam_ranges
from .cli_inputs import CliError, check_share, load_texts
from .options import add_dataclass_arguments, dataclass_kwargs, json_object

if TYPE_CHECKING:  # the index module loads faiss: only when a command runs
    from ..index import LafaIndex


def cmd_build(args: argparse.Namespace) -> int:
    """``lafa build``: index the texts of --data for --model and save the repo (or the index alone)."""
    if (args.prescore is not None or args.prescore_seconds is not None) and not args.lazy:
        raise CliError("--prescore and --prescore-seconds go with --lazy (a full build scores every reference already)")
    share = 1.0 if args.prescore is None else args.prescore
    seconds = PRESCORE_SECONDS if args.prescore_seconds is None else args.prescore_seconds
    check_share("--prescore", share)
    if seconds < 0:
        raise CliError(f"--prescore-seconds must be 0 or more, got {seconds}")
    texts, labels = load_texts(
        args.data, args.text_column, args.label_column, args.split, args.limit, args.text_pair_column
    )
    config = LafaConfig(**dataclass_kwargs(args, LafaConfig))
    model, tokenizer, stored_dtype = _load_model(args.model)
    index = _build_index(args, model, tokenizer, texts, labels, config)
    if index is None:  # not the main process of a sharded build: its shard is written, the main process saves
        return 0
    if args.lazy and share > 0 and seconds > 0:
        filled = index.prescore(model, share, seconds=seconds)
        print(
            f"Prescored {filled} reference scores, those most often a reference's neighbor first (up to "
            f"{share:.0%} of them and {seconds:g} s; the rest are scored as queries need them)"
        )
    if args.index_only:
        index.save_pretrained(args.output)
    else:  # the checkpoint keeps its stored dtype (the index's model fingerprint is taken in float32)
        from transformers import pipeline

        from .. import TASK

        model.to("cpu", stored_dtype)
        pipe = pipeline(  # type: ignore[call-overload]  # transformers' overloads type its built-in tasks only
            TASK, model=model, tokenizer=tokenizer, index=index, explain_dtype="model"
        )
        pipe.save_pretrained(args.output)
    print(f"Saved to {args.output} ({index})")
    if args.push_to_hub:
        return cmd_push(
            argparse.Namespace(folder=args.output, repo_id=args.push_to_hub, private=args.private, token=args.token)
        )
    return 0


def _load_model(name: str) -> tuple[Any, Any, Any]:
    """The model (on the GPU when there is one, else in float32 as the pipeline explains on CPU), its
    tokenizer and the dtype its checkpoint stores, which the saved repo keeps."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(name)
    tokenizer = AutoTokenizer.from_pretrained(name)
    stored_dtype = next(model.parameters()).dtype
    if torch.cuda.is_available():  # the references' forward/backward passes on the GPU when there is one
        model.to("cuda")
    elif stored_dtype in (torch.float16, torch.bfloat16):
        model.float()
    return model, tokenizer, stored_dtype


def _build_index(
    args: argparse.Namespace, model: Any, tokenizer: Any, texts: list, labels: Any, config: LafaConfig
) -> LafaIndex | None:
    """The index of ``texts``: built here, or one shard per process under ``accelerate launch`` and merged
    by the main process (None in the others)."""
    from .. import LafaIndex

    description = args.description or f"{len(texts)} texts from {os.path.basename(args.data)}"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under `accelerate launch`: one shard per process
        from ..build.sharding import build_distributed

        shard_dir = args.shard_dir or os.path.join(args.output, ".shards")
        index = build_distributed(
            model,
            tokenizer,
            texts,
            labels,
            config,
            shard_dir,
            batch_size=args.batch_size,
            description=description,
            lazy=args.lazy,
        )
        if index is not None:
            print(f"Merged the shards of {os.environ['WORLD_SIZE']} processes into one index")
        return index
    print(f"Building a LAFA index of {len(texts)} texts from {args.data} with {args.model}")
    return LafaIndex.build(
        model,
        tokenizer,
        texts,
        labels=labels,
        config=config,
        batch_size=args.batch_size,
        description=description,
        lazy=args.lazy,
    )


def cmd_push(args: argparse.Namespace) -> int:
    from ..hub import upload_folder

    if not os.path.isfile(os.path.join(args.folder, "lafa_config.json")):
        raise CliError(f"{args.folder} is not a LAFA repo folder (no lafa_config.json); make one with `lafa build`")
    repo_id, commit = upload_folder(
        args.folder, args.repo_id, "Upload LAFA repo", token=args.token, private=args.private
    )
    print(f"Pushed {args.folder} to {repo_id}: {commit}")
    return 0


def cmd_default(args: argparse.Namespace) -> int:
    from ..build.default_model import RESULTS_NAME, build_default_repo, default_repo_dir, is_built

    target = default_repo_dir()
    if args.rebuild or not is_built(target):
        build_default_repo(target)
    with open(target / RESULTS_NAME, encoding="utf-8") as f:
        results = json.load(f)
    print(f"Default model: {target}")
    print(json.dumps(results, indent=2))
    return 0


LAFA_SETTINGS = "LAFA settings (saved in lafa_config.json; lafa explain's defaults)"
NOT_AT_BUILD = ("eps", "tuning")
"""LafaConfig fields that are no build-time choice: the build measures eps (``--quantile`` chooses it),
and ``tuning`` records what ``lafa tune`` measured."""


def _lafa_option_overrides() -> dict[str, dict[str, Any]]:
    """How LafaConfig's fields become ``lafa build`` options beyond what the fields say: choices from the
    registries, read when the parser is built so that registered aggregations count, and the names the
    options had before they were generated (``--any-label``; ``--output`` is the folder written)."""
    lam_help = next(f for f in dataclasses.fields(LafaConfig) if f.name == "lam").metadata["help"]
    return {
        "pooling": {"choices": POOLINGS},
        "same_label": {
            "flags": ["--any-label"],
            "action": "store_false",
            "default": argparse.SUPPRESS,  # not given: the field's default (neighbors of the explained class)
            "help": "do not restrict neighbors to the explained class",
        },
        "kernel": {"choices": KERNELS},
        "kernel_params": {"type": json_object, "metavar": "JSON"},
        "lam": {"help": f"{lam_help}: {lam_ranges()}"},
        "aggregation": {"choices": AGGREGATION_REGISTRY.names},
        "neighbor_weighting": {"choices": NEIGHBOR_WEIGHTINGS},
        "neighbor_scale": {"choices": NEIGHBOR_SCALES},
        "base_method": {"choices": INDEXABLE_BASE_METHODS},
        "sampling": {"choices": SAMPLINGS},
        "ig_reference": {"choices": IG_REFERENCES},
        "output": {"flags": ["--model-output"], "dest": "model_output", "choices": OUTPUTS},
        "index_type": {"choices": INDEX_TYPES},
        "index_params": {"type": json_object, "metavar": "JSON"},
        "cache_targets": {"choices": CACHE_TARGETS},
    }


def add_build(sub: argparse._SubParsersAction) -> None:
    """The ``lafa build`` subcommand."""
    p = sub.add_parser("build", help="index reference texts for a fine-tuned model and save a LAFA repo")
    p.add_argument("--model", required=True, help="fine-tuned sequence-classification model (folder or Hub id)")
    p.add_argument("--data", required=True, help=".txt/.csv/.tsv/.json/.jsonl file or a datasets dataset id")
    p.add_argument("--text-column", default="text", help="column holding the texts")
    p.add_argument("--text-pair-column", help="a second text column: references are text pairs (NLI-style models)")
    p.add_argument("--label-column", help="gold labels (names or indexes); default: the model's predictions")
    p.add_argument("--split", default="train", help="dataset split, for a datasets id")
    p.add_argument("--limit", type=int, help="use only the first N texts")
    p.add_argument("--output", required=True, help="folder to write the repo (or the index) to")
    p.add_argument("--index-only", action="store_true", help="save only the index (an index repo)")
    p.add_argument("--description", help="how the reference data is named in the model card")
    add_dataclass_arguments(
        p, LafaConfig, exclude=NOT_AT_BUILD, overrides=_lafa_option_overrides(), group=LAFA_SETTINGS
    )
    p.add_argument("--batch-size", type=int, default=32, help="reference texts per batch")
    p.add_argument(
        "--lazy",
        action="store_true",
        help="forward passes only: each reference's base-method scores are computed when a query first "
        "needs them and written back to the repo by `lafa explain` (same scores, paid with use)",
    )
    p.add_argument(
        "--prescore",
        type=float,
        metavar="SHARE",
        help="with --lazy: score now up to this share (0-1) of the reference scores queries will need, those "
        "most often a reference's neighbor first, so the first explanations find them cached (default 1; "
        "0: none)",
    )
    p.add_argument(
        "--prescore-seconds",
        type=float,
        metavar="SECONDS",
        help=f"with --lazy: stop prescoring after this many seconds (default {PRESCORE_SECONDS:g}; 0: none)",
    )
    p.add_argument(
        "--shard-dir",
        help="under `accelerate launch`: folder for the per-process shards, seen by "
        "every process (default: OUTPUT/.shards)",
    )
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="also push the result to this Hub repo")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the Hub repo private")
    p.add_argument("--token", help="Hub token (default: the logged-in one)")
    p.set_defaults(func=cmd_build)


def add_push(sub: argparse._SubParsersAction) -> None:
    """The ``lafa push`` subcommand."""
    p = sub.add_parser("push", help="push a saved LAFA repo (or index) folder to the Hub")
    p.add_argument("folder", help="the saved repo or index folder")
    p.add_argument("repo_id", help="Hub repo id, e.g. user/my-lafa-model")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.add_argument("--token", help="Hub token (default: the logged-in one)")
    p.set_defaults(func=cmd_push)


def add_default(sub: argparse._SubParsersAction) -> None:
    """The ``lafa default`` subcommand."""
    p = sub.add_parser("default", help="build (once) and describe the embedded default model")
    p.add_argument("--rebuild", action="store_true", help="build it again even if it is cached")
    p.set_defaults(func=cmd_default)
