"""The package's shape: the remote-code core is flat and closed; registries are the one place a name lives."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from transformers import pipeline

import lafa_pipeline
from lafa_pipeline.base_methods import BASE_METHOD_REGISTRY
from lafa_pipeline.config import BASE_METHODS, INDEXABLE_BASE_METHODS, KERNELS, METHODS, LafaConfig
from lafa_pipeline.kernels import KERNEL_REGISTRY
from lafa_pipeline.lafa import FUSED_METHODS, REFERENCE_METHODS

PACKAGE = Path(lafa_pipeline.__file__).parent
CORE = {
    "feature_attribution.py",
    "card.py",
    "lafa.py",
    "base_methods.py",
    "method_registry.py",
    "forward_pass.py",
    "gradient_methods.py",
    "path_methods.py",
    "shap_methods.py",
    "perturbation_methods.py",
    "captum_methods.py",
    "kernels.py",
    "aggregation.py",
    "index.py",
    "index_arrays.py",
    "index_encoding.py",
    "index_files.py",
    "hub.py",
    "host_memory.py",
    "index_types.py",
    "config.py",
    "model_adapter.py",
    "text_inputs.py",
    "words.py",
    "files.py",
    "registry.py",
    "results.py",
    "metric_registry.py",
    "tuning_report.py",
}
ROLE_PACKAGES = {"build", "apps", "paper", "faithfulness"}


def _relative_imports(path: Path) -> set[tuple[int, str]]:
    """(level, module) of every relative import in a file, also those inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            found.add((node.level, node.module or ""))
    return found


def test_core_imports_only_core_siblings():
    for name in CORE:
        for level, module in _relative_imports(PACKAGE / name):
            assert level == 1, f"{name} imports from outside its folder ({'.' * level}{module})"
            assert module.split(".")[0] + ".py" in CORE, f"{name} imports .{module}, which is not core"


def test_core_is_what_the_package_root_holds():
    assert {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py"} == CORE
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == ROLE_PACKAGES


def test_saved_remote_code_is_exactly_the_core_closure(model, tokenizer, index, tmp_path):
    pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index).save_pretrained(tmp_path)
    saved = {p.name for p in tmp_path.glob("*.py")}
    # the pipeline module and everything it reaches through one-dot imports
    reached, todo = set(), ["feature_attribution.py"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += [m.split(".")[0] + ".py" for _, m in _relative_imports(PACKAGE / name)]
    assert saved == reached
    assert saved <= CORE


def test_names_come_from_the_registries():
    assert BASE_METHODS == BASE_METHOD_REGISTRY.names and KERNELS == KERNEL_REGISTRY.names
    assert METHODS == ("lafa",) + BASE_METHODS
    assert set(REFERENCE_METHODS) == {"shap_ref", "shap_deep"}
    assert set(INDEXABLE_BASE_METHODS) == set(BASE_METHODS) - set(REFERENCE_METHODS)
    assert set(FUSED_METHODS) == {"simple_grad", "input_grad"}
    from lafa_pipeline.paper.report import NAMES

    assert set(BASE_METHODS) <= set(NAMES)


def test_registry_lookups_name_the_valid_choices():
    with pytest.raises(ValueError, match="Unknown kernel 'cubicle'; valid choices: rbf, laplacian"):
        LafaConfig(kernel="cubicle")
    with pytest.raises(ValueError, match="Unknown parameter.*'nprobe'.*index type 'hnsw'"):
        LafaConfig(index_type="hnsw", index_params={"nprobe": 3})
    with pytest.raises(ValueError, match="by_residual must be true or false, got 1"):
        LafaConfig(index_type="ivf_pq", index_params={"by_residual": 1})
    with pytest.raises(ValueError, match="nprobe must be a number, got True"):
        LafaConfig(index_type="ivf_pq", index_params={"nprobe": True})
    with pytest.raises(ValueError, match="registered already"):
        KERNEL_REGISTRY.register("rbf", KERNEL_REGISTRY.get("rbf"))


def test_saved_requirements_cover_what_the_core_imports():
    import sys

    from lafa_pipeline.feature_attribution import REQUIREMENTS

    distributions = {r.split(">=")[0] for r in REQUIREMENTS}
    to_distribution = {"faiss": "faiss-cpu"}
    imported = set()
    for name in CORE:
        for node in ast.walk(ast.parse((PACKAGE / name).read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "__future__"}
    assert {to_distribution.get(m, m) for m in third_party} <= distributions


def _declared() -> dict[str, str]:
    """pyproject.toml's requirement strings by distribution name: dependencies and every extra."""
    import re

    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    every = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower().replace("_", "-"): r for r in every}


def test_saved_requirements_state_pyprojects_bounds():
    from lafa_pipeline.feature_attribution import REQUIREMENTS

    declared = _declared()
    for requirement in REQUIREMENTS:
        name = requirement.split(">=")[0].lower().replace("_", "-")
        assert declared.get(name) == requirement, f"{requirement} differs from pyproject.toml's {declared.get(name)}"


def test_space_requirements_state_pyprojects_bounds():
    declared = _declared()
    lines = (PACKAGE.parent / "space" / "requirements.txt").read_text().splitlines()
    pinned = [line for line in lines if line and not line.startswith("#") and ">=" in line]
    assert pinned
    for requirement in pinned:
        name = requirement.split(">=")[0].lower().replace("_", "-")
        assert declared.get(name) == requirement, (
            f"space: {requirement} differs from pyproject.toml's {declared.get(name)}"
        )


def test_min_constraints_pin_every_lower_bound_but_torch():
    import doctest
    import importlib.util

    spec = importlib.util.spec_from_file_location("min_constraints", PACKAGE.parent / "scripts" / "min_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert doctest.testmod(module).failed == 0
    bounded = {name: r.split(">=")[1] for name, r in _declared().items() if ">=" in r and name != "torch"}
    pinned = dict(p.split("==") for p in module.pins(list(_declared().values())))
    assert {n.lower().replace("_", "-"): v for n, v in pinned.items()} == bounded


# Private names of other libraries the package reads, each for want of a public API (the line says why).
FOREIGN_PRIVATE = {
    ("model_adapter.py", "_version"),  # torch: a tensor's in-place version counter has no public reader
    ("apps/cli.py", "_get_help_string"),  # argparse: the documented way to change a formatter's help text
} | {  # argparse: the type of add_subparsers()'s result, in each command module's annotations, has no public name
    (f"apps/cli_{group}.py", "_SubParsersAction") for group in ("build", "evaluate", "explain", "tune")
}


def test_no_module_uses_another_modules_private_names():
    from .test_studies import private_uses

    found = {
        (str(path.relative_to(PACKAGE)), name)
        for path in PACKAGE.rglob("*.py")
        for name in private_uses(path.read_text())
    }
    assert found <= FOREIGN_PRIVATE, sorted(found - FOREIGN_PRIVATE)
