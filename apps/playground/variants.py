"""One playground variant: a prompt being edited, its model settings, and what it sends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from apps.llm.model_settings import ModelSettings
from apps.prompts.rendering import RenderError, render_prompt, template_variables


@dataclass
class Variant:
    kind: str = "text"
    template: str = ""
    messages: list = field(default_factory=list)
    settings: ModelSettings = field(default_factory=ModelSettings)
    label: str = ""

    @property
    def json_schema_text(self) -> str:
        fmt = self.settings.response_format or {}
        if fmt.get("type") != "json_schema":
            return ""
        return json.dumps((fmt.get("json_schema") or {}).get("schema", {}), indent=2)

    def variables(self) -> list[str]:
        try:
            return template_variables(self.kind, self.template, self.messages)
        except RenderError:
            return []

    def rendered_messages(self, schema: dict, values: dict) -> list[dict]:
        """What the model receives: a text prompt becomes one user message. Raises
        RenderError."""
        rendered = render_prompt(
            kind=self.kind,
            template=self.template,
            messages=self.messages,
            variables_schema=schema,
            values=values,
        )
        if isinstance(rendered, str):  # a text prompt
            return [{"role": "user", "content": rendered}]
        return rendered

    @classmethod
    def from_version(cls, version, label: str = "A") -> Variant:
        return cls(
            kind=version.kind,
            template=version.template or "",
            messages=list(version.messages or []),
            settings=ModelSettings.from_stored(version.model_settings),
            label=label,
        )

    @classmethod
    def from_run(cls, run, label: str = "A") -> Variant:
        """A recorded run opened again: its prompt, provider, model and settings."""
        settings = ModelSettings.from_stored(run.model_settings)
        return cls(
            kind=run.kind,
            template=run.template,
            messages=list(run.messages or []),
            settings=settings.replace(provider_id=run.provider_id, model=run.model),
            label=label,
        )
