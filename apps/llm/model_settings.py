"""The settings of one model call as one type: checked when they come in as JSON, stored
back as JSON, overridden per experiment variant, and sent by the gateway as the body of
the request.

A version, a variant, a playground run and a judge all hold a `ModelSettings`; only this
module knows the keys, their limits and how each reaches the provider.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from apps.core.errors import ValidationFailed

SETTINGS_KEYS = (
    "provider_id",
    "model",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "response_format",
    "tools",
)
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
JSON_FORMATS = ("json_object", "json_schema")
MAX_STOP = 4
FIELD = "model_settings"

# (key, low, high, whole number?) in the order they are checked and stored.
_NUMBERS = (
    ("temperature", 0, 2, False),
    ("top_p", 0, 1, False),
    ("max_tokens", 1, 1_000_000, True),
)


def _number(settings: Mapping, key: str, *, low: float, high: float, integer: bool = False):
    value = settings[key]
    if value in (None, ""):
        return None
    field = f"{FIELD}.{key}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationFailed(f"{key} must be a number.", field=field)
    try:
        number = int(value) if integer else float(value)
    except (ValueError, OverflowError):
        raise ValidationFailed(f"{key} must be a number.", field=field) from None
    if integer and isinstance(value, float) and value != int(value):
        raise ValidationFailed(f"{key} must be a whole number.", field=field)
    if not low <= number <= high:
        raise ValidationFailed(f"{key} must be between {low:g} and {high:g}.", field=field)
    return number


# --- open settings: any other Chat Completions parameter ------------------------------------
# https://platform.openai.com/docs/api-reference/chat/create. Each is checked for its JSON
# type (and range or choices) and sent as is. Not here on purpose: `messages` and `model`
# (the version holds them), `stream`/`stream_options` (the gateway decides), and the
# deprecated `functions`/`function_call` (use tools).


def _check_number(low: float, high: float, *, integer: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be {kind}"
        if integer and not (isinstance(value, int) or float(value).is_integer()):
            return "must be a whole number"
        if not low <= value <= high:
            return f"must be {kind} between {low:g} and {high:g}"
        return ""

    return check


def _check_choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return "" if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _check_bool(value: Any) -> str:
    return "" if isinstance(value, bool) else "must be true or false"


def _check_text(value: Any) -> str:
    return "" if isinstance(value, str) and len(value) <= 512 else "must be text (512 at most)"


def _check_object(value: Any) -> str:
    return "" if isinstance(value, dict) else "must be a JSON object"


def _check_logit_bias(value: Any) -> str:
    message = "must map token ids to numbers from -100 to 100"
    if not isinstance(value, dict) or len(value) > 300:
        return message
    for token, bias in value.items():
        if not str(token).isdigit() or _check_number(-100, 100)(bias):
            return message
    return ""


def _check_metadata(value: Any) -> str:
    ok = isinstance(value, dict) and len(value) <= 16
    ok = ok and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return "" if ok else "must map up to 16 keys to text"


def _check_texts(value: Any) -> str:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return "" if ok else "must be a list of text"


def _check_tool_choice(value: Any) -> str:
    if value in ("none", "auto", "required") or isinstance(value, dict):
        return ""
    return "must be none, auto, required or a tool object"


REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")
OPEN_SETTINGS: dict[str, Callable[[Any], str]] = {
    "frequency_penalty": _check_number(-2, 2),
    "presence_penalty": _check_number(-2, 2),
    "seed": _check_number(-(2**63), 2**63 - 1, integer=True),
    "max_completion_tokens": _check_number(1, 1_000_000, integer=True),
    "n": _check_number(1, 128, integer=True),
    "logprobs": _check_bool,
    "top_logprobs": _check_number(0, 20, integer=True),
    "logit_bias": _check_logit_bias,
    "parallel_tool_calls": _check_bool,
    "tool_choice": _check_tool_choice,
    "reasoning_effort": _check_choice(*REASONING_EFFORTS),
    "verbosity": _check_choice("low", "medium", "high"),
    "service_tier": _check_choice("auto", "default", "flex", "scale", "priority"),
    "store": _check_bool,
    "metadata": _check_metadata,
    "modalities": _check_texts,
    "audio": _check_object,
    "prediction": _check_object,
    "web_search_options": _check_object,
    "user": _check_text,
    "safety_identifier": _check_text,
    "prompt_cache_key": _check_text,
}
# Every key a version's model settings may hold.
ALL_SETTINGS_KEYS = (*SETTINGS_KEYS, *OPEN_SETTINGS)


def _open_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The checked open settings of `settings` (unset values dropped), in table order."""
    values: dict[str, Any] = {}
    for key, check in OPEN_SETTINGS.items():
        value = settings.get(key)
        if value is None or value == "":
            continue
        problem = check(value)
        if problem:
            raise ValidationFailed(f"{key} {problem}.", field=f"{FIELD}.{key}")
        values[key] = value
    return values


@dataclass(frozen=True)
class ModelSettings:
    """Which model to call and how. Unset values are None (or empty) and are not sent.

    The constructor does not check limits: build from user input with `from_json`, from a
    row that was checked when written with `from_stored`. `stop` and `tools` are tuples
    (a list or, for `stop`, one string is accepted); treat `response_format` as read-only.
    """

    provider_id: int | None = None
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    response_format: dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] = ()
    # Any other Chat Completions parameter (OPEN_SETTINGS), sent as is: {"seed": 7, ...}.
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        stop: Any = self.stop
        if isinstance(stop, str):
            object.__setattr__(self, "stop", (stop,) if stop else ())
        elif not isinstance(stop, tuple):
            object.__setattr__(self, "stop", tuple(stop or ()))
        if not isinstance(self.tools, tuple):
            object.__setattr__(self, "tools", tuple(self.tools or ()))

    # --- in and out as JSON -----------------------------------------------------------

    @classmethod
    def from_json(cls, settings: Mapping[str, Any] | None) -> ModelSettings:
        """Checked settings from user input; ValidationFailed names the field at fault
        (`model_settings.<key>`). Empty values count as unset; a text response format is
        the default and is dropped."""
        try:
            settings = dict(settings or {})
        except (TypeError, ValueError):
            raise ValidationFailed("Model settings must be an object.", field=FIELD) from None
        unknown = sorted(set(settings) - set(ALL_SETTINGS_KEYS))
        if unknown:
            raise ValidationFailed(
                f"Unknown model setting {unknown[0]!r}: not a Chat Completions parameter "
                "a version can hold.",
                field=f"{FIELD}.{unknown[0]}",
            )
        values: dict[str, Any] = {}
        if settings.get("provider_id") not in (None, ""):
            values["provider_id"] = int(
                _number(settings, "provider_id", low=1, high=2**63 - 1, integer=True)
            )
        if settings.get("model") not in (None, ""):
            if not isinstance(settings["model"], str) or len(settings["model"]) > 200:
                raise ValidationFailed("model must be a name.", field=f"{FIELD}.model")
            values["model"] = settings["model"].strip()
        for key, low, high, integer in _NUMBERS:
            if key in settings:
                values[key] = _number(settings, key, low=low, high=high, integer=integer)
        stop = settings.get("stop")
        if stop not in (None, "", []):
            if isinstance(stop, str):
                stop = [stop]
            if (
                not isinstance(stop, list)
                or not all(isinstance(s, str) for s in stop)
                or len(stop) > MAX_STOP
            ):
                raise ValidationFailed(
                    f"stop must be up to {MAX_STOP} strings.", field=f"{FIELD}.stop"
                )
            values["stop"] = stop
        fmt = settings.get("response_format")
        if fmt not in (None, ""):
            if isinstance(fmt, str):
                fmt = {"type": fmt}
            if not isinstance(fmt, dict) or fmt.get("type") not in RESPONSE_FORMATS:
                raise ValidationFailed(
                    "response_format type must be text, json_object or json_schema.",
                    field=f"{FIELD}.response_format",
                )
            if fmt["type"] == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
                raise ValidationFailed(
                    "A json_schema response format needs a json_schema object.",
                    field=f"{FIELD}.response_format",
                )
            if fmt["type"] != "text":
                values["response_format"] = fmt
        tools = settings.get("tools")
        if tools not in (None, "", []):
            if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
                raise ValidationFailed(
                    "tools must be a list of tool objects.", field=f"{FIELD}.tools"
                )
            values["tools"] = tools
        values["extra"] = _open_settings(settings)
        return cls(**values)

    @classmethod
    def from_stored(cls, settings: Mapping[str, Any] | None) -> ModelSettings:
        """Settings as a row holds them, taken as they are: a version's and a variant's were
        checked when written, and a playground run records what was sent. Unknown keys are
        ignored."""
        settings = settings or {}
        return cls(
            provider_id=settings.get("provider_id"),
            model=settings.get("model") or "",
            temperature=settings.get("temperature"),
            max_tokens=settings.get("max_tokens"),
            top_p=settings.get("top_p"),
            stop=settings.get("stop") or (),
            response_format=settings.get("response_format") or None,
            tools=settings.get("tools") or (),
            extra={k: v for k, v in settings.items() if k in OPEN_SETTINGS and v is not None},
        )

    def to_json(self) -> dict[str, Any]:
        """For storage: the set values only, in the order `from_json` checks them."""
        out: dict[str, Any] = {}
        if self.provider_id is not None:
            out["provider_id"] = self.provider_id
        if self.model:
            out["model"] = self.model
        for key in ("temperature", "top_p", "max_tokens"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.stop:
            out["stop"] = list(self.stop)
        if self.response_format:
            out["response_format"] = self.response_format
        if self.tools:
            out["tools"] = list(self.tools)
        out.update(self.extra)
        return out

    # --- derived settings -------------------------------------------------------------

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> ModelSettings:
        """These settings with a variant's overrides (JSON, as posted) on top, checked
        again: an override of None clears that setting."""
        merged = {**self.to_json(), **(overrides or {})}
        return ModelSettings.from_json({k: v for k, v in merged.items() if v is not None})

    def replace(self, **changes: Any) -> ModelSettings:
        """A copy with `changes` (unchecked, like the constructor)."""
        return dataclasses.replace(self, **changes)

    @property
    def output_token_limit(self) -> int | None:
        """The most tokens an answer may have: `max_tokens`, else `max_completion_tokens`
        (its newer name, the one reasoning models take); None when unbounded."""
        limit = self.max_tokens
        if limit is None:
            limit = self.extra.get("max_completion_tokens")
        return None if limit is None else int(limit)

    @property
    def response_format_type(self) -> str:
        return (self.response_format or {}).get("type", "text")

    @property
    def wants_json(self) -> bool:
        """Whether the answer should be parsed as JSON."""
        return self.response_format_type in JSON_FORMATS

    # --- the request ------------------------------------------------------------------

    def request_body(self, messages: list[dict]) -> dict[str, Any]:
        """The chat completion request (OpenAI's wire format) for `messages`."""
        return {"model": self.model, "messages": messages, **self._call_parameters}

    @cached_property
    def _call_parameters(self) -> dict[str, Any]:
        # Built once per settings: the runner sends the same settings for every cell.
        optional = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "stop": list(self.stop) or None,
            "response_format": self.response_format or None,
            "tools": list(self.tools) or None,
        }
        return {**{k: v for k, v in optional.items() if v is not None}, **self.extra}
