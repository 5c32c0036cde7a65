"""The evaluation: generated catalogue, data readers on a small data folder in the real formats,
word-score mapping, the paired comparison, and `lafa evaluate --quick` from data to report."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from lafa_pipeline.apps.cli import main
from lafa_pipeline.config import BASE_METHODS
from lafa_pipeline.faithfulness.metrics import paired
from lafa_pipeline.metric_registry import METRIC_REGISTRY
from lafa_pipeline.paper.cases import relation_case, sentiment_case, words_of
from lafa_pipeline.paper.evaluation import LAFA_LABELS
from lafa_pipeline.paper.prepare import best_predicted
from lafa_pipeline.paper.price_catalogue import generate_catalogue, rule_price
from lafa_pipeline.tuning_report import TuningReport

POSITIVE = ["good", "great", "lovely", "witty", "moving"]
NEGATIVE = ["bad", "dull", "awful", "boring", "flat"]
NEUTRAL = ["the", "film", "is", "a", "story", "and", "plot", "with"]
RELATIONS = ["birthPlace", "capital", "leader", "country"]
PEOPLE = ["Alice Smith", "Bob", "Carla Diaz", "Dan"]
PLACES = ["Paris", "New York", "Rome", "Lima"]


def _tree(words: list[tuple[str, int]]) -> str:
    if len(words) == 1:
        return f"({words[0][1]} {words[0][0]})"
    label = max(words, key=lambda w: abs(w[1] - 2))[1]
    return f"({label} {_tree(words[:1])} {_tree(words[1:])})"


def _sentence(rng: random.Random, sentiment: int) -> list[tuple[str, int]]:
    words = [(w, 2) for w in rng.sample(NEUTRAL, 4)]
    if sentiment != 2:
        pool, label = (POSITIVE, 4) if sentiment else (NEGATIVE, 0)
        words.insert(rng.randint(0, len(words)), (rng.choice(pool), label))
    return words


def write_sample_data(root) -> None:
    """A small data folder in the layout and formats of ../shared/data (generated sentences)."""
    rng = random.Random(0)
    (root / "sst").mkdir(parents=True)
    (root / "sst2").mkdir()
    trees = [_tree(_sentence(rng, rng.choice([0, 1, 2]))) for _ in range(30)]
    (root / "sst" / "test.txt").write_text("\n".join(trees) + "\n")
    for split, n in (("train", 120), ("dev", 20)):
        rows = []
        for _ in range(n):
            label = rng.randint(0, 1)
            rows.append(" ".join(w for w, _ in _sentence(rng, label)) + " \t" + str(label))
        (root / "sst2" / f"{split}.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    id2rel = {str(i): r for i, r in enumerate(RELATIONS)}
    for name, splits in (("webnlg", ("train", "test")), ("nyt", ("dev", "test"))):
        folder = root / name / "exact"
        folder.mkdir(parents=True)
        (folder / "rel2id.json").write_text(json.dumps([id2rel, {r: i for i, r in enumerate(RELATIONS)}]))
        for split in splits:
            records = []
            for _ in range(60 if split != "test" else 10):
                triples = [
                    [rng.choice(PEOPLE), rng.choice(RELATIONS), rng.choice(PLACES)] for _ in range(rng.randint(1, 2))
                ]
                text = " and ".join(f"{s} has {r.lower()} {o}" for s, r, o in triples) + " ."
                records.append({"text": text, "triple_list": triples})
            (folder / f"{split}_triples.json").write_text(json.dumps(records))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_data")
    write_sample_data(root)
    return root


def test_catalogue_prices_follow_the_rules_and_key_spans_name_attributes():
    items = generate_catalogue(300, seed=3, noise=0.03)
    ratios = np.log([it.price / rule_price(it.attributes) for it in items])
    assert abs(ratios.mean()) < 0.01 and 0.02 < ratios.std() < 0.04  # log-normal noise of std 0.03
    for it in items:
        assert sorted(it.text[s:e] for s, e in it.key_spans) == sorted(it.attributes.values())
    assert generate_catalogue(5, seed=3)[0].text == items[0].text  # seeded
    # The rules: more RAM never costs less, all else equal.
    a = dict(items[0].attributes, ram="8GB")
    assert rule_price(dict(a, ram="32GB")) > rule_price(a)


def test_sentiment_case_items_and_subsets(data_dir):
    case = sentiment_case(data_dir, train=50, refs=10, texts=None)
    assert len(case.train_texts) == 50 and len(case.ref_texts) == 10
    assert all(len(t.split()) >= 5 for t in case.ref_texts)
    assert len(case.queries) == len(case.items) == 30
    for item in case.items:
        text = case.queries[item.query].text
        assert " ".join(text[s:e] for s, e in item.spans) == text
        assert ("SST-2" in item.subsets) == (case.queries[item.query].category is not None)
        assert all(g in (0.0, 2.0) for g in item.gold)


def test_relation_case_queries_per_relation_and_gold_entities(data_dir):
    case = relation_case(data_dir, "nyt", train=None, refs=20, texts=None)
    assert len(case.train_texts) == 60  # NYT: trained on dev
    assert any("dev split" in n for n in case.notes)
    for item in case.items:
        query = case.queries[item.query]
        gold_words = {query.text[s:e] for (s, e), g in zip(item.spans, item.gold) if g}
        assert gold_words and gold_words <= set(" ".join(PEOPLE + PLACES).split())
    labels = np.asarray(case.train_labels)
    assert labels.shape == (60, len(RELATIONS)) and set(np.unique(labels)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="valid: webnlg, nyt"):
        relation_case(data_dir, "conll", None, 5, 5)


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="sst2/train.tsv|sst2.train.tsv"):
        sentiment_case(tmp_path, None, 5, 5)


def test_paired_difference():
    a, b = [0.5, 0.7, float("nan"), 0.2], [0.4, 0.7, 0.1, 0.3]
    result = paired(a, b)
    assert result["n"] == 3 and math.isclose(result["mean_diff"], 0.0, abs_tol=1e-12)
    assert math.isclose(result["wins"], 1 / 3) and math.isclose(result["ties"], 1 / 3)
    assert result["ci95"][0] <= 0.0 <= result["ci95"][1]


def test_best_predicted_listings_keep_their_generated_order():
    # The scored listings are the least-error ones; the tuning texts are the first of them, so they must
    # come in the generated (random) order, not sorted by error (best-predicted first).
    error = np.random.default_rng(0).random(50)
    keep = best_predicted(error, 20)
    assert keep == sorted(keep) and set(keep) == set(np.argsort(error)[:20].tolist())
    assert max(error[keep]) < min(np.delete(error, keep))


def test_words_of():
    assert words_of(" a  bc d") == [(1, 2), (4, 6), (7, 8)]


def test_quick_evaluation_from_data_to_report(data_dir, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert (
        main(["evaluate", "--quick", "--data-dir", str(data_dir), "--output", str(out), "--cache-dir", str(cache)]) == 0
    )
    results = json.loads((out / "results.json").read_text())
    assert list(results["cases"]) == ["sst", "webnlg", "nyt", "laptops"]
    readme = (out / "README.md").read_text()
    for name, case in results["cases"].items():
        assert not case["training"]["cached"]
        methods = list(case["values"])
        assert tuple(methods[-3:]) == LAFA_LABELS and len(methods) == len(BASE_METHODS) + 3
        tuning = TuningReport.from_dict(case["lafa_tune"]["tuning"])  # never below its base on its own texts
        assert tuning.tuned_value >= tuning.base_value and tuning.tuning_texts == 6
        # cross-validated over 3 folds: each of the 6 texts checks a pick made without it
        # (unless the whole search picked a base method alone, which the folds could not change)
        chose_lafa = tuning.tuned_value > tuning.base_value
        if tuning.held_out is None:
            assert tuning.folds_skipped == 3 and not chose_lafa and tuning.fold_picks is None
        else:
            assert tuning.held_out.gain.n == 6 and tuning.held_out.folds == 3
            assert len(tuning.fold_picks or []) == 3 and tuning.folds_skipped is None
        # a LAFA pick is kept only if it gained on the folds
        assert tuning.kept_base or not chose_lafa or tuning.held_out.gain.mean_diff > 0
        assert case["comparisons"]["lafa_tune"]["held_out_vs_best"]["method"] in BASE_METHODS
        # the lafa tune row smooths the base method lafa tune chose, and is compared with that base
        chosen = case["lafa_tune"]["settings"]["base_method"]
        assert case["comparisons"]["lafa_tune"]["base"] == chosen
        # faithfulness to the model on texts after lafa tune's: every method, LAFA as lafa tune set it
        faith = case["faithfulness"]
        assert faith["base_method"] == chosen and faith["texts"] == len(faith["per_text"]["lafa"]["deletion_auc"])
        assert {"lafa", chosen, "occlusion", "integrated_grad"} <= set(faith["per_text"])
        for metric, c in faith["comparisons"].items():
            values = {m: np.mean(v[metric]) for m, v in faith["per_text"].items() if m != "lafa"}
            sign = METRIC_REGISTRY.get(metric).sign
            assert sign * values[c["best"]] == max(sign * v for v in values.values())
            diff = np.mean(faith["per_text"]["lafa"][metric]) - np.mean(faith["per_text"][chosen][metric])
            assert math.isclose(c["vs_base"]["mean_diff"], sign * diff, abs_tol=1e-9)
        n_items = case["counts"]["items"]
        for method, values in case["values"].items():
            assert len(values) == n_items
            defined = [v for v in values if not math.isnan(v)]
            assert all(-1.0 <= v <= 1.0 for v in defined)
            first = case["subsets"][0]
            if first != "SST-2":  # SST-2 is a subset of the items
                assert case["results"][first][method]["n"] == len(defined)
                assert math.isclose(case["results"][first][method]["mean"], float(np.mean(defined)))
        assert all(len(c["mean"]) == 5 for c in case["deletion"]["curves"].values())
        assert [p["layer"] for p in case["layer_precision"]] == list(range(7))
        assert all(0.0 <= p["precision"] <= 1.0 for p in case["layer_precision"])
        assert case["tuned_settings"]["layer"] in range(7)
        assert (out / f"deletion_{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for title in (
        "Case I — relations: WebNLG",
        "Case II — sentiment",
        "Case III — price regression",
        "LAFA, tuned on gold",
        "LAFA, lafa tune (no gold)",
        "Faithfulness to the model, as `lafa evaluate --data` measures it",
        "Faithfulness to the model on test texts `lafa tune` did not see",
    ):
        assert title in readme
    assert (out / "layer_sweep.png").exists()
    # Rewriting the report from results.json gives the same README.
    (out / "README.md").unlink()
    assert main(["evaluate", "--report-only", "--output", str(out)]) == 0
    assert (out / "README.md").read_text() == readme
    # Rerunning one case into the same folder reuses the fine-tuned model and the index from the
    # cache, and keeps the other cases' results, saying so.
    assert main(["evaluate", "--quick", "--cases", "laptops", "--output", str(out), "--cache-dir", str(cache)]) == 0
    rerun = json.loads((out / "results.json").read_text())
    assert rerun["kept_cases"] == ["sst", "webnlg", "nyt"] and list(rerun["cases"]) == [*rerun["kept_cases"], "laptops"]
    assert all(rerun["cases"][k] == results["cases"][k] for k in rerun["kept_cases"])
    assert "Cases sst, webnlg, nyt come from an earlier run" in (out / "README.md").read_text()
    again = rerun["cases"]["laptops"]
    assert again["training"]["cached"] and again["index"]["cached"]
    assert again["values"] == results["cases"]["laptops"]["values"]
