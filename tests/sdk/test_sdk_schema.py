"""The SDK and the server cannot drift: every call the client makes (its endpoint table,
promptyard._endpoints) is checked against the server's OpenAPI schema, generated in
process by drf-spectacular: the method and path exist, and every query parameter and
body field the SDK may send is one the operation declares."""

from __future__ import annotations

import pytest
from promptyard import Promptyard
from promptyard._endpoints import ENDPOINTS, Endpoint


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _properties(schema: dict, node: dict) -> set[str]:
    """The fields of a request body schema, across oneOf/anyOf/allOf branches."""
    node = _resolve(schema, node)
    names = set(node.get("properties", {}))
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key, []):
            names |= _properties(schema, branch)
    return names


def mismatches(schema: dict, endpoints: dict[str, Endpoint]) -> list[str]:
    problems = []
    for name, spec in endpoints.items():
        operation = schema["paths"].get(spec.path, {}).get(spec.method.lower())
        if operation is None:
            problems.append(f"{name}: no {spec.method} {spec.path} in the schema")
            continue
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for param in sorted(set(spec.query) - declared):
            problems.append(f"{name}: query parameter {param!r} is not in the schema")
        content = operation.get("requestBody", {}).get("content", {})
        kind = "multipart/form-data" if spec.multipart else "application/json"
        if spec.body and kind not in content:
            problems.append(f"{name}: the schema takes no {kind} body")
            continue
        fields = _properties(schema, content[kind]["schema"]) if spec.body else set()
        for field in sorted(set(spec.body) - fields):
            problems.append(f"{name}: body field {field!r} is not in the schema")
    return problems


def test_it_matches_the_openapi_schema(schema):
    assert mismatches(schema, ENDPOINTS) == []


def test_it_fails_when_a_route_or_field_is_renamed_on_the_server(schema):
    renamed = {
        "prompts.diff": Endpoint("GET", "/api/v1/prompts/{prompt_name}/compare/"),
        "tags.move": Endpoint(
            "POST", "/api/v1/prompts/{prompt_name}/tags/{tag_name}/move/", body=("version_no",)
        ),
        "traces.list": Endpoint("GET", "/api/v1/traces/", query=("prompt_name",)),
    }
    assert mismatches(schema, renamed) == [
        "prompts.diff: no GET /api/v1/prompts/{prompt_name}/compare/ in the schema",
        "tags.move: body field 'version_no' is not in the schema",
        "traces.list: query parameter 'prompt_name' is not in the schema",
    ]


def test_it_sends_only_what_the_table_declares():
    client = Promptyard(api_key="pyd_x", base_url="http://example.test")
    with pytest.raises(TypeError, match="does not send query parameter 'colour'"):
        client.traces.list(colour="red")
    request = client._ops.version_diff("greeting", 1, 2).request
    assert (request.method, request.url, request.params) == (
        "GET",
        "http://example.test/api/v1/prompts/greeting/diff/",
        {"from": "1", "to": "2"},
    )


def test_it_covers_every_public_method_of_both_clients():
    """The async areas have the same public methods as the sync ones."""
    from promptyard import _aio_namespaces, _namespaces

    for area in ("Prompts", "Tags", "Datasets", "Experiments", "Scores", "Annotations", "Traces"):
        sync = {n for n in vars(getattr(_namespaces, area)) if not n.startswith("_")}
        async_ = {n for n in vars(getattr(_aio_namespaces, area)) if not n.startswith("_")}
        assert sync == async_, area
