"""Lift the GenAI fields of a span out of its attributes and events.

Understands the OpenTelemetry GenAI semantic conventions (`gen_ai.*`, current and older
spellings), OpenInference (`llm.*`, `input.value`, `output.value`) and our own
`promptyard.*` attributes. Everything here is data: nothing decides tenancy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from apps.core.jsonshape import shape_problem

MAX_TEXT = 100_000  # characters of input/output kept per span
# JSON in an attribute nesting deeper than this is kept as text, not walked (the walk
# recurses; attribute values themselves are cut at otlp.MAX_VALUE_DEPTH).
MAX_DEPTH = 32
# Token counts past this are not believed (kept as unknown): a trace sums its spans' counts
# into a 64-bit column and prices them into an 18-digit cost, neither of which may overflow.
MAX_TOKENS = 10**12

MODEL_KEYS = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
# A conversation's id and the end user's: OpenInference (`session.id`, `user.id`), the OTel
# GenAI conversation id and older `enduser.id`, and Langfuse's names.
SESSION_KEYS = ("session.id", "gen_ai.conversation.id", "langfuse.session.id")
USER_KEYS = ("user.id", "enduser.id", "langfuse.user.id")
ID_MAX = 255
SYSTEM_KEYS = ("gen_ai.system", "gen_ai.provider.name", "llm.system", "llm.provider")

_INDEXED = re.compile(r"^(gen_ai\.(?:prompt|completion))\.(\d+)\.(role|content)$")
_OI_MESSAGES = re.compile(
    r"^llm\.(input|output)_messages\.(\d+)\.message\.(role|content)$"
)  # OpenInference flattened messages


@dataclass
class GenAIFields:
    model: str = ""
    system: str = ""
    input_text: str = ""
    output_text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    prompt_name: str = ""
    prompt_version_number: int | None = None
    function_name: str = ""
    function_version: str = ""
    session_id: str = ""
    user_id: str = ""


def _first(attrs: dict, keys):
    for key in keys:
        value = attrs.get(key)
        if value not in (None, ""):
            return value
    return None


def _as_int(value, limit: int = 2**62) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):  # "9" * 5000 is float("inf")
        return None
    return number if 0 <= number < limit else None


def _content_text(content) -> str:
    """A message's content: a string, or a list of parts ({type: text, content|text})."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("content", part.get("text"))
                if text is None:
                    text = json.dumps(part, ensure_ascii=False, default=str)
                pieces.append(_content_text(text))
            else:
                pieces.append(_content_text(part))
        return "\n".join(p for p in pieces if p)
    if isinstance(content, dict):
        if "content" in content or "text" in content:
            return _content_text(content.get("content", content.get("text")))
        return json.dumps(content, ensure_ascii=False, default=str)
    return str(content)


def _loads(text: str):
    """JSON in an attribute, or None when it is not JSON or nests deeper than MAX_DEPTH
    (then it is kept as the text it is)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, a huge number, thousands of brackets
        return None
    if shape_problem(value, max_depth=MAX_DEPTH):
        return None
    return value


def messages_text(messages) -> str:
    """Render a list of chat messages as `role: content` lines; strings pass through."""
    if isinstance(messages, str):
        stripped = messages.strip()
        if stripped[:1] in ("[", "{"):
            parsed = _loads(stripped)
            return messages if parsed is None else messages_text(parsed)
        return messages
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        return "" if messages is None else str(messages)
    lines = []
    for message in messages:
        if isinstance(message, dict):
            role = message.get("role", "")
            body = message.get("content", message.get("parts", message.get("message")))
            text = _content_text(body)
            lines.append(f"{role}: {text}" if role else text)
        else:
            lines.append(_content_text(message))
    return "\n".join(lines)


def _indexed_messages(attrs: dict, pattern: re.Pattern, group: str) -> str:
    found: dict[int, dict] = {}
    for key, value in attrs.items():
        match = pattern.match(key)
        if match and match.group(1).endswith(group):
            found.setdefault(int(match.group(2)), {})[match.group(3)] = value
    if not found:
        return ""
    return messages_text([found[i] for i in sorted(found)])


def _event_text(events: list, direction: str) -> str:
    """Older GenAI conventions put messages on events: gen_ai.content.prompt/completion,
    gen_ai.{system,user,assistant,tool}.message, gen_ai.choice."""
    lines = []
    for event in events:
        name = event.get("name", "")
        attrs = event.get("attributes") or {}
        if direction == "input":
            if name == "gen_ai.content.prompt":
                lines.append(messages_text(attrs.get("gen_ai.prompt", "")))
            elif name in (
                "gen_ai.system.message",
                "gen_ai.user.message",
                "gen_ai.assistant.message",
                "gen_ai.tool.message",
            ):
                role = attrs.get("role") or name.split(".")[1]
                lines.append(f"{role}: {_content_text(attrs.get('content', ''))}")
        else:
            if name == "gen_ai.content.completion":
                lines.append(messages_text(attrs.get("gen_ai.completion", "")))
            elif name == "gen_ai.choice":
                message = attrs.get("message", attrs.get("content", ""))
                if isinstance(message, str):
                    parsed = _loads(message)
                    message = message if parsed is None else parsed
                lines.append(messages_text(message))
    return "\n".join(line for line in lines if line)


def _clip(text: str) -> str:
    return text[:MAX_TEXT]


def extract(attrs: dict, events: list) -> GenAIFields:
    fields = GenAIFields()
    fields.model = str(_first(attrs, MODEL_KEYS) or "")[:200]
    fields.system = str(_first(attrs, SYSTEM_KEYS) or "")
    fields.input_tokens = _as_int(_first(attrs, INPUT_TOKEN_KEYS), MAX_TOKENS)
    fields.output_tokens = _as_int(_first(attrs, OUTPUT_TOKEN_KEYS), MAX_TOKENS)

    input_text = ""
    if attrs.get("gen_ai.input.messages") is not None:
        input_text = messages_text(attrs["gen_ai.input.messages"])
        system = attrs.get("gen_ai.system_instructions")
        if system:
            input_text = f"system: {messages_text(system)}\n{input_text}"
    elif attrs.get("gen_ai.prompt") is not None:
        input_text = messages_text(attrs["gen_ai.prompt"])
    input_text = (
        input_text
        or _indexed_messages(attrs, _INDEXED, "prompt")
        or _indexed_messages(attrs, _OI_MESSAGES, "input")
        or _event_text(events, "input")
    )
    if not input_text and attrs.get("input.value") is not None:
        input_text = _content_text(attrs["input.value"])

    output_text = ""
    if attrs.get("gen_ai.output.messages") is not None:
        output_text = messages_text(attrs["gen_ai.output.messages"])
    elif attrs.get("gen_ai.completion") is not None:
        output_text = messages_text(attrs["gen_ai.completion"])
    output_text = (
        output_text
        or _indexed_messages(attrs, _INDEXED, "completion")
        or _indexed_messages(attrs, _OI_MESSAGES, "output")
        or _event_text(events, "output")
    )
    if not output_text and attrs.get("output.value") is not None:
        output_text = _content_text(attrs["output.value"])

    fields.input_text = _clip(input_text)
    fields.output_text = _clip(output_text)

    fields.prompt_name = str(attrs.get("promptyard.prompt.name") or "")[:200]
    fields.prompt_version_number = _as_int(attrs.get("promptyard.prompt.version"))
    if not fields.prompt_version_number or fields.prompt_version_number >= 2**31:
        fields.prompt_version_number = None
    fields.function_name = str(attrs.get("promptyard.function.name") or "")[:255]
    fields.function_version = str(attrs.get("promptyard.function.version") or "")[:64]
    fields.session_id = str(_first(attrs, SESSION_KEYS) or "").strip()[:ID_MAX]
    fields.user_id = str(_first(attrs, USER_KEYS) or "").strip()[:ID_MAX]
    return fields
