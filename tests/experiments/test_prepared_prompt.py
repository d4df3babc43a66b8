"""The runner's compiled-once rendering gives exactly what the shared render_prompt gives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from apps.experiments.runner import PreparedPrompt, render_messages
from apps.prompts.rendering import RenderError


def version(kind="text", template="", messages=None, schema=None):
    return SimpleNamespace(
        kind=kind, template=template, messages=messages or [], variables_schema=schema or {}
    )


CASES = [
    (version(template="Q: {{ q }}"), {"q": "hi"}),
    (
        version(template="{% if lang != 'en' %}In {{ lang }}: {% endif %}{{ q }}"),
        {"q": "x", "lang": "de"},
    ),
    (version(template="A {{ opt }}B", schema={"opt": {"required": False}}), {}),
    (
        version(
            kind="chat",
            messages=[
                {"role": "system", "content": "Be {{ tone }}"},
                {"role": "user", "content": "{{ q }}"},
            ],
        ),
        {"tone": "brief", "q": "why?"},
    ),
    (
        version(
            kind="chat",
            messages=[
                {"role": "system", "content": "S"},
                {"role": "placeholder", "name": "history"},
                {"role": "user", "content": "{{ q }}"},
            ],
        ),
        {"q": "next", "history": [{"role": "user", "content": "earlier"}]},
    ),
]


@pytest.mark.parametrize("v, values", CASES)
def test_it_renders_like_the_shared_function(v, values):
    assert PreparedPrompt(v).render(values) == render_messages(v, values)


def test_it_compiles_once_and_renders_without_the_shared_slow_path(monkeypatch):
    from promptyard import rendering

    prepared = PreparedPrompt(version(template="Q: {{ q }}"))
    assert prepared.compiled is not None

    def refuse(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(rendering._env, "from_string", refuse)
    monkeypatch.setattr(rendering, "render_prompt", refuse)
    assert prepared.render({"q": "x"}) == [{"role": "user", "content": "Q: x"}]


@pytest.mark.parametrize(
    "v, values, message",
    [
        (version(template="Q: {{ q }}"), {}, "Missing variable 'q'"),
        (
            version(template="{{ n }}", schema={"n": {"type": "integer"}}),
            {"n": "1"},
            "type integer",
        ),
        (version(template="{{ ''.__class__.__mro__ }}"), {}, "sandbox"),
        (version(template="{% if %}"), {}, "Template error"),
    ],
)
def test_it_fails_like_the_shared_function(v, values, message):
    with pytest.raises(RenderError) as shared:
        render_messages(v, values)
    with pytest.raises(RenderError) as prepared:
        PreparedPrompt(v).render(values)
    assert prepared.value.message == shared.value.message
    assert message in prepared.value.message
