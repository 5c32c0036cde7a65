"""``lafa explain`` (texts, or a whole data file into explanations) and ``lafa demo`` (the Gradio app)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, cast

from ..aggregation import AGGREGATION_REGISTRY
from ..config import KERNELS, METHODS
from ..results import Explanation, is_lafa, method_label
from .cli_inputs import CliError, load_texts
from .render import legend_text, to_terminal

if TYPE_CHECKING:  # the pipeline module loads transformers' pipelines: only when a command runs
    from ..feature_attribution import FeatureAttributionPipeline


def lam_ranges() -> str:
    """lambda's range under each aggregation, from their registry entries (registered ones included)."""
    return ", ".join(
        f"{name} [{entry.lam_range[0]:g}, {entry.lam_range[1]:g}]" for name, entry in AGGREGATION_REGISTRY.items()
    )


def format_result(result: Explanation, text: str, color: bool) -> str:
    """One explanation as terminal text: prediction, shaded words, top words and neighbors."""
    lines = []
    if result["label"] is None:
        lines.append(f"prediction: {result['score']:.4g}")
    else:
        rather = f" rather than {result['contrast']}" if result.get("contrast") else ""
        lines.append(f"prediction: {result['label']} ({result['score']:.3f}); explaining: {result['target']}{rather}")
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


def cmd_explain(args: argparse.Namespace) -> int:
    """``lafa explain``: print (or write) the explanations of the given texts or data file."""
    if bool(args.text) == bool(args.data):
        raise CliError("give text(s) to explain, or --data FILE with --output FILE (not both)")
    if args.data and not args.output:
        raise CliError("--data needs --output FILE (.jsonl or .parquet) for the explanations")
    if args.push_to_hub and not args.data:
        raise CliError("--push-to-hub goes with --data (it shares the explanations of a dataset)")
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
            "contrast": _target(args.contrast),
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
        keep_new_scores(explainer)
        print(f"Explained {count} texts ({len(data) - count} were already in {args.output}): {args.output}")
        _push(args, explainer, kwargs)
        return 0
    explainer = load_explainer(args.model, args.index)
    # One text per call: the pipeline returns one Explanation, not a list.
    results = [cast(Explanation, explainer(t, **kwargs)) for t in texts]
    keep_new_scores(explainer)
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
    """Under ``accelerate launch``: this process explains its share of ``data`` into the one output file."""
    import torch

    from .. import load_explainer
    from .explain_data import explain_distributed

    device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else "cpu"
    explainer = load_explainer(args.model, args.index, device=device)
    count, main = explain_distributed(explainer, data, args.output, batch_size=args.batch_size, **kwargs)
    if main:
        keep_new_scores(explainer)  # every process's new neighbor scores, written once
        print(f"Explained {len(data)} texts with {os.environ['WORLD_SIZE']} processes ({count} here): {args.output}")
        _push(args, explainer, kwargs)
    return 0


def _push(args: argparse.Namespace, explainer: FeatureAttributionPipeline, kwargs: dict) -> None:
    """With --push-to-hub: the finished output file as a Hub dataset, with a card saying how it was made."""
    if not args.push_to_hub:
        return
    from .explanation_datasets import provenance, push_explanations

    record = provenance(explainer, kwargs, args.data)
    url = push_explanations(args.output, args.push_to_hub, record, private=args.private or None)
    print(f"Pushed to the Hub dataset {args.push_to_hub}: {url}")


def keep_new_scores(explainer: FeatureAttributionPipeline) -> None:
    """A lazy index's scores computed by this run go back into the repo folder it was loaded from."""
    index = explainer.index
    if index is not None and index.new_scores and index.source_dir:
        try:
            index.save_scores()
        except OSError as e:  # a read-only folder: the scores are recomputed next time, nothing is lost
            print(f"lafa: could not keep the new neighbor scores in {index.source_dir}: {e}", file=sys.stderr)


def _target(value: str | None) -> int | str | None:
    """A class given by index (digits) or by label name."""
    return int(value) if value is not None and value.isdigit() else value


def cmd_demo(args: argparse.Namespace) -> int:
    """``lafa demo``: the Gradio app, served locally."""
    try:
        from .space_app import main as launch
    except ImportError:
        raise CliError("lafa demo needs Gradio: pip install 'lafa-pipeline[space]'") from None
    launch(args.model, server_name=args.host, server_port=args.port)
    return 0


def add_explain(sub: argparse._SubParsersAction) -> None:
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
        "--lam", type=float, help=f"weight of the neighbors' scores (lambda; default: the repo's): {lam_ranges()}"
    )
    p.add_argument("--n-neighbors", type=int, help="neighbors searched (default: the repo's)")
    p.add_argument("--target", help="class to explain, by label name or index (default: the predicted one)")
    p.add_argument(
        "--contrast",
        help="explain the target rather than this class (label name or index): the difference of their "
        "logits, e.g. --target sport --contrast business",
    )
    p.add_argument("--live", action="store_true", help="recompute neighbor scores instead of using the cache")
    p.add_argument("--tokens", action="store_true", help="report subword tokens instead of words")
    p.add_argument(
        "--signed",
        action=argparse.BooleanOptionalAction,
        help="signed scores: positive pushes towards the explained class, negative away (methods with a "
        "direction: input_grad, the integrated_grad family, occlusion, lime, kernel_shap; LAFA on one of them); "
        "default: the repo's (signed unless it was tuned with --no-signed); --no-signed: magnitudes",
    )
    p.add_argument("--json", action="store_true", help="print the pipeline's JSON result")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="shade words in the terminal")
    p.add_argument(
        "--html",
        metavar="FILE",
        help="also write the explanations (with LAFA's base method beside LAFA) as a standalone HTML page",
    )
    p.add_argument("--figure", metavar="FILE", help="also write a figure (.png, .svg or .pdf) of the shaded words")
    p.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="with --data: share the explanations as a Hub dataset (Parquet and a card naming the model, its "
        "revision, the method, the settings and the versions); datasets.load_dataset(REPO_ID) reads it",
    )
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the dataset repo private")
    p.set_defaults(func=cmd_explain)


def add_demo(sub: argparse._SubParsersAction) -> None:
    """The ``lafa demo`` subcommand."""
    p = sub.add_parser("demo", help="open the Gradio app (space/app.py) in a browser")
    p.add_argument("--model", help="LAFA repo: folder or Hub id (default: $LAFA_MODEL, else the embedded default)")
    p.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    p.set_defaults(func=cmd_demo)
