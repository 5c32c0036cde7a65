"""Repos saved by earlier releases load with today's code and give the scores they gave then.

The folders under tests/data were written by ``python -m tests.make_release_repos`` at that
release (a tiny random model, its index, its settings and remote code); a change that alters
their scores, or stops reading their files, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lafa_pipeline import load_explainer

from .compare import assert_same_results

RELEASES = sorted((Path(__file__).parent / "data").glob("release-*/*.expected.json"))


@pytest.mark.parametrize("expected_file", RELEASES, ids=lambda p: f"{p.parent.name}/{p.name.split('.')[0]}")
def test_a_saved_release_repo_gives_its_scores(expected_file):
    saved = json.loads(expected_file.read_text())
    repo = expected_file.parent / expected_file.name.split(".")[0]
    explainer = load_explainer(str(repo))  # today's package code, not the repo's copy
    assert type(explainer).__module__ == "lafa_pipeline.feature_attribution"
    for method, results in saved["results"].items():
        assert_same_results(explainer(saved["queries"], method=method), results)


def test_there_is_a_saved_release():
    assert RELEASES
