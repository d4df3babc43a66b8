"""The OpenAPI schema says what the API answers: error answers and their body, parameters
with their types, enums and bounds, and the shapes the fuzz test (tests/test_api_fuzz.py)
found wrong. Calls here go through `call_checked`: the answer must match the schema."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.views import APIView

from tests import schema_client
from tests.conftest import bearer
from tests.isolation_world import build_world

wsgi_app = schema_client.wsgi_app  # fixtures
api_schema = schema_client.api_schema
call_checked = schema_client.call_checked

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


@pytest.fixture
def admin_key(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["admin"])


@pytest.fixture
def world(acme, alice, bob):
    return build_world(acme, alice, bob)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _query(operation, name):
    return next(p for p in operation["parameters"] if p["in"] == "query" and p["name"] == name)


# --- the schema --------------------------------------------------------------------------


def test_it_generates_a_valid_schema_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "s.yaml")


def test_it_documents_the_error_body_on_every_operation(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail", "code"]
    assert set(error["properties"]) == {"detail", "code", "errors"}
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        # Every API operation authenticates: 401 without credentials, 403 refused.
        assert {"401", "403"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if method != "get" or any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "400" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)


def test_it_documents_409_only_where_a_service_conflicts(schema):
    paths = schema["paths"]
    assert "409" in paths["/api/v1/promotions/{promotion_id}/approve/"]["post"]["responses"]
    assert "409" in paths["/api/v1/experiments/{experiment_id}/start/"]["post"]["responses"]
    assert "409" in paths["/api/v1/datasets/{dataset_id}/"]["delete"]["responses"]
    assert "409" not in paths["/api/v1/datasets/{dataset_id}/"]["patch"]["responses"]
    assert "409" not in paths["/api/v1/datasets/"]["post"]["responses"]


def test_it_documents_429_with_retry_after_where_the_api_is_throttled(monkeypatch):
    from drf_spectacular.generators import SchemaGenerator

    throttled = SchemaGenerator().get_schema(request=None, public=True)
    answer = throttled["paths"]["/api/v1/datasets/"]["get"]["responses"]["429"]
    assert "Retry-After" in answer["headers"]
    monkeypatch.setattr(APIView, "throttle_classes", [])
    unthrottled = SchemaGenerator().get_schema(request=None, public=True)
    assert "429" not in unthrottled["paths"]["/api/v1/datasets/"]["get"]["responses"]


def test_it_gives_every_parameter_a_type(schema):
    for path, method, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            kind = parameter["schema"].get("type")
            assert kind in {"string", "integer", "number", "boolean", "array"}, (
                method,
                path,
                parameter["name"],
            )


def test_it_gives_filters_their_enums_and_pages_their_bounds(schema):
    paths = schema["paths"]
    experiments = paths["/api/v1/experiments/"]["get"]
    assert "running" in _query(experiments, "status")["schema"]["enum"]
    assert _query(paths["/api/v1/traces/"]["get"], "status")["schema"]["enum"] == [
        "unset",
        "ok",
        "error",
    ]
    assert "open" in _query(paths["/api/v1/promotions/"]["get"], "status")["schema"]["enum"]
    assert _query(experiments, "page_size")["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": 50,
    }
    assert _query(experiments, "page")["schema"]["minimum"] == 1
    results = paths["/api/v1/experiments/{experiment_id}/results/"]["get"]
    assert _query(results, "failed")["schema"]["type"] == "boolean"


def test_it_documents_the_trace_list_as_a_page(schema):
    response = schema["paths"]["/api/v1/traces/"]["get"]["responses"]["200"]
    page = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][page]["properties"]
    assert properties["results"]["items"]["$ref"] == "#/components/schemas/Trace"


def test_it_documents_the_prompt_collection_as_a_snapshot_or_a_page(schema):
    collection = schema["components"]["schemas"]["PromptCollection"]
    assert collection["oneOf"] == [
        {"$ref": "#/components/schemas/PromptSnapshot"},
        {"$ref": "#/components/schemas/PromptPage"},
    ]


# --- answers checked against it ----------------------------------------------------------


def test_the_trace_list_answers_with_the_documented_page(api_schema, world, admin_key):
    response = call_checked(api_schema, "GET", "/api/v1/traces/", key=admin_key)
    assert [t["trace_id"] for t in response.json()["results"]] == ["ac" * 16]


def test_the_prompt_list_without_a_tag_answers_with_the_documented_page(
    api_schema, world, admin_key
):
    listed = call_checked(api_schema, "GET", "/api/v1/prompts/", key=admin_key).json()
    assert listed["results"][0]["version_count"] == 2
    snapshot = call_checked(
        api_schema, "GET", "/api/v1/prompts/", key=admin_key, query={"tag": "latest"}
    ).json()
    assert snapshot["prompts"][0]["version"] == 2


def test_prompt_writes_answer_with_the_version_count(api_schema, world, admin_key):
    created = call_checked(
        api_schema, "POST", "/api/v1/prompts/", key=admin_key, body={"name": "fresh"}
    )
    assert created.status_code == 201 and created.json()["version_count"] == 0
    patched = call_checked(
        api_schema,
        "PATCH",
        "/api/v1/prompts/{prompt_name}/",
        key=admin_key,
        path_parameters={"prompt_name": "acme-only-prompt"},
        body={"description": "Says hi"},
    )
    assert patched.json()["version_count"] == 2


def test_queue_writes_answer_with_their_progress(api_schema, world, admin_key):
    created = call_checked(
        api_schema, "POST", "/api/v1/annotation-queues/", key=admin_key, body={"name": "triage"}
    ).json()
    assert (created["total"], created["done"], created["disputed"]) == (0, 0, 0)
    patched = call_checked(
        api_schema,
        "PATCH",
        "/api/v1/annotation-queues/{queue_id}/",
        key=admin_key,
        path_parameters={"queue_id": world.objects["annotation_queue"].pk},
        body={"instructions": "Be kind."},
    ).json()
    assert patched["total"] == 1


def test_anyone_with_the_link_invites_answer_as_documented(
    api_schema, world, admin_key, client, alice
):
    """Such an invite names no one: its email is empty, which the schema allows."""
    client.force_login(alice)  # an owner, not a key, makes one
    created = client.post(
        "/api/v1/t/acme/invites/",
        {"role": "viewer", "anyone_with_link": True},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["email"] == ""
    listed = call_checked(api_schema, "GET", "/api/v1/invites/", key=admin_key).json()
    assert "" in {i["email"] for i in listed["results"]}


# --- parameters: strict, a 400 naming the parameter ---------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=abc", "page_size"),
        ("page_size=1.5", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=", "page_size"),
        ("page=last", "page"),
        ("page=-1", "page"),
        ("status=bogus", "status"),
        ("status=", "status"),
        ("dataset=abc", "dataset"),
    ],
)
def test_it_refuses_a_bad_list_parameter_naming_it(api_client, admin_key, query, field):
    response = api_client.get(f"/api/v1/experiments/?{query}", **bearer(admin_key))
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and field in body["errors"]
    assert body["detail"].startswith(field)


def test_it_accepts_page_parameters_within_their_bounds(api_client, world, admin_key):
    response = api_client.get("/api/v1/datasets/?page=1&page_size=500", **bearer(admin_key))
    assert response.status_code == 200 and response.json()["count"] == 1
    past_the_end = api_client.get("/api/v1/datasets/?page=2", **bearer(admin_key))
    assert past_the_end.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/traces/?status=fine",
        "/api/v1/traces/?range=2h",
        "/api/v1/traces/?version=v2",
        "/api/v1/traces/?start=yesterday",
        "/api/v1/traces/?page_size=many",
        "/api/v1/promotions/?status=pending",
        "/api/v1/members/?role=king",
        "/api/v1/annotations/?queue=first",
        "/api/v1/experiments/{experiment}/results/?failed=maybe",
        "/api/v1/experiments/{experiment}/comparison/?threshold=2",
        "/api/v1/prompts/?tag=production&page_size=none",
        "/api/v1/datasets/{dataset}/examples/?revision=",
        "/api/v1/datasets/{dataset}/examples/?revision=1.0",
    ],
)
def test_it_enforces_what_the_schema_says_of_a_filter(api_client, world, admin_key, url):
    # The world's real ids: a missing object would be a 404 before the filter is read.
    ids = {name: world.objects[name].pk for name in ("experiment", "dataset")}
    response = api_client.get(url.format(**ids), **bearer(admin_key))
    assert response.status_code == 400, response.content
    assert response.json()["errors"]


def test_an_unknown_prompt_filter_is_a_400_naming_it(api_client, admin_key):
    response = api_client.get("/api/v1/promotions/?prompt=nope", **bearer(admin_key))
    assert response.status_code == 400 and "prompt" in response.json()["errors"]


# --- one error body -------------------------------------------------------------------------


def test_serializer_errors_answer_with_the_error_body(api_client, admin_key):
    response = api_client.post("/api/v1/datasets/", {}, format="json", **bearer(admin_key))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "name: This field is required.",
        "code": "invalid",
        "errors": {"name": ["This field is required."]},
    }


def test_nested_serializer_errors_name_the_nested_field(api_client, admin_key):
    body = {"name": "x", "variants": [{"label": "a"}, {"prompt": ""}]}
    response = api_client.post("/api/v1/experiments/", body, format="json", **bearer(admin_key))
    assert response.status_code == 400
    assert response.json()["detail"] == "variants[1].prompt: This field may not be blank."


def test_a_malformed_body_answers_with_the_error_body(api_client, admin_key):
    response = api_client.post(
        "/api/v1/datasets/", "{", content_type="application/json", **bearer(admin_key)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error" and response.json()["detail"]


def test_an_api_path_that_matches_no_route_answers_json(api_client, admin_key, client):
    for url in ("/api/v1/datasets/not-an-id/", "/api/v1/nothing-here/"):
        response = api_client.get(url, **bearer(admin_key))
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found.", "code": "not_found"}
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


# --- ids in bodies: a 400 naming the field, not a 404 -----------------------------------------


def test_posted_names_and_numbers_that_match_nothing_are_400s_naming_them(
    api_client, world, admin_key
):
    key = bearer(admin_key)
    cases = [
        ("/api/v1/promotions/", {"prompt": "nope", "candidate": 1}, "prompt"),
        ("/api/v1/promotions/", {"prompt": "acme-only-prompt", "candidate": 9}, "candidate"),
        ("/api/v1/prompts/acme-only-prompt/tags/staging/move/", {"version": 9}, "version"),
        (
            "/api/v1/prompts/acme-only-prompt/versions/",
            {"template": "Yo", "commit_message": "m", "parent": 9},
            "parent",
        ),
        ("/api/v1/ci/evaluations/", {"prompt": "nope", "dataset": "acme-only-dataset"}, "prompt"),
        ("/api/v1/experiments/", {"name": "x", "variants": [{"prompt": "nope"}]}, "variants"),
    ]
    for url, body, field in cases:
        response = api_client.post(url, body, format="json", **key)
        assert response.status_code == 400, (url, response.content)
        assert field in response.json()["errors"], (url, response.json())


def test_a_prompt_patch_without_a_description_changes_nothing(api_client, world, admin_key):
    response = api_client.patch(
        "/api/v1/prompts/acme-only-prompt/", {}, format="json", **bearer(admin_key)
    )
    assert response.status_code == 200 and response.json()["description"] == ""


def test_creating_a_provider_answers_201_as_documented(api_schema, admin_key):
    created = call_checked(
        api_schema,
        "POST",
        "/api/v1/providers/",
        key=admin_key,
        body={"name": "openai", "kind": "openai", "models": ["gpt-4o-mini"]},
    )
    assert created.status_code == 201
