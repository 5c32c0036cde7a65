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

This module holds the parser and ``main`` (error handling, quiet third-party output); each command group
lives in its own module: ``cli_explain`` (explain, demo), ``cli_build`` (build, push, default),
``cli_evaluate``, ``cli_tune``; ``cli_inputs`` reads texts for all of them, and ``options`` turns
dataclass fields into options.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from .cli_build import add_build, add_default, add_push
from .cli_evaluate import add_evaluate
from .cli_explain import add_demo, add_explain
from .cli_tune import add_tune


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default" in help_text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return help_text
        return super()._get_help_string(action) or help_text


def build_parser() -> argparse.ArgumentParser:
    """The ``lafa`` parser with every subcommand (built per call: registered choices are read now)."""
    parser = argparse.ArgumentParser(
        prog="lafa", description="LAFA feature attribution for Hugging Face models.", formatter_class=_HelpFormatter
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show transformers' and the Hub's load reports and progress bars"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubParser)

    add_explain(sub)
    add_build(sub)
    add_push(sub)
    add_demo(sub)
    add_default(sub)
    add_evaluate(sub)
    add_tune(sub)
    return parser


class _SubParser(argparse.ArgumentParser):
    """Subcommands format their help like the main parser (defaults shown)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _check_model_path(model: str | None) -> None:
    """A --model that looks like a path must exist (else the Hub would be asked for a nonsense id)."""
    if model and not os.path.exists(model) and (model.startswith((".", "/", "~")) or model.count("/") > 1):
        raise ValueError(f"model folder {model!r} does not exist (give a LAFA repo folder or a Hub id)")


@contextlib.contextmanager
def _third_party_output(verbose: bool) -> Iterator[None]:
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
    """Run one ``lafa`` command; user errors print one line and return 2."""
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
