"""Every write to datasets and examples, by subject: the dataset itself (`datasets`) and its
examples, each write of which is a new revision (`examples`)."""

from apps.datasets.services.datasets import dataset_create, dataset_delete, dataset_update
from apps.datasets.services.examples import (
    AddedExamples,
    example_create,
    example_delete,
    example_update,
    examples_add_unique,
    examples_bulk_create,
)

__all__ = [
    "AddedExamples",
    "dataset_create",
    "dataset_delete",
    "dataset_update",
    "example_create",
    "example_delete",
    "example_update",
    "examples_add_unique",
    "examples_bulk_create",
]
