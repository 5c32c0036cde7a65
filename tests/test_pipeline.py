"""The feature-attribution pipeline: output contract, batching, cache vs live, targets, words, bad input."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import pipeline

from lafa_pipeline import BASE_METHODS, KERNELS, LafaConfig, LafaIndex
from lafa_pipeline.aggregation import NeighborScores, expectation
from lafa_pipeline.base_methods import MethodParams, attribute
from lafa_pipeline.model_adapter import ModelAdapter
from lafa_pipeline.text_inputs import encode
from lafa_pipeline.words import group_scores

from .tiny import TEXTS, tiny_model

QUERIES = ["the acting was good", "awful plot , boring", "loved the music", "not very fun"]


@pytest.fixture(scope="module")
def explainer(model, tokenizer, index):
    return pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


def scores(result):
    return [t["score"] for t in result["tokens"]]


def test_result_contract(explainer):
    r = explainer("the acting was good")
    assert set(r) >= {"label", "score", "target", "method", "base_method", "tokens", "neighbors", "truncated"}
    assert r["method"] == "lafa" and r["base_method"] == "smooth_grad" and r["truncated"] is False
    assert r["target"] == r["label"] and r["label"] in ("negative", "positive") and 0.5 <= r["score"] <= 1
    assert [t["token"] for t in r["tokens"]] == ["the", "acting", "was", "good"]
    for t in r["tokens"]:
        assert "the acting was good"[t["start"] : t["end"]] == t["token"] and t["score"] >= 0
    assert r["neighbors"] and all(n["label"] == r["target"] for n in r["neighbors"])
    assert all(n["text"] in TEXTS for n in r["neighbors"])
    distances = [n["distance"] for n in r["neighbors"]]
    assert distances == sorted(distances) and len(distances) <= 4


def test_lafa_equals_base_plus_lambda_expectation(explainer, model, tokenizer, index):
    """The pipeline's LAFA scores, recomputed from the pieces: base scores + lam * eq. 7."""
    text, lam = "the acting was good", 0.7
    r = explainer(text, lam=lam, kernel="cosine", aggregation_strategy="none")
    enc = tokenizer(text, return_tensors="pt")
    adapter = ModelAdapter(model)
    target = model.config.label2id[r["target"]]
    base = attribute(
        adapter,
        "smooth_grad",
        enc["input_ids"],
        enc["attention_mask"],
        torch.tensor([target]),
        enc["token_type_ids"],
        MethodParams.from_config(index.config),
    )[0]
    nbs = []
    for n in r["neighbors"]:
        keep = ~index.special_mask(n["index"])
        nbs.append(
            NeighborScores(
                torch.tensor(index.token_ids(n["index"])[keep]),
                torch.tensor(index.cached_scores(n["index"], target)[keep]),
            )
        )
    ids = enc["input_ids"][0]
    e = expectation(ids, adapter.embed(ids).detach(), nbs, adapter.embed, "cosine", {})
    expected = (base + lam * e)[1:-1].detach()
    torch.testing.assert_close(torch.tensor(scores(r)), expected, rtol=1e-4, atol=1e-4 * float(expected.max()))


def test_batched_equals_one_by_one(explainer):
    for method in ("lafa", "simple_grad", "smooth_grad", "integrated_grad", "shap_ref"):
        single = [explainer(q, method=method) for q in QUERIES]
        batched = explainer(QUERIES, method=method, batch_size=3)
        assert isinstance(batched, list) and len(batched) == len(QUERIES)
        for a, b in zip(single, batched):
            assert [t["token"] for t in a["tokens"]] == [t["token"] for t in b["tokens"]]
            torch.testing.assert_close(
                torch.tensor(scores(b)), torch.tensor(scores(a)), rtol=1e-4, atol=1e-4 * max(scores(a))
            )
            assert [n["index"] for n in a["neighbors"]] == [n["index"] for n in b["neighbors"]]


@pytest.mark.parametrize("base_method", ["simple_grad", "smooth_grad"])
def test_cached_and_live_neighbor_scores_equal(model, tokenizer, base_method):
    config = LafaConfig(layer=1, n_neighbors=5, quantile=0.9, samples=4, base_method=base_method)
    index = LafaIndex.build(model, tokenizer, TEXTS, labels=[1, 0] * 8, config=config, show_progress=False)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
    for q in QUERIES:
        cached, live = explainer(q), explainer(q, live_neighbors=True)
        assert cached["live_neighbors"] == 0 and live["live_neighbors"] == len(live["neighbors"]) > 0
        torch.testing.assert_close(
            torch.tensor(scores(live)), torch.tensor(scores(cached)), rtol=1e-4, atol=1e-4 * max(scores(cached))
        )
        assert scores(cached) != scores(explainer(q, method=base_method))  # the neighbors do change scores
    batched = explainer(QUERIES, live_neighbors=True, batch_size=3)  # counted per text, not per batch
    assert [r["live_neighbors"] for r in batched] == [len(r["neighbors"]) for r in batched]


def test_lafa_from_precomputed_base_scores_equals_full_run(model, tokenizer, index):
    from lafa_pipeline.lafa import Lafa

    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    lafa = Lafa(model, index)
    for targets in (None, [0, 1] * (len(QUERIES) // 2) + [0] * (len(QUERIES) % 2)):
        args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], targets)
        full = lafa.attribute(*args, method="lafa", lam=0.7)
        base = lafa.attribute(*args, method=index.config.base_method)
        reused = lafa.attribute(*args, method="lafa", lam=0.7, base_scores=base.scores)
        torch.testing.assert_close(reused.scores, full.scores)
        assert reused.neighbors == full.neighbors and reused.targets == full.targets
        assert not torch.equal(reused.scores, base.scores)
    with pytest.raises(ValueError, match="base_scores must have the shape"):
        lafa.attribute(*args, method="simple_grad", base_scores=base.scores)


def test_neighbor_scale_query_keeps_lafa_in_the_texts_units(model, tokenizer, index):
    from lafa_pipeline.lafa import Lafa

    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    lafa = Lafa(model, index)
    base = lafa.attribute(*args, method=index.config.base_method).scores
    for scale, homogeneous in (("query", True), ("none", False)):
        once = lafa.attribute(*args, method="lafa", lam=2.0, base_scores=base, neighbor_scale=scale).scores
        tenfold = lafa.attribute(*args, method="lafa", lam=2.0, base_scores=10 * base, neighbor_scale=scale).scores
        # Rescaled neighbors follow the text's own scale: LAFA(c m) = c LAFA(m); raw ones do not.
        assert torch.allclose(tenfold, 10 * once, rtol=1e-5) == homogeneous
    with pytest.raises(ValueError, match="neighbor_scale.*valid choices: none, query"):
        lafa.attribute(*args, method="lafa", neighbor_scale="max")


def test_uncached_target_is_computed_live(explainer):
    predicted = explainer("loved the music")
    other = "negative" if predicted["target"] == "positive" else "positive"
    r = explainer("loved the music", target=other)
    assert r["target"] == other and all(n["label"] == other for n in r["neighbors"])
    assert r["live_neighbors"] == 0  # same-label neighbors have the other label cached


def test_targets_by_name_and_index(explainer, tokenizer):
    by_name = explainer("the plot is bad", target="positive", method="simple_grad")
    by_index = explainer("the plot is bad", target=1, method="simple_grad")
    assert by_name == by_index and by_name["target"] == "positive"
    # With two classes the probabilities' gradients are opposite (same squared scores); with three the
    # explained class changes the scores.
    three = pipeline("feature-attribution", model=tiny_model(num_labels=3), tokenizer=tokenizer)
    positive = three("the plot is bad", target="positive", method="simple_grad")
    assert positive["target"] == "positive" and positive == three("the plot is bad", target=1, method="simple_grad")
    negative = three("the plot is bad", target="negative", method="simple_grad")
    assert max(abs(a["score"] - b["score"]) for a, b in zip(positive["tokens"], negative["tokens"])) > 1e-3


def test_every_method_and_kernel_runs(explainer):
    for method in ("lafa",) + BASE_METHODS:
        r = explainer("good film", method=method)
        assert r["method"] == method and len(r["tokens"]) == 2 and all(t["score"] >= 0 for t in r["tokens"])
    for kernel in KERNELS:
        assert len(explainer("good film", kernel=kernel, n_neighbors=2)["neighbors"]) <= 2


def test_words_sum_their_subwords(explainer):
    text = "the actors loved the endings"  # "actors" -> actor ##s, "endings" -> ending ##s
    words = explainer(text, method="simple_grad")
    tokens = explainer(text, method="simple_grad", aggregation_strategy="none")
    assert [t["token"] for t in tokens["tokens"]] == ["the", "actor", "##s", "loved", "the", "ending", "##s"]
    assert [w["token"] for w in words["tokens"]] == text.split()
    t = scores(tokens)
    expected = [t[0], t[1] + t[2], t[3], t[4], t[5] + t[6]]
    torch.testing.assert_close(torch.tensor(scores(words)), torch.tensor(expected))
    assert (words["tokens"][1]["start"], words["tokens"][1]["end"]) == (4, 10)


def test_multi_label_and_regression_models(tokenizer):
    multi = pipeline(
        "feature-attribution",
        model=tiny_model(3, "multi_label_classification"),
        tokenizer=tokenizer,
        lafa_config=LafaConfig(base_method="simple_grad"),
    )
    r = multi("good film", target="neutral")
    assert r["target"] == "neutral" and r["method"] == "simple_grad" and r["neighbors"] == []
    reg_model = tiny_model(1, "regression")
    reg = pipeline(
        "feature-attribution", model=reg_model, tokenizer=tokenizer, lafa_config=LafaConfig(base_method="simple_grad")
    )
    r = reg("good film")
    enc = tokenizer("good film", return_tensors="pt")
    with torch.no_grad():
        value = reg_model(**enc).logits[0, 0].item()
    assert r["label"] is None and r["target"] is None and r["score"] == pytest.approx(value, rel=1e-5)


def test_shap_ref_for_a_class_without_reference_texts_uses_any_label(tokenizer):
    model = tiny_model(3, "multi_label_classification")
    config = LafaConfig(layer=1, n_neighbors=3, quantile=0.5, base_method="simple_grad", samples=3)
    index = LafaIndex.build(
        model, tokenizer, TEXTS, labels=[[0], [1]] * (len(TEXTS) // 2), config=config, show_progress=False
    )
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
    r = explainer("good film", method="shap_ref", target=2)  # no reference text carries label 2
    assert len(r["neighbors"]) == 3 and all(s["score"] >= 0 for s in r["tokens"])
    assert explainer("good film", method="lafa", target=2)["neighbors"] == []  # LAFA keeps same-label only


@pytest.mark.parametrize(
    "bad,error,pattern",
    [
        ("", ValueError, "empty or whitespace"),
        ("   \n\t", ValueError, "empty or whitespace"),
        (42, TypeError, "must be a string"),
        (None, TypeError, "must be a string"),
    ],
)
def test_bad_text(explainer, bad, error, pattern):
    with pytest.raises(error, match=pattern):
        explainer(bad)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"method": "anchors"}, "Unknown method 'anchors'; valid choices: lafa, random, simple_grad"),
        ({"kernel": "gauss"}, "Unknown kernel 'gauss'; valid choices: rbf, laplacian, cubic, cosine, l2, indicator"),
        ({"target": "happy"}, "Unknown target 'happy'; valid labels: 'negative', 'positive'"),
        ({"target": 5}, "Unknown target 5; valid class indexes: 0..1"),
        ({"aggregation_strategy": "first"}, "Unknown aggregation_strategy 'first'; valid choices: word, none"),
        ({"n_neighbours": 3}, r"Unknown argument\(s\) \['n_neighbours'\]; valid: method, target"),
        ({"n_neighbors": 0}, "n_neighbors must be at least 1"),
        ({"n_neighbors": 2.7}, "n_neighbors must be a whole number, got 2.7"),
        ({"lam": float("nan")}, "lam must be a finite number, got nan"),
        ({"lam": float("inf")}, "lam must be a finite number, got inf"),
        ({"lam": -1}, r"lam must be in \[0, 10000\] with aggregation 'paper', got -1"),
        ({"live_neighbors": "no"}, "live_neighbors must be True or False, got 'no'"),
    ],
)
def test_bad_arguments(explainer, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        explainer("good film", **kwargs)


def test_numpy_targets_and_bad_lists(explainer):
    import numpy as np

    assert explainer("good film", target=np.int64(1))["target"] == "positive"
    assert explainer([]) == []
    with pytest.raises(TypeError, match="Input 1 of 3: Input must be a string"):
        explainer(["good film", None, "bad film"])


@pytest.mark.parametrize(
    "field,value,pattern",
    [
        ("layer", "2", "layer must be a whole number, got '2'"),
        ("lam", "x", "lam must be a number, got 'x'"),
        ("samples", 2.5, "samples must be a whole number, got 2.5"),
        ("kernel_params", [], "kernel_params must be a mapping"),
        ("same_label", "no", "same_label must be true or false, got 'no'"),
        ("eps", -1, r"eps must be in \(0, inf\], got -1"),
    ],
)
def test_saved_config_values_are_checked_on_load(tmp_path, field, value, pattern):
    import json

    data = LafaConfig().to_dict()
    data[field] = value
    (tmp_path / "lafa_config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=pattern):
        LafaConfig.load(tmp_path)


def test_long_text_is_truncated_with_warning(explainer, tokenizer):
    text = " ".join(["good film"] * 40)  # 80 words, the tokenizer's limit is 32 tokens
    with pytest.warns(UserWarning, match="longer than the model's limit of 32"):
        r = explainer(text)
    assert r["truncated"] is True and len(r["tokens"]) == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert explainer("good film")["truncated"] is False


def test_lafa_without_index_is_a_clear_error(model, tokenizer):
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer)
    assert explainer("good film")["method"] == "smooth_grad"  # default without an index: the base method
    with pytest.raises(ValueError, match="method 'lafa' needs a LAFA index.*simple_grad"):
        explainer("good film", method="lafa")


def test_index_of_another_model_is_refused(tokenizer, index):
    with pytest.raises(ValueError, match="fingerprint"):
        pipeline("feature-attribution", model=tiny_model(seed=3), tokenizer=tokenizer, index=index)


def test_normalized_lafa_equals_its_pieces(model, tokenizer, index):
    """The pipeline's normalized LAFA, recomputed: the mean-normalized scores of the words (special
    tokens left out) mixed with the cosine-weighted mean relative score of like tokens in the neighbors."""
    config = index.config.replace(aggregation="normalized", kernel="cosine", lam=0.6)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index, lafa_config=config)
    text = "the acting was good"
    r = explainer(text, aggregation_strategy="none")
    enc = tokenizer(text, return_tensors="pt")
    adapter = ModelAdapter(model)
    target = model.config.label2id[r["target"]]
    base = attribute(
        adapter,
        "smooth_grad",
        enc["input_ids"],
        enc["attention_mask"],
        torch.tensor([target]),
        enc["token_type_ids"],
        MethodParams.from_config(config),
    )[0][1:-1]
    ids = enc["input_ids"][0][1:-1]
    table = adapter.embedding.weight.detach()
    num, den = torch.zeros(len(ids)), torch.zeros(len(ids))
    for n in r["neighbors"]:
        keep = ~index.special_mask(n["index"])
        n_ids = torch.tensor(index.token_ids(n["index"])[keep])
        n_scores = torch.tensor(index.cached_scores(n["index"], target)[keep])
        k = torch.nn.functional.cosine_similarity(table[ids][:, None], table[n_ids][None], dim=-1).clamp(min=0)
        num += k @ (n_scores / n_scores.mean())
        den += k.sum(1)
    own = base / base.mean()
    expected = base.mean() * (0.4 * own + 0.6 * torch.where(den > 0, num / den, own))
    torch.testing.assert_close(torch.tensor(scores(r)), expected, rtol=1e-4, atol=1e-6 * float(expected.max()))
    assert r["neighbors"] and min(scores(r)) >= 0


def test_neighbor_words_tokenized_in_one_batch_equal_one_by_one(explainer):
    result = explainer("a good film with a bad end")
    refs = [n["index"] for n in result["neighbors"]]
    assert refs and all(n["tokens"] for n in result["neighbors"])
    for ref in refs:  # each as a query is tokenized: encode(), one text at a time
        batched_meta, batched_tokens = explainer._reference_cache[(id(explainer.index), ref)]
        _, meta = encode(explainer.tokenizer, explainer.index.texts[ref], explainer.max_length, warn=False)
        assert batched_tokens == explainer.tokenizer.convert_ids_to_tokens(explainer.index.token_ids(ref).tolist())
        assert {k: meta[k] for k in ("text", "offsets", "special", "word_ids")} == batched_meta
    explainer._reference_cache.clear()
    assert explainer("a good film with a bad end")["neighbors"] == result["neighbors"]


def test_reported_neighbor_words_are_their_cached_scores_on_every_call(explainer, index):
    """A neighbor's word scores equal its cached token scores grouped into words, whether computed now or
    remembered from an earlier call; changing a returned entry does not change the next answer."""
    text = "the acting was good"
    first = explainer(text)
    first["neighbors"][0]["tokens"][0]["score"] = -1.0  # the caller's copy
    again = explainer(text)
    target = explainer.model.config.label2id[again["target"]]
    assert again["neighbors"] and all("tokens" in n for n in again["neighbors"])
    for n in again["neighbors"]:
        meta, tokens = explainer._reference_tokens(n["index"])
        expected = group_scores(meta, index.cached_scores(n["index"], target).tolist(), tokens, "word")
        assert n["tokens"] == expected
