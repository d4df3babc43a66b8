"""Demo data: team acme (alice owner, bob editor, carol viewer, erin annotator) and team
globex (dave owner), then each app's own demo data. Running it again changes nothing.

Acme is in the middle of its work: support-reply has a production version, a regression and
an improvement, measured on a golden set by experiments that ran against demo-echo; alice's
request to promote the improvement waits for bob's review with its evidence; erin is half
way through a review queue where she and bob disagree; traces come from a production and a
staging deployment running two versions of the same function."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.tenancy import team_scope
from apps.teams import selectors, services
from apps.teams.models import Role, Team

# Demo accounts on a developer's machine: fixed so they can be printed and typed.
DEMO_PASSWORD = "promptyard-demo"

DEMO_USERS = {
    "alice": ("alice@acme.test", "Alice"),
    "bob": ("bob@acme.test", "Bob"),
    "carol": ("carol@acme.test", "Carol"),
    "erin": ("erin@acme.test", "Erin"),
    "dave": ("dave@globex.test", "Dave"),
}
ACME_ROLES = {"bob": Role.EDITOR, "carol": Role.VIEWER, "erin": Role.ANNOTATOR}


def demo_user(handle: str) -> tuple[User, bool]:
    email, name = DEMO_USERS[handle]
    user = User.objects.filter(email=email).first()
    if user is not None:
        if user.email_verified_at is None:  # an account from before addresses were verified
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
        return user, False
    # Only a new account gets the demo password: a changed password stays changed. The demo
    # addresses are made up (.test): there is no mailbox to verify, so they start verified.
    user = User.objects.create_user(
        email=email, password=DEMO_PASSWORD, name=name, email_verified_at=timezone.now()
    )
    return user, True


def demo_team(*, slug: str, name: str, owner: User) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        team = services.team_create(actor=owner, name=name, slug=slug)
    return team


def demo_member(team: Team, *, owner: User, user: User, role: str) -> None:
    """Join through the real invite flow, so the audit trail tells how everyone got in."""
    if selectors.is_member(team=team, user=user):
        return
    with team_scope(team):
        _, token = services.invite_create(team=team, actor=owner, role=role, email=user.email)
    services.invite_accept(token=token, user=user)


def app_demo_modules():
    """(label, module) for every project app that ships a demo.py, in INSTALLED_APPS order."""
    for config in apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        name = f"{config.name}.demo"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # the app has no demo data; a broken import inside demo.py still fails
            raise
        yield config.label, module


class Command(BaseCommand):
    help = "Create the demo teams, users and each app's demo data (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            users = {}
            for handle in DEMO_USERS:
                users[handle], created = demo_user(handle)
                if created:
                    self.stdout.write(f"created user {users[handle].email}")
            acme = demo_team(slug="acme", name="Acme", owner=users["alice"])
            for handle, role in ACME_ROLES.items():
                demo_member(acme, owner=users["alice"], user=users[handle], role=role)
            demo_team(slug="globex", name="Globex", owner=users["dave"])

        acme_users = {h: users[h] for h in ("alice", "bob", "carol", "erin")}
        for label, module in app_demo_modules():
            with team_scope(acme):
                module.seed(acme, acme_users)
            self.stdout.write(f"demo data: {label}")

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write("  Team acme:   alice@acme.test (owner), bob@acme.test (editor),")
        self.stdout.write("               carol@acme.test (viewer), erin@acme.test (annotator)")
        self.stdout.write("  Team globex: dave@globex.test (owner)")
        self.stdout.write(f"  Password for every demo account: {DEMO_PASSWORD}")
        self.stdout.write("  Where to start: bob@acme.test has support-reply v3 to review")
        self.stdout.write("               (Prompts → Reviews), with its gating experiment;")
        self.stdout.write("               erin@acme.test has half a review queue left.")
