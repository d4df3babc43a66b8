from django import forms

from apps.teams.models import SCOPE_HELP, ApiKeyScope, Role, slug_validator
from apps.teams.services import (
    INVITE_LINK_DEFAULT_LIFETIME,
    INVITE_LINK_LIFETIMES,
    INVITE_LINK_MAX_USES,
    TRACE_RETENTION_MAX_DAYS,
)
from apps.teams.throttles import TEAM_LIMITS


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Used in URLs: /t/&lt;slug&gt;/. Lowercase letters, digits and hyphens; "
        "filled from the name.",
        widget=forms.TextInput(attrs={"data-from-name": "", "autocomplete": "off"}),
    )


class InviteForm(forms.Form):
    email = forms.EmailField(
        required=False,
        help_text="We mail the link to this address; only an account with this verified "
        "address can accept it.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)
    anyone_with_link = forms.BooleanField(
        required=False,
        label="Anyone with the link (no email)",
        help_text="Owners only. Whoever holds the link can join, up to the number of people "
        "below, until it expires. Leave the email empty.",
    )
    use_limit = forms.IntegerField(
        min_value=1,
        max_value=INVITE_LINK_MAX_USES,
        initial=1,
        required=False,
        label="People the link admits",
    )
    expires_in = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in INVITE_LINK_LIFETIMES.items()],
        initial=INVITE_LINK_DEFAULT_LIFETIME,
        required=False,
        label="The link works for",
    )

    def __init__(self, *args, can_invite_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_invite_owner:
            role = self.fields["role"]
            assert isinstance(role, forms.ChoiceField)  # declared above
            role.choices = [c for c in Role.choices if c[0] != Role.OWNER]
            # Anyone-with-the-link invites are an owner's choice: others never see it.
            for name in ("anyone_with_link", "use_limit", "expires_in"):
                del self.fields[name]

    def invite_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {"role": data["role"], "email": data["email"]}
        if data.get("anyone_with_link"):
            kwargs.update(
                anyone_with_link=True,
                use_limit=data.get("use_limit") or 1,
                expires_in=data.get("expires_in") or INVITE_LINK_DEFAULT_LIFETIME,
            )
        return kwargs


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


class TeamLimitsForm(forms.Form):
    """One optional field per team limit (apps.teams.throttles.TEAM_LIMITS): empty means
    the deployment's default."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for limit in TEAM_LIMITS:
            per = "minute" if limit.period == 60 else "second"
            self.fields[limit.field] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=limit.ceiling(),
                label=f"{limit.label} ({limit.unit} per {per})",
                help_text=f"Empty: the default, {limit.default_count()}. "
                f"At most {limit.ceiling()}.",
            )

    @staticmethod
    def initial_for(team) -> dict:
        return {limit.field: limit.override(team) for limit in TEAM_LIMITS}
