"""Comparing pipeline results: same structure, strings and labels; floats equal up to float32 rounding."""

from __future__ import annotations

import math


def assert_same_results(actual, expected, path: str = "result", rel: float = 1e-5) -> None:
    if isinstance(expected, float) or isinstance(actual, float):
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-9), f"{path}: {actual} != {expected}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), f"{path}: keys differ"
        for key in expected:
            assert_same_results(actual[key], expected[key], f"{path}.{key}", rel)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: lengths differ"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same_results(a, e, f"{path}[{i}]", rel)
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
