"""The playground's pages: the editor and its runs, evaluations on a dataset, and the
refine assistant."""

from apps.playground.views.chains import chain_evaluate, chain_inputs, chain_run
from apps.playground.views.evaluations import evaluate, evaluation
from apps.playground.views.refine import (
    refine_ask,
    refine_conversations,
    refine_panel,
    refine_save,
)
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
    "chain_evaluate",
    "chain_inputs",
    "chain_run",
    "evaluate",
    "evaluation",
    "examples",
    "history",
    "refine_ask",
    "refine_conversations",
    "refine_panel",
    "refine_save",
    "playground",
    "run",
    "run_detail",
    "save",
    "variables",
]
