from django import forms

from apps.teams.models import SCOPE_HELP, ApiKeyScope, Role, slug_validator
from apps.teams.services import TRACE_RETENTION_MAX_DAYS


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Used in URLs: /t/&lt;slug&gt;/. Lowercase letters, digits and hyphens.",
    )


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)
    email = forms.EmailField(
        required=False,
        help_text="Optional: we also send the link to this address.",
    )

    def __init__(self, *args, can_invite_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_invite_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Where the key is used, e.g. 'checkout service'."
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKeyScope.PROMPTS_READ],
        help_text="A write scope includes the read of its area; 'admin' includes every scope. "
        "The key acts for you: never beyond your role in the team, and not after you leave it.",
    )
    environment = forms.CharField(
        max_length=40,
        required=False,
        help_text="Optional label such as production, staging or dev.",
        widget=forms.TextInput(attrs={"list": "environment-suggestions"}),
    )

    def scope_choices(self):
        """Each scope's checkbox with its one-line explanation, for the template."""
        return [(choice, SCOPE_HELP[choice.data["value"]]) for choice in self["scopes"]]


class ProtectedTagsForm(forms.Form):
    protected_tags = forms.CharField(
        required=False,
        label="Protected tags",
        help_text="Comma-separated. A protected tag moves only through an approved promotion.",
    )

    def tags(self) -> list[str]:
        raw = self.cleaned_data.get("protected_tags", "")
        return [t.strip() for t in raw.replace("\n", ",").split(",") if t.strip()]


class TraceRetentionForm(forms.Form):
    trace_retention_days = forms.IntegerField(
        min_value=1,
        max_value=TRACE_RETENTION_MAX_DAYS,
        label="Keep traces for (days)",
    )


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False)
    verb = forms.CharField(required=False)
    target_type = forms.CharField(required=False)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
