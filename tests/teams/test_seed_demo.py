"""`manage.py seed_demo`: the demo teams and accounts, each app's demo data, idempotent."""

import types

from django.apps import apps
from django.core.management import call_command

from apps.accounts.models import User
from apps.core.tenancy import TeamOwned, current_team
from apps.teams.management.commands import seed_demo
from apps.teams.models import Membership, Team


def _roles(slug):
    return {
        m.user.email: m.role
        for m in Membership.objects.unscoped().filter(team__slug=slug).select_related("user")
    }


def _row_counts():
    return {
        m._meta.label: m.objects.unscoped().count()
        for m in apps.get_models()
        if issubclass(m, TeamOwned)
    }


def test_it_creates_the_demo_teams_and_calls_each_apps_seed(db, monkeypatch, capsys):
    calls = []

    def seed(team, users):
        calls.append((team.slug, current_team().slug, sorted(users)))

    fake = types.SimpleNamespace(seed=seed)
    monkeypatch.setattr(seed_demo, "app_demo_modules", lambda: iter([("fake", fake)]))
    call_command("seed_demo")
    call_command("seed_demo")

    assert _roles("acme") == {
        "alice@acme.test": "owner",
        "bob@acme.test": "editor",
        "carol@acme.test": "viewer",
        "erin@acme.test": "annotator",
    }
    assert _roles("globex") == {"dave@globex.test": "owner"}
    assert User.objects.count() == 5 and Team.objects.count() == 2
    assert User.objects.get(email="bob@acme.test").check_password(seed_demo.DEMO_PASSWORD)
    assert calls == [("acme", "acme", ["alice", "bob", "carol", "erin"])] * 2
    out = capsys.readouterr().out
    assert seed_demo.DEMO_PASSWORD in out and "alice@acme.test" in out


def test_it_keeps_a_changed_password(db, monkeypatch):
    monkeypatch.setattr(seed_demo, "app_demo_modules", lambda: iter([]))
    call_command("seed_demo")
    alice = User.objects.get(email="alice@acme.test")
    alice.set_password("my-own-secret-phrase")
    alice.save()
    call_command("seed_demo")
    alice.refresh_from_db()
    assert alice.check_password("my-own-secret-phrase")


def test_it_finds_only_apps_with_a_demo_module():
    found = dict(seed_demo.app_demo_modules())
    for label, module in found.items():
        assert callable(module.seed), label
    assert "teams" not in found and "core" not in found


def _seed_twice(settings, demo_echo):
    settings.PROMPTYARD_DEMO_ECHO_URL = demo_echo
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    first = _row_counts()
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return first


def test_it_is_idempotent_with_every_apps_real_demo_data(db, settings, demo_echo):
    first = _seed_twice(settings, demo_echo)
    assert _row_counts() == first


def _rates(experiment, evaluator):
    from apps.experiments.comparison import experiment_summary

    rows = experiment_summary(experiment).for_evaluator(evaluator)
    return {row.label: (row.passed, row.judged) for row in rows}


def test_it_seeds_a_team_in_the_middle_of_its_work(db, settings, demo_echo):
    from apps.annotations.models import ItemStatus, QueueItem
    from apps.core.tenancy import team_scope
    from apps.experiments import demo as experiments_demo
    from apps.experiments.gate import approval_blockers, evidence_of
    from apps.experiments.models import Experiment, Status
    from apps.prompts import selectors
    from apps.prompts.environments import environment_rows
    from apps.prompts.models import PromotionRequest, TagPolicy
    from apps.traces.models import Span, Trace

    _seed_twice(settings, demo_echo)
    bob = User.objects.get(email="bob@acme.test")
    erin = User.objects.get(email="erin@acme.test")
    with team_scope(Team.objects.get(slug="acme")) as acme:
        # Every demo experiment ran through the runner against demo-echo.
        assert set(Experiment.objects.values_list("status", flat=True)) == {Status.COMPLETED}
        story = Experiment.objects.get(name=experiments_demo.STORY_EXPERIMENT)
        assert story.results.count() == 3 * 40 and not story.results.exclude(error="").exists()
        # The versions really score differently: v2 regresses, v3 improves on v1.
        status = _rates(story, "states-order-status")
        v1, v2, v3 = (status[f"support-reply v{n}"][0] for n in (1, 2, 3))
        assert v2 < v1 < v3 == 40, status
        thanks = _rates(story, "thanks-customer")
        assert thanks["support-reply v2"][0] == 0 < thanks["support-reply v1"][0], thanks

        # alice's promotion of v3 waits for bob, with evidence that meets the policy.
        request = PromotionRequest.objects.get(status="open")
        assert (request.prompt.name, request.candidate.number, request.requester.email) == (
            "support-reply",
            3,
            "alice@acme.test",
        )
        assert list(selectors.needs_review(bob, acme)) == [request]
        policy = TagPolicy.objects.get(prompt=request.prompt, tag_name="production")
        assert policy.rule == "noninferiority" and policy.tolerance > 0
        evidence = evidence_of(request, policy)
        assert len(evidence) == 1 and evidence[0].satisfies, [e.problems for e in evidence]
        assert evidence[0].experiment.status == Status.COMPLETED
        assert approval_blockers(request, evidence) == []
        assert selectors.version_at_tag(request.prompt, "production").number == 1

        # erin's queue is half done, and she disagrees with bob on some items.
        items = list(QueueItem.objects.order_by("position"))
        erin_done = [i for i in items if i.annotations.filter(author=erin).exists()]
        assert len(items) == 12 and len(erin_done) == 6
        assert all(i.annotations.filter(author=bob).exists() for i in items)
        disputed = [i for i in items if i.status == ItemStatus.DISPUTED]
        assert disputed and set(disputed) <= set(erin_done)

        # Two environments, one of them drifting; one function in two versions.
        rows = {(r.prompt.name, r.environment): r for r in environment_rows()}
        assert not rows[("support-reply", "production")].drift
        assert rows[("support-reply", "staging")].drift
        assert set(Trace.objects.values_list("function_name", flat=True)) == {"support_bot.answer"}
        assert Trace.objects.values("function_version").distinct().count() == 2
        calls = {
            (s.resource["deployment.environment"], s.prompt_version_number)
            for s in Span.objects.exclude(model="")
        }
        assert calls == {("production", 1), ("staging", 2), ("staging", 3)}
        code = {
            (s.resource["deployment.environment"], s.function_version)
            for s in Span.objects.filter(parent_span_id="")
        }
        assert len(code) == 2 and {e for e, _ in code} == {"production", "staging"}


def test_it_renders_the_demo_story_pages(db, settings, demo_echo):
    from django.test import Client

    from apps.core.tenancy import team_scope
    from apps.experiments import demo as experiments_demo
    from apps.experiments.models import Experiment
    from apps.prompts.models import PromotionRequest

    settings.PROMPTYARD_DEMO_ECHO_URL = demo_echo
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    with team_scope(Team.objects.get(slug="acme")):
        story = Experiment.objects.get(name=experiments_demo.STORY_EXPERIMENT)
        request = PromotionRequest.objects.get(status="open")
        gate = request.evidence[0]
    client = Client()
    client.force_login(User.objects.get(email="bob@acme.test"))

    def page(path):
        response = client.get(path)
        assert response.status_code == 200, path
        return response.content.decode()

    reviews = page("/t/acme/prompts/reviews/")
    assert "support-reply" in reviews and f"/t/acme/prompts/requests/{request.pk}/" in reviews
    detail = page(f"/t/acme/prompts/requests/{request.pk}/")
    assert "meets the policy" in detail and f"/experiments/{gate}/" in detail
    compare = page(f"/t/acme/experiments/{story.pk}/compare/")
    for label in ("support-reply v1", "support-reply v2", "support-reply v3"):
        assert label in compare
    assert "states-order-status" in compare and "thanks-customer" in compare
    environments = page("/t/acme/prompts/environments/")
    assert "staging" in environments and "production" in environments
    functions = page("/t/acme/traces/functions/")
    assert functions.count("support_bot.answer") >= 2
    client.force_login(User.objects.get(email="erin@acme.test"))
    inbox = page("/t/acme/annotations/inbox/")
    assert "Support answers review" in inbox
