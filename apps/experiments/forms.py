from __future__ import annotations

import json

from django import forms

from apps.core import jsonshape
from apps.datasets.models import Dataset
from apps.experiments.evaluators import REGISTRY
from apps.experiments.models import Evaluator
from apps.experiments.services import MAX_CONCURRENCY, MAX_REPETITIONS
from apps.experiments.variants import VariantSpec, unique_specs
from apps.llm.models import ProviderConfig
from apps.prompts.models import PromptVersion


class VersionChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        message = f" — {obj.commit_message[:60]}" if obj.commit_message else ""
        return f"{obj.prompt.name} v{obj.number}{message}"


class ExperimentForm(forms.Form):
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
        widget=forms.SelectMultiple(attrs={"size": 8}),
        label="Prompt versions",
        help_text="Each chosen version is a variant; the first is the baseline.",
    )
    provider: forms.ModelChoiceField[ProviderConfig] = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Model provider",
        empty_label="As set on each version",
        help_text="Overrides the provider of every variant (needed when a version names none).",
    )
    models = forms.CharField(
        required=False,
        label="Also try these models",
        help_text="Comma-separated model names: each adds a variant of every chosen version with that model.",
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Querysets per form: the default manager reads the team scope of this request.
        self.fields["dataset"].queryset = Dataset.objects.order_by("name")
        self.fields["versions"].queryset = PromptVersion.objects.select_related("prompt").order_by(
            "prompt__name", "-number"
        )
        self.fields["evaluators"].queryset = Evaluator.objects.order_by("name")
        self.fields["provider"].queryset = ProviderConfig.objects.order_by("-is_demo", "name")

    def clean_models(self):
        raw = self.cleaned_data.get("models") or ""
        names = [m.strip() for m in raw.split(",") if m.strip()]
        if len(names) > 5:
            raise forms.ValidationError("At most 5 extra models.")
        return names

    def variant_specs(self) -> list[VariantSpec]:
        versions = sorted(
            self.cleaned_data["versions"], key=lambda v: self._order.get(v.pk, (0, v.number))
        )
        provider = self.cleaned_data.get("provider")
        base = {"provider_id": provider.pk} if provider is not None else {}
        specs = [VariantSpec(prompt_version=v, overrides=dict(base)) for v in versions]
        for model in self.cleaned_data.get("models") or []:
            specs.extend(
                VariantSpec(prompt_version=v, overrides={**base, "model": model}) for v in versions
            )
        return unique_specs(specs)

    @property
    def _order(self):
        # Keep the order the user picked in (the first is the baseline) where the browser
        # sends it; otherwise newest-last per prompt.
        raw = self.data.getlist("versions") if hasattr(self.data, "getlist") else []
        return {int(pk): (i, 0) for i, pk in enumerate(raw) if str(pk).isdigit()}


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


class EvaluatorForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=())
    params = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        required=False,
        help_text="JSON object; see the parameters of each kind below.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, spec.name) for k, spec in REGISTRY.items()]

    def clean_params(self):
        raw = (self.cleaned_data.get("params") or "").strip()
        if not raw:
            return {}
        try:
            value = jsonshape.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        except ValueError as exc:  # too deep, a huge number
            raise forms.ValidationError(f"Not usable JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Parameters must be a JSON object.")
        return value
