"""Issue 12: every value is checked where it enters — a clear error naming it, or finite non-negative scores."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import pipeline

from lafa_pipeline import LafaConfig
from lafa_pipeline.apps import cli

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)
NUMERIC_FIELDS = (
    "layer",
    "n_neighbors",
    "quantile",
    "eps",
    "lam",
    "samples",
    "sigma",
    "steps",
    "internal_batch_size",
    "tokens_per_pass",
    "pair_samples",
    "seed",
    "same_label",
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NUMERIC_FIELDS), ANY_VALUE, st.sampled_from(["normalized", "paper"]))
def test_config_fields_are_valid_or_named_in_the_error(field, value, aggregation):
    try:
        config = LafaConfig(aggregation=aggregation, **{field: value})
    except ValueError as e:
        assert str(e).startswith(field), str(e)
        return
    got = getattr(config, field)
    if field == "same_label":
        assert isinstance(got, bool)
    elif not (field == "eps" and got is None):
        assert not isinstance(got, bool) and math.isfinite(got) and got >= 0
        if field == "lam" and aggregation == "normalized":
            assert got <= 1


@pytest.fixture(scope="module")
def explainer(model, tokenizer, index):
    return pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lam=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3)),
    n=st.one_of(st.integers(-2, 30), st.floats(0, 5)),
    kernel=st.sampled_from(["cubic", "cosine", "indicator", "rbf"]),
)
def test_call_arguments_give_an_error_or_finite_non_negative_scores(explainer, lam, n, kernel):
    try:
        result = explainer("the acting was good", lam=lam, n_neighbors=n, kernel=kernel)
    except ValueError as e:
        assert str(e).startswith(("lam", "n_neighbors")), str(e)
        return
    scores = [t["score"] for t in result["tokens"]]
    assert all(math.isfinite(s) and s >= 0 for s in scores)


@pytest.mark.parametrize(
    "content,pattern",
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("text,label\n", "has no rows"),
        ("text,label\ngood film,1\n ,0\n", "row 2: the 'text' cell is blank"),
        ("words,label\ngood film,1\n", "Column 'text' not in"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path, capsys, content, pattern):
    data = tmp_path / "data.csv"
    if content is not None:
        data.write_text(content)
    code = cli.main(["build", "--model", str(tmp_path), "--data", str(data), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # datasets may draw a progress bar first
    assert code == 2 and last.startswith("lafa: error: ") and pattern in last and "Traceback" not in err


def test_cli_missing_model_folder_is_one_line(capsys):
    assert cli.main(["explain", "--model", "./no/such/repo", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lafa: error: model folder") and "Traceback" not in err


def test_mixed_label_columns_are_read_as_meant(model, tokenizer):
    from lafa_pipeline.index_encoding import label_ids

    assert [label_ids(x, model.config) for x in ("1", "negative", 0, "positive", ["0", "positive"])] == [
        [1],
        [0],
        [0],
        [1],
        [0, 1],
    ]
