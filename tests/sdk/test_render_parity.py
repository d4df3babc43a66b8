"""One set of render vectors, run against the SDK's Prompt.render and the server's
rendering path (apps.prompts.rendering on the stored version), including a round trip:
stored by the Hub, served over HTTP, rendered by the SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from promptyard import Prompt, Promptyard, RenderError

from apps.core.tenancy import team_scope
from tests.sdk.world import unprotect

VECTORS = json.loads((Path(__file__).parent / "render_vectors.json").read_text())


def _outcome(render, vector):
    try:
        return {"ok": render()}
    except RenderError as exc:
        error = {"variable": exc.variable}
        if "says" in vector.get("error", {}):  # a budget: the message names the limit
            error["says"] = vector["error"]["says"] in exc.message
        return {"error": error}


def _expected(vector):
    if "error" in vector:
        error = {"variable": vector["error"].get("variable")}
        if "says" in vector["error"]:
            error["says"] = True
        return {"error": error}
    return {"ok": vector["expected"]}


def _sdk_render(vector, prompt=None):
    prompt = prompt or Prompt.from_dict(
        {
            "name": "vector",
            "version": 1,
            "kind": vector["kind"],
            "template": vector.get("template", ""),
            "messages": vector.get("messages", []),
            "variables_schema": vector.get("variables_schema", {}),
            "content_hash": "x",
        }
    )
    return _outcome(lambda: prompt.render(**vector["values"]), vector)


def _server_render(vector, version=None):
    from apps.prompts.rendering import render_prompt

    source = version or vector
    return _outcome(
        lambda: render_prompt(
            kind=source["kind"] if version is None else version.kind,
            template=vector.get("template", "") if version is None else version.template,
            messages=vector.get("messages", []) if version is None else version.messages,
            variables_schema=(
                vector.get("variables_schema", {}) if version is None else version.variables_schema
            ),
            values=vector["values"],
        ),
        vector,
    )


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_it_renders_each_vector_the_same_in_the_sdk_and_on_the_server(vector):
    assert _sdk_render(vector) == _expected(vector)
    assert _server_render(vector) == _expected(vector)


def test_stored_served_and_rendered_versions_agree_with_the_vectors(
    live_server, acme, alice, api_key_for
):
    from apps.prompts import services

    unprotect(acme, alice)
    stored = {}
    with team_scope(acme):
        for index, vector in enumerate(VECTORS):
            prompt = services.prompt_create(team=acme, actor=alice, name=f"vector-{index}")
            version = services.version_create(
                team=acme,
                actor=alice,
                prompt=prompt,
                kind=vector["kind"],
                template=vector.get("template", ""),
                messages=vector.get("messages"),
                variables_schema=vector.get("variables_schema"),
                commit_message=vector["name"],
            )
            services.tag_move(
                team=acme, actor=alice, prompt=prompt, tag_name="production", version=version
            )
            stored[index] = version
    client = Promptyard(api_key=api_key_for(acme, alice), base_url=live_server.url)
    snapshot = client.load_snapshot("production")
    assert len(snapshot) == len(VECTORS)
    for index, vector in enumerate(VECTORS):
        served = client.get_prompt(f"vector-{index}")
        assert served.content_hash == stored[index].content_hash
        assert _sdk_render(vector, served) == _expected(vector), vector["name"]
        assert _server_render(vector, stored[index]) == _expected(vector), vector["name"]
