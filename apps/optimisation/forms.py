"""The start form of an optimisation run (from a prompt version's page)."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.annotations.models import AnnotationQueue
from apps.datasets.models import Dataset
from apps.experiments.forms import model_key
from apps.experiments.models import Evaluator
from apps.llm.models import ProviderConfig

SAVED = ""  # the model choice "as saved on the version"


class OptimisationForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    dataset: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(queryset=None)
    evaluators: forms.ModelMultipleChoiceField[Evaluator] = forms.ModelMultipleChoiceField(
        queryset=None, widget=forms.CheckboxSelectMultiple
    )
    train_split = forms.CharField(
        required=False,
        max_length=40,
        help_text="With both splits named, their examples are used; else a split is made now.",
    )
    validation_split = forms.CharField(required=False, max_length=40)
    validation_share = forms.FloatField(
        required=False,
        initial=0.5,
        help_text="Share of the examples held out for validation when the split is made now "
        "(pinned as example ids).",
    )
    annotation_queue: forms.ModelChoiceField[AnnotationQueue] = forms.ModelChoiceField(
        queryset=None,
        required=False,
        help_text="Annotators' reasoning on these rows becomes feedback for the reflection.",
    )
    task_model = forms.ChoiceField(required=False, label="Task model")
    reflection_model = forms.ChoiceField(required=False, label="Reflection model")
    max_rounds = forms.IntegerField(initial=5, label="Max rounds")
    max_calls = forms.IntegerField(initial=200, label="Max model calls")
    max_cost = forms.DecimalField(
        required=False, decimal_places=4, max_digits=12, label="Max cost (USD)"
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Querysets per form: the default manager reads the team scope of this request.
        fields: dict[str, Any] = self.fields
        fields["dataset"].queryset = Dataset.objects.order_by("name")
        fields["evaluators"].queryset = Evaluator.objects.order_by("name")
        fields["annotation_queue"].queryset = AnnotationQueue.objects.order_by("name")
        choices = [(SAVED, "As saved on the version (or the team default)")]
        for provider in ProviderConfig.objects.order_by("-is_demo", "name"):
            for name in provider.models or []:
                label = f"{provider.name} · {name}"
                if provider.is_demo:
                    label += " — test server, not an LLM"
                choices.append((model_key(provider.pk, name), label))
        fields["task_model"].choices = choices
        fields["reflection_model"].choices = [
            (SAVED, "Same as the task model"),
            *choices[1:],
        ]

    def model_of(self, field: str) -> tuple[int | None, str]:
        key = self.cleaned_data.get(field) or ""
        if not key:
            return None, ""
        provider_id, _, model = key.partition(":")
        return int(provider_id), model
