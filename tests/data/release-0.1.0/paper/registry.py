"""Registries: a named set of entries (base methods, kernels, index types) with one checked lookup.

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

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def check_choice(name: str, value: Any, choices: tuple | list) -> None:
    """Raise a ValueError naming ``name`` and the valid ``choices`` when ``value`` is not one of them."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a dict-like
        ok = False
    if not ok:
        raise ValueError(f"Unknown {name} {value!r}; valid choices: {', '.join(map(str, choices))}")


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
