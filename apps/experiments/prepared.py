"""A prompt version rendered many times: parsed and compiled once (`PreparedPrompt`), with
`render_messages` as the shared reference it falls back to. Used by the experiment runner,
chains (apps/experiments/chain_steps.py), estimates and optimisation."""

from __future__ import annotations

from apps.prompts import rendering
from apps.prompts.rendering import render_prompt


def render_messages(version, values: dict) -> list[dict]:
    rendered = render_prompt(
        kind=version.kind,
        template=version.template,
        messages=version.messages,
        variables_schema=version.variables_schema,
        values=values,
    )
    if isinstance(rendered, str):
        return [{"role": "user", "content": rendered}]
    return rendered


class PreparedPrompt:
    """`render_messages` for one version, many times: parse and compile once.

    `render_prompt` parses and compiles the template on every call (~2 ms, 40x the render
    itself), which would cap a run at a few hundred rows per second. This keeps the shared
    implementation as the reference: the happy path runs the same checks with the
    templates compiled once in the shared sandbox, and anything unusual (a placeholder, a
    failed check, a render error) is handed to `render_prompt` itself, so errors and edge
    cases are exactly the shared function's.
    """

    def __init__(self, version):
        self.version = version
        self.schema = version.variables_schema or {}
        self.compiled = None
        try:
            rendering.validate_schema(self.schema)
            self.names = rendering.template_variables(
                version.kind, version.template, version.messages
            )
            if version.kind == rendering.KIND_TEXT:
                self.compiled = [(None, rendering.compile_template(version.template or ""))]
            elif version.kind == rendering.KIND_CHAT and not any(
                m.get("role") == rendering.PLACEHOLDER for m in version.messages or []
            ):
                self.compiled = [
                    (m["role"], rendering.compile_template(m.get("content") or ""))
                    for m in version.messages or []
                ]
        except Exception:  # noqa: BLE001 - the slow path reports the problem
            self.compiled = None

    def render(self, values: dict) -> list[dict]:
        if self.compiled is None:
            return render_messages(self.version, values)
        try:
            values = dict(values)
            rendering.check_values(self.names, self.schema, values)
            for name in self.names:
                if name not in values and not self.schema.get(name, {}).get("required", True):
                    values[name] = ""
            if self.version.kind == rendering.KIND_TEXT:
                return [{"role": "user", "content": self.compiled[0][1].render(values)}]
            return [{"role": role, "content": t.render(values)} for role, t in self.compiled]
        except Exception:  # noqa: BLE001 - same inputs through the shared function
            return render_messages(self.version, values)
