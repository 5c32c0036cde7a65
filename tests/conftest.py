"""Fixtures: tiny models built from configs (random weights, two layers) and a word-level tokenizer."""

from __future__ import annotations

import os
import warnings

import pytest
from transformers import pipeline

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from the app under test

import lafa_pipeline  # noqa: F401  (registers the task)
from lafa_pipeline import LafaIndex

from .tiny import INDEX_CONFIG, LABELS, TEXTS, make_tokenizer, tiny_model

# Saved release repos hold copies of the package's modules (their remote code): data, not tests.
collect_ignore = ["data"]


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def model():
    return tiny_model()


@pytest.fixture(scope="session")
def index(model, tokenizer):
    return LafaIndex.build(
        model, tokenizer, TEXTS, labels=LABELS, config=INDEX_CONFIG, show_progress=False, description="tiny test texts"
    )


@pytest.fixture
def explainer(model, tokenizer, index):
    """A fresh pipeline over the tiny model and index, for a test that may change it (files that only
    read one define a module-scoped ``explainer`` of their own)."""
    return pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        yield


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Keep the LAFA cache (the embedded default) inside the test's folder."""
    monkeypatch.setenv("LAFA_HOME", str(tmp_path / "lafa_home"))
