from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms

from apps.core import jsonshape
from apps.datasets.models import Dataset
from apps.experiments.evaluators import REGISTRY
from apps.experiments.models import Evaluator
from apps.experiments.services import MAX_CONCURRENCY, MAX_REPETITIONS
from apps.experiments.variants import VariantSpec, effective_settings
from apps.llm.defaults import default_label, team_defaults
from apps.llm.models import ProviderConfig
from apps.prompts.models import PromptVersion


class VersionChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        message = f" — {obj.commit_message[:60]}" if obj.commit_message else ""
        model = (obj.model_settings or {}).get("model")
        saved = f" [{model}]" if model else " [no model]"
        return f"{obj.prompt.name} v{obj.number}{saved}{message}"


SAVED = "saved"  # the models choice "as saved on each version"
MAX_MODELS = 5


def model_key(provider_id, model: str) -> str:
    return f"{provider_id}:{model}"


def baseline_key(version_pk, key: str) -> str:
    return f"{version_pk}|{key}"


@dataclass
class PlannedVariant:
    """One row of the variants the form would create: a version × a model."""

    key: str  # the baseline radio's value
    version: PromptVersion
    model_key: str
    label: str
    runs_on: str  # "provider · model", or "" when nothing names a model
    is_baseline: bool = False


class ExperimentForm(forms.Form):
    """A run on a dataset: each chosen version × each chosen model is a variant, and one
    of them, picked explicitly, is the baseline the others are compared with."""

    name = forms.CharField(max_length=200)
    dataset: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(
        queryset=None, empty_label=None
    )
    dataset_revision = forms.IntegerField(
        required=False, min_value=0, help_text="Empty: the dataset's current revision (pinned)."
    )
    split = forms.CharField(max_length=40, required=False, help_text="Empty: every example.")
    versions = VersionChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checklist"}),
        label="Prompt versions",
        help_text="Each chosen version runs with each chosen model.",
    )
    models = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checklist"}),
        label="Models",
        help_text="“As saved” runs each version with its own model (the team default when "
        "it was saved without one).",
    )
    other_models = forms.CharField(
        required=False,
        label="Other model names",
        help_text="Comma-separated, on the provider below: for models the provider does not list.",
    )
    other_provider: forms.ModelChoiceField[ProviderConfig] = forms.ModelChoiceField(
        queryset=None, required=False, label="Provider of the other models", empty_label="—"
    )
    baseline = forms.CharField(
        required=False,
        label="Baseline",
        help_text="The variant every other one is compared with.",
    )
    evaluators: forms.ModelMultipleChoiceField[Evaluator] = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    repetitions = forms.IntegerField(min_value=1, max_value=MAX_REPETITIONS, initial=1)
    concurrency = forms.IntegerField(
        min_value=1, max_value=MAX_CONCURRENCY, initial=8, help_text="Model calls in flight."
    )
    cost_cap = forms.DecimalField(
        required=False,
        min_value=0,
        decimal_places=4,
        max_digits=12,
        label="Cost cap (USD)",
        help_text="Each call reserves its worst case first, so spending never crosses the "
        "cap. Empty: no cap.",
    )
    allow_unpriced = forms.BooleanField(
        required=False,
        label="Run models without a price anyway",
        help_text="With a cap, a model with no price cannot be counted against it.",
    )

    def __init__(self, *args, team=None, require_baseline: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.require_baseline = require_baseline
        # Querysets per form: the default manager reads the team scope of this request.
        fields: dict[str, Any] = self.fields
        fields["dataset"].queryset = Dataset.objects.order_by("name")
        fields["versions"].queryset = PromptVersion.objects.select_related("prompt").order_by(
            "prompt__name", "-number"
        )
        fields["evaluators"].queryset = Evaluator.objects.order_by("name")
        providers = list(ProviderConfig.objects.order_by("-is_demo", "name"))
        self.providers: dict[int, ProviderConfig] = {p.pk: p for p in providers}
        fields["other_provider"].queryset = ProviderConfig.objects.order_by("-is_demo", "name")
        fields["models"].choices = self._model_choices(providers)

    def _provider(self, provider_id: Any) -> ProviderConfig | None:
        return self.providers.get(int(provider_id)) if provider_id else None

    def run_fields(self) -> list:
        """How to run it: the fields the page shows beside the evaluators."""
        return [self[name] for name in ("repetitions", "concurrency", "cost_cap", "allow_unpriced")]

    # --- the models on offer ---------------------------------------------------------------

    def _model_choices(self, providers) -> list[tuple[str, str]]:
        default = team_defaults(self.team)
        default_key = (
            model_key(default["provider_id"], default["model"]) if default.get("model") else ""
        )
        saved = "As saved on each version"
        if default_key:
            saved += f" (without one: {default_label(self.team)}, the team default)"
        choices = [(SAVED, saved)]
        listed = set()
        for provider in providers:
            for name in provider.models or []:
                key = model_key(provider.pk, name)
                listed.add(key)
                choices.append((key, self._pair_label(provider, name, key == default_key)))
        if default_key and default_key not in listed:
            provider = self.providers.get(default["provider_id"])
            if provider is not None:
                choices.append((default_key, self._pair_label(provider, default["model"], True)))
        return choices

    @staticmethod
    def _pair_label(provider, name: str, is_default: bool) -> str:
        label = f"{provider.name} · {name}"
        if is_default:
            label += " (team default)"
        if provider.is_demo:
            label += " — test server, not an LLM"
        return label

    def default_model_keys(self, version=None) -> list[str]:
        """What the form pre-selects: the team default, unless the version opened the form
        with a model of its own."""
        if version is not None and (version.model_settings or {}).get("model"):
            return [SAVED]
        default = team_defaults(self.team)
        if default.get("model"):
            return [model_key(default["provider_id"], default["model"])]
        return [SAVED]

    # --- cleaning ----------------------------------------------------------------------------

    def clean_other_models(self):
        raw = self.cleaned_data.get("other_models") or ""
        names = [m.strip() for m in raw.split(",") if m.strip()]
        if len(names) > MAX_MODELS:
            raise forms.ValidationError(f"At most {MAX_MODELS} other models.")
        return names

    def _keys(self) -> list[str]:
        keys = list(self.cleaned_data.get("models") or [])
        others = self.cleaned_data.get("other_models") or []
        provider = self.cleaned_data.get("other_provider")
        if others and provider is None:
            default = team_defaults(self.team)
            provider = self._provider(default.get("provider_id"))
        if provider is not None:
            keys += [model_key(provider.pk, name) for name in others]
        return list(dict.fromkeys(keys or [SAVED]))

    def clean(self):
        data = super().clean()
        if data.get("other_models") and data.get("other_provider") is None:
            if not team_defaults(self.team):
                self.add_error("other_provider", "Choose the provider of these models.")
        if len(self._keys()) > MAX_MODELS + 1:
            self.add_error("models", f"At most {MAX_MODELS + 1} models.")
        plan = self.plan()
        if plan and self.require_baseline and not any(row.is_baseline for row in plan):
            self.add_error(
                "baseline",
                "Choose the baseline: the variant the others are compared with.",
            )
        return data

    # --- the variants ------------------------------------------------------------------------

    def _overrides(self, key: str) -> dict:
        if key == SAVED:
            return {}
        provider_id, _, name = key.partition(":")
        return {"provider_id": int(provider_id), "model": name}

    def plan(self) -> list[PlannedVariant]:
        """Every version × model the form would run, without repeats, baseline marked."""
        cleaned = getattr(self, "cleaned_data", {}) or {}
        versions = list(cleaned.get("versions") or [])
        if not versions:
            return []
        keys = self._keys()
        chosen = cleaned.get("baseline") or ""
        rows: list[PlannedVariant] = []
        seen: dict[str, PlannedVariant] = {}
        for version in versions:
            for key in keys:
                settings_ = effective_settings(version, self._overrides(key), team=self.team)
                provider = self._provider(settings_.get("provider_id"))
                runs_on = (
                    f"{provider.name} · {settings_['model']}"
                    if provider is not None and settings_.get("model")
                    else ""
                )
                row = PlannedVariant(
                    key=baseline_key(version.pk, key),
                    version=version,
                    model_key=key,
                    label=f"{version.prompt.name} v{version.number}"
                    + (
                        f" · {settings_['model']}"
                        if len(keys) > 1 and settings_.get("model")
                        else ""
                    ),
                    runs_on=runs_on,
                )
                same = seen.get(f"{version.pk}|{json.dumps(settings_, sort_keys=True)}")
                if same is not None:
                    same.is_baseline = same.is_baseline or row.key == chosen
                    continue
                row.is_baseline = row.key == chosen
                seen[f"{version.pk}|{json.dumps(settings_, sort_keys=True)}"] = row
                rows.append(row)
        if len(rows) == 1:
            rows[0].is_baseline = True
        return rows

    def variant_specs(self) -> list[VariantSpec]:
        return [
            VariantSpec(
                prompt_version=row.version,
                overrides=self._overrides(row.model_key),
                label=row.label,
                is_baseline=row.is_baseline,
            )
            for row in self.plan()
        ]


def kinds_help() -> list[dict]:
    out = []
    for spec in REGISTRY.values():
        out.append(
            {
                "kind": spec.kind,
                "name": spec.name,
                "description": spec.description,
                "params": [
                    {
                        "name": p.name,
                        "type": p.type if p.type != "choice" else " | ".join(map(str, p.choices)),
                        "default": "required" if p.required else json.dumps(p.default),
                        "help": p.help,
                    }
                    for p in spec.params
                ],
                "example": json.dumps(
                    {p.name: p.default for p in spec.params if not p.required and p.default},
                ),
            }
        )
    return out


def param_field_name(kind: str, param) -> str:
    return f"{kind}__{param.name}"


def _param_field(param) -> forms.Field:
    """A form field for one declared evaluator parameter (apps.experiments.evaluators)."""
    label = param.name.replace("_", " ").capitalize()
    help_text = param.help
    if param.type == "bool":
        return forms.BooleanField(required=False, label=label, help_text=help_text)
    if param.type == "choice":
        return forms.ChoiceField(
            choices=[(c, c) for c in param.choices],
            required=False,
            label=label,
            help_text=help_text,
        )
    if param.type in ("int", "float"):
        field_class = forms.IntegerField if param.type == "int" else forms.FloatField
        return field_class(
            required=False,
            label=label,
            min_value=param.min,
            max_value=param.max,
            help_text=help_text or ("Required." if param.required else "Empty: no limit."),
        )
    if param.type == "str_list":
        return forms.CharField(
            required=False,
            label=label,
            widget=forms.Textarea(attrs={"rows": 3}),
            help_text=(help_text + " " if help_text else "") + "One per line.",
        )
    if param.type == "json":
        return forms.CharField(
            required=False,
            label=label,
            widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
            help_text=(help_text + " " if help_text else "") + "JSON.",
        )
    return forms.CharField(required=False, label=label, help_text=help_text)


def _param_initial(param, value):
    if value is None:
        return None
    if param.type == "str_list":
        return "\n".join(value)
    if param.type == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    return value


class EvaluatorForm(forms.Form):
    """An evaluator: its kind, and the parameters of that kind as fields generated from
    the kind's declared `Param`s (one fieldset per kind; the page shows the chosen one)."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=())
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, params: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["kind"].choices = [(k, spec.name) for k, spec in REGISTRY.items()]
        chosen = self.initial.get("kind")
        for kind, spec in REGISTRY.items():
            for param in spec.params:
                name = param_field_name(kind, param)
                self.fields[name] = _param_field(param)
                if kind == chosen and params is not None and param.name in params:
                    value = params[param.name]
                else:
                    value = None if param.required else param.default
                self.initial.setdefault(name, _param_initial(param, value))

    def kind_groups(self) -> list[dict]:
        """[{kind, name, description, fields}] for the template, in registry order."""
        return [
            {
                "kind": kind,
                "name": spec.name,
                "description": spec.description,
                "fields": [self[param_field_name(kind, p)] for p in spec.params],
            }
            for kind, spec in REGISTRY.items()
        ]

    def clean(self):
        data = super().clean()
        spec = REGISTRY.get(data.get("kind") or "")
        params: dict = {}
        for param in spec.params if spec is not None else ():
            name = param_field_name(spec.kind, param)
            value = data.get(name)
            if param.type == "bool":
                params[param.name] = bool(value)
            elif value in (None, ""):
                continue  # the kind's default, or the service names a missing required one
            elif param.type == "str_list":
                params[param.name] = [line.strip() for line in value.splitlines() if line.strip()]
            elif param.type == "json":
                try:
                    params[param.name] = jsonshape.loads(value)
                except json.JSONDecodeError as exc:
                    self.add_error(name, f"Not valid JSON: {exc.msg} (line {exc.lineno}).")
                except ValueError as exc:  # too deep, a huge number
                    self.add_error(name, f"Not usable JSON: {exc}.")
            else:
                params[param.name] = value
        data["params"] = params
        return data

    def evaluator_fields(self) -> dict:
        """What the services take: name, kind, params, description."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "kind": data["kind"],
            "params": data["params"],
            "description": data.get("description", ""),
        }
