"""The study scripts in evaluation/ and benchmarks/: each one is either run by a test (on the tiny models) or
regenerates a results file that states the exact command that wrote it; none reaches into another module's
private names. A script added to either folder has to be placed in one of the two lists below."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Scripts whose results file states their command (``python evaluation/X.py ...`` or ``python -m
# benchmarks.X ...``): rerunning that command regenerates the file. They take real data or minutes to
# hours, so no test runs them; test_each_script_imports_without_running imports them.
RECORDS = {
    "evaluation/aggregation_study.py": ["evaluation/aggregation_study.md"],
    "evaluation/case_check.py": [
        "evaluation/case_check.md",
        "evaluation/case_check_held200.md",
        "evaluation/case_check_signed.md",
    ],
    "evaluation/default_check.py": ["evaluation/default_check.md", "evaluation/default_check_signed.md"],
    "evaluation/default_tune.py": ["evaluation/default_tune.md"],
    "evaluation/gold_tuning.py": ["evaluation/gold_tuning.md"],
    "evaluation/lambda_check.py": ["evaluation/lambda_check.md"],
    "evaluation/objective_study.py": ["evaluation/objective_study.md"],
    "evaluation/peer_metrics.py": ["evaluation/peer_metrics.md"],
    "evaluation/signed_explore.py": ["evaluation/signed_explore.md"],
    "benchmarks/cold_start.py": ["benchmarks/COLD_START.md"],
    "benchmarks/distributed.py": ["benchmarks/DISTRIBUTED.md"],
    "benchmarks/long_text_lafa.py": ["benchmarks/LONG_TEXT_LAFA.md"],
    "benchmarks/memory.py": ["benchmarks/MEMORY.md"],
    "benchmarks/occlusion.py": ["benchmarks/OCCLUSION.md"],
    "benchmarks/ondisk.py": ["benchmarks/ONDISK.md"],
    "benchmarks/performance.py": ["benchmarks/RESULTS.md"],
    "benchmarks/reference_scoring.py": ["benchmarks/REFERENCE_SCORING.md"],
    "benchmarks/sampling.py": ["benchmarks/SAMPLING.md"],
    "benchmarks/tune_speed.py": ["benchmarks/TUNE_SPEED.md"],
}

# Scripts and helpers a test runs or calls on the tiny models (tests/test_benchmarks.py).
TESTED = {
    "benchmarks/__init__.py": "test_every_benchmark_imports_alone_without_running",
    "benchmarks/common.py": "test_long_texts_cycle_through_the_sentences_until_enough_texts",
    "benchmarks/gpu.py": "test_gpu_benchmark_runs_on_a_cpu",
    "benchmarks/ondisk.py": "test_ondisk_benchmark_measures_both_loadings_and_exact_recall",
    "benchmarks/peers.py": "test_equal_quality_takes_our_fastest_setting_that_agrees_as_well_as_the_peer",
}

# Private names of another module a script may still use: none (a new one needs a public API instead).
ALLOWED_PRIVATE: set[tuple[str, str]] = set()


def scripts() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for d in ("evaluation", "benchmarks") for p in (ROOT / d).glob("*.py"))


def command_of(script: str) -> str:
    folder, name = script.removesuffix(".py").split("/")
    return f"python evaluation/{name}.py" if folder == "evaluation" else f"python -m benchmarks.{name}"


def test_every_script_is_tested_or_regenerates_a_record_that_states_its_command():
    assert set(scripts()) == set(RECORDS) | set(TESTED), "place each script in RECORDS or TESTED"
    for script, records in RECORDS.items():
        for record in records:
            text = (ROOT / record).read_text()
            assert f"`{command_of(script)}" in text, f"{record} does not state the command that writes it"
    benchmark_tests = (ROOT / "tests" / "test_benchmarks.py").read_text()
    for script, test in TESTED.items():
        assert f"def {test}(" in benchmark_tests, f"{script}: {test} is not in tests/test_benchmarks.py"


def test_each_script_states_its_command_in_its_docstring():
    for script in RECORDS:
        tree = ast.parse((ROOT / script).read_text())
        assert command_of(script) in (ast.get_docstring(tree) or ""), script


@pytest.mark.parametrize("script", [s for s in RECORDS if s.startswith("evaluation/")])
def test_each_evaluation_script_imports_without_running(script, monkeypatch):
    """The scripts import each other from their folder (``from default_check import ...``) as ``python
    evaluation/X.py`` puts it first on sys.path; importing runs nothing, so a renamed library name fails here."""
    monkeypatch.syspath_prepend(str(ROOT / "evaluation"))
    name = Path(script).stem
    monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module(name)
    assert callable(module.main)


def private_uses(source: str) -> set[str]:
    """Names of other modules' privates a script reads or replaces: ``x._name`` for any ``x`` but ``self``,
    ``from m import _name``, and assignments to an attribute of an imported module (monkeypatching)."""
    tree = ast.parse(source)
    imported = set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                imported.add((alias.asname or alias.name).split(".")[0])
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.add(alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.add(node.attr)
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in imported:
                        found.add(f"{t.value.id}.{t.attr} =")
    return found


def test_no_script_uses_another_modules_private_names():
    uses = {(s, name) for s in scripts() for name in private_uses((ROOT / s).read_text())}
    assert uses <= ALLOWED_PRIVATE, sorted(uses - ALLOWED_PRIVATE)


def test_private_use_finder_sees_reads_imports_and_monkeypatching():
    source = (
        "from m import _hidden, public\nimport tune\n"
        "tune.prepare_texts = None\nx = lafa._search(1)\nself._mine = 1\nprint(public.__doc__)\n"
    )
    assert private_uses(source) == {"_hidden", "tune.prepare_texts =", "_search"}
