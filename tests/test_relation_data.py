"""CasRel relation data: reading, entity spans, gold words."""

from __future__ import annotations

import json

import pytest

from lafa_pipeline.paper.relation_data import entity_spans, gold_words, read_casrel, triple_spans


def test_read_casrel(tmp_path):
    (tmp_path / "rel2id.json").write_text(json.dumps([{"0": "ground", "1": "league"}, {"ground": 0, "league": 1}]))
    (tmp_path / "t.json").write_text(
        json.dumps(
            [
                {
                    "text": "A.C. Cesena , in the Serie B League , is located in Cesena .",
                    "triple_list": [["A.C. Cesena", "ground", "Cesena"], ["A.C. Cesena", "league", "Serie B"]],
                }
            ]
        )
    )
    examples, names = read_casrel(tmp_path / "t.json", tmp_path / "rel2id.json")
    assert names == ["ground", "league"] and examples[0].label_ids == [0, 1]
    text = examples[0].text
    assert [text[a:b] for a, b in entity_spans(text, "Cesena")] == ["Cesena", "Cesena"]  # both whole words
    assert entity_spans(text, "Cesen") == []  # not inside a word
    spans = triple_spans(text, examples[0].triples[1])
    assert [text[a:b] for a, b in spans] == ["A.C. Cesena", "Serie B"]
    (tmp_path / "bad.json").write_text(json.dumps([{"text": "x", "triple_list": [["x", "capital", "y"]]}]))
    with pytest.raises(ValueError, match=r"relations \['capital'\] are not in"):
        read_casrel(tmp_path / "bad.json", tmp_path / "rel2id.json")


def test_gold_words_overlap():
    words = [{"start": 0, "end": 4}, {"start": 4, "end": 5}, {"start": 6, "end": 12}]
    assert gold_words(words, [(0, 5)]) == [1, 1, 0]
    assert gold_words(words, []) == [0, 0, 0]
