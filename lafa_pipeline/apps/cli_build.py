"""The commands that make LAFA repos: ``lafa build`` (index reference texts), ``lafa push`` and ``lafa default``."""

from __future__ import annotations

import argparse
import json
import os

from ..aggregation import AGGREGATION_REGISTRY
from ..config import (
    INDEX_TYPES,
    INDEXABLE_BASE_METHODS,
    KERNELS,
    NEIGHBOR_WEIGHTINGS,
    POOLINGS,
    SAMPLINGS,
    LafaConfig,
)
from .cli_explain import lam_ranges
from .cli_inputs import CliError, check_share, load_texts


def cmd_build(args: argparse.Namespace) -> int:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from .. import TASK, LafaIndex

    if args.prescore and not args.lazy:
        raise CliError("--prescore goes with --lazy (a full build scores every reference already)")
    check_share("--prescore", args.prescore)
    texts, labels = load_texts(
        args.data, args.text_column, args.label_column, args.split, args.limit, args.text_pair_column
    )
    config = LafaConfig(
        layer=args.layer,
        pooling=args.pooling,
        n_neighbors=args.n_neighbors,
        quantile=args.quantile,
        same_label=not args.any_label,
        kernel=args.kernel,
        lam=args.lam,
        aggregation=args.aggregation,
        neighbor_weighting=args.neighbor_weighting,
        base_method=args.base_method,
        samples=args.samples,
        steps=args.steps,
        sampling=args.sampling,
        index_type=args.index_type,
    )
    model = AutoModelForSequenceClassification.from_pretrained(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    stored_dtype = next(model.parameters()).dtype
    if torch.cuda.is_available():  # the references' forward/backward passes on the GPU when there is one
        model.to("cuda")
    elif stored_dtype in (torch.float16, torch.bfloat16):  # as the pipeline explains on CPU: in float32
        model.float()
    description = args.description or f"{len(texts)} texts from {os.path.basename(args.data)}"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under `accelerate launch`: one shard per process
        from ..build.sharding import build_distributed

        index = build_distributed(
            model,
            tokenizer,
            texts,
            labels,
            config,
            args.shard_dir or os.path.join(args.output, ".shards"),
            batch_size=args.batch_size,
            description=description,
            lazy=args.lazy,
        )
        if index is None:  # not the main process: its shard is written, the main process saves
            return 0
        print(f"Merged the shards of {os.environ['WORLD_SIZE']} processes into one index")
    else:
        print(f"Building a LAFA index of {len(texts)} texts from {args.data} with {args.model}")
        index = LafaIndex.build(
            model,
            tokenizer,
            texts,
            labels=labels,
            config=config,
            batch_size=args.batch_size,
            description=description,
            lazy=args.lazy,
        )
    if args.prescore:
        filled = index.prescore(model, args.prescore)
        print(f"Prescored {filled} reference scores (the {args.prescore:.0%} most often a reference's neighbor)")
    if args.index_only:
        index.save_pretrained(args.output)
    else:  # the checkpoint keeps its stored dtype (the index's model fingerprint is taken in float32)
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
    defaults = LafaConfig()
    p.add_argument(
        "--layer", type=int, default=defaults.layer, help="hidden layer searched for neighbors (0 = embedding output)"
    )
    p.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=defaults.pooling,
        help="token states to one vector per text: mean, first (CLS) or last real token (decoder-only models)",
    )
    p.add_argument("--n-neighbors", type=int, default=defaults.n_neighbors, help="neighbors per explained text")
    p.add_argument(
        "--quantile",
        type=float,
        default=defaults.quantile,
        help="distance cut-off eps: this quantile of pairwise distances between references",
    )
    p.add_argument("--any-label", action="store_true", help="do not restrict neighbors to the explained class")
    p.add_argument(
        "--kernel", choices=KERNELS, default=defaults.kernel, help="token-similarity kernel of the aggregation"
    )
    p.add_argument("--lam", type=float, default=defaults.lam, help=f"weight of the neighbors' scores: {lam_ranges()}")
    p.add_argument(
        "--aggregation",
        choices=AGGREGATION_REGISTRY.names,
        default=defaults.aggregation,
        help="how neighbor scores enter a text's (aggregation.py; paper = eq. 6-7 exactly)",
    )
    p.add_argument(
        "--neighbor-weighting",
        choices=NEIGHBOR_WEIGHTINGS,
        default=defaults.neighbor_weighting,
        help="neighbors count equally, or closer ones more (exp(-distance / mean distance))",
    )
    p.add_argument(
        "--base-method",
        choices=INDEXABLE_BASE_METHODS,
        default=defaults.base_method,
        help="the attribution LAFA smooths (lafa tune --base-methods compares them on your texts)",
    )
    p.add_argument("--samples", type=int, default=defaults.samples, help="SmoothGrad / VarGrad / SHAP / LIME samples")
    p.add_argument("--steps", type=int, default=defaults.steps, help="integrated-gradients steps")
    p.add_argument(
        "--sampling",
        choices=SAMPLINGS,
        default=defaults.sampling,
        help="iid (the paper's) or low_variance (antithetic noise, stratified points, Gauss-Legendre "
        "nodes: the same accuracy with fewer samples/steps)",
    )
    p.add_argument(
        "--index-type",
        choices=INDEX_TYPES,
        default=defaults.index_type,
        help="flat = exact search (default); approximate = chosen from the number of texts (exact up to "
        "20k, HNSW up to 100k, IVF + PQ fast scan with exact re-ranking above); or a type itself",
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
        default=0.0,
        metavar="SHARE",
        help="with --lazy: score now this share (0-1) of the reference scores queries will need most (those "
        "most often a reference's neighbor), so the first explanations find them cached",
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
