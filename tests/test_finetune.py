"""Fine-tuning helpers: multi-label heads start at the label priors."""

from __future__ import annotations

import numpy as np
import torch

from lafa_pipeline.build.finetune import start_at_label_priors

from .tiny import tiny_model


def test_multi_label_head_starts_at_label_frequencies():
    model = tiny_model(num_labels=3, problem_type="multi_label_classification")
    labels = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float)
    assert start_at_label_priors(model, labels)
    expected = (labels.sum(0) + 0.5) / (len(labels) + 1.0)  # smoothed, so an absent label is not -inf
    np.testing.assert_allclose(torch.sigmoid(model.classifier.bias).detach().numpy(), expected, rtol=1e-5)
    assert not start_at_label_priors(model, labels[:, :2])  # label count does not fit the head: left alone


def test_fine_tuning_shows_its_bar_but_no_metrics_dict(tokenizer, capsys):
    from lafa_pipeline.build.finetune import fine_tune

    model = tiny_model()
    fine_tune(model, tokenizer, ["good film", "bad film"] * 4, [1, 0] * 4, epochs=1, batch_size=4, show_progress=True)
    out = capsys.readouterr()
    assert "train_runtime" not in out.out + out.err and "2/2" in out.err  # the bar ran to its end
