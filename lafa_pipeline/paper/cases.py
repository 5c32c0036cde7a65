"""The paper's three evaluation cases as data: training texts, reference texts, explained queries
and the gold words each explanation is scored against.

A *query* is one explanation (a text and the class explained); an *item* is one scored unit: a
query's words with gold values (SST: |leaf label - 2| per tree word; relations: 1 on the subject
and object words of one triple; laptops: 1 on the price-driving words). Data comes from a data
directory laid out like ``../shared/data`` (sst/, sst2/, webnlg/exact/, nyt/exact/); the laptop
catalogue is generated.

Example:
    >>> case = laptop_case(train=20, refs=10, texts=3, pool=5)
    >>> case.problem_type, len(case.queries), len(case.items)
    ('regression', 5, 5)
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..build.default_model import read_tsv
from .price_catalogue import generate_catalogue
from .relation_data import gold_words, read_casrel, triple_spans
from .sst_trees import read_trees

LAPTOP_TEST_SET = "generated test listings"  # the laptops' quality set: the test listings, in query order
PRICE_UNIT = 1000.0  # the regressor predicts price / 1000 (values near 1 train well with MSE)


@dataclass
class Query:
    text: str
    target: int | None
    """Class explained (None: the predicted class; 0 for regression)."""
    category: Any = None
    """The query's category for neighbor precision (None: not counted)."""


@dataclass
class Item:
    query: int
    spans: list[tuple[int, int]]
    """Character spans of the words scored."""
    gold: list[float]
    subsets: tuple[str, ...]
    """Result columns this item counts in (e.g. SST and SST-2)."""


@dataclass
class CaseData:
    name: str
    problem_type: str
    label_names: list[str]
    train_texts: list[str]
    train_labels: list
    ref_texts: list[str]
    ref_labels: list | None
    ref_categories: list[set]
    queries: list[Query]
    items: list[Item]
    subsets: list[str]
    quality_sets: dict[str, tuple[list[str], list]] = field(default_factory=dict)
    """Named (texts, gold labels) sets the fine-tuned model's quality is measured on."""
    notes: list[str] = field(default_factory=list)

    @property
    def texts_in_order(self) -> list[str]:
        """The distinct texts of the queries, in query order (a relation text has a query per relation)."""
        return list(dict.fromkeys(q.text for q in self.queries))


def words_of(text: str) -> list[tuple[int, int]]:
    """Character spans of the whitespace-separated words of ``text``."""
    return [m.span() for m in re.finditer(r"\S+", text)]


def _need(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"Evaluation data file is missing: {path} (give --data-dir, laid out like "
            "sst/{train,test}.txt, sst2/{train,dev}.tsv, webnlg/exact/, nyt/exact/)"
        )
    return path


def sentiment_case(
    data_dir: str | os.PathLike, train: int | None, refs: int, texts: int | None, seed: int = 0
) -> CaseData:
    """Case II: SST-2 train to fine-tune on, SST test trees to explain (SST-2 = the non-neutral ones)."""
    data_dir = Path(data_dir)
    train_texts, train_labels = read_tsv(_need(data_dir / "sst2" / "train.tsv"))
    dev_texts, dev_labels = read_tsv(_need(data_dir / "sst2" / "dev.tsv"))
    trees = read_trees(_need(data_dir / "sst" / "test.txt"))
    binary = [t for t in trees if t.label != 2]
    rng = random.Random(seed)
    # References: a seeded sample of the training rows that are sentence-like (5+ words); SST-2
    # train also holds every short phrase of the treebank, which make poor neighbors.
    candidates = [i for i, t in enumerate(train_texts) if len(t.split()) >= 5]
    ref_ids = sorted(rng.sample(candidates, min(refs, len(candidates))))
    order = list(range(len(train_texts)))
    if train is not None and train < len(order):
        order = sorted(rng.sample(order, train))
    queries, items = [], []
    for tree in trees[:texts]:
        category = None if tree.label == 2 else int(tree.label > 2)
        queries.append(Query(tree.text, None, category))
        subsets = ("SST", "SST-2") if tree.label != 2 else ("SST",)
        items.append(Item(len(queries) - 1, list(tree.spans), tree.gold, subsets))
    return CaseData(
        name="sst",
        problem_type="single_label_classification",
        label_names=["negative", "positive"],
        train_texts=[train_texts[i] for i in order],
        train_labels=[train_labels[i] for i in order],
        ref_texts=[train_texts[i] for i in ref_ids],
        ref_labels=[train_labels[i] for i in ref_ids],
        ref_categories=[{train_labels[i]} for i in ref_ids],
        queries=queries,
        items=items,
        subsets=["SST-2", "SST"],
        quality_sets={
            "SST-2 dev": (dev_texts, dev_labels),
            "SST test, non-neutral (binary)": ([t.text for t in binary], [int(t.label > 2) for t in binary]),
        },
        notes=[
            f"SST-2 = the {len(binary)} non-neutral SST test sentences (the paper's SST-2 test set); "
            f"SST = all {len(trees)} test sentences; scored: the first {len(queries)}."
        ],
    )


def relation_case(
    data_dir: str | os.PathLike, dataset: str, train: int | None, refs: int, texts: int | None, seed: int = 0
) -> CaseData:
    """Case I: multi-label relation classification on WebNLG (train -> test) or NYT (dev -> test).

    The NYT copy here has no train split, so the NYT model is fine-tuned on NYT dev.
    """
    if dataset not in ("webnlg", "nyt"):
        raise ValueError(f"Unknown relation dataset {dataset!r}; valid: webnlg, nyt")
    folder = Path(data_dir) / dataset / "exact"
    train_split = "train" if dataset == "webnlg" else "dev"
    rel2id = _need(folder / "rel2id.json")
    train_examples, names = read_casrel(_need(folder / f"{train_split}_triples.json"), rel2id)
    test_examples, _ = read_casrel(_need(folder / "test_triples.json"), rel2id)
    rng = random.Random(seed)
    if train is not None and train < len(train_examples):
        train_examples = [train_examples[i] for i in sorted(rng.sample(range(len(train_examples)), train))]
    references = train_examples[:refs]

    def multi_hot(ids: list[int]) -> list[float]:
        row = [0.0] * len(names)
        for i in ids:
            row[i] = 1.0
        return row

    queries, items = [], []
    title = "WebNLG" if dataset == "webnlg" else "NYT"
    rel_ids = {name: i for i, name in enumerate(names)}
    for example in test_examples[:texts]:
        spans = words_of(example.text)
        words = [{"start": s, "end": e} for s, e in spans]
        for relation in sorted({r for _, r, _ in example.triples}):
            queries.append(Query(example.text, rel_ids[relation], rel_ids[relation]))
            for triple in example.triples:
                if triple[1] == relation:
                    gold = gold_words(words, triple_spans(example.text, triple))
                    items.append(Item(len(queries) - 1, spans, [float(g) for g in gold], (title,)))
    note = (
        f"{title}: fine-tuned on {len(train_examples)} {train_split} texts"
        + (" (this copy of NYT has no train split, so its dev split is the training data)" if dataset == "nyt" else "")
        + f"; scored: every (text, triple) of the first {len(test_examples[:texts])} test texts."
    )
    return CaseData(
        name=dataset,
        problem_type="multi_label_classification",
        label_names=names,
        train_texts=[e.text for e in train_examples],
        train_labels=[multi_hot(e.label_ids) for e in train_examples],
        ref_texts=[e.text for e in references],
        ref_labels=[e.label_ids for e in references],
        ref_categories=[set(e.label_ids) for e in references],
        queries=queries,
        items=items,
        subsets=[title],
        quality_sets={
            f"{title} test": ([e.text for e in test_examples], [multi_hot(e.label_ids) for e in test_examples])
        },
        notes=[note],
    )


def laptop_case(
    train: int = 4000, refs: int = 3000, texts: int | None = 200, pool: int = 2000, seed: int = 0
) -> CaseData:
    """Case III: the generated laptop catalogue (``price_catalogue``); prices in units of $1000.

    ``pool`` test listings are generated; the runner keeps the ``texts`` best-predicted ones, as
    the paper kept texts with under 1 % prediction error.
    """
    train_items = generate_catalogue(train, seed=seed)
    test_items = generate_catalogue(max(pool, texts or 0), seed=seed + 1)
    quartiles = np.quantile([t.price for t in train_items], [0.25, 0.5, 0.75])

    def quartile(price: float) -> int:
        return int(np.searchsorted(quartiles, price))

    queries, items = [], []
    for listing in test_items:
        spans = words_of(listing.text)
        words = [{"start": s, "end": e} for s, e in spans]
        queries.append(Query(listing.text, None, quartile(listing.price)))
        items.append(
            Item(len(queries) - 1, spans, [float(g) for g in gold_words(words, listing.key_spans)], ("Laptops",))
        )
    references = train_items[:refs]
    return CaseData(
        name="laptops",
        problem_type="regression",
        label_names=["price"],
        train_texts=[t.text for t in train_items],
        train_labels=[t.price / PRICE_UNIT for t in train_items],
        ref_texts=[t.text for t in references],
        ref_labels=None,
        ref_categories=[{quartile(t.price)} for t in references],
        queries=queries,
        items=items,
        subsets=["Laptops"],
        quality_sets={LAPTOP_TEST_SET: ([t.text for t in test_items], [t.price / PRICE_UNIT for t in test_items])},
        notes=[
            f"Generated catalogue: {train} training listings (seed {seed}), {len(test_items)} test listings "
            f"(seed {seed + 1}); scored: the {texts} test listings predicted best "
            "(the paper kept texts under 1 % error)."
        ],
    )


def keep_queries(case: CaseData, keep: list[int]) -> CaseData:
    """The case restricted to the queries ``keep`` (in that order), items renumbered."""
    new_id = {old: new for new, old in enumerate(keep)}
    case.queries = [case.queries[i] for i in keep]
    case.items = [Item(new_id[it.query], it.spans, it.gold, it.subsets) for it in case.items if it.query in new_id]
    return case
