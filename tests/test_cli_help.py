"""Every CLI option says what it does and its default; third-party load output is quiet unless --verbose."""

from __future__ import annotations

import argparse

import pytest
from transformers.utils import logging as transformers_logging

from lafa_pipeline.apps import cli


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
