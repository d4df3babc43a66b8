"""Every REST call the client makes, declared once: method, path, the query parameters and
body fields it may send. The client builds each request from this table (and refuses to
send a parameter the table does not list), and tests/sdk/test_sdk_schema.py compares the
table with the server's OpenAPI schema, so a renamed route or field fails a test instead
of a user's call.

Paths use the schema's own parameter names (`{prompt_name}`), relative to the base URL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    # multipart/form-data (a file upload) instead of JSON.
    multipart: bool = False


_PAGE = ("page", "page_size")
_CURSOR = ("cursor", "page_size")
_P = "/api/v1/prompts/{prompt_name}"

ENDPOINTS: dict[str, Endpoint] = {
    # --- prompts -----------------------------------------------------------------------
    "prompts.serve": Endpoint("GET", _P + "/", query=("tag", "version", "key")),
    "prompts.snapshot": Endpoint("GET", "/api/v1/prompts/", query=("tag",)),
    "prompts.list": Endpoint("GET", "/api/v1/prompts/", query=("q", *_PAGE)),
    "prompts.create": Endpoint("POST", "/api/v1/prompts/", body=("name", "description")),
    "prompts.versions": Endpoint("GET", _P + "/versions/", query=_PAGE),
    "prompts.create_version": Endpoint(
        "POST",
        _P + "/versions/",
        body=(
            "kind",
            "template",
            "messages",
            "variables_schema",
            "model_settings",
            "commit_message",
            "parent",
        ),
    ),
    "prompts.version": Endpoint("GET", _P + "/versions/{version_number}/"),
    "prompts.diff": Endpoint("GET", _P + "/diff/", query=("from", "to")),
    # --- tags and promotions -------------------------------------------------------------
    "tags.list": Endpoint("GET", _P + "/tags/"),
    "tags.move": Endpoint(
        "POST", _P + "/tags/{tag_name}/move/", body=("version", "reason", "immutable")
    ),
    "tags.history": Endpoint("GET", _P + "/tags/{tag_name}/history/", query=_PAGE),
    "promotions.list": Endpoint("GET", "/api/v1/promotions/", query=("prompt", "status", *_PAGE)),
    "promotions.create": Endpoint(
        "POST",
        "/api/v1/promotions/",
        body=("prompt", "tag_name", "candidate", "description", "evidence", "rollout_percent"),
    ),
    "promotions.get": Endpoint("GET", "/api/v1/promotions/{promotion_id}/"),
    # --- datasets ----------------------------------------------------------------------
    "datasets.list": Endpoint("GET", "/api/v1/datasets/", query=_PAGE),
    "datasets.create": Endpoint("POST", "/api/v1/datasets/", body=("name", "description")),
    "datasets.get": Endpoint("GET", "/api/v1/datasets/{dataset_id}/"),
    "datasets.revisions": Endpoint("GET", "/api/v1/datasets/{dataset_id}/revisions/", query=_PAGE),
    "datasets.examples": Endpoint(
        "GET", "/api/v1/datasets/{dataset_id}/examples/", query=("revision", "split", *_PAGE)
    ),
    "datasets.add_rows": Endpoint(
        "POST", "/api/v1/datasets/{dataset_id}/examples/bulk/", body=("rows", "source", "message")
    ),
    "datasets.upload": Endpoint(
        "POST",
        "/api/v1/datasets/{dataset_id}/upload/",
        body=("file", "format", "mapping"),
        multipart=True,
    ),
    # --- experiments -------------------------------------------------------------------
    "experiments.list": Endpoint(
        "GET", "/api/v1/experiments/", query=("status", "dataset", *_PAGE)
    ),
    "experiments.create": Endpoint(
        "POST",
        "/api/v1/experiments/",
        body=(
            "name",
            "description",
            "dataset",
            "dataset_name",
            "dataset_revision",
            "split",
            "variants",
            "evaluators",
            "repetitions",
            "concurrency",
            "cost_cap",
            "allow_unpriced",
            "start",
        ),
    ),
    "experiments.get": Endpoint("GET", "/api/v1/experiments/{experiment_id}/"),
    "experiments.start": Endpoint("POST", "/api/v1/experiments/{experiment_id}/start/"),
    "experiments.cancel": Endpoint("POST", "/api/v1/experiments/{experiment_id}/cancel/"),
    "experiments.results": Endpoint(
        "GET",
        "/api/v1/experiments/{experiment_id}/results/",
        query=("variant", "errors", "failed", *_PAGE),
    ),
    "experiments.comparison": Endpoint(
        "GET",
        "/api/v1/experiments/{experiment_id}/comparison/",
        query=("rule", "threshold", "evaluator"),
    ),
    # --- scores ------------------------------------------------------------------------
    "scores.create": Endpoint(
        "POST",
        "/api/v1/scores/",
        body=("id", "trace_id", "span_id", "name", "value", "source", "comment", "author"),
    ),
    "scores.list": Endpoint(
        "GET", "/api/v1/scores/", query=("trace_id", "name", "source", "since", *_CURSOR)
    ),
    # --- annotation queues -------------------------------------------------------------
    "annotations.queues": Endpoint("GET", "/api/v1/annotation-queues/", query=_PAGE),
    "annotations.create_queue": Endpoint(
        "POST",
        "/api/v1/annotation-queues/",
        body=("name", "instructions", "form_fields", "annotators_per_item"),
    ),
    "annotations.fill": Endpoint(
        "POST",
        "/api/v1/annotation-queues/{queue_id}/fill/",
        body=(
            "experiment_id",
            "mode",
            "sample_size",
            "seed",
            "baseline_variant",
            "candidate_variant",
        ),
    ),
    "annotations.items": Endpoint(
        "GET", "/api/v1/annotation-queues/{queue_id}/items/", query=("status", *_PAGE)
    ),
    # --- traces ------------------------------------------------------------------------
    "traces.list": Endpoint(
        "GET",
        "/api/v1/traces/",
        query=(
            "range",
            "start",
            "end",
            "name",
            "status",
            "model",
            "prompt",
            "version",
            "function",
            "function_version",
            "q",
            "session",
            "user",
            "score",
            *_CURSOR,
        ),
    ),
    "traces.get": Endpoint("GET", "/api/v1/traces/{trace_id}/"),
}
