"""Fine-tuning and evaluating sequence classifiers/regressors with the transformers Trainer.

Used to build the embedded default model and the evaluation models.

Example:
    >>> from lafa_pipeline.build.finetune import accuracy
    >>> accuracy([0, 1, 1], [0, 1, 0])
    0.6666666666666666
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from transformers import TrainingArguments


def fine_tune(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    max_length: int = 128,
    seed: int = 0,
    show_progress: bool = True,
    head_learning_rate: float | None = None,
    positive_weight: float | None = None,
) -> torch.nn.Module:
    """Train ``model`` on (text, label) pairs with the Trainer; returns it in eval mode.

    Labels are class indexes, float values (regression) or multi-hot float vectors (multi-label).
    ``head_learning_rate``: a separate learning rate for the new classification head.
    ``positive_weight`` (multi-label): weight of the positive labels in the binary cross-entropy;
    with hundreds of rare labels the unweighted loss is minimised by predicting none of them.
    """
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer

    ProgressCallback, _BarOnly = _bar_only()

    if len(labels) and isinstance(labels[0], (list, tuple, np.ndarray)):
        start_at_label_priors(model, np.asarray(labels, dtype=np.float64))

    data = Dataset.from_dict({"text": list(texts), "label": list(labels)})
    data = data.map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=max_length),
        batched=True,
        remove_columns=["text"],
        desc="Tokenizing",
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=model,
            args=training_arguments(out, epochs, batch_size, learning_rate, seed, show_progress),
            train_dataset=data,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_loss_func=None if positive_weight is None else weighted_loss(positive_weight),
            optimizers=(
                None if head_learning_rate is None else head_optimizer(model, learning_rate, head_learning_rate),
                None,
            ),
        )
        if show_progress:  # the bar without the metrics dict it prints at the end ({'train_runtime': ...})
            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(_BarOnly)
        trainer.train()
    return model.eval()


def training_arguments(
    out: str, epochs: float, batch_size: int, learning_rate: float, seed: int, show_progress: bool
) -> TrainingArguments:
    """The Trainer's settings: linear schedule after a 6 % warm-up, no checkpoints, no logged losses."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=out,
        per_device_train_batch_size=batch_size,
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        warmup_steps=0.06,  # a float below 1 is a ratio of the total steps
        weight_decay=0.01,
        lr_scheduler_type="linear",
        logging_strategy="no",  # the progress bar shows the progress; no per-step loss dicts on the console
        save_strategy="no",
        report_to=[],
        seed=seed,
        disable_tqdm=not show_progress,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        train_sampling_strategy="group_by_length",  # batches of similar length pad less: faster on CPU
    )


def head_optimizer(model: torch.nn.Module, learning_rate: float, head_learning_rate: float) -> torch.optim.AdamW:
    """AdamW with ``head_learning_rate`` for the classification head and ``learning_rate`` for the rest."""
    groups: dict[bool, list[torch.nn.Parameter]] = {True: [], False: []}  # is the parameter part of the head?
    for name, param in model.named_parameters():
        groups[name.startswith(("classifier.", "pre_classifier."))].append(param)
    return torch.optim.AdamW(
        [{"params": groups[False], "lr": learning_rate}, {"params": groups[True], "lr": head_learning_rate}],
        weight_decay=0.01,
    )


def weighted_loss(positive_weight: float) -> Callable[..., torch.Tensor]:
    """Multi-label binary cross-entropy with the positive labels weighted ``positive_weight``."""
    weight = torch.tensor(float(positive_weight))

    def loss(outputs, labels, num_items_in_batch=None):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            outputs.logits, labels.to(outputs.logits.dtype), pos_weight=weight.to(outputs.logits.device)
        )

    return loss


def _bar_only():
    from transformers.trainer_callback import ProgressCallback

    class BarOnly(ProgressCallback):
        """transformers' progress bar, minus the dict of run metrics it writes when training ends."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            return None

    return ProgressCallback, BarOnly


@torch.no_grad()
def start_at_label_priors(model: torch.nn.Module, multi_hot: np.ndarray) -> bool:
    """Multi-label: set the output layer's bias to each label's log prior odds, so training starts
    from the label frequencies instead of p = 0.5 for all of hundreds of mostly absent labels (as
    RetinaNet's focal-loss paper initialises its classifier). Returns whether a bias was set."""
    head = getattr(model, "classifier", None) or getattr(model, "score", None)
    head = getattr(head, "out_proj", head)  # RoBERTa-style heads end in out_proj
    if not isinstance(head, torch.nn.Linear) or head.bias is None or head.bias.shape[0] != multi_hot.shape[1]:
        return False
    prior = (multi_hot.sum(0) + 0.5) / (len(multi_hot) + 1.0)
    head.bias.copy_(torch.from_numpy(np.log(prior / (1.0 - prior))).to(head.bias.dtype))
    return True


def accuracy(predicted: Sequence[int], gold: Sequence[int]) -> float:
    return float((np.asarray(predicted) == np.asarray(gold)).mean())
