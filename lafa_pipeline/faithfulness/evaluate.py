"""Measure every method of an explainer on your own texts: faithfulness to the model, and gold rationales if any.

No gold is needed: deletion and insertion areas and ERASER's comprehensiveness and sufficiency
mask the words each method ranks highest and watch the explained output (see ``metrics``). With
``rationales`` (per text, a 0/1 or graded value per word, or the rationale words as a string),
token AUC, AUPRC and Pearson against them are reported too.

Example::

    from lafa_pipeline import load_explainer, evaluate_explainer
    report = evaluate_explainer(load_explainer(), ["a gorgeous, witty, seductive movie.", "dull and flat"])
    print(report.table())
    report.compare("lafa", "smooth_grad", "insertion_minus_deletion")  # mean difference, 95 % CI
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from ..base_methods import has_direction
from ..config import method_names
from ..lafa import REFERENCE_METHODS
from ..metric_registry import METRIC_REGISTRY, names
from ..model_adapter import ModelAdapter, resolve_target
from ..text_inputs import TextInput, check_text, segments
from .metrics import MetricResult, faithfulness, paired, summarize


class Predictor:
    """The model's probabilities (or regression values) for texts or text pairs, batched and remembered
    by text.

    Masking runs produce the same texts again and again (the same top words for many methods and
    settings), so each distinct text is run once.
    """

    def __init__(self, model: PreTrainedModel, tokenizer, batch_size: int = 64, max_length: int = 512) -> None:
        self.adapter = ModelAdapter(model, "probability")
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.cache: dict[str | tuple[str, ...], np.ndarray] = {}

    def __call__(self, texts: Sequence[TextInput]) -> np.ndarray:
        keys = [tuple(segments(t)) if isinstance(t, dict) else t for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        for start in range(0, len(todo), self.batch_size):
            part = todo[start : start + self.batch_size]
            # a batch holds pairs or single texts (tokenized as one or two lists), never both
            for kind in (str, tuple):
                same = [k for k in part if isinstance(k, kind)]
                if same:
                    self._run(same)
        return np.stack([self.cache[k] for k in keys])

    def _run(self, keys: list) -> None:
        columns = [list(c) for c in zip(*keys)] if isinstance(keys[0], tuple) else [keys]
        enc = self.tokenizer(*columns, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        with torch.no_grad():  # the adapter's path: the output explained, whatever the padding side
            probs = self.adapter.predict(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))[0]
        for key, row in zip(keys, probs.float().cpu().numpy()):
            self.cache[key] = row


def contrast_outputs(
    predict: Callable[[list], np.ndarray], contrast: int, multi_label: bool = False
) -> Callable[[list], np.ndarray]:
    """``predict`` (texts -> probabilities) turned into what a contrastive explanation explains: each
    class's logit minus the ``contrast`` class's, recovered from the probabilities (log p - log p_c,
    exactly the logit difference under a softmax; the log-odds' difference for sigmoid labels).

    >>> gap = contrast_outputs(lambda texts: np.array([[0.2, 0.5, 0.3]]), contrast=2)
    >>> np.round(gap(["a"]), 4)
    array([[-0.4055,  0.5108,  0.    ]])
    """

    def outputs(texts: list) -> np.ndarray:
        p = np.clip(np.asarray(predict(texts), dtype=float), 1e-12, 1.0)
        logit = np.log(p) - np.log1p(-np.minimum(p, 1 - 1e-12)) if multi_label else np.log(p)
        return logit - logit[:, [contrast]]

    return outputs


def mask_string(tokenizer) -> str:
    """What replaces a removed word: the tokenizer's mask token, else its unknown or padding token."""
    for token in (tokenizer.mask_token, tokenizer.unk_token, tokenizer.pad_token):
        if token:
            return token
    raise ValueError("The tokenizer has no mask, unknown or padding token to replace removed words with")


def rationale_values(rationale: Any, words: list[dict]) -> list[float]:
    """Gold per word from a list (one value per word) or a string of rationale words (1 if listed, else 0)."""
    if isinstance(rationale, str):
        wanted = {w.strip(".,;:!?\"'()").lower() for w in rationale.split()}
        return [1.0 if w["token"].strip(".,;:!?\"'()").lower() in wanted else 0.0 for w in words]
    values = [float(v) for v in rationale]
    if len(values) != len(words):
        raise ValueError(
            f"A rationale has {len(values)} values for a text of {len(words)} words; give one value "
            "per word (the pipeline's words) or the rationale words as a string"
        )
    return values


@dataclass
class EvaluationReport:
    """Per method and metric: the per-text values and their summary; ``compare`` gives paired differences."""

    per_text: dict[str, dict[str, list[float]]]
    n_texts: int
    results: dict[str, list[dict]] = field(default_factory=dict, repr=False)
    seconds_per_text: dict[str, float] = field(default_factory=dict)
    """Per method: wall-clock seconds its explanations took, divided by the texts (metrics not included)."""
    signed: list[str] = field(default_factory=list)
    """The methods explained and measured with signed scores (``evaluate_explainer(signed=True)``)."""

    @property
    def summary(self) -> dict[str, dict[str, MetricResult]]:
        return {
            m: {name: summarize(name, values) for name, values in metrics.items()}
            for m, metrics in self.per_text.items()
        }

    def compare(self, a: str, b: str, metric: str = "insertion_minus_deletion") -> dict:
        """Mean of method ``a`` minus ``b`` on ``metric`` per text, 95 % bootstrap CI, share of wins
        (signs flipped for metrics where lower is better, so positive always means ``a`` is better)."""
        sign = METRIC_REGISTRY.get(metric).sign
        return paired([sign * v for v in self.per_text[a][metric]], [sign * v for v in self.per_text[b][metric]])

    def table(self) -> str:
        """A Markdown table: methods as rows, metrics (mean (std), arrow = better direction) as columns,
        then the seconds each method took per text."""
        reported = names("faithfulness") + names("gold")
        metrics = [m for m in reported if any(m in v for v in self.per_text.values())]
        header = "| method | " + " | ".join(f"{m} {METRIC_REGISTRY.get(m).arrow}" for m in metrics)
        timed = bool(self.seconds_per_text)
        header += " | s/text |" if timed else " |"
        lines = [header, "|" + " --- |" * (len(metrics) + 1 + timed)]
        for method, summary in self.summary.items():
            label = f"{method} (signed)" if method in self.signed else method
            row = f"| {label} | " + " | ".join(str(summary[m]) if m in summary else "" for m in metrics)
            seconds = self.seconds_per_text.get(method)
            row += (f" | {seconds:.3f} |" if seconds is not None else " | |") if timed else " |"
            lines.append(row)
        return "\n".join(lines) + f"\n\n{self.n_texts} texts."

    def to_dict(self) -> dict:
        return {
            "n_texts": self.n_texts,
            "per_text": self.per_text,
            "seconds_per_text": self.seconds_per_text,
            "signed": self.signed,
            "summary": {
                m: {k: {"mean": v.mean, "std": v.std, "n": v.n} for k, v in s.items()} for m, s in self.summary.items()
            },
        }


def text_metrics(
    predict: Callable[[list[str]], np.ndarray],
    result: dict,
    text: TextInput,
    target: int,
    mask: str,
    steps: int = 10,
    rationale: Any = None,
    regression: bool = False,
) -> dict[str, float]:
    """Every registered faithfulness metric for one explained text (``result``: the pipeline's output for
    it), and with a ``rationale`` every gold metric."""
    words = result["tokens"]
    f = faithfulness(predict, text, words, None, target, steps, mask, regression)
    values = {name: METRIC_REGISTRY.get(name).compute(f) for name in names("faithfulness")}
    if rationale is not None and not (isinstance(rationale, float) and math.isnan(rationale)):
        gold = rationale_values(rationale, words)
        scores = [w["score"] for w in words]
        values.update({name: METRIC_REGISTRY.get(name).compute(scores, gold) for name in names("gold")})
    return values


def target_index(explainer, result: dict) -> int:
    """The column of the model output that was explained (0 for regression)."""
    if result["target"] is None:
        return 0
    label2id = {v: int(k) for k, v in explainer.model.config.id2label.items()}
    return label2id[result["target"]]


def evaluate_explainer(
    explainer,
    texts: Sequence[TextInput],
    methods: Sequence[str] | None = None,
    rationales: Sequence[Any] | None = None,
    steps: int = 10,
    batch_size: int = 8,
    show_progress: bool = True,
    signed: bool | None = None,
    contrast: int | str | None = None,
    **call_kwargs: Any,
) -> EvaluationReport:
    """Explain ``texts`` with each of ``methods`` (default: every method the explainer can run) and measure them.

    ``call_kwargs`` go to every explainer call (e.g. ``target``). Faithfulness is measured on the
    model's probability of the explained class (its value for regression). ``signed``: every method
    with a direction (LAFA too, on such a base) is explained with ``signed=True``, so the metrics
    mask the words that push towards the explained output first, as ferret's and Interpreto's
    evaluators read signed attributions; the others are measured by their magnitudes
    (``EvaluationReport.signed`` names the signed ones). None: as the repo explains by default
    (``LafaConfig.signed``). ``contrast`` (a class): every method explains the target rather than
    that class, and the metrics read what it explains, the two classes' logit difference
    (``contrast_outputs``), instead of the target's probability.
    """
    texts = [check_text(t) for t in texts]
    if not texts:
        raise ValueError("evaluate_explainer needs at least one text")
    if rationales is not None and len(rationales) != len(texts):
        raise ValueError(f"Got {len(rationales)} rationales for {len(texts)} texts")
    every = method_names()
    available = (
        every if explainer.index is not None else tuple(m for m in every if m != "lafa" and m not in REFERENCE_METHODS)
    )
    methods = list(methods or available)
    for method in methods:
        if method not in available:
            raise ValueError(
                f"Method {method!r} cannot be evaluated with this explainer; valid: {', '.join(available)}"
            )
    predict: Callable[[list], np.ndarray] = Predictor(
        explainer.model, explainer.tokenizer, max_length=explainer.max_length
    )
    if contrast is not None:
        contrast = resolve_target(contrast, explainer.model.config, 0, "contrast")
        call_kwargs["contrast"] = contrast
        multi_label = explainer.lafa.adapter.problem_type == "multi_label_classification"
        predict = contrast_outputs(predict, contrast, multi_label)
    mask = mask_string(explainer.tokenizer)
    per_text: dict[str, dict[str, list[float]]] = {}
    all_results: dict[str, list[dict]] = {}
    seconds: dict[str, float] = {}
    if signed is None:
        signed = explainer.lafa_config.signed
    with_sign = [m for m in methods if signed and has_direction(explainer.lafa.method(m).base)]
    for method in methods:
        results: list[dict] = []
        bar = tqdm(total=len(texts), desc=f"Evaluating {method}", disable=not show_progress, unit="text")
        started = time.perf_counter()
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            sign = method in with_sign  # given either way: a repo's own default must not decide it
            out = explainer(chunk, method=method, batch_size=batch_size, signed=sign, **call_kwargs)
            results += out
            bar.update(len(chunk))
        seconds[method] = (time.perf_counter() - started) / len(texts)
        bar.close()
        metrics: dict[str, list[float]] = {}
        for i, (text, result) in enumerate(zip(texts, results)):
            values = text_metrics(
                predict,
                result,
                text,
                target_index(explainer, result),
                mask,
                steps,
                None if rationales is None else rationales[i],
                explainer.lafa.adapter.problem_type == "regression",
            )
            for name, value in values.items():
                metrics.setdefault(name, []).append(value)
        per_text[method] = metrics
        all_results[method] = results
    return EvaluationReport(per_text, len(texts), all_results, seconds, with_sign)
