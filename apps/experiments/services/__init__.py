"""Every write of the experiments app, one module per subject: evaluators, experiments, and
the policies and evidence of promotion on evidence. Reads live in apps.experiments.selectors
(and estimates); the names are gathered here so callers import one place."""

from apps.experiments.services.ci import CIEvaluation, ci_evaluation_start
from apps.experiments.services.evaluators import (
    evaluator_create,
    evaluator_delete,
    evaluator_update,
)
from apps.experiments.services.experiments import (
    MAX_CONCURRENCY,
    MAX_REPETITIONS,
    MAX_VARIANTS,
    WRITE,
    experiment_cancel,
    experiment_create,
    experiment_delete,
    experiment_resume,
    experiment_start,
)
from apps.experiments.services.policies import (
    gating_experiment_run,
    policy_delete,
    policy_set,
    promotion_evidence_add,
)
from apps.experiments.variants import VariantSpec

__all__ = [
    "CIEvaluation",
    "ci_evaluation_start",
    "MAX_CONCURRENCY",
    "MAX_REPETITIONS",
    "MAX_VARIANTS",
    "WRITE",
    "VariantSpec",
    "evaluator_create",
    "evaluator_delete",
    "evaluator_update",
    "experiment_cancel",
    "experiment_create",
    "experiment_delete",
    "experiment_resume",
    "experiment_start",
    "gating_experiment_run",
    "policy_delete",
    "policy_set",
    "promotion_evidence_add",
]
