"""Command-line options from dataclass fields, in the manner of transformers' ``HfArgumentParser``.

One ``--kebab-case`` option per field: its type from the annotation (``int``, ``float``, ``str``; ``bool``
as ``--x/--no-x``; ``X | None``; ``Literal[...]`` as choices; ``tuple[X, ...]`` or ``list[X]`` as several
values), its default from the field's, its help from ``field(metadata={"help": ...})``. A field's
metadata may also give ``"choices"``, ``"metavar"`` and ``"parse"``, a converter from the option's one
string (``"0,2,4"`` -> ``[0, 2, 4]``); ``overrides`` set any ``add_argument`` keyword per field (``dest``
too, for a field whose name another option's value takes), and ``"flags"``, the option strings, for a
field whose option keeps another name. ``json_object`` reads a mapping field's JSON.

Example:
    >>> import argparse
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Search:
    ...     layer: int = field(default=2, metadata={"help": "hidden layer searched"})
    ...     kernel: str = field(default="cosine", metadata={"help": "token kernel", "choices": ("cosine", "rbf")})
    ...     lam: float | None = field(default=None, metadata={"help": "weight of the neighbors"})
    ...     same_label: bool = field(default=True, metadata={"help": "neighbors of the explained class only"})
    ...     layers: list[int] = field(default_factory=list, metadata={
    ...         "help": "layers compared, e.g. 0,2", "parse": lambda s: [int(x) for x in s.split(",")]})
    >>> parser = argparse.ArgumentParser()
    >>> add_dataclass_arguments(parser, Search, exclude=("lam",), overrides={"layer": {"flags": ["--depth"]}})
    >>> args = parser.parse_args(["--depth", "4", "--no-same-label", "--layers", "0,2"])
    >>> dataclass_kwargs(args, Search)
    {'layer': 4, 'kernel': 'cosine', 'same_label': False, 'layers': [0, 2]}
    >>> Search(**dataclass_kwargs(args, Search))
    Search(layer=4, kernel='cosine', lam=None, same_label=False, layers=[0, 2])
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any

_SCALARS = (int, float, str)


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    include: Collection[str] | None = None,
    exclude: Collection[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    group: str | None = None,
) -> None:
    """Add one option per field of dataclass ``cls`` (those in ``include`` if given, less ``exclude``).

    ``overrides[field]`` holds ``add_argument`` keywords that win over the ones derived from the field
    (``help``, ``type``, ``choices``, ``metavar``, ``action``, ``default``, ``dest``...), and ``"flags"``, the
    option strings. ``group`` titles an argument group that holds the options in ``--help``. The fields
    added are recorded on ``parser``, for ``dataclass_kwargs`` to read back.
    """
    overrides = overrides or {}
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    named = set(include or ()) | set(exclude) | set(overrides)
    if named - set(fields):  # a renamed or dropped field must not be skipped silently
        raise ValueError(f"{cls.__name__} has no field(s) {sorted(named - set(fields))}")
    if set(overrides) & set(exclude):
        raise ValueError(f"overrides of excluded field(s) {sorted(set(overrides) & set(exclude))}")
    hints = typing.get_type_hints(cls)
    target = parser.add_argument_group(group) if group else parser
    added = {}
    for name, f in fields.items():
        if (include is not None and name not in include) or name in exclude:
            continue
        kwargs = _field_kwargs(f, hints[name], overrides.get(name, {}))
        flags = kwargs.pop("flags", ["--" + name.replace("_", "-")])
        if not kwargs.get("help"):
            raise ValueError(f"{cls.__name__}.{name} has no help (field metadata 'help' or an override)")
        added[name] = target.add_argument(*flags, **kwargs).dest
    parser.set_defaults(**{_record_key(cls): added})


def dataclass_kwargs(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The values of ``cls``'s fields that ``add_dataclass_arguments`` made options of, as parsed.

    An option whose default is ``argparse.SUPPRESS`` and that was not given is left out: the field
    keeps the dataclass default. Several values of a ``tuple`` field come back as a tuple.
    """
    added = getattr(args, _record_key(cls), None)
    if added is None:
        raise ValueError(f"no options of {cls.__name__} were added to the parser of these arguments")
    hints = typing.get_type_hints(cls)
    kwargs = {name: getattr(args, dest) for name, dest in added.items() if hasattr(args, dest)}
    return {
        name: tuple(value) if isinstance(value, list) and typing.get_origin(hints[name]) is tuple else value
        for name, value in kwargs.items()
    }


def json_object(text: str) -> dict[str, Any]:
    """An option's JSON object (a ``parse`` or ``type`` for a mapping field); argparse reports a bad one.

    >>> json_object('{"M": 32}')
    {'M': 32}
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}): {text}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"a JSON object {{...}} is needed, got {text}")
    return value


def _record_key(cls: type) -> str:
    """The namespace attribute that maps the fields of ``cls`` added as options to their dests (no option's)."""
    return f"<{cls.__module__}.{cls.__qualname__} options>"


def _field_kwargs(f: dataclasses.Field, hint: Any, override: Mapping[str, Any]) -> dict[str, Any]:
    """``add_argument`` keywords of a field: dest, default, help and what its type needs, under ``override``."""
    meta = f.metadata
    kwargs: dict[str, Any] = {"dest": f.name, "help": meta.get("help")}
    if f.default is not dataclasses.MISSING:
        kwargs["default"] = f.default
    elif f.default_factory is not dataclasses.MISSING:
        kwargs["default"] = f.default_factory()
    else:
        kwargs["required"] = True
    if "parse" in meta:  # the converter reads the option's one string, whatever the annotation
        kwargs["type"] = meta["parse"]
    elif not {"type", "action"} & set(override):  # else the override says how the option is read
        kwargs.update(_type_kwargs(f.name, hint))
    kwargs.update({key: meta[key] for key in ("choices", "metavar") if key in meta})
    return {**kwargs, **override}


def _type_kwargs(name: str, hint: Any) -> dict[str, Any]:
    """``type``, ``nargs``, ``choices`` or ``action`` for an annotation; a TypeError for one without a reading."""
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in params:
        rest = [p for p in params if p is not type(None)]
        if len(rest) == 1:  # X | None: an option that may be left out
            return _type_kwargs(name, rest[0])
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if hint in _SCALARS:
        return {"type": hint}
    if origin is typing.Literal and len({type(p) for p in params}) == 1:
        return {"type": type(params[0]), "choices": params}
    if origin in (list, tuple) and params:
        many = origin is list or (len(params) == 2 and params[1] is Ellipsis)
        if len(set(params) - {Ellipsis}) == 1 and params[0] in _SCALARS:
            return {"type": params[0], "nargs": "+" if many else len(params)}
    raise TypeError(f"field {name!r}: no command-line reading of {hint!r}; give a 'parse' converter or exclude it")
