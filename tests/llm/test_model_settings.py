"""ModelSettings: the one type for a model call's settings."""

import pytest

from apps.core.errors import ValidationFailed
from apps.llm.model_settings import ModelSettings

FULL = {
    "provider_id": "3",
    "model": " gpt-x ",
    "temperature": "0.5",
    "top_p": 1,
    "max_tokens": 3.0,
    "stop": "END",
    "response_format": "json_object",
    "tools": [{"type": "function", "function": {"name": "f"}}],
}


def test_it_parses_and_normalises_json():
    settings = ModelSettings.from_json(FULL)
    assert settings == ModelSettings(
        provider_id=3,
        model="gpt-x",
        temperature=0.5,
        top_p=1.0,
        max_tokens=3,
        stop=("END",),
        response_format={"type": "json_object"},
        tools=({"type": "function", "function": {"name": "f"}},),
    )
    assert settings.to_json() == {
        "provider_id": 3,
        "model": "gpt-x",
        "temperature": 0.5,
        "top_p": 1.0,
        "max_tokens": 3,
        "stop": ["END"],
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    assert ModelSettings.from_json(settings.to_json()) == settings


def test_it_leaves_out_empty_values_and_the_text_format():
    empty = {"model": "", "temperature": "", "stop": [], "tools": [], "response_format": "text"}
    assert ModelSettings.from_json(empty).to_json() == {}
    assert ModelSettings.from_json(None) == ModelSettings()


@pytest.mark.parametrize(
    "given, field, message",
    [
        (
            {"colour": 1},
            "model_settings.colour",
            "Unknown model setting 'colour': not a Chat Completions parameter",
        ),
        ({"stream": True}, "model_settings.stream", "Unknown model setting 'stream'"),
        ({"seed": "seven"}, "model_settings.seed", "seed must be a whole number."),
        ({"seed": 1.5}, "model_settings.seed", "seed must be a whole number."),
        (
            {"reasoning_effort": "max"},
            "model_settings.reasoning_effort",
            "reasoning_effort must be one of none, minimal, low, medium, high.",
        ),
        (
            {"parallel_tool_calls": "yes"},
            "model_settings.parallel_tool_calls",
            "parallel_tool_calls must be true or false.",
        ),
        (
            {"logit_bias": {"abc": 1}},
            "model_settings.logit_bias",
            "logit_bias must map token ids to numbers from -100 to 100.",
        ),
        (
            {"frequency_penalty": 3},
            "model_settings.frequency_penalty",
            "frequency_penalty must be a number between -2 and 2.",
        ),
        ({"temperature": 3}, "model_settings.temperature", "temperature must be between 0 and 2."),
        ({"temperature": True}, "model_settings.temperature", "temperature must be a number."),
        ({"max_tokens": 2.5}, "model_settings.max_tokens", "max_tokens must be a whole number."),
        ({"max_tokens": 1e309}, "model_settings.max_tokens", "max_tokens must be a number."),
        ({"model": 5}, "model_settings.model", "model must be a name."),
        ({"stop": ["a"] * 5}, "model_settings.stop", "stop must be up to 4 strings."),
        ({"response_format": "xml"}, "model_settings.response_format", "response_format type"),
        (
            {"response_format": {"type": "json_schema"}},
            "model_settings.response_format",
            "A json_schema response format needs a json_schema object.",
        ),
        ({"tools": "f"}, "model_settings.tools", "tools must be a list of tool objects."),
        ("not an object", "model_settings", "Model settings must be an object."),
    ],
)
def test_it_names_the_field_at_fault(given, field, message):
    with pytest.raises(ValidationFailed) as caught:
        ModelSettings.from_json(given)
    assert caught.value.field == field
    assert caught.value.message.startswith(message)


def test_it_applies_overrides_and_checks_them():
    base = ModelSettings.from_json({"provider_id": 1, "model": "a", "temperature": 0.2})
    merged = base.with_overrides({"model": "b", "temperature": None, "max_tokens": "5"})
    assert merged == ModelSettings(provider_id=1, model="b", max_tokens=5)
    assert base.with_overrides(None) == base
    with pytest.raises(ValidationFailed) as caught:
        base.with_overrides({"top_p": 2})
    assert caught.value.field == "model_settings.top_p"


def test_it_takes_stored_settings_as_they_are():
    settings = ModelSettings.from_stored({"model": "m", "stop": "x", "temperature": 5})
    assert settings == ModelSettings(model="m", stop=("x",), temperature=5)
    assert ModelSettings.from_stored(None) == ModelSettings()


def test_it_builds_the_request_body():
    settings = ModelSettings.from_json(FULL)
    messages = [{"role": "user", "content": "hi"}]
    assert settings.request_body(messages) == {
        "model": "gpt-x",
        "messages": messages,
        "temperature": 0.5,
        "max_tokens": 3,
        "top_p": 1.0,
        "stop": ["END"],
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    assert ModelSettings(model="m").request_body(messages) == {"model": "m", "messages": messages}
    assert settings.wants_json and not ModelSettings().wants_json
    assert settings.replace(tools=()).request_body(messages).get("tools") is None


def test_it_holds_and_sends_any_chat_completions_parameter():
    given = {
        "model": "m",
        "seed": 7,
        "reasoning_effort": "low",
        "logit_bias": {"50256": -100},
        "parallel_tool_calls": False,
        "frequency_penalty": 0.5,
        "max_completion_tokens": 64,
        "verbosity": "high",
    }
    settings = ModelSettings.from_json(given)
    assert settings.to_json() == given
    assert ModelSettings.from_stored(settings.to_json()) == settings
    body = settings.request_body([{"role": "user", "content": "hi"}])
    assert {k: body[k] for k in given if k != "model"} == {
        k: v for k, v in given.items() if k != "model"
    }
    # An override reaches the open settings too; None clears one.
    merged = settings.with_overrides({"seed": 8, "verbosity": None})
    assert merged.extra["seed"] == 8 and "verbosity" not in merged.to_json()
