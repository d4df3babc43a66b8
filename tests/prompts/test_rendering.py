"""One rendering function: missing and mistyped variables are named, the sandbox holds."""

import pytest

from apps.prompts.rendering import RenderError, render_prompt, template_variables


def render(template, values=None, schema=None):
    return render_prompt(kind="text", template=template, variables_schema=schema, values=values)


def test_it_renders_text_and_chat():
    assert render("Hi {{ name }}!", {"name": "Ann"}) == "Hi Ann!"
    messages = [
        {"role": "system", "content": "Be {{ tone }}."},
        {"role": "placeholder", "name": "history"},
        {"role": "user", "content": "{{ q }}"},
    ]
    out = render_prompt(
        kind="chat",
        messages=messages,
        values={
            "tone": "brief",
            "q": "Why?",
            "history": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ],
        },
    )
    assert out == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Why?"},
    ]


def test_it_names_a_missing_variable():
    with pytest.raises(RenderError) as excinfo:
        render("Hi {{ name }} from {{ city }}", {"name": "Ann"})
    assert excinfo.value.variable == "city"
    assert "city" in excinfo.value.message


def test_it_names_a_variable_of_the_wrong_type():
    schema = {"count": {"type": "integer"}, "mood": {"type": "string", "enum": ["up", "down"]}}
    with pytest.raises(RenderError) as excinfo:
        render("{{ count }} {{ mood }}", {"count": "3", "mood": "up"}, schema)
    assert excinfo.value.variable == "count" and "integer" in excinfo.value.message
    with pytest.raises(RenderError) as excinfo:
        render("{{ count }} {{ mood }}", {"count": 3, "mood": "sideways"}, schema)
    assert excinfo.value.variable == "mood"
    with pytest.raises(RenderError) as excinfo:
        render("{{ count }}", {"count": True}, {"count": {"type": "integer"}})
    assert excinfo.value.variable == "count"


def test_it_renders_optional_variables_as_empty():
    assert render("a{{ x }}b", {}, {"x": {"type": "string", "required": False}}) == "ab"


def test_it_refuses_a_history_that_is_not_messages():
    with pytest.raises(RenderError) as excinfo:
        render_prompt(
            kind="chat",
            messages=[{"role": "placeholder", "name": "history"}],
            values={"history": "not a list"},
        )
    assert excinfo.value.variable == "history"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ x|attr('__class__') }}",
        "{{ '{0.__class__}'.format(x) }}",
        "{{ x.__class__.__base__ }}",
    ],
)
def test_it_refuses_sandbox_escapes(template):
    with pytest.raises(RenderError, match="sandbox"):
        render(template, {"x": "a"})


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'a' * 10**8 }}",
        "{{ [1] * 10**8 }}",
        "{{ range(10**9)|list }}",
        "{{ 7 ** 100000 }}",
        "{% for i in range(20000) %}{{ 'x' * 99 }}{% endfor %}",
    ],
)
def test_it_refuses_templates_that_would_exhaust_memory(template):
    with pytest.raises(RenderError):
        render(template)


def test_it_reports_syntax_errors_with_their_line():
    with pytest.raises(RenderError) as excinfo:
        template_variables("text", "fine\nstill fine\n{% if %}")
    assert excinfo.value.line == 3
    with pytest.raises(RenderError) as excinfo:
        template_variables(
            "chat",
            messages=[{"role": "user", "content": "ok"}, {"role": "user", "content": "{{ x"}],
        )
    assert excinfo.value.message_index == 1


def test_it_lists_variables_in_order_of_appearance():
    assert template_variables("text", "{{ b }} {{ a }} {{ b }}") == ["b", "a"]
    assert template_variables("text", "{% for i in items %}{{ i }}{% endfor %}") == ["items"]


def test_it_renders_identically_from_the_sdk():
    """The server re-exports the SDK's function: there is one implementation."""
    import promptyard.rendering as sdk

    from apps.prompts import rendering

    assert rendering.render_prompt is sdk.render_prompt
