"""Every id in a request body is checked against the team: another team's id is refused
with a 400 naming the field, and nothing is stored."""

from __future__ import annotations

import pytest

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.prompts import services as prompt_services
from apps.prompts.models import PromotionRequest
from tests.conftest import bearer
from tests.isolation_world import build_world, text_prompt


@pytest.fixture
def world(acme, alice, bob):
    return build_world(acme, alice, bob)


@pytest.fixture
def globex_prompt(globex, dave):
    with team_scope(globex):
        prompt, _ = text_prompt(
            team=globex, actor=dave, name="globex-faq", versions=[("Q {{ q }}", "one")]
        )
    return prompt


@pytest.mark.django_db
def test_evidence_from_another_team_is_refused(
    api_client, world, globex, dave, globex_prompt, api_key_for
):
    acme_experiment = world.objects["experiment"].pk
    raw = api_key_for(globex, dave, scopes=["prompts:write"])
    response = api_client.post(
        "/api/v1/promotions/",
        {"prompt": "globex-faq", "candidate": 1, "evidence": [acme_experiment]},
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 400, response.content
    assert "evidence" in response.json()["errors"]
    assert not PromotionRequest.objects.unscoped().filter(team=globex).exists()
    # An id no team has is refused the same way; through the service as well.
    with team_scope(globex), pytest.raises(ValidationFailed) as refused:
        prompt_services.promotion_request_create(
            team=globex,
            actor=dave,
            prompt=globex_prompt,
            tag_name="production",
            candidate=globex_prompt.versions.get(number=1),
            evidence=[10**9],
        )
    assert refused.value.field == "evidence"


@pytest.mark.django_db
def test_evidence_from_the_own_team_is_kept(api_client, world, acme, alice, api_key_for):
    experiment = world.objects["experiment"].pk
    with team_scope(acme):
        text_prompt(team=acme, actor=alice, name="acme-faq", versions=[("Q {{ q }}", "one")])
    raw = api_key_for(acme, alice, scopes=["prompts:write"])
    response = api_client.post(
        "/api/v1/promotions/",
        {"prompt": "acme-faq", "candidate": 1, "evidence": [experiment]},
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 201, response.content
    assert response.json()["evidence"] == [experiment]


@pytest.mark.django_db
def test_a_versions_provider_from_another_team_is_refused(
    api_client, world, globex, dave, globex_prompt, api_key_for
):
    raw = api_key_for(globex, dave, scopes=["prompts:write"])
    response = api_client.post(
        "/api/v1/prompts/globex-faq/versions/",
        {
            "template": "Q2 {{ q }}",
            "commit_message": "borrow acme's provider",
            "model_settings": {"provider_id": world.objects["provider"].pk, "model": "m"},
        },
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["model_settings.provider_id"]
    with team_scope(globex):
        assert globex_prompt.versions.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/experiments/", {"name": "probe", "variants": []}),
        ("/api/v1/experiments/estimate/", {"name": "probe", "variants": []}),
        ("/api/v1/ci/evaluations/", {"prompt": "globex-faq", "candidate_template": "x"}),
    ],
)
def test_a_dataset_id_from_another_team_is_a_400_naming_the_field(
    api_client, world, globex, dave, globex_prompt, api_key_for, path, body
):
    from tests.sdk.world import move

    with team_scope(globex):
        version = globex_prompt.versions.get(number=1)
    move(globex, dave, globex_prompt, version, tag="staging")
    raw = api_key_for(globex, dave, scopes=["experiments:write", "prompts:write"])
    dataset = world.objects["dataset"].pk
    body = {**body, "dataset": str(dataset) if "ci" in path else dataset}
    if "ci" in path:
        body["baseline_tag"] = "staging"
    else:
        body["variants"] = [{"prompt": "globex-faq", "version": 1}]
    response = api_client.post(path, body, format="json", **bearer(raw))
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["dataset"]
