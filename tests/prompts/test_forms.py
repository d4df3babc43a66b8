"""The editor's form and message formset: what the page posts becomes the arguments of
version_create, and each error lands in the slot the page shows it in."""

from django.http import QueryDict

from apps.core.errors import ValidationFailed
from apps.core.web import errors_on
from apps.prompts.forms import SERVICE_FIELDS, PromptEditor


def posted(**fields) -> QueryDict:
    data = QueryDict(mutable=True)
    for name, value in fields.items():
        data.setlist(name, value if isinstance(value, list) else [value])
    return data


def test_it_reads_chat_rows_from_the_repeated_fields():
    editor = PromptEditor(
        posted(
            kind="chat",
            role=["system", "user", "placeholder", "assistant"],
            content=["Be brief.", "  ", " history ", "{{ answer }}"],
            template="ignored for chat",
            commit_message="chat",
        )
    )
    assert editor.is_valid()
    fields = editor.version_fields()
    assert fields["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "placeholder", "name": "history"},
        {"role": "assistant", "content": "{{ answer }}"},
    ]
    assert fields["template"] == ""
    assert editor.messages[-1] == {"role": "user", "content": ""}  # a blank row to type into


def test_it_checks_model_settings_next_to_their_field():
    editor = PromptEditor(posted(kind="text", template="Hi", temperature="3", stop="a\n\nb"))
    assert not editor.is_valid()
    assert editor.errors == {"temperature": ["temperature must be between 0 and 2."]}

    editor = PromptEditor(posted(kind="text", template="Hi", temperature="0.5", stop="a\n\nb"))
    assert editor.is_valid()
    assert editor.version_fields()["model_settings"] == {"temperature": 0.5, "stop": ["a", "b"]}


def test_it_names_the_line_of_invalid_json():
    editor = PromptEditor(posted(kind="text", template="Hi", tools='[\n{"type": }]'))
    assert not editor.is_valid()
    assert editor.errors["tools"][0].startswith("Not valid JSON (line 2)")


def test_the_preview_skips_the_settings_check():
    editor = PromptEditor(posted(kind="text", template="Hi", top_p="7"), check_settings=False)
    assert editor.is_valid()


def test_it_shows_a_service_error_in_its_slot_or_at_the_top():
    editor = PromptEditor(posted(kind="text", template="Hi"))
    editor.is_valid()
    with errors_on(editor, fields=SERVICE_FIELDS):
        raise ValidationFailed(
            "max_tokens must be a whole number.", field="model_settings.max_tokens"
        )
    with errors_on(editor, fields=SERVICE_FIELDS):
        raise ValidationFailed("Kind must be 'text' or 'chat'.", field="kind")
    with errors_on(editor, fields=SERVICE_FIELDS):
        raise ValidationFailed("A chat prompt needs at least one message.", field="messages")
    assert editor.errors == {
        "max_tokens": ["max_tokens must be a whole number."],
        "form": ["Kind must be 'text' or 'chat'."],
        "messages": ["A chat prompt needs at least one message."],
    }


def test_it_starts_from_the_base_version(hub):
    editor = PromptEditor(base=hub["v2"])
    assert editor.template == "Hello {{ name }}!"
    assert editor.kind == "text"
    assert editor.commit_message == ""
    assert editor.settings["response_format"] == "text"
