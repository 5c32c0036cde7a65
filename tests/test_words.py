"""Words from the tokenizer's boundaries for WordPiece, SentencePiece (Metaspace) and byte-level BPE."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from lafa_pipeline.text_inputs import encode
from lafa_pipeline.words import group_scores

CORPUS = [
    "a gorgeous, witty, seductive movie.",
    "the plot is thin but the acting is superb",
    "not a bad film at all",
    "an hour and a half of tedium",
] * 20


def _sentencepiece(prepend: str) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme=prepend)
    tok.decoder = decoders.Metaspace(prepend_scheme=prepend)
    tok.train_from_iterator(
        CORPUS,
        trainers.UnigramTrainer(vocab_size=80, special_tokens=["<pad>", "<unk>", "<s>", "</s>"], unk_token="<unk>"),
    )
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def _byte_level() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=["<pad>", "<unk>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")


TOKENIZERS = {
    "sentencepiece": _sentencepiece("always"),
    "sentencepiece-first": _sentencepiece("first"),
    "byte-level": _byte_level(),
}


def words_of(tokenizer, text):
    inputs, meta = encode(tokenizer, text, 128)
    ids = inputs["input_ids"][0].tolist()
    return group_scores(meta, [1.0] * len(ids), tokenizer.convert_ids_to_tokens(ids), "word"), len(ids)


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_words_are_the_texts_words_without_spaces(name):
    words, _ = words_of(TOKENIZERS[name], "a  gorgeous witty movie")
    assert [w["token"] for w in words] == ["a", "gorgeous", "witty", "movie"]
    for w in words:
        assert "a  gorgeous witty movie"[w["start"] : w["end"]] == w["token"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from("a the movie gorgeous witty , . not bad plot".split()), min_size=1, max_size=8),
    st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=8, max_size=8),
    st.sampled_from(list(TOKENIZERS)),
)
def test_word_spans_slice_the_text_and_keep_every_score(parts, gaps, name):
    text = "".join(p + g for p, g in zip(parts, gaps)).strip()
    words, n_tokens = words_of(TOKENIZERS[name], text)
    assert all(w["token"] and not w["token"][0].isspace() and not w["token"][-1].isspace() for w in words)
    assert all(text[w["start"] : w["end"]] == w["token"] for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    # every whitespace-separated word is covered by the reported words, and no score is lost
    covered = "".join(text[w["start"] : w["end"]] for w in words)
    assert covered == "".join(text.split())
    assert sum(w["score"] for w in words) == pytest.approx(
        n_tokens - 2 if name.startswith("sentencepiece") else n_tokens
    )
