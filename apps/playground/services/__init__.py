"""Writes of the playground, by subject: runs and saving (runs), chain runs (chains),
evaluating variants on a dataset (evaluations), the refine assistant (refine)."""

from apps.playground.services.chains import playground_chain_run
from apps.playground.services.evaluations import (
    playground_chain_evaluation_start,
    playground_evaluation_start,
    playground_version_save,
)
from apps.playground.services.refine import refine_message_add, refine_version_save
from apps.playground.services.runs import playground_run_stream

__all__ = [
    "playground_chain_evaluation_start",
    "playground_chain_run",
    "playground_evaluation_start",
    "playground_run_stream",
    "playground_version_save",
    "refine_message_add",
    "refine_version_save",
]
