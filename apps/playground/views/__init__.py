"""The playground's pages: the editor and its runs, and evaluations on a dataset."""

from apps.playground.views.evaluations import evaluate, evaluation
from apps.playground.views.runs import (
    examples,
    history,
    playground,
    run,
    run_detail,
    save,
    variables,
)

__all__ = [
    "evaluate",
    "evaluation",
    "examples",
    "history",
    "playground",
    "run",
    "run_detail",
    "save",
    "variables",
]
