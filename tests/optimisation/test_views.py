"""The optimisation pages: start form, live progress with the score curve, promotion."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.tenancy import team_scope
from apps.optimisation.engine import execute
from apps.optimisation.models import OptimisationRun, RunStatus
from apps.prompts.models import PromotionRequest

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _post_new(client, world, **extra):
    ids = [str(e.pk) for e in world.evaluators]
    return client.post(
        f"/t/acme/optimisation/new/?version={world.version.pk}",
        {
            "version": world.version.pk,
            "dataset": world.dataset.pk,
            "evaluators": ids,
            "validation_share": "0.5",
            "max_rounds": 3,
            "max_calls": 200,
            **extra,
        },
    )


def test_it_starts_a_run_from_the_form_and_shows_its_progress(demo_world, settings):
    client = _client(demo_world.alice)
    page = client.get(f"/t/acme/optimisation/new/?version={demo_world.version.pk}")
    assert page.status_code == 200 and b"Start optimisation" in page.content
    response = _post_new(client, demo_world)
    assert response.status_code == 302
    with team_scope(demo_world.team):
        run = OptimisationRun.objects.get()
    assert run.status == RunStatus.QUEUED
    assert response["Location"] == f"/t/acme/optimisation/{run.pk}/"
    execute(run.pk)
    page = client.get(f"/t/acme/optimisation/{run.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert '<svg class="chart"' in body and "round 0:" in body
    assert "Request promotion of v4" in body
    progress = client.get(
        f"/t/acme/optimisation/{run.pk}/progress/?was=running", HTTP_HX_REQUEST="true"
    )
    assert progress["HX-Refresh"] == "true"
    form = client.get(f"/t/acme/optimisation/{run.pk}/promotion/")
    assert "Validation (20 held-out examples" in form.content.decode()
    done = client.post(
        f"/t/acme/optimisation/{run.pk}/promotion/",
        {"tag_name": "production", "description": "Evidence: see the run."},
    )
    with team_scope(demo_world.team):
        promotion = PromotionRequest.objects.get(candidate__number=4)
    assert done["Location"] == f"/t/acme/prompts/requests/{promotion.pk}/"


def test_it_names_the_field_of_a_budget_too_small(demo_world):
    response = _post_new(_client(demo_world.alice), demo_world, max_calls=5)
    assert response.status_code == 200
    assert "at least 61" in response.content.decode()


def test_it_refuses_the_form_to_a_viewer(demo_world, carol):
    page = _client(carol).get(f"/t/acme/optimisation/new/?version={demo_world.version.pk}")
    assert page.status_code == 403


def test_it_hides_another_teams_run(demo_world, dave, globex):
    run = demo_world.run()
    page = _client(dave).get(f"/t/globex/optimisation/{run.pk}/")
    assert page.status_code == 404
