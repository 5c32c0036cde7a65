"""Tiny test assets built from configs: a word-level tokenizer, BERT models with random weights, texts.

Shared by the tests and by the subprocess workers of the Hub round-trip tests; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from lafa_pipeline import LafaConfig

WORDS = (
    "good bad film movie great awful plot acting a the is was , . ! not very boring fun story "
    "actor director music scene ending loved hated slow brilliant dull"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##ly", "##ing"]
TEXTS = [
    "good film",
    "bad film",
    "great movie !",
    "awful plot .",
    "the acting was good",
    "the plot is bad",
    "a great film",
    "awful acting",
    "loved the music",
    "hated the ending",
    "brilliant story , fun scene",
    "slow and dull",
    "the director was brilliant",
    "boring movie",
    "very good acting",
    "not good , boring",
]
LABELS = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]


INDEX_CONFIG = LafaConfig(
    layer=1,
    n_neighbors=4,
    quantile=0.8,
    samples=6,
    base_method="smooth_grad",
    kernel="indicator",
    lam=0.5,
    aggregation="paper",
    signed=False,  # most tests check the paper's magnitudes; signed ones ask (test_signed_scores, test_signed_index)
)


def make_tokenizer(folder: Path) -> BertTokenizerFast:
    path = Path(folder) / "vocab.txt"
    path.write_text("\n".join(VOCAB))
    return BertTokenizerFast(str(path), model_max_length=32)


def tiny_model(num_labels=2, problem_type=None, seed=0, **extra):
    torch.manual_seed(seed)
    id2label = (
        {0: "value"}
        if num_labels == 1
        else {i: name for i, name in enumerate(["negative", "positive", "neutral", "other"][:num_labels])}
    )
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        initializer_range=0.3,
        num_labels=num_labels,
        problem_type=problem_type,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **extra,
    )
    return BertForSequenceClassification(config).eval()


def rig_objective(monkeypatch, objective) -> None:
    """Make ``lafa tune`` measure ``objective(explainer, indexes, config, items, ...)`` (a value per text)
    instead of masking texts with the model: insertion and comprehensiveness equal it, deletion and
    sufficiency are 0, so every objective reads it and the metric guard refuses exactly the settings
    below the best base method alone."""
    from lafa_pipeline.faithfulness.metrics import Faithfulness
    from lafa_pipeline.faithfulness.tuning import search

    def faithfulness_values(*args, **kwargs):
        return [Faithfulness(0.0, v, v, 0.0) for v in objective(*args, **kwargs)]

    monkeypatch.setattr(search, "faithfulness_values", faithfulness_values)
