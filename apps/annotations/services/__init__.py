"""Every write to annotation queues, items, assignments and annotations, one module per
subject; `services.queue_create(...)` and the rest are reachable from here.

Reads and checks live beside them: `selectors` (queues, items, ids a request names),
`permissions`, `fields` (the verdict form), `results` and `snapshots` (item sources),
`agreement`.
"""

from apps.annotations.services.assignments import ASSIGN_MODES, assignment_remove, items_assign
from apps.annotations.services.claims import item_claim, item_claim_next, item_skip
from apps.annotations.services.datasets import (
    annotation_add_to_dataset,
    queue_add_failures_to_dataset,
)
from apps.annotations.services.filling import (
    FILL_MODES,
    queue_add_spans,
    queue_fill_from_experiment,
)
from apps.annotations.services.queues import (
    MAX_ANNOTATORS,
    queue_create,
    queue_delete,
    queue_update,
)
from apps.annotations.services.verdicts import (
    HUMAN_EVALUATOR_NAME,
    annotation_save,
    item_decide,
    span_annotation_save,
)

__all__ = [
    "ASSIGN_MODES",
    "FILL_MODES",
    "HUMAN_EVALUATOR_NAME",
    "MAX_ANNOTATORS",
    "annotation_add_to_dataset",
    "annotation_save",
    "assignment_remove",
    "item_claim",
    "item_claim_next",
    "item_decide",
    "item_skip",
    "items_assign",
    "queue_add_failures_to_dataset",
    "queue_add_spans",
    "queue_create",
    "queue_delete",
    "queue_fill_from_experiment",
    "queue_update",
    "span_annotation_save",
]
