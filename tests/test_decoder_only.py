"""Issue 11 (part): decoder-only classifiers read the last real token, whatever the padding side or batch."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2ForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
    pipeline,
)

from lafa_pipeline import LafaConfig, LafaIndex
from lafa_pipeline.model_adapter import ModelAdapter

from .tiny import LABELS, TEXTS, VOCAB, make_tokenizer

QUERIES = ["good film", "the plot is bad", "brilliant story , fun scene", "awful"]


def gpt2():
    torch.manual_seed(0)
    return GPT2ForSequenceClassification(
        GPT2Config(
            vocab_size=len(VOCAB),
            n_embd=16,
            n_layer=2,
            n_head=2,
            n_positions=64,
            num_labels=2,
            pad_token_id=0,
            resid_pdrop=0,
            embd_pdrop=0,
            attn_pdrop=0,
        )
    ).eval()


def llama():
    torch.manual_seed(0)
    return LlamaForSequenceClassification(
        LlamaConfig(
            vocab_size=len(VOCAB),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=64,
            num_labels=2,
            pad_token_id=0,
        )
    ).eval()


def scores(result):
    return [t["score"] for t in result["tokens"]]


@pytest.mark.parametrize("make,pooling", [(gpt2, "mean"), (gpt2, "last"), (llama, "mean"), (llama, "last")])
@pytest.mark.parametrize("side", ["right", "left"])
def test_results_do_not_depend_on_batch_or_padding_side(make, pooling, side, tmp_path):
    model, tokenizer = make(), make_tokenizer(tmp_path)
    tokenizer.padding_side = side
    assert ModelAdapter(model).reads_last_token
    config = LafaConfig(layer=1, n_neighbors=3, quantile=0.9, samples=3, base_method="smooth_grad", pooling=pooling)
    index = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=config, show_progress=False, batch_size=5)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)
    for method in ("simple_grad", "integrated_grad", "lafa"):
        alone = [explainer(q, method=method) for q in QUERIES]
        batched = explainer(QUERIES, method=method, batch_size=4)
        for a, b in zip(alone, batched):
            assert a["score"] == pytest.approx(b["score"], rel=1e-4)
            assert scores(b) == pytest.approx(scores(a), rel=1e-3, abs=1e-9)
    cached, live = explainer(QUERIES[2]), explainer(QUERIES[2], live_neighbors=True)
    assert scores(cached) == pytest.approx(scores(live), rel=1e-3, abs=1e-9)


def test_the_explained_output_is_the_models_own_prediction(tmp_path):
    """The probability the explainer reports is the model's on the unpadded text (ids in, no embeddings)."""
    model, tokenizer = gpt2(), make_tokenizer(tmp_path)
    explainer = pipeline("feature-attribution", model=model, tokenizer=tokenizer)
    for result, text in zip(explainer(QUERIES, method="simple_grad", batch_size=4), QUERIES):
        enc = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            probs = model(**enc).logits.softmax(-1)[0]
        assert result["score"] == pytest.approx(float(probs.max()), rel=1e-5)


def test_last_token_pooling_and_sharded_build(tmp_path):
    """The index's search vector with pooling "last" is the last real token's state, text by text; shards
    of a decoder-only build merge into the one-pass index."""
    from lafa_pipeline.build.sharding import merge_shards, write_shard

    model, tokenizer = gpt2(), make_tokenizer(tmp_path)
    config = LafaConfig(layer=1, n_neighbors=3, quantile=0.9, base_method="simple_grad", pooling="last")
    index = LafaIndex.build(model, tokenizer, TEXTS, labels=LABELS, config=config, show_progress=False, batch_size=5)
    for i, text in enumerate(TEXTS[:4]):
        with torch.no_grad():
            ids = tokenizer(text, return_tensors="pt")["input_ids"]  # no token types: GPT-2 would embed them
            h = model(input_ids=ids, output_hidden_states=True).hidden_states[1][0, -1]
        torch.testing.assert_close(torch.from_numpy(index.faiss_index.reconstruct(i)), h, rtol=1e-4, atol=1e-5)
    for k in range(2):
        write_shard(
            str(tmp_path / "shards"), k, 2, model, tokenizer, TEXTS, LABELS, config, batch_size=3, show_progress=False
        )
    merged = merge_shards(str(tmp_path / "shards"), 2, model, config, True)
    torch.testing.assert_close(
        torch.from_numpy(merged.arrays["cache_scores"]),
        torch.from_numpy(index.arrays["cache_scores"]),
        rtol=1e-4,
        atol=1e-7,
    )
    assert merged.config.eps == pytest.approx(index.config.eps, rel=1e-5)


def test_first_token_pooling_on_a_decoder_only_model_is_refused_clearly(tmp_path):
    """A causal model's first token sees only itself: every text gets the same vector, so no neighbors."""
    with pytest.raises(ValueError, match="identical.*pooling 'cls'.*'mean' or 'last'"):
        LafaIndex.build(
            llama(),
            make_tokenizer(tmp_path),
            TEXTS,
            labels=LABELS,
            show_progress=False,
            config=LafaConfig(layer=1, base_method="simple_grad", pooling="cls"),
        )
