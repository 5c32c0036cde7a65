"""Contrastive explanations ("why A rather than B"): a base method's scores of the logit difference,
computed by hand on a three-class tiny model, and LAFA scoring its neighbors for the pair."""

from __future__ import annotations

import pytest
import torch
from transformers import pipeline

from lafa_pipeline import LafaIndex

from .tiny import INDEX_CONFIG, TEXTS, tiny_model

TEXT = "the acting was good"


@pytest.fixture(scope="module")
def three(tokenizer):
    model = tiny_model(num_labels=3, seed=3)
    labels = [i % 3 for i in range(len(TEXTS))]
    config = INDEX_CONFIG.replace(base_method="input_grad", aggregation="normalized", kernel="cosine", lam=0.5)
    index = LafaIndex.build(model, tokenizer, TEXTS, labels=labels, config=config, show_progress=False, lazy=True)
    return model, pipeline("feature-attribution", model=model, tokenizer=tokenizer, index=index)


def logit_gap(model, embeds, mask, types, target, contrast):
    logits = model(inputs_embeds=embeds, attention_mask=mask, token_type_ids=types).logits
    return logits[:, target] - logits[:, contrast]


@pytest.mark.parametrize(("target", "contrast"), [(0, 2), (2, 1)])
def test_contrastive_input_grad_and_occlusion_are_those_of_the_logit_difference(three, tokenizer, target, contrast):
    model, explainer = three
    enc = tokenizer(TEXT, return_tensors="pt")
    ids, mask, types = enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(logit_gap(model, embeds, mask, types, target, contrast).sum(), embeds)
    by_hand = (grad * embeds).sum(-1)[0].detach()
    lafa = explainer.lafa
    got = lafa.attribute(ids, mask, types, [target], "input_grad", signed=True, contrast=contrast)
    torch.testing.assert_close(got.scores[0], by_hand, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        full = logit_gap(model, embeds, mask, types, target, contrast)
        drops = []
        for t in range(ids.shape[1]):
            changed = embeds.clone()
            changed[0, t] = model.get_input_embeddings().weight[model.config.pad_token_id or 0]
            drops.append(float(full - logit_gap(model, changed, mask, types, target, contrast)))
    occlusion = lafa.attribute(ids, mask, types, [target], "occlusion", signed=True, contrast=contrast)
    torch.testing.assert_close(occlusion.scores[0], torch.tensor(drops), atol=1e-5, rtol=1e-4)
    plain = lafa.attribute(ids, mask, types, [target], "occlusion", signed=True)
    assert not torch.allclose(plain.scores, occlusion.scores)  # the probability's drops, not the gap's
    assert lafa.adapter.contrast is None  # the contrast holds for the call only


def test_contrastive_lafa_scores_its_neighbors_for_the_pair_and_keeps_none(three, tokenizer):
    model, explainer = three
    cache = {k: v.copy() for k, v in explainer.index.arrays.items() if k.startswith("cache")}  # lazy: a row
    result = explainer(TEXT, target="negative", contrast="neutral", signed=True)  # scored would be kept
    assert all((explainer.index.arrays[k] == v).all() for k, v in cache.items())  # the pair's scores are not
    plain_lafa = explainer(TEXT, target="negative", signed=True)
    assert (result["target"], result["contrast"], result["signed"]) == ("negative", "neutral", True)
    assert result["live_neighbors"] == len(result["neighbors"]) > 0  # every neighbor scored for the pair
    assert all("tokens" not in n for n in result["neighbors"])  # the index's words are one class's
    assert all("tokens" in n for n in plain_lafa["neighbors"])
    base = explainer(TEXT, method="input_grad", target="negative", contrast="neutral", signed=True)
    alone = explainer(TEXT, target="negative", contrast="neutral", lam=0.0, signed=True)
    assert [w["score"] for w in alone["tokens"]] == pytest.approx([w["score"] for w in base["tokens"]])
    assert [w["score"] for w in result["tokens"]] != pytest.approx([w["score"] for w in base["tokens"]])
    assert "contrast" not in plain_lafa and plain_lafa["tokens"] != result["tokens"]


def test_contrast_errors_name_the_problem(three, explainer):
    _, multi = three
    with pytest.raises(ValueError, match="target and contrast are one class"):
        multi(TEXT, target="neutral", contrast=2)
    with pytest.raises(ValueError, match="Unknown contrast 'sports'; valid labels: 'negative', 'positive', 'neutral'"):
        multi(TEXT, contrast="sports")
    predicted = multi(TEXT)["target"]
    with pytest.raises(ValueError, match="the contrast too"):
        multi(TEXT, contrast=predicted)
    regression = pipeline(
        "feature-attribution", model=tiny_model(num_labels=1), tokenizer=explainer.tokenizer, lafa_config=INDEX_CONFIG
    )
    with pytest.raises(ValueError, match="a regression model has no classes"):
        regression(TEXT, contrast=0)


def test_cli_explains_a_class_rather_than_another(three, tmp_path, capsys):
    from lafa_pipeline.apps import cli

    _, explainer = three
    explainer.save_pretrained(tmp_path / "repo")
    args = ["explain", "--model", str(tmp_path / "repo"), "--color", "never", "--signed", "--target", "negative"]
    assert cli.main([*args, "--contrast", "neutral", "--method", "input_grad", TEXT]) == 0
    out = capsys.readouterr().out
    assert "explaining: negative rather than neutral" in out
    expected = explainer(TEXT, method="input_grad", target="negative", contrast="neutral", signed=True)
    top = max(expected["tokens"], key=lambda w: abs(w["score"]))
    assert f"top words: {top['token']} ({top['score']:.3g})" in out
    assert cli.main([*args, "--contrast", "negative", TEXT]) == 2
    assert "target and contrast are one class" in capsys.readouterr().err


def test_evaluation_reads_the_logit_difference_a_contrast_explains(three, tokenizer):
    """The metrics of contrastive explanations, recomputed with the model's own logits (not the
    probabilities evaluate_explainer recovers them from)."""
    from lafa_pipeline.faithfulness.evaluate import evaluate_explainer, mask_string
    from lafa_pipeline.faithfulness.metrics import faithfulness

    model, explainer = three
    texts = TEXTS[:4]
    report = evaluate_explainer(
        explainer, texts, methods=["occlusion"], steps=4, show_progress=False, target="negative", contrast="neutral"
    )

    def gaps(batch):
        enc = tokenizer(batch, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits
        return (logits - logits[:, 2:3]).numpy()

    for i, (text, result) in enumerate(zip(texts, report.results["occlusion"])):
        assert result["contrast"] == "neutral" and result["target"] == "negative"
        f = faithfulness(gaps, text, result["tokens"], None, 0, 4, mask_string(tokenizer))
        assert report.per_text["occlusion"]["deletion_auc"][i] == pytest.approx(f.deletion_auc, abs=1e-4)
        assert report.per_text["occlusion"]["comprehensiveness"][i] == pytest.approx(f.comprehensiveness, abs=1e-4)
