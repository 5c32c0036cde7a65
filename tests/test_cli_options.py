"""Options from dataclass fields (apps/options.py): every supported annotation, overrides, and the mistakes refused."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from lafa_pipeline.apps.options import add_dataclass_arguments, dataclass_kwargs


def _layers(text: str) -> list[int] | str:
    return text if text == "auto" else [int(x) for x in text.split(",")]


@dataclass
class Tuning:
    """A stand-in for an options dataclass such as the tuner's."""

    data: str = field(metadata={"help": "texts"})
    limit: int | None = field(default=None, metadata={"help": "first N texts"})
    holdout: float = field(default=0.0, metadata={"help": "share kept out"})
    signed: bool | None = field(default=None, metadata={"help": "signed scores"})
    objective: Literal["a", "b"] = field(default="a", metadata={"help": "what is maximised"})
    layers: list[int] | str = field(default="auto", metadata={"help": "layers, e.g. 0,2,4", "parse": _layers})
    lams: tuple[float, ...] = field(default=(0.5,), metadata={"help": "lambdas"})
    pair: tuple[int, int] = field(default=(0, 1), metadata={"help": "two ints"})
    kind: str = field(default="x", metadata={"help": "a kind", "choices": ("x", "y")})


def _parse(argv: list[str], **kwargs) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Tuning, **kwargs)
    return parser.parse_args(argv)


def test_every_annotation_reads_its_option():
    args = _parse(
        ["--data", "t.csv", "--limit", "5", "--holdout", "0.3", "--signed", "--objective", "b", "--layers", "0,2,4"]
        + ["--lams", "0.25", "1", "--pair", "2", "3", "--kind", "y"]
    )
    assert Tuning(**dataclass_kwargs(args, Tuning)) == Tuning(
        "t.csv", 5, 0.3, True, "b", [0, 2, 4], (0.25, 1.0), (2, 3), "y"
    )
    assert Tuning(**dataclass_kwargs(_parse(["--data", "t"]), Tuning)) == Tuning("t")
    assert dataclass_kwargs(_parse(["--data", "t", "--no-signed"]), Tuning)["signed"] is False


def test_bad_values_are_argparse_errors(capsys):
    for argv in (["--objective", "c"], ["--limit", "many"], ["--kind", "z"], ["--pair", "1"]):
        with pytest.raises(SystemExit):
            _parse(["--data", "t", *argv])
    with pytest.raises(SystemExit):
        _parse([])  # a field without a default is a required option
    assert "--data" in capsys.readouterr().err


def test_include_exclude_and_overrides():
    overrides = {"limit": {"flags": ["--max-texts"], "dest": "max_texts", "metavar": "N", "help": "at most N texts"}}
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Tuning, include=("data", "limit", "kind"), overrides=overrides, group="tuning")
    parser.add_argument("--limit", help="another option's value: not the field's")
    args = parser.parse_args(["--data", "t", "--max-texts", "4", "--limit", "x"])
    assert dataclass_kwargs(args, Tuning) == {"data": "t", "limit": 4, "kind": "x"}
    assert "--max-texts N" in parser.format_help() and "at most N texts" in parser.format_help()
    args = _parse(["--data", "t"], exclude=("layers", "lams"))
    assert "layers" not in dataclass_kwargs(args, Tuning) and not hasattr(args, "lams")


def test_mistakes_are_refused():
    parser = argparse.ArgumentParser()
    with pytest.raises(ValueError, match="no field"):
        add_dataclass_arguments(parser, Tuning, exclude=("lam",))
    with pytest.raises(ValueError, match="overrides of excluded"):
        add_dataclass_arguments(parser, Tuning, exclude=("kind",), overrides={"kind": {"help": "k"}})
    with pytest.raises(ValueError, match="no options of Tuning"):
        dataclass_kwargs(argparse.Namespace(data="t"), Tuning)

    @dataclass
    class Unreadable:
        params: dict[str, int] = field(default_factory=dict, metadata={"help": "a mapping"})
        quiet: int = 0

    with pytest.raises(TypeError, match="no command-line reading"):
        add_dataclass_arguments(argparse.ArgumentParser(), Unreadable)
    with pytest.raises(ValueError, match="Unreadable.quiet has no help"):
        add_dataclass_arguments(argparse.ArgumentParser(), Unreadable, exclude=("params",))
