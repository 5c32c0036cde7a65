"""Registries: a named set of entries (base methods, kernels, aggregations, index types) with one checked
lookup, and the checks every value that enters the package goes through.

A new method, kernel or index type is one registered entry in its own module; the config, the
pipeline, the CLI, the Space and the evaluation read the registry (Inseq finds its attribution
methods the same way).

Example:
    >>> colours = Registry("colour")
    >>> @colours.register("red")
    ... def red(): return "#f00"
    >>> colours.get("red")()
    '#f00'
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    ValueError: Unknown colour 'blue'; valid choices: red
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")


def check_choice(name: str, value: Any, choices: tuple | list) -> None:
    """Raise a ValueError naming ``name`` and the valid ``choices`` when ``value`` is not one of them."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a dict-like
        ok = False
    if not ok:
        raise ValueError(f"Unknown {name} {value!r}; valid choices: {', '.join(map(str, choices))}")


def check_integer(name: str, value: Any, minimum: int | None = None) -> int:
    """``value`` as an int if it is a whole number (not a bool, not 2.7) of at least ``minimum``; else a ValueError.

    >>> check_integer("n_neighbors", 2.7)
    Traceback (most recent call last):
    ...
    ValueError: n_neighbors must be a whole number, got 2.7
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_number(
    name: str, value: Any, low: float | None = None, high: float | None = None, low_open: bool = False, note: str = ""
) -> float:
    """``value`` as a float if it is a finite real number within [low, high] (``low_open``: (low, high]).

    >>> check_number("lam", float("nan"), low=0.0)
    Traceback (most recent call last):
    ...
    ValueError: lam must be a finite number, got nan
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be in {'(' if low_open else '['}{lo}, {hi}]{note}, got {value:g}")
    return value


class Registry(Generic[T]):
    """Entries by name, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None) -> Any:
        """Add ``entry`` under ``name``; without ``entry``, a decorator that adds what it decorates."""

        def add(item: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered already")
            self._entries[name] = item
            return item

        return add if entry is None else add(entry)

    def remove(self, name: str) -> T:
        """Take ``name`` out of the registry (e.g. a method registered for one experiment); returns its entry."""
        check_choice(self.kind, name, self.names)
        return self._entries.pop(name)

    def replace(self, name: str, entry: T) -> T:
        """Put ``entry`` in place of ``name``'s, keeping its position (an experiment's variant, say); returns
        the old entry."""
        old = self.get(name)
        self._entries[name] = entry
        return old

    def get(self, name: str) -> T:
        """The entry called ``name``; a ValueError listing the valid names otherwise."""
        check_choice(self.kind, name, self.names)
        return self._entries[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(self._entries.items())

    def where(self, test: Callable[[T], bool]) -> tuple[str, ...]:
        """Names of the entries for which ``test(entry)`` is true."""
        return tuple(name for name, entry in self._entries.items() if test(entry))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
