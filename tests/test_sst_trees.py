"""SST tree parsing and the mapping of model tokens to tree words."""

from __future__ import annotations

import pytest
from transformers import pipeline

from lafa_pipeline import LafaConfig
from lafa_pipeline.paper.sst_trees import parse_tree, read_trees
from lafa_pipeline.words import scores_per_word

LINE = "(1 (2 (2 The) (2 -LRB- (2 plot) -RRB-)) (0 (1 is) (0 (0 n't) (2 good\\/bad))))"


def test_parse_tree():
    tree = parse_tree("(2 (3 (3 Effective) (2 but)) (1 (1 too-tepid) (2 biopic)))")
    assert tree.text == "Effective but too-tepid biopic" and tree.label == 2
    assert tree.leaf_labels == [3, 2, 1, 2] and tree.gold == [1.0, 0.0, 1.0, 0.0]
    assert [tree.text[a:b] for a, b in tree.spans] == tree.words


def test_escapes_and_errors(tmp_path):
    tree = parse_tree("(2 (2 -LRB-) (2 (2 a\\/b) (2 -RRB-)))")
    assert tree.words == ["(", "a/b", ")"]
    with pytest.raises(ValueError, match="Malformed|Unbalanced"):
        parse_tree("(2 (2 a)")
    (tmp_path / "t.txt").write_text("(3 (2 It) (4 rocks))\n\n(0 (0 Bad) (2 .))\n")
    assert [t.label for t in read_trees(tmp_path / "t.txt")] == [3, 0]


def test_token_scores_summed_per_tree_word(model, tokenizer):
    tree = parse_tree("(1 (2 (2 the) (2 actors)) (0 (2 was) (0 (0 boring) (2 !))))")
    explainer = pipeline(
        "feature-attribution", model=model, tokenizer=tokenizer, lafa_config=LafaConfig(base_method="simple_grad")
    )
    tokens = explainer(tree.text, aggregation_strategy="none")["tokens"]  # "actors" -> actor ##s
    words = explainer(tree.text)["tokens"]
    per_word = scores_per_word(tree.spans, tokens)
    assert per_word == pytest.approx([w["score"] for w in words])
    assert per_word[1] == pytest.approx(tokens[1]["score"] + tokens[2]["score"])


def test_leaf_with_a_space():
    tree = parse_tree("(3 (2 (2 8 1\\/2) (2 is)) (3 fun))")
    assert tree.words == ["8 1/2", "is", "fun"] and tree.text == "8 1/2 is fun"
    assert [tree.text[a:b] for a, b in tree.spans] == tree.words
