"""Every CLI option says what it does and its default; every LAFA setting is a `lafa build` option; third-party
load output is quiet unless --verbose."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from transformers.utils import logging as transformers_logging

from lafa_pipeline.apps import cli
from lafa_pipeline.apps.options import dataclass_kwargs
from lafa_pipeline.config import LafaConfig


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(_subparsers(cli.build_parser())))
def test_every_option_has_help_with_its_default(command):
    sub = _subparsers(cli.build_parser())[command]
    text = sub.format_help()
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        assert action.help, f"lafa {command} {name} has no help"
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in action.help.lower():
            assert f"(default: {action.default})" in " ".join(text.split()), f"lafa {command} {name}: default not shown"


def test_third_party_output_is_quiet_for_a_command_and_restored(monkeypatch):
    seen = {}

    def probe(args):
        seen["level"] = transformers_logging.get_verbosity()
        seen["bars"] = transformers_logging.is_progress_bar_enabled()
        return 0

    before = (transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled())
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=probe)
    for sub in _subparsers(parser).values():
        sub.set_defaults(func=probe)
    assert cli.main(["default"]) == 0
    assert seen == {"level": transformers_logging.ERROR, "bars": False}
    assert (transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled()) == before
    assert cli.main(["--verbose", "default"]) == 0
    assert seen == {"level": before[0], "bars": before[1]}


BUILD = ["build", "--model", "m", "--data", "texts.csv", "--output", "repo"]
NOT_BUILD_OPTIONS = {"eps", "tuning"}
"""LafaConfig fields that are no build-time choice: the build measures eps, ``lafa tune`` records tuning."""
CHOSEN = {  # a value other than the default for every field a user sets at build time, by its option
    "--layer": ("layer", "1", 1),
    "--pooling": ("pooling", "cls", "cls"),
    "--n-neighbors": ("n_neighbors", "3", 3),
    "--quantile": ("quantile", "0.5", 0.5),
    "--any-label": ("same_label", None, False),
    "--kernel": ("kernel", "rbf", "rbf"),
    "--kernel-params": ("kernel_params", '{"length_scale": 1.5}', {"length_scale": 1.5}),
    "--lam": ("lam", "0.25", 0.25),
    "--aggregation": ("aggregation", "paper", "paper"),
    "--neighbor-weighting": ("neighbor_weighting", "distance", "distance"),
    "--no-signed": ("signed", None, False),
    "--neighbor-scale": ("neighbor_scale", "query", "query"),
    "--base-method": ("base_method", "occlusion", "occlusion"),
    "--samples": ("samples", "7", 7),
    "--sigma": ("sigma", "0.2", 0.2),
    "--steps": ("steps", "9", 9),
    "--sampling": ("sampling", "low_variance", "low_variance"),
    "--ig-reference": ("ig_reference", "pad", "pad"),
    "--model-output": ("output", "logit", "logit"),
    "--internal-batch-size": ("internal_batch_size", "8", 8),
    "--tokens-per-pass": ("tokens_per_pass", "512", 512),
    "--index-type": ("index_type", "hnsw", "hnsw"),
    "--index-params": ("index_params", '{"M": 8}', {"M": 8}),
    "--cache-targets": ("cache_targets", "all", "all"),
    "--pair-samples": ("pair_samples", "100", 100),
    "--seed": ("seed", "3", 3),
}


def _build_config(argv: list[str]) -> LafaConfig:
    return LafaConfig(**dataclass_kwargs(cli.build_parser().parse_args(argv), LafaConfig))


def test_every_lafa_setting_is_a_build_option_and_round_trips():
    settable = {f.name for f in dataclasses.fields(LafaConfig)} - NOT_BUILD_OPTIONS
    # a new LafaConfig field needs a build option (and a line here) or a place in NOT_BUILD_OPTIONS
    assert {field for field, _, _ in CHOSEN.values()} == settable
    expected = LafaConfig(**{field: value for field, _, value in CHOSEN.values()})
    assert all(getattr(expected, f) != getattr(LafaConfig(), f) for f in settable)  # each option is seen
    argv = [*BUILD, *(x for flag, (_, text, _) in CHOSEN.items() for x in (flag, text) if x is not None)]
    assert _build_config(argv) == expected
    assert _build_config(BUILD) == LafaConfig()  # the options' defaults are the fields'


def test_build_reads_the_folder_and_the_models_output_apart():
    args = cli.build_parser().parse_args([*BUILD, "--model-output", "logit"])
    assert args.output == "repo" and dataclass_kwargs(args, LafaConfig)["output"] == "logit"


def test_the_console_script_is_main():
    import importlib
    from pathlib import Path

    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    module, name = pyproject["project"]["scripts"]["lafa"].split(":")
    assert getattr(importlib.import_module(module), name) is cli.main


@pytest.mark.parametrize("command", [[], *([c] for c in sorted(_subparsers(cli.build_parser())))])
def test_help_exits_cleanly(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code == 0 and "usage: lafa" in capsys.readouterr().out
