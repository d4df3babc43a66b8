from django import forms

from apps.teams.models import slug_validator


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Used in URLs: /t/&lt;slug&gt;/. Lowercase letters, digits and hyphens.",
    )
