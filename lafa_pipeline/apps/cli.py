"""The ``lafa`` command: explain texts, build and push LAFA repos.

    lafa explain "a gorgeous, witty, seductive movie."          # embedded default model
    lafa explain --model my-lafa-repo --method integrated_grad --json "some text"
    lafa build --model my-finetuned-model --data train.csv --text-column text --label-column label \\
        --output my-lafa-repo
    accelerate launch --multi_gpu --num_processes 2 -m lafa_pipeline.apps.cli build ...  # sharded, merged
    lafa push my-lafa-repo org/my-lafa-repo
    lafa demo                                                    # the Gradio app in a browser
    lafa default --rebuild                                       # (re)build the embedded default
    lafa evaluate --data texts.csv --model my-lafa-repo         # faithfulness of every method on your texts
    lafa tune --data texts.csv --model my-lafa-repo             # choose LAFA's settings on your texts
    lafa evaluate --data-dir ../shared/data --output evaluation  # reproduce the paper's experiments
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, cast

from ..aggregation import AGGREGATION_REGISTRY
from ..config import (
    INDEX_TYPES,
    INDEXABLE_BASE_METHODS,
    KERNELS,
    METHODS,
    NEIGHBOR_WEIGHTINGS,
    POOLINGS,
    SAMPLINGS,
    LafaConfig,
)
from ..faithfulness.tuning import (
    GUARD_Z,
    MAX_BASE_METHODS,
    MAX_TUNING_TOKENS,
    OBJECTIVE,
    REFERENCE_BUDGET,
)
from ..metric_registry import names
from ..results import Explanation, is_lafa, method_label
from .render import legend_text, to_terminal


def _lam_ranges() -> str:
    """lambda's range under each aggregation, from their registry entries."""
    return ", ".join(
        f"{name} [{entry.lam_range[0]:g}, {entry.lam_range[1]:g}]" for name, entry in AGGREGATION_REGISTRY.items()
    )


class CliError(ValueError):
    """A user error: printed as one line ``lafa: error: ...``, exit code 2."""


def format_result(result: Explanation, text: str, color: bool) -> str:
    lines = []
    if result["label"] is None:
        lines.append(f"prediction: {result['score']:.4g}")
    else:
        lines.append(f"prediction: {result['label']} ({result['score']:.3f}); explaining: {result['target']}")
    lines.append(f"method: {method_label(result)}" + (" (signed scores)" if result.get("signed") else ""))
    if result.get("truncated"):
        lines.append("note: the text was longer than the model's limit; only its first part is explained")
    lines.append(to_terminal(text, result["tokens"], color))
    ranked = sorted(result["tokens"], key=lambda t: -abs(t["score"]))[:5]
    lines.append("top words: " + ", ".join(f"{t['token']} ({t['score']:.3g})" for t in ranked))
    if color:
        lines.append(f"colours: {legend_text(result)}")
    if result["neighbors"]:
        lines.append(f"neighbors ({len(result['neighbors'])}):")
        lines += [f"  {n['distance']:.3f}  [{n['label']}]  {n['text']}" for n in result["neighbors"]]
    elif is_lafa(result):
        lines.append("neighbors: none within eps (LAFA equals its base method here)")
    return "\n".join(lines)


def load_columns(source: str, columns: Sequence[str], split: str, limit: int | None) -> dict[str, list]:
    """Columns of a .txt file (one text per line, column "text"), CSV/TSV/JSON/JSONL file, or a datasets id."""
    if os.path.isfile(source) and source.endswith(".txt"):
        with open(source, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f if line.strip()]
        if set(columns) - {"text", columns[0]}:
            raise CliError(f"A .txt file has one column (the texts); use a CSV/JSONL file for {', '.join(columns[1:])}")
        return {columns[0]: texts[:limit]}
    if not os.path.exists(source) and source.lower().endswith((".txt", ".csv", ".tsv", ".json", ".jsonl")):
        raise CliError(f"Data file {source!r} does not exist")
    from datasets import load_dataset

    if os.path.isfile(source):
        ext = source.rsplit(".", 1)[-1].lower()
        builders = {"csv": ("csv", {}), "tsv": ("csv", {"sep": "\t"}), "json": ("json", {}), "jsonl": ("json", {})}
        if ext not in builders:
            raise CliError(f"Unsupported data file {source!r}; use .txt, .csv, .tsv, .json or .jsonl")
        builder, kwargs = builders[ext]
        if os.path.getsize(source) == 0:
            raise CliError(f"Data file {source!r} is empty")
        try:
            data = load_dataset(builder, data_files=source, split="train", **kwargs)
        except ValueError as e:  # datasets: a header without rows
            raise CliError(f"Data file {source!r} has no rows ({e})") from None
    else:
        data = load_dataset(source, split=split)
    for column in columns:
        if column not in data.column_names:
            raise CliError(f"Column {column!r} not in {source}; columns: {', '.join(data.column_names)}")
    if limit:
        data = data.select(range(min(limit, len(data))))
    out = {column: list(data[column]) for column in columns}
    for row, value in enumerate(out[columns[0]]):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise CliError(f"{source}, row {row + 1}: the {columns[0]!r} cell is blank; every row needs a text")
    return out


def load_texts(
    source: str,
    text_column: str,
    label_column: str | None,
    split: str,
    limit: int | None,
    text_pair_column: str | None = None,
) -> tuple[list, Any]:
    """Texts (and labels) from a .txt file (one per line), CSV/TSV/JSON/JSONL file, or a datasets id;
    with ``text_pair_column``, text pairs ``{"text", "text_pair"}`` (NLI premise and hypothesis)."""
    columns = [text_column] + [c for c in (text_pair_column, label_column) if c]
    data = load_columns(source, columns, split, limit)
    texts = data[text_column]
    if text_pair_column:
        texts = [{"text": a, "text_pair": b} for a, b in zip(texts, data[text_pair_column])]
    return texts, (data[label_column] if label_column else None)


def cmd_explain(args: argparse.Namespace) -> int:
    if bool(args.text) == bool(args.data):
        raise CliError("give text(s) to explain, or --data FILE with --output FILE (not both)")
    if args.data and not args.output:
        raise CliError("--data needs --output FILE (.jsonl or .parquet) for the explanations")
    texts = args.text if args.text != ["-"] else [sys.stdin.read()]
    if args.text_pair is not None:
        if len(texts) != 1:
            raise CliError("--text-pair goes with exactly one text (the pair's first text)")
        texts = [{"text": texts[0], "text_pair": args.text_pair}]
    from .. import load_explainer

    kwargs = {
        k: v
        for k, v in {
            "method": args.method,
            "kernel": args.kernel,
            "lam": args.lam,
            "n_neighbors": args.n_neighbors,
            "target": _target(args.target),
            "live_neighbors": args.live or None,
            "aggregation_strategy": "none" if args.tokens else None,
            "signed": args.signed,
        }.items()
        if v is not None
    }
    if args.data:
        from .explain_data import explain_to_file

        data, _ = load_texts(args.data, args.text_column, None, args.split, args.limit, args.text_pair_column)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under `accelerate launch`: a share of the rows each
            return _explain_distributed(args, data, kwargs)
        explainer = load_explainer(args.model, args.index)
        count = explain_to_file(explainer, data, args.output, batch_size=args.batch_size, **kwargs)
        _keep_new_scores(explainer)
        print(f"Explained {count} texts ({len(data) - count} were already in {args.output}): {args.output}")
        return 0
    explainer = load_explainer(args.model, args.index)
    # One text per call: the pipeline returns one Explanation, not a list.
    results = [cast(Explanation, explainer(t, **kwargs)) for t in texts]
    _keep_new_scores(explainer)
    if args.html or args.figure:
        from ..files import atomic_write_text
        from .render import figure, page

        base = {**kwargs, "method": results[0]["base_method"]} if is_lafa(results[0]) else None
        compare = [cast(Explanation, explainer(t, **base)) for t in texts] if base else None
        if args.html:
            atomic_write_text(args.html, page(results, texts, compare=compare))
            print(f"HTML: {args.html}", file=sys.stderr)
        if args.figure:
            rows = [r for i, r in enumerate(results) for r in ([r] + ([compare[i]] if compare else []))]
            row_texts = [t for t in texts for _ in range(2 if compare else 1)]
            figure(rows, row_texts).savefig(args.figure, dpi=200, bbox_inches="tight")
            print(f"Figure: {args.figure}", file=sys.stderr)
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2, ensure_ascii=False))
        return 0
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print("\n\n".join(format_result(r, t, color) for r, t in zip(results, texts)))
    return 0


def _explain_distributed(args: argparse.Namespace, data: list, kwargs: dict) -> int:
    import torch

    from .. import load_explainer
    from .explain_data import explain_distributed

    device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else "cpu"
    explainer = load_explainer(args.model, args.index, device=device)
    count, main = explain_distributed(explainer, data, args.output, batch_size=args.batch_size, **kwargs)
    if main:
        _keep_new_scores(explainer)  # every process's new neighbor scores, written once
        print(f"Explained {len(data)} texts with {os.environ['WORLD_SIZE']} processes ({count} here): {args.output}")
    return 0


def _keep_new_scores(explainer) -> None:
    """A lazy index's scores computed by this run go back into the repo folder it was loaded from."""
    index = explainer.index
    if index is not None and index.new_scores and index.source_dir:
        try:
            index.save_scores()
        except OSError as e:  # a read-only folder: the scores are recomputed next time, nothing is lost
            print(f"lafa: could not keep the new neighbor scores in {index.source_dir}: {e}", file=sys.stderr)


def _target(value: str | None):
    return int(value) if value is not None and value.isdigit() else value


def cmd_build(args: argparse.Namespace) -> int:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from .. import TASK, LafaIndex

    if args.prescore and not args.lazy:
        raise CliError("--prescore goes with --lazy (a full build scores every reference already)")
    if not 0.0 <= args.prescore <= 1.0:
        raise CliError(f"--prescore must be a share between 0 and 1, got {args.prescore}")
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


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from .space_app import main as launch
    except ImportError:
        raise CliError("lafa demo needs Gradio: pip install 'lafa-pipeline[space]'") from None
    launch(args.model, server_name=args.host, server_port=args.port)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.data:
        return _evaluate_data(args)
    from ..paper.evaluation import run_evaluation
    from ..paper.report import rewrite_report

    if args.report_only:
        rewrite_report(args.output)
    else:
        run_evaluation(args.data_dir, args.output, cases=args.cases, quick=args.quick, cache_dir=args.cache_dir)
    print(f"Results: {os.path.join(args.output, 'README.md')}")
    return 0


def _rationale(value):
    """A rationale cell: a JSON list of per-word values, or the rationale words as text."""
    if isinstance(value, str) and value.strip().startswith("["):
        return json.loads(value)
    return value


def _evaluate_data(args: argparse.Namespace) -> int:
    from .. import load_explainer
    from ..faithfulness.evaluate import evaluate_explainer

    # load_texts' second column is the rationale here (it reads any one column beside the texts)
    texts, cells = load_texts(
        args.data, args.text_column, args.rationale_column, args.split, args.limit, args.text_pair_column
    )
    explainer = load_explainer(args.model)
    rationales = [_rationale(v) for v in cells] if cells is not None else None
    report = evaluate_explainer(
        explainer,
        texts,
        methods=args.methods,
        rationales=rationales,
        steps=args.steps,
        batch_size=args.batch_size,
        signed=args.signed,
    )
    print(report.table())
    if explainer.index is not None and "lafa" in report.per_text:
        base = explainer.lafa_config.base_method
        others = [m for m in report.per_text if m not in ("lafa", "random")]
        best = max(others, key=lambda m: report.summary[m]["insertion_minus_deletion"].mean, default=None)
        print()
        for other in dict.fromkeys([base, best]):
            if other in report.per_text:
                c = report.compare("lafa", other)
                print(
                    f"lafa - {other} (insertion_minus_deletion): {c['mean_diff']:+.4f}, 95 % CI "
                    f"[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}], lafa better on {c['wins']:.0%} of {c['n']} texts"
                )
    if args.json_output:
        from ..files import atomic_write_text

        atomic_write_text(args.json_output, json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"Per-text values: {args.json_output}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .. import load_explainer
    from ..build.default_model import default_repo_dir
    from ..faithfulness.tuning import tune_explainer

    if not 0.0 <= args.prescore <= 1.0:
        raise CliError(f"--prescore must be a share between 0 and 1, got {args.prescore}")
    texts, _ = load_texts(args.data, args.text_column, None, args.split, args.limit, args.text_pair_column)
    folder = args.model or str(default_repo_dir())
    if args.output is None and not os.path.isdir(folder):
        raise CliError(f"{folder} is not a local folder: give --output to save the tuned repo")
    explainer = load_explainer(args.model)
    parts = args.layers.split(",")
    layers = [int(x) for x in parts] if all(x.strip().isdigit() for x in parts) else args.layers  # else: an error
    bases = args.base_methods if args.base_methods == "auto" else [b.strip() for b in args.base_methods.split(",")]
    result = tune_explainer(
        explainer,
        texts,
        folds=args.folds,
        holdout=args.holdout,
        layers=layers,
        base_methods=bases,
        rounds=args.rounds,
        steps=args.steps,
        objective=args.objective,
        max_base_methods=args.max_base_methods or None,
        early_stop=not args.full_search,
        every_aggregation_fully=args.full_search,
        max_tokens=args.max_tokens or None,
        reference_budget=args.reference_budget,
        signed=args.signed,
        metric_guard=args.metric_guard,
        guard_z=args.guard_z,
    )
    print(result.summary())
    layer_changed = result.index is not explainer.index  # another layer or base method: new index files
    result.apply(explainer)
    if args.prescore:
        if result.config.lam == 0:  # the base method alone reads no neighbor's scores
            print("--prescore: nothing to score, the pick is a base method alone (lambda 0)")
        elif explainer.index.missing_scores:
            filled = explainer.index.prescore(explainer.model, args.prescore)
            print(
                f"Prescored {filled} reference scores with {result.config.base_method} (the {args.prescore:.0%} "
                "most often a reference's neighbor)"
            )
        else:
            print(f"--prescore: the index holds every reference score of {result.config.base_method} already")
    if args.output or layer_changed:  # a new layer means new index files: the whole repo is rewritten
        explainer.save_pretrained(args.output or folder)
        print(f"Saved the tuned repo to {args.output or folder}")
    else:
        from ..feature_attribution import render_model_card
        from ..files import atomic_write_text

        result.config.save(folder)
        _keep_new_scores(explainer)  # the repo's own index: the scores the tuning and --prescore made
        card = render_model_card(explainer)
        if card is not None:
            atomic_write_text(os.path.join(folder, "README.md"), card)
        print(f"Wrote the tuned settings to {os.path.join(folder, 'lafa_config.json')} and its model card")
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default" in help_text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return help_text
        return super()._get_help_string(action) or help_text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lafa", description="LAFA feature attribution for Hugging Face models.", formatter_class=_HelpFormatter
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show transformers' and the Hub's load reports and progress bars"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubParser)

    _add_explain(sub)
    _add_build(sub)
    _add_push(sub)
    _add_demo(sub)
    _add_default(sub)
    _add_evaluate(sub)
    _add_tune(sub)
    return parser


def _add_explain(sub) -> None:
    """The ``lafa explain`` subcommand."""
    p = sub.add_parser("explain", help="explain texts (the embedded default model unless --model is given)")
    p.add_argument("text", nargs="*", help="text(s) to explain; '-' reads one text from standard input")
    p.add_argument(
        "--data",
        help="explain a whole .txt/.csv/.tsv/.json/.jsonl file or datasets id instead, into "
        "--output; an interrupted run resumes after the rows already written",
    )
    p.add_argument("--output", help="with --data: explanations.jsonl or explanations.parquet, one row per text")
    p.add_argument("--text-column", default="text", help="with --data")
    p.add_argument(
        "--text-pair-column",
        help="with --data: a second text column; each row is explained as the pair "
        "(text, text_pair), as NLI models take premise and hypothesis",
    )
    p.add_argument("--text-pair", help="explain the one text given with this second text, as a pair")
    p.add_argument("--split", default="train", help="with --data: dataset split, for a datasets id")
    p.add_argument("--limit", type=int, help="with --data: only the first N texts")
    p.add_argument("--batch-size", type=int, default=16, help="with --data: texts per batch")
    p.add_argument("--model", help="LAFA repo: local folder or Hub id (default: the embedded SST-2 model)")
    p.add_argument("--index", help="index folder or Hub id, to explain against other reference data")
    p.add_argument("--method", choices=METHODS, help="default: lafa when the repo has an index")
    p.add_argument("--kernel", choices=KERNELS, help="token-similarity kernel of the aggregation (default: the repo's)")
    p.add_argument(
        "--lam", type=float, help=f"weight of the neighbors' scores (lambda; default: the repo's): {_lam_ranges()}"
    )
    p.add_argument("--n-neighbors", type=int, help="neighbors searched (default: the repo's)")
    p.add_argument("--target", help="class to explain, by label name or index (default: the predicted one)")
    p.add_argument("--live", action="store_true", help="recompute neighbor scores instead of using the cache")
    p.add_argument("--tokens", action="store_true", help="report subword tokens instead of words")
    p.add_argument(
        "--signed",
        action=argparse.BooleanOptionalAction,
        help="signed scores: positive pushes towards the explained class, negative away (methods with a "
        "direction: input_grad, the integrated_grad family, occlusion, lime, kernel_shap; LAFA on one of them); "
        "default: the repo's (lafa tune --signed makes it signed), else magnitudes",
    )
    p.add_argument("--json", action="store_true", help="print the pipeline's JSON result")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="shade words in the terminal")
    p.add_argument(
        "--html",
        metavar="FILE",
        help="also write the explanations (with LAFA's base method beside LAFA) as a standalone HTML page",
    )
    p.add_argument("--figure", metavar="FILE", help="also write a figure (.png, .svg or .pdf) of the shaded words")
    p.set_defaults(func=cmd_explain)


def _add_build(sub) -> None:
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
    p.add_argument("--lam", type=float, default=defaults.lam, help=f"weight of the neighbors' scores: {_lam_ranges()}")
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


def _add_push(sub) -> None:
    """The ``lafa push`` subcommand."""
    p = sub.add_parser("push", help="push a saved LAFA repo (or index) folder to the Hub")
    p.add_argument("folder", help="the saved repo or index folder")
    p.add_argument("repo_id", help="Hub repo id, e.g. user/my-lafa-model")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.add_argument("--token", help="Hub token (default: the logged-in one)")
    p.set_defaults(func=cmd_push)


def _add_demo(sub) -> None:
    """The ``lafa demo`` subcommand."""
    p = sub.add_parser("demo", help="open the Gradio app (space/app.py) in a browser")
    p.add_argument("--model", help="LAFA repo: folder or Hub id (default: $LAFA_MODEL, else the embedded default)")
    p.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    p.set_defaults(func=cmd_demo)


def _add_default(sub) -> None:
    """The ``lafa default`` subcommand."""
    p = sub.add_parser("default", help="build (once) and describe the embedded default model")
    p.add_argument("--rebuild", action="store_true", help="build it again even if it is cached")
    p.set_defaults(func=cmd_default)


def _add_evaluate(sub) -> None:
    """The ``lafa evaluate`` subcommand."""
    from ..paper import CASES

    p = sub.add_parser(
        "evaluate",
        help="measure every method on your texts (--data), or reproduce the paper's experiments (--data-dir)",
    )
    p.add_argument(
        "--data",
        help="your texts: .txt/.csv/.tsv/.json/.jsonl file or a datasets id; prints faithfulness "
        "(deletion, insertion, comprehensiveness, sufficiency) of every method",
    )
    p.add_argument("--model", help="with --data: LAFA repo, folder or Hub id (default: the embedded default)")
    p.add_argument("--text-column", default="text", help="with --data: column holding the texts")
    p.add_argument(
        "--text-pair-column",
        help="with --data: a second text column; each row is measured as the pair (text, text_pair), "
        "words masked within both texts",
    )
    p.add_argument(
        "--rationale-column",
        help="with --data: gold rationale per text (the rationale words, or a JSON "
        "list with one value per word): adds token AUC, AUPRC, Pearson",
    )
    p.add_argument("--methods", nargs="+", choices=METHODS, help="with --data: default every available method")
    p.add_argument("--split", default="train", help="dataset split, for a datasets id")
    p.add_argument("--limit", type=int, help="use only the first N texts")
    p.add_argument("--steps", type=int, default=10, help="masking steps of the deletion/insertion curves")
    p.add_argument("--batch-size", type=int, default=8, help="with --data: texts per explainer call")
    p.add_argument(
        "--signed",
        action=argparse.BooleanOptionalAction,
        help="with --data: measure methods with a direction by their signed scores (the words pushing towards "
        "the explained class masked first, as ferret and Interpreto read signed scores); the others by magnitude "
        "(default: as the repo explains)",
    )
    p.add_argument("--json-output", help="with --data: write per-text values and summaries to this JSON file")
    p.add_argument(
        "--data-dir",
        help="paper reproduction: folder with sst/, sst2/, webnlg/exact/, nyt/exact/ "
        "(e.g. ../shared/data); only the laptops case runs without it",
    )
    p.add_argument(
        "--output", default="evaluation", help="paper reproduction: results folder (README.md, results.json, plots)"
    )
    p.add_argument("--cases", nargs="+", choices=CASES, help="paper reproduction: default all")
    p.add_argument(
        "--quick",
        action="store_true",
        help="paper reproduction: a few dozen texts and small training "
        "sets, to check the path from data to tables in minutes",
    )
    p.add_argument(
        "--cache-dir", help="paper reproduction: fine-tuned models and indexes (default: $LAFA_HOME/evaluation)"
    )
    p.add_argument(
        "--report-only", action="store_true", help="paper reproduction: rewrite README.md and plots from results.json"
    )
    p.set_defaults(func=cmd_evaluate)


def _add_tune(sub) -> None:
    """The ``lafa tune`` subcommand."""
    p = sub.add_parser(
        "tune",
        help="choose a LAFA repo's aggregation settings on your texts by faithfulness "
        "(no gold needed); lambda = 0, the base method alone, is always a candidate",
    )
    p.add_argument(
        "--data",
        required=True,
        help=".txt/.csv/.tsv/.json/.jsonl file or a datasets id (texts like "
        "those you will explain; a few hundred take minutes on a CPU)",
    )
    p.add_argument(
        "--model", help="LAFA repo folder (tuned in place) or Hub id (needs --output); default: the embedded default"
    )
    p.add_argument("--output", help="save the tuned repo here instead of updating the model folder in place")
    p.add_argument("--text-column", default="text", help="column holding the texts")
    p.add_argument(
        "--text-pair-column", help="a second text column: tune on text pairs (text, text_pair), as NLI models take them"
    )
    p.add_argument("--split", default="train", help="dataset split, for a datasets id")
    p.add_argument("--limit", type=int, default=300, help="use only the first N texts")
    p.add_argument(
        "--folds",
        type=int,
        help="cross-validate the tuning over this many folds and keep the base "
        "method alone unless it gains on texts it did not see (default 3; "
        "0: no check; skipped when the pick is a base method alone, unless --full-search)",
    )
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        help="instead of --folds: share of the texts kept out of tuning for that check (e.g. 0.3)",
    )
    p.add_argument(
        "--layers",
        default="auto",
        help="hidden layers to compare for the neighbor search, e.g. "
        "0,2,4 (0 = embedding output); 'auto' (default): every layer "
        "up to 50,000 references, else the repo's own",
    )
    p.add_argument(
        "--base-methods",
        default="auto",
        help="base methods LAFA may smooth, e.g. smooth_grad,integrated_grad (each is also tried alone); "
        "'auto' (default): the gradient methods and occlusion; a new one's reference scores are computed as "
        "needed and saved with the repo",
    )
    p.add_argument(
        "--max-base-methods",
        type=int,
        default=MAX_BASE_METHODS,
        help="search LAFA's settings on only this many base methods, the best alone (default "
        f"{MAX_BASE_METHODS}; 0: all): each needs its scores of the texts' neighbors",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=MAX_TUNING_TOKENS,
        help=f"tune on a seeded sample of the texts that fits in this many tokens (default {MAX_TUNING_TOKENS}, "
        "about 170 short sentences; 0: every text): the run's cost grows with the tokens tuned on",
    )
    p.add_argument(
        "--reference-budget",
        type=float,
        default=REFERENCE_BUDGET,
        help="search LAFA on a base method the index has no scores of only if scoring with it the references "
        "the search can read (the tuning texts' nearest ones at every layer searched) is estimated to cost "
        f"at most this many tokens of model work (default {REFERENCE_BUDGET:.0e}, "
        "about 15 minutes on 2 CPU cores, for each base searched; 'inf': no limit); every base method alone "
        "is compared anyway",
    )
    p.add_argument(
        "--prescore",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="when the tuned repo's index lacks reference scores (a base method it had none of, or a lazy "
        "index): score now this share (0-1) of those queries will need most (as `lafa build --lazy "
        "--prescore`), so that the first explanations do not pay for them; the tuning scored only those its "
        "search read",
    )
    p.add_argument(
        "--objective",
        default=OBJECTIVE,
        choices=names("faithfulness", objective=True),
        help=f"what is maximised per text (default {OBJECTIVE}; all_four: the mean of insertion - deletion "
        "and comprehensiveness - sufficiency)",
    )
    p.add_argument(
        "--full-search",
        action="store_true",
        help="score every candidate on every text, search every aggregation over every setting and always "
        "cross-validate (default: drop a candidate once it is clearly behind; aggregations after the repo's "
        "start from the best setting; no folds when the pick is a base method alone)",
    )
    p.add_argument(
        "--signed",
        action=argparse.BooleanOptionalAction,
        help="tune the scores signed=True gives (lafa explain --signed): the metrics mask the words that push "
        "towards the explained class first; base methods without a direction are measured by magnitude; the "
        "tuned repo then explains signed by default (default: as the repo explains now)",
    )
    p.add_argument(
        "--metric-guard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="choose a LAFA setting only if on the tuning texts it is not clearly below (--guard-z standard errors) "
        "the best base method alone on any of deletion, insertion, comprehensiveness and sufficiency, not only "
        "better on the objective, and keep it only if the cross-validated check finds no such loss either",
    )
    p.add_argument(
        "--guard-z",
        type=float,
        default=GUARD_Z,
        help=f"how many standard errors below zero a metric's mean difference must be for the guard to refuse "
        f"(default {GUARD_Z:g}; smaller refuses smaller losses, and more settings)",
    )
    p.add_argument("--rounds", type=int, default=2, help="coordinate-ascent rounds")
    p.add_argument("--steps", type=int, default=10, help="masking steps of the deletion/insertion curves")
    p.set_defaults(func=cmd_tune)


class _SubParser(argparse.ArgumentParser):
    """Subcommands format their help like the main parser (defaults shown)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _check_model_path(model: str | None) -> None:
    """A --model that looks like a path must exist (else the Hub would be asked for a nonsense id)."""
    if model and not os.path.exists(model) and (model.startswith((".", "/", "~")) or model.count("/") > 1):
        raise ValueError(f"model folder {model!r} does not exist (give a LAFA repo folder or a Hub id)")


@contextlib.contextmanager
def _third_party_output(verbose: bool):
    """Unless ``verbose``: transformers' load reports and progress bars ("Loading weights") and the Hub's
    download bars are quiet for the command (our own progress bars stay); restored afterwards."""
    if verbose:
        yield
        return
    import huggingface_hub.utils as hub_utils
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    hub_bars = not hub_utils.are_progress_bars_disabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(level)
        if bars:
            transformers_logging.enable_progress_bar()
        if hub_bars:
            hub_utils.enable_progress_bars()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_model_path(getattr(args, "model", None))
        with _third_party_output(args.verbose):
            return args.func(args)
    except (ValueError, TypeError, OSError) as e:  # bad input, missing or unreadable files: one line, no traceback
        print(f"lafa: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if type(e).__name__ == "DatasetGenerationError":  # datasets' error for an empty or unreadable data file
            print(
                f"lafa: error: could not read {getattr(args, 'data', 'the data')}: {e.__cause__ or e}", file=sys.stderr
            )
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
