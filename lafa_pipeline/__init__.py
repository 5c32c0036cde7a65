"""lafa-pipeline: LAFA (Locally Aggregated Feature Attribution) for Hugging Face text models.

Importing the package registers the ``feature-attribution`` pipeline task, whose default model is
the embedded MiniLM-on-SST-2 repo (built locally on first use, see ``default_model``).

Example:
    >>> import lafa_pipeline
    >>> from transformers.pipelines import PIPELINE_REGISTRY
    >>> "feature-attribution" in PIPELINE_REGISTRY.get_supported_tasks()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transformers.pipelines import PIPELINE_REGISTRY

from .config import BASE_METHODS, KERNELS, METHODS, LafaConfig
from .feature_attribution import TASK, FeatureAttributionPipeline
from .index import LafaIndex
from .lafa import Lafa, LafaOutput

if TYPE_CHECKING:  # imported when called: the evaluation and tuning modules are not needed to explain
    from .faithfulness.evaluate import EvaluationReport
    from .faithfulness.tuning import TuningResult

__version__ = "0.1.0"
__all__ = [
    "BASE_METHODS",
    "KERNELS",
    "METHODS",
    "TASK",
    "FeatureAttributionPipeline",
    "Lafa",
    "LafaConfig",
    "LafaIndex",
    "LafaOutput",
    "__version__",
    "evaluate_explainer",
    "load_explainer",
    "show",
    "to_html",
    "tune_explainer",
]


def load_explainer(model: str | None = None, index=None, **pipeline_kwargs) -> FeatureAttributionPipeline:
    """The pipeline for a LAFA repo (folder or Hub id; default: the embedded default, built if needed)
    run with this installed package's code rather than the copy saved in the repo, so no
    ``trust_remote_code`` is needed. Example: ``load_explainer("my-lafa-repo")("some text")``.
    """
    from transformers import pipeline

    from .build.default_model import ensure_default_repo

    return pipeline(  # type: ignore[call-overload]  # transformers' overloads type its built-in tasks only
        TASK,
        model=model or ensure_default_repo(),
        index=index,
        pipeline_class=FeatureAttributionPipeline,
        **pipeline_kwargs,
    )


def evaluate_explainer(explainer, texts, **kwargs) -> EvaluationReport:
    """Faithfulness (and gold agreement) of every method on ``texts``; see ``faithfulness.evaluate``."""
    from .faithfulness.evaluate import evaluate_explainer as evaluate

    return evaluate(explainer, texts, **kwargs)


def tune_explainer(explainer, texts, options=None, **kwargs) -> TuningResult:
    """Choose LAFA's settings on ``texts`` by faithfulness (``options``: a ``TuneOptions``, changed by
    keyword); see ``faithfulness.tuning``."""
    from .faithfulness.tuning import tune_explainer as tune

    return tune(explainer, texts, options, **kwargs)


def show(result, text, compare=None) -> str | None:
    """Display an explanation in a notebook (words shaded by score); see ``apps.render``."""
    from .apps.render import show as render_show

    return render_show(result, text, compare)


def to_html(result, text, compare=None) -> str:
    """An explanation as an HTML snippet (words shaded by score); see ``apps.render``."""
    from .apps.render import to_html as render_html

    return render_html(result, text, compare)


class _BuildOnAccessDefault(dict):
    """The task's default-model entry. transformers reads ``default["model"]`` only when
    ``pipeline("feature-attribution")`` gets no model; reading it here builds the embedded default
    repo if it is not cached yet and returns its folder. transformers has no hook for a default
    model that must be built locally, hence this small mapping."""

    def __init__(self) -> None:
        super().__init__(model=None)

    def __getitem__(self, key):
        if key == "model":
            from .build.default_model import ensure_default_repo

            return ensure_default_repo(), None
        return super().__getitem__(key)


# A copy of the entry, so that save_pretrained (which serialises the class's own entry) never
# writes this machine's default path into a repo.
PIPELINE_REGISTRY.supported_tasks[TASK] = {
    **PIPELINE_REGISTRY.supported_tasks[TASK],
    "default": _BuildOnAccessDefault(),
}
