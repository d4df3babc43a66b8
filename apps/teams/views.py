from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from apps.core.errors import ServiceError
from apps.teams.forms import TeamCreateForm
from apps.teams.models import Membership
from apps.teams.services import team_create


@login_required
def home(request):
    """Go to the team the user last worked in, or to creating a first team."""
    memberships = Membership.objects.unscoped().select_related("team").filter(user=request.user)
    last_slug = request.session.get("last_team_slug")
    chosen = (
        next((m for m in memberships if m.team.slug == last_slug), None)
        or memberships.order_by("team__name").first()
    )
    if chosen is None:
        return redirect("team_account:create")
    return redirect("teams:home", team_slug=chosen.team.slug)


def team_home(request):
    request.session["last_team_slug"] = request.team.slug
    return redirect("prompts:list", team_slug=request.team.slug)


@login_required
def team_create_view(request):
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Team {team.name} created. You are its owner.")
            return redirect("teams:home", team_slug=team.slug)
    return render(request, "teams/create.html", {"form": form})


def team_settings(request):
    return render(request, "teams/settings.html", {})
