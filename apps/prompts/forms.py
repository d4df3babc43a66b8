"""The prompt editor's forms: a version's fields (VersionForm, with a name and description
for a new prompt) and its chat messages as a formset, read and shown together by
PromptEditor.

The page posts messages as repeated `role` / `content` fields, so rows added by htmx need
no renumbering; `message_formset` reads those lists into the formset. Content (template
syntax, roles, the schema) is checked by the services; these forms parse what was typed
and check the model settings.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.utils import ErrorList
from django.http import QueryDict

from apps.core import jsonshape
from apps.core.errors import ValidationFailed
from apps.llm.chat import EDITOR_ROLES
from apps.llm.model_settings import OPEN_SETTINGS, REASONING_EFFORTS, SETTINGS_KEYS
from apps.prompts import chains
from apps.prompts.content import normalize_model_settings
from apps.prompts.models import Kind, PromptVersion
from apps.prompts.rendering import PLACEHOLDER

# Typed as text in the editor; the rest of the model settings have fields of their own.
TEXT_SETTINGS = ("provider_id", "model", "temperature", "max_tokens", "top_p")
# Open settings (any Chat Completions parameter) with a field of their own; the others are
# typed as one JSON object, "extra settings". Numbers are typed as text and parsed here.
WHOLE_SETTINGS = ("seed", "max_completion_tokens")
DECIMAL_SETTINGS = ("frequency_penalty", "presence_penalty")
FRIENDLY_SETTINGS = (*WHOLE_SETTINGS, *DECIMAL_SETTINGS, "reasoning_effort", "parallel_tool_calls")
EXTRA_BOX = "extra_settings"
# A service error about `model_settings.<key>` is shown next to the field for that key;
# about any other key, next to the extra settings box.
SERVICE_FIELDS = {
    **{f"model_settings.{key}": EXTRA_BOX for key in OPEN_SETTINGS},
    **{f"model_settings.{key}": key for key in (*SETTINGS_KEYS, *FRIENDLY_SETTINGS)},
}
# Where the page shows errors; any other goes to the top of the form ("form").
ERROR_SLOTS = frozenset(
    {
        "name",
        "template",
        "messages",
        "variables_schema",
        "commit_message",
        "steps",
        "json_schema",
        *SETTINGS_KEYS,
        *FRIENDLY_SETTINGS,
        EXTRA_BOX,
    }
)


def _slot_of(field: str | None) -> str | None:
    """The editor field a settings error belongs to: its own field, the extra settings box
    for any other key (an unknown one too), else the top of the form."""
    if field in SERVICE_FIELDS:
        return SERVICE_FIELDS[field]
    if field and field.startswith("model_settings."):
        return EXTRA_BOX
    return None


def _parsed_number(text: str, *, whole: bool):
    """A typed number as a number; anything else as typed (the settings check names it)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text) if whole else float(text)
    except ValueError:
        return text


MESSAGES_PREFIX = "messages"
# The editor's model-settings fields (a chain has none).
SETTINGS_FIELDS = (
    *TEXT_SETTINGS,
    "stop",
    "response_format",
    "json_schema",
    "tools",
    *FRIENDLY_SETTINGS,
    EXTRA_BOX,
)


def _text(**kwargs) -> forms.CharField:
    return forms.CharField(required=False, **kwargs)


class VersionForm(forms.Form):
    """What one version is made of, as typed in the editor."""

    # Checked by the content check, whose message names the kinds.
    kind = _text(strip=False)
    template = _text(strip=False)
    variables_schema = _text(strip=False)
    provider_id = _text()
    model = _text()
    temperature = _text()
    max_tokens = _text()
    top_p = _text()
    stop = _text(strip=False)
    response_format = _text(strip=False)
    json_schema = _text(strip=False)
    tools = _text(strip=False)
    seed = _text()
    max_completion_tokens = _text()
    frequency_penalty = _text()
    presence_penalty = _text()
    reasoning_effort = _text()
    parallel_tool_calls = _text()
    extra_settings = _text(strip=False)
    commit_message = _text(strip=False)

    def __init__(self, *args, check_settings: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        # The live preview shows the template whatever the settings say.
        self.check_settings = check_settings

    def _posted(self, name: str, default: str) -> str:
        return self.cleaned_data[name] if name in self.data else default

    def _json(self, name: str, default):
        raw = (self.cleaned_data.get(name) or "").strip()
        if not raw:
            return default
        try:
            return jsonshape.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON (line {exc.lineno}): {exc.msg}.")
        except ValueError as exc:  # too deep, a huge number
            raise forms.ValidationError(f"Not usable JSON: {exc}.") from None

    def clean_kind(self) -> str:
        return self._posted("kind", Kind.TEXT)

    def clean_response_format(self) -> str:
        return self._posted("response_format", "text")

    def clean_variables_schema(self) -> dict:
        schema = self._json("variables_schema", {})
        return schema if isinstance(schema, dict) else {}

    def clean_json_schema(self):
        return self._json("json_schema", None)

    def clean_tools(self):
        return self._json("tools", None)

    def clean_extra_settings(self) -> dict:
        extra = self._json(EXTRA_BOX, {})
        if not isinstance(extra, dict):
            raise forms.ValidationError(
                'Extra settings must be a JSON object, e.g. {"logit_bias": {"50256": -100}}.'
            )
        own = sorted(set(extra) & {*SETTINGS_KEYS, *FRIENDLY_SETTINGS})
        if own:
            raise forms.ValidationError(f"{own[0]} has a field of its own above.")
        return extra

    def _open_settings(self, data: dict) -> dict:
        values: dict = {}
        for key in (*WHOLE_SETTINGS, *DECIMAL_SETTINGS):
            values[key] = _parsed_number(data.get(key) or "", whole=key in WHOLE_SETTINGS)
        values["reasoning_effort"] = (data.get("reasoning_effort") or "").strip() or None
        parallel = (data.get("parallel_tool_calls") or "").strip()
        values["parallel_tool_calls"] = {"true": True, "false": False}.get(parallel, parallel)
        values.update(data.get(EXTRA_BOX) or {})
        return {k: v for k, v in values.items() if v not in (None, "")}

    def clean_stop(self) -> list[str]:
        return [s for s in (self.cleaned_data.get("stop") or "").splitlines() if s]

    def clean(self):
        data = super().clean()
        if data.get("kind") == Kind.CHAIN:
            # A chain's steps run on their own versions' model settings: it has none, so
            # the (hidden) settings fields are ignored, errors and all.
            for name in SETTINGS_FIELDS:
                self._errors.pop(name, None)
            data["model_settings"] = {}
            return data
        fmt = data.get("response_format", "text")
        settings = {key: data.get(key, "") for key in TEXT_SETTINGS}
        settings.update(
            stop=data.get("stop", []),
            response_format=(
                {"type": fmt, "json_schema": data.get("json_schema")}
                if fmt == "json_schema"
                else fmt
            ),
            tools=data.get("tools"),
        )
        settings.update(self._open_settings(data))
        if self.check_settings:
            try:
                settings = normalize_model_settings(settings)
            except ValidationFailed as exc:
                self.add_error(_slot_of(exc.field), exc.message)
        data["model_settings"] = settings
        return data

    def version_fields(self) -> dict:
        """The keyword arguments of `services.version_create` for what was typed."""
        data = self.cleaned_data
        kind = data.get("kind", Kind.TEXT)
        return {
            "kind": kind,
            "template": data.get("template", "") if kind == Kind.TEXT else "",
            "variables_schema": data.get("variables_schema", {}),
            # A chain's steps run on their own versions' model settings.
            "model_settings": data.get("model_settings", {}) if kind != Kind.CHAIN else {},
            "commit_message": data.get("commit_message", ""),
        }


class PromptCreateForm(VersionForm):
    """A new prompt: its name and description, and its first version."""

    name = _text(strip=False)
    description = _text(strip=False)


class MessageForm(forms.Form):
    # Not a choice field: the content check names an unknown role with its row number.
    role = _text(strip=False)
    content = _text(strip=False)

    def entry(self) -> dict | None:
        """The row as a version stores it; None for a blank row (blank rows are dropped)."""
        role = self.cleaned_data.get("role", "")
        content = self.cleaned_data.get("content", "")
        if not content.strip():
            return None
        if role == PLACEHOLDER:
            return {"role": PLACEHOLDER, "name": content.strip()}
        return {"role": role, "content": content}


class BaseMessageFormSet(forms.BaseFormSet):
    def entries(self) -> list[dict]:
        return [entry for form in self.forms if (entry := form.entry()) is not None]


# formset_factory returns a subclass of the `formset` it is given.
MessageFormSet = cast(
    "type[BaseMessageFormSet]",
    forms.formset_factory(MessageForm, formset=BaseMessageFormSet, extra=0),
)


def message_formset(data: QueryDict | None = None) -> BaseMessageFormSet:
    """The posted `role` / `content` lists as a bound formset (unbound without data)."""
    if data is None:
        return MessageFormSet(prefix=MESSAGES_PREFIX)
    rows = list(zip(data.getlist("role"), data.getlist("content"), strict=False))
    bound = {
        f"{MESSAGES_PREFIX}-TOTAL_FORMS": str(len(rows)),
        f"{MESSAGES_PREFIX}-INITIAL_FORMS": "0",
    }
    for index, (role, content) in enumerate(rows):
        bound[f"{MESSAGES_PREFIX}-{index}-role"] = role
        bound[f"{MESSAGES_PREFIX}-{index}-content"] = content
    return MessageFormSet(bound, prefix=MESSAGES_PREFIX)


def _initial(base: PromptVersion | None) -> dict:
    """The editor's fields for a new version starting from `base` (a new prompt: empty)."""
    settings = dict(base.model_settings) if base is not None else {}
    fmt = settings.get("response_format") or {}
    schema = base.variables_schema if base is not None else None
    extra = {k: v for k, v in settings.items() if k in OPEN_SETTINGS and k not in FRIENDLY_SETTINGS}
    return {
        "kind": base.kind if base is not None else Kind.TEXT,
        "template": base.template if base is not None else "",
        "variables_schema": json.dumps(schema, indent=2) if schema else "",
        **{key: settings.get(key, "") for key in TEXT_SETTINGS},
        "stop": "\n".join(settings.get("stop", [])),
        "response_format": fmt.get("type", "text"),
        "json_schema": json.dumps(fmt["json_schema"], indent=2) if fmt.get("json_schema") else "",
        "tools": json.dumps(settings["tools"], indent=2) if settings.get("tools") else "",
        **{key: _shown(settings.get(key)) for key in FRIENDLY_SETTINGS},
        EXTRA_BOX: json.dumps(extra, indent=2) if extra else "",
        "commit_message": "",
        "name": "",
        "description": "",
    }


def _shown(value) -> str:
    """A setting as its field shows it (true/false for a flag)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _texts(errors: ErrorList) -> list[str]:
    """An error list's messages as text (iterating one yields the messages)."""
    return [str(message) for message in errors]


# --- chain steps ---------------------------------------------------------------------
# A chain's steps are posted as numbered fields, `steps-<i>-name|prompt|by|pin` and
# `steps-<i>-in-<variable>` (the template feeding that variable; empty: the chain input of
# its name). Adding, removing and moving steps are submit buttons (`step_action`) that
# re-draw the editor without saving: no script is needed to build a chain.
_STEP_FIELD = re.compile(r"^steps-(\d{1,3})-(name|prompt|by|pin)$")
_STEP_INPUT = re.compile(r"^steps-(\d{1,3})-in-(\w{1,100})$")
_STEP_ERROR = re.compile(r"^Step (\d+): ")
STEP_ACTION = "step_action"
PIN_VERSION, PIN_TAG = "version", "tag"


@dataclass
class StepRow:
    """One step as the editor shows and posts it."""

    name: str = ""
    prompt: str = ""
    by: str = PIN_VERSION
    pin: str = ""
    inputs: dict[str, str] = dataclasses.field(default_factory=dict)
    variables: list[str] | None = None  # the step's prompt's variables, when it resolves
    errors: list[str] = dataclasses.field(default_factory=list)

    def is_blank(self) -> bool:
        return not (
            self.name.strip() or self.prompt or self.pin.strip() or any(self.inputs.values())
        )

    def spec(self) -> dict[str, Any]:
        """The step as `chains.clean_steps` reads it (which names what is wrong)."""
        spec: dict[str, Any] = {
            "name": self.name.strip(),
            "prompt": self.prompt,
            "inputs": {k: v for k, v in self.inputs.items() if v.strip()},
        }
        pin = self.pin.strip()
        if self.by == PIN_TAG:
            spec["tag"] = pin
        elif pin:
            number = pin[1:] if pin[:1] in ("v", "V") else pin
            spec["version"] = int(number) if number.isdigit() else pin
        return spec

    @property
    def input_rows(self) -> list[tuple[str, str]]:
        """(variable, template) fields shown: the step's variables, then any other mapped."""
        names = list(self.variables or [])
        names += [k for k in self.inputs if k not in names]
        return [(name, self.inputs.get(name, "")) for name in names]


def step_rows(data: QueryDict) -> list[StepRow]:
    """The posted steps, in their numbered order."""
    rows: dict[int, StepRow] = {}
    for key in data:
        value = str(data.get(key, ""))
        if match := _STEP_FIELD.match(key):
            row = rows.setdefault(int(match[1]), StepRow())
            setattr(row, match[2], value)
        elif match := _STEP_INPUT.match(key):
            rows.setdefault(int(match[1]), StepRow()).inputs[match[2]] = value
    return [rows[i] for i in sorted(rows)]


def rows_from_steps(steps: list[dict[str, Any]]) -> list[StepRow]:
    """A saved chain's steps as editor rows."""
    return [
        StepRow(
            name=step.get("name", ""),
            prompt=step.get("prompt", ""),
            by=PIN_TAG if step.get("tag") else PIN_VERSION,
            pin=str(step.get("tag") or step.get("version") or ""),
            inputs=dict(step.get("inputs") or {}),
        )
        for step in steps
    ]


_STEP_BUTTON = re.compile(r"^(Remove|Move) step (\d{1,3})(?: (up|down))?$")


def step_action_code(label: str) -> str:
    """A step button's label ("Add step", "Remove step 2", "Move step 2 up", "Show
    variables": the buttons are <input type=submit>, whose value is their label) as
    `add`, `remove:<i>`, `up:<i>`, `down:<i>` or `refresh`; a code is kept as it is."""
    if label == "Add step":
        return "add"
    if label == "Show variables":
        return "refresh"
    if match := _STEP_BUTTON.match(label):
        verb = "remove" if match[1] == "Remove" else match[3] or ""
        return f"{verb}:{int(match[2]) - 1}"
    return label


def apply_step_action(rows: list[StepRow], action: str) -> list[StepRow]:
    """`add`, `remove:<i>`, `up:<i>`, `down:<i>` (anything else: the rows as they are,
    e.g. `refresh` to show a newly chosen prompt's variables)."""
    rows = list(rows)
    verb, _, index_text = action.partition(":")
    if verb == "add":
        return [*rows, StepRow()]
    if not index_text.isdigit() or int(index_text) >= len(rows):
        return rows
    index = int(index_text)
    if verb == "remove":
        del rows[index]
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index + 1 < len(rows):
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return rows


class PromptEditor:
    """The editor's form and message formset, validated and shown together.

    `errors` maps the page's error slots (a field, "messages", or "form" for the top of
    the page) to messages. `add_error` and `fields` let `apps.core.web.errors_on` put a
    service's refusal in its slot.
    """

    def __init__(
        self,
        data: QueryDict | None = None,
        *,
        base: PromptVersion | None = None,
        new_prompt: bool = False,
        check_settings: bool = True,
    ):
        form_class = PromptCreateForm if new_prompt else VersionForm
        self.form = form_class(data, initial=_initial(base), check_settings=check_settings)
        self.message_forms = message_formset(data)
        self.base = base
        self._extra_errors: dict[str, list[str]] = {}
        if data is not None and self.kind == Kind.CHAIN:
            rows = step_rows(data)
        elif base is not None and base.kind == Kind.CHAIN:
            rows = rows_from_steps(base.steps or [])
        else:
            rows = []
        # Only a chain has step buttons (Enter in a text prompt's field may post the first
        # of them, hidden: that is a save).
        self.step_action = ""
        if data is not None and self.kind == Kind.CHAIN:
            self.step_action = step_action_code(data.get(STEP_ACTION) or "")
        if self.step_action:
            rows = apply_step_action(rows, self.step_action)
        self.step_rows = rows or [StepRow()]

    # --- reading what was typed --------------------------------------------------------

    def is_valid(self) -> bool:
        form_ok = self.form.is_valid()
        return self.message_forms.is_valid() and form_ok

    def version_fields(self) -> dict:
        """Keyword arguments of `services.version_create`; call after is_valid()."""
        fields = self.form.version_fields()
        fields["messages"] = self.message_forms.entries() if fields["kind"] == Kind.CHAT else []
        if fields["kind"] == Kind.CHAIN:
            fields["steps"] = [row.spec() for row in self.step_rows if not row.is_blank()]
        return fields

    def show_step_variables(self, chain_prompt) -> None:
        """Each step row's prompt variables (input fields), for the steps that resolve."""
        if self.kind != Kind.CHAIN:
            return
        for row in self.step_rows:
            row.variables = chains.step_variables(row.spec(), chain_prompt=chain_prompt)

    # --- errors ------------------------------------------------------------------------

    @property
    def fields(self) -> set[str]:
        return {*self.form.fields, "messages", "steps"}

    def add_error(self, field: str | None, message: str) -> None:
        if field == "steps" and (match := _STEP_ERROR.match(message)):
            # "Step 2: ..." from chains.clean_steps: shown next to that step.
            steps = [row for row in self.step_rows if not row.is_blank()]
            index = int(match[1]) - 1
            if 0 <= index < len(steps):
                steps[index].errors.append(message)
                return
        if field in self.form.fields:
            self.form.add_error(field, message)
        else:
            self._extra_errors.setdefault(field or "form", []).append(message)

    @property
    def errors(self) -> dict[str, list[str]]:
        found: list[tuple[str, list[str]]] = []
        if self.form.is_bound:
            found.extend((field, _texts(errors)) for field, errors in self.form.errors.items())
        if self.message_forms.is_bound and not self.message_forms.is_valid():
            messages = _texts(self.message_forms.non_form_errors())
            # The formset's `errors` is each form's errors (it cannot delete rows).
            for form in self.message_forms.forms:
                for field_errors in form.errors.values():
                    messages.extend(_texts(field_errors))
            found.append(("messages", messages))
        found.extend(self._extra_errors.items())
        out: dict[str, list[str]] = {}
        for field, messages in found:
            slot = field if field in ERROR_SLOTS and field != NON_FIELD_ERRORS else "form"
            out.setdefault(slot, []).extend(messages)
        return out

    # --- what the page shows -----------------------------------------------------------

    def value(self, name: str, default: str = ""):
        """What the field shows: as posted, else its starting value."""
        if self.form.is_bound:
            return self.form.data.get(name, default)
        return self.form.initial.get(name, default)

    @property
    def kind(self) -> str:
        return self.value("kind", Kind.TEXT)

    @property
    def template(self) -> str:
        return self.value("template")

    @property
    def schema_text(self) -> str:
        return self.value("variables_schema")

    @property
    def commit_message(self) -> str:
        return self.value("commit_message")

    @property
    def settings(self) -> dict:
        names = (*TEXT_SETTINGS, "stop", "json_schema", "tools", *FRIENDLY_SETTINGS, EXTRA_BOX)
        return {
            **{name: self.value(name) for name in names},
            "response_format": self.value("response_format", "text"),
        }

    reasoning_efforts = REASONING_EFFORTS

    @property
    def messages(self) -> list[dict]:
        """The message rows shown, ending with a blank one to type into."""
        if self.form.is_bound:
            self.message_forms.is_valid()
            return [*self.message_forms.entries(), {"role": "user", "content": ""}]
        if self.base is not None and self.base.kind == Kind.CHAT and self.base.messages:
            return [*self.base.messages, {"role": "user", "content": ""}]
        return [{"role": "system", "content": ""}, {"role": "user", "content": ""}]

    roles = EDITOR_ROLES
    pins = (PIN_VERSION, PIN_TAG)
    max_steps = chains.MAX_STEPS
