from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.llm.models import ProviderConfig, ProviderKind


def parse_prices(text: str) -> dict:
    """Lines of `model input_price output_price` (US dollars per million tokens)."""
    prices = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 3:
            raise ValidationError(
                f"Line {number}: write `model input_price output_price`, e.g. `gpt-4o-mini 0.15 0.60`."
            )
        try:
            prices[parts[0]] = {"input": float(parts[1]), "output": float(parts[2])}
        except ValueError:
            raise ValidationError(f"Line {number}: prices must be numbers.") from None
    return prices


def format_prices(prices: dict) -> str:
    return "\n".join(
        f"{model} {price.get('input', 0):g} {price.get('output', 0):g}"
        for model, price in (prices or {}).items()
    )


class ProviderForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=ProviderKind.choices, initial=ProviderKind.OPENAI_COMPATIBLE)
    base_url = forms.CharField(
        label="Base URL",
        max_length=500,
        required=False,
        help_text="e.g. https://api.openai.com/v1, http://localhost:11434/v1 (Ollama). "
        "Changing it removes the stored key: enter the key again.",
    )
    api_key = forms.CharField(
        label="API key",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current key.",
    )
    clear_key = forms.BooleanField(label="Remove the stored key", required=False)
    models = forms.CharField(
        label="Models",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One model id per line; “List models” fills it from the server.",
    )
    prices = forms.CharField(
        label="Prices",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text="Per model, US dollars per million tokens: <code>model input output</code>.",
    )
    timeout_seconds = forms.FloatField(
        label="Timeout (seconds)", initial=60, min_value=1, max_value=600
    )
    max_retries = forms.IntegerField(label="Retries", initial=3, min_value=0, max_value=10)

    def clean_prices(self):
        return parse_prices(self.cleaned_data.get("prices", ""))

    def clean_models(self):
        return [m.strip() for m in self.cleaned_data.get("models", "").splitlines() if m.strip()]


class TeamDefaultsForm(forms.Form):
    """The team's default provider and model (owners and admins)."""

    provider: forms.ModelChoiceField[ProviderConfig] = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Default provider",
        empty_label="None",
    )
    model = forms.CharField(
        max_length=200,
        required=False,
        label="Default model",
        help_text="Runs every prompt version saved without a model, unless a run names one.",
        widget=forms.TextInput(attrs={"list": "default-model-suggestions"}),
    )

    def __init__(self, *args, providers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = providers
        self.fields["provider"].label_from_instance = lambda p: (
            f"{p.name} (deterministic test server, not an LLM)" if p.is_demo else p.name
        )
        self.model_suggestions = sorted({m for p in providers for m in (p.models or [])})
