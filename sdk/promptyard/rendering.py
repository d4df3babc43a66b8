"""Rendering a prompt version: the one implementation the server and the SDK share.

Templates are Jinja2 in a SandboxedEnvironment with StrictUndefined, so `{{ var }}` (also
valid mustache) works, attribute tricks such as `{{ ''.__class__ }}` are refused, and a
missing variable is an error that names it. Variables may be typed with a small JSON
Schema per variable: {"type", "required", "enum", "description"}.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.runtime import Context

from promptyard import render_budget
from promptyard.render_budget import BudgetedSandbox

KIND_TEXT = "text"
KIND_CHAT = "chat"
CHAT_ROLES = ("system", "user", "assistant")
PLACEHOLDER = "placeholder"  # a chat entry {"role": "placeholder", "name": "history"}
SCHEMA_TYPES = ("string", "number", "integer", "boolean", "array", "object")

# Limits that keep one template from exhausting a worker's memory: the sandbox already
# caps range(); these cap what `*`, `**` and the output itself can build. Loops, calls,
# recursion and what other operations build are counted by render_budget.
MAX_REPEAT = 100_000  # items or characters one `*` may produce
MAX_INT_BITS = 4_096  # operands and results of arithmetic
MAX_OUTPUT = 1_000_000  # characters of one rendered template
MAX_SCHEMA_DEPTH = 16  # levels of a variables schema ({name: {"enum": [...]}} is 3)
MAX_SCHEMA_VALUES = 20_000  # values in a variables schema, enum values included


class _PromptSandbox(BudgetedSandbox):
    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    if len(seq) * max(times, 0) > MAX_REPEAT:
                        raise jinja2.exceptions.SecurityError(
                            f"repetition longer than {MAX_REPEAT} is not allowed"
                        )
            _check_number(left)
            _check_number(right)
        elif operator == "**":
            _check_number(left)
            if isinstance(right, (int, float)) and not isinstance(right, bool) and abs(right) > 64:
                raise jinja2.exceptions.SecurityError("exponents above 64 are not allowed")
        result = super().call_binop(context, operator, left, right)
        _check_number(result)
        return result


def _check_number(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise jinja2.exceptions.SecurityError("numbers this large are not allowed")


_env = _PromptSandbox(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # prompts are plain text for a model, not HTML
    keep_trailing_newline=True,
)


class RenderError(ValueError):
    """A template or variable problem, naming the variable and (for syntax) the line."""

    def __init__(
        self,
        message: str,
        *,
        variable: str | None = None,
        line: int | None = None,
        message_index: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.variable = variable
        self.line = line
        self.message_index = message_index

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "variable": self.variable,
            "line": self.line,
            "message_index": self.message_index,
        }


def _syntax_error(exc: jinja2.TemplateSyntaxError, message_index: int | None) -> RenderError:
    where = f"message {message_index + 1}, " if message_index is not None else ""
    return RenderError(
        f"Template error ({where}line {exc.lineno}): {exc.message}",
        line=exc.lineno,
        message_index=message_index,
    )


def _too_nested(message_index: int | None) -> RenderError:
    where = f" (message {message_index + 1})" if message_index is not None else ""
    return RenderError(
        f"Template error{where}: the template is nested too deeply to compile.",
        message_index=message_index,
    )


def _parse(source: str, *, message_index: int | None = None) -> nodes.Template:
    try:
        return _env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, message_index) from None
    except (RecursionError, MemoryError):  # a few thousand nested brackets
        raise _too_nested(message_index) from None


def _sources(
    kind: str, template: str | None, messages: list[Any] | None
) -> list[tuple[int | None, str]]:
    if kind == KIND_TEXT:
        return [(None, template or "")]
    if kind != KIND_CHAT:
        raise RenderError(f"Unknown prompt kind {kind!r}: use 'text' or 'chat'.")
    out: list[tuple[int | None, str]] = []
    for index, message in enumerate(messages or []):
        if not isinstance(message, dict):
            raise RenderError(
                f"Message {index + 1} must be an object with role and content.", message_index=index
            )
        role = message.get("role")
        if role == PLACEHOLDER:
            continue
        if role not in CHAT_ROLES:
            raise RenderError(
                f"Message {index + 1} has role {role!r}; use system, user, assistant or placeholder.",
                message_index=index,
            )
        content = message.get("content", "")
        if not isinstance(content, str):
            raise RenderError(f"Message {index + 1} content must be text.", message_index=index)
        out.append((index, content))
    return out


def template_variables(
    kind: str, template: str | None = None, messages: list[Any] | None = None
) -> list[str]:
    """Variable names in first-seen order: template variables, then history placeholders."""
    names: list[str] = []
    for index, source in _sources(kind, template, messages):
        ast = _parse(source, message_index=index)
        found = meta.find_undeclared_variables(ast)
        # find_undeclared_variables returns a set; keep the order in which names appear.
        ordered = sorted(found, key=lambda n: (_first_position(source, n), n))
        names.extend(n for n in ordered if n not in names)
    if kind == KIND_CHAT:
        for message in messages or []:
            if isinstance(message, dict) and message.get("role") == PLACEHOLDER:
                name = message.get("name") or ""
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise RenderError(f"Placeholder name {name!r} is not a valid variable name.")
                if name not in names:
                    names.append(name)
    return names


def _first_position(source: str, name: str) -> int:
    match = re.search(r"\b" + re.escape(name) + r"\b", source)
    return match.start() if match else len(source)


def validate_schema(schema: object) -> None:
    """Refuse a malformed variables schema with a message naming the variable."""
    if schema in (None, {}):
        return
    if not isinstance(schema, dict):
        raise RenderError("The variables schema must be an object keyed by variable name.")
    problem = render_budget.shape_problem(
        schema, max_depth=MAX_SCHEMA_DEPTH, max_values=MAX_SCHEMA_VALUES
    )
    if problem:
        raise RenderError(f"The variables schema {problem}.")
    for name, spec in schema.items():
        if not isinstance(spec, dict):
            raise RenderError(f"Schema for {name!r} must be an object.", variable=name)
        unknown = set(spec) - {"type", "required", "enum", "description"}
        if unknown:
            raise RenderError(
                f"Schema for {name!r} has unknown key {sorted(unknown)[0]!r}.", variable=name
            )
        if "type" in spec and spec["type"] not in SCHEMA_TYPES:
            raise RenderError(
                f"Schema for {name!r}: type must be one of {', '.join(SCHEMA_TYPES)}.",
                variable=name,
            )
        if "enum" in spec and not isinstance(spec["enum"], list):
            raise RenderError(f"Schema for {name!r}: enum must be a list.", variable=name)


def _type_ok(expected: str, value: Any) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "array":
        return isinstance(value, list)
    if expected == "object":
        return isinstance(value, dict)
    return True


def check_values(
    variables: list[str], schema: dict[str, Any] | None, values: dict[str, Any]
) -> None:
    schema = schema or {}
    for name in variables:
        spec = schema.get(name, {})
        if name not in values:
            if spec.get("required", True):
                raise RenderError(f"Missing variable '{name}'.", variable=name)
            continue
        value = values[name]
        if "type" in spec and not _type_ok(spec["type"], value):
            raise RenderError(
                f"Variable '{name}' must be of type {spec['type']}, got {type(value).__name__}.",
                variable=name,
            )
        if "enum" in spec and value not in spec["enum"]:
            raise RenderError(
                f"Variable '{name}' must be one of {spec['enum']!r}, got {value!r}.", variable=name
            )


class CompiledTemplate:
    """One template source compiled once in the shared sandbox, rendered many times with
    the same limits and errors as `render_prompt`. Build it with `compile_template`."""

    __slots__ = ("_template", "message_index")

    def __init__(self, template: jinja2.Template | None, message_index: int | None = None):
        self._template = template
        self.message_index = message_index

    def render(self, values: dict[str, Any]) -> str:
        """The rendered text; RenderError for a missing value, a refusal or a failure.
        Values are not checked against a schema here: `check_values` does that."""
        if self._template is None:
            return ""
        message_index = self.message_index
        try:
            return _render_bounded(self._template, values)
        except jinja2.UndefinedError as exc:
            name = _undefined_name(str(exc))
            raise RenderError(
                f"Missing variable '{name}'." if name else f"Undefined value: {exc}",
                variable=name,
                message_index=message_index,
            ) from None
        except render_budget.BudgetExceeded as exc:
            raise RenderError(f"Template over budget: {exc}", message_index=message_index) from None
        except RecursionError:
            raise RenderError(
                "Template over budget: nested too deeply (recursion)", message_index=message_index
            ) from None
        except jinja2.exceptions.SecurityError as exc:
            raise RenderError(
                f"Refused by the template sandbox: {exc}", message_index=message_index
            ) from None
        except (TypeError, ValueError, ArithmeticError, jinja2.TemplateError) as exc:
            raise RenderError(
                f"Template failed to render: {exc}", message_index=message_index
            ) from None


def compile_template(source: str, *, message_index: int | None = None) -> CompiledTemplate:
    """Parse and compile one template (a text template or one message's content) once,
    for callers that render it many times; RenderError for a syntax error."""
    if not source:
        return CompiledTemplate(None, message_index)
    try:
        return CompiledTemplate(_env.from_string(source), message_index)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, message_index) from None
    except (RecursionError, MemoryError, SyntaxError):  # Python's own nesting limits
        raise _too_nested(message_index) from None


def _render_one(source: str, values: dict[str, Any], message_index: int | None = None) -> str:
    return compile_template(source, message_index=message_index).render(values)


def _render_bounded(template: jinja2.Template, values: dict[str, Any]) -> str:
    """template.render() under a fresh operation budget (render_budget), stopped once the
    output passes MAX_OUTPUT characters."""
    parts: list[str] = []
    size = 0
    token = render_budget.start()
    try:
        for chunk in template.generate(values):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise render_budget.BudgetExceeded(
                    f"the rendered prompt is longer than {MAX_OUTPUT:,} characters"
                )
            parts.append(chunk)
    finally:
        render_budget.stop(token)
    return "".join(parts)


def _undefined_name(text: str) -> str | None:
    match = re.match(r"'([^']+)' is undefined", text)
    return match.group(1) if match else None


def render_prompt(
    *,
    kind: str,
    template: str | None = None,
    messages: list[Any] | None = None,
    variables_schema: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> str | list[dict[str, Any]]:
    """Render a text prompt to a string, or a chat prompt to a list of {role, content}.

    Same inputs, same output, on the server and in the SDK.
    """
    values = dict(values or {})
    validate_schema(variables_schema)
    names = template_variables(kind, template, messages)
    check_values(names, variables_schema, values)
    # Optional variables that were not given render as empty text rather than failing.
    for name in names:
        if name not in values and not (variables_schema or {}).get(name, {}).get("required", True):
            values[name] = ""
    if kind == KIND_TEXT:
        return _render_one(template or "", values)
    rendered: list[dict[str, Any]] = []
    for index, message in enumerate(messages or []):
        if message.get("role") == PLACEHOLDER:
            history = values.get(message["name"], [])
            if history in ("", None):
                history = []
            if not isinstance(history, list) or not all(
                isinstance(m, dict)
                and m.get("role") in CHAT_ROLES
                and isinstance(m.get("content"), str)
                for m in history
            ):
                raise RenderError(
                    f"Variable '{message['name']}' must be a list of {{role, content}} messages.",
                    variable=message["name"],
                )
            rendered.extend({"role": m["role"], "content": m["content"]} for m in history)
            continue
        rendered.append(
            {
                "role": message["role"],
                "content": _render_one(message.get("content", ""), values, index),
            }
        )
    return rendered
