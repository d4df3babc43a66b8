"""A saved version never changes: model save, queryset update/delete, raw SQL, admin, API."""

import pytest
from django.db import connection, transaction

from apps.prompts.models import ImmutableRowError, PromptVersion


def test_it_refuses_save_on_an_existing_version(hub):
    v1 = hub["v1"]
    v1.template = "changed"
    with pytest.raises(ImmutableRowError):
        v1.save()
    v1.refresh_from_db()
    assert v1.template == "Hi {{ name }}"


def test_it_refuses_delete_of_a_version(hub):
    with pytest.raises(ImmutableRowError):
        hub["v1"].delete()
    with pytest.raises(ImmutableRowError):
        PromptVersion.objects.filter(pk=hub["v1"].pk).delete()


def test_it_refuses_queryset_updates(hub):
    with pytest.raises(ImmutableRowError):
        PromptVersion.objects.filter(pk=hub["v1"].pk).update(template="changed")
    with pytest.raises(ImmutableRowError):
        PromptVersion.objects.unscoped().filter(pk=hub["v1"].pk).update(template="changed")
    with pytest.raises(ImmutableRowError):
        PromptVersion.objects.bulk_update([hub["v1"]], ["template"])


def test_it_refuses_raw_sql_updates_in_the_database(hub):
    with pytest.raises(Exception) as excinfo, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE prompts_promptversion SET template = %s WHERE id = %s",
                ["changed", hub["v1"].pk],
            )
    assert "immutable" in str(excinfo.value)
    hub["v1"].refresh_from_db()
    assert hub["v1"].template == "Hi {{ name }}"


def test_it_still_deletes_a_whole_team(hub, alice):
    """Cascades go through Django's collector, not the guarded queryset methods."""
    from apps.teams.models import Team

    Team.objects.filter(pk=hub["team"].pk).delete()
    assert not PromptVersion.objects.unscoped().exists()


def test_it_nulls_the_author_when_a_user_is_deleted(hub, alice):
    from apps.accounts.models import User

    User.objects.filter(pk=alice.pk).delete()
    hub["v1"].refresh_from_db()
    assert hub["v1"].author_id is None
    assert hub["v1"].author_label == "alice@acme.test"


def test_it_gives_the_admin_no_way_to_change_versions(admin_client, hub):
    response = admin_client.get(f"/admin/prompts/promptversion/{hub['v1'].pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="template"' not in body  # read-only view, no inputs
    response = admin_client.post(
        f"/admin/prompts/promptversion/{hub['v1'].pk}/change/", {"template": "changed"}
    )
    assert response.status_code == 403
    response = admin_client.post(
        f"/admin/prompts/promptversion/{hub['v1'].pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert admin_client.get("/admin/prompts/promptversion/add/").status_code == 403
    hub["v1"].refresh_from_db()
    assert hub["v1"].template == "Hi {{ name }}"


def test_it_has_no_update_route_for_versions(api_client, hub, api_key_for, alice):
    from django.urls import reverse

    from tests.conftest import bearer

    key = api_key_for(hub["team"], alice, scopes=["admin"])
    url = reverse("api:prompt-version", kwargs={"prompt_name": "greeter", "version_number": 1})
    for method in ("put", "patch", "delete"):
        response = getattr(api_client, method)(url, {"template": "x"}, format="json", **bearer(key))
        assert response.status_code == 405


def test_it_hashes_content_canonically(hub):
    from apps.prompts.content import content_hash

    a = content_hash(
        kind="text",
        template="x",
        messages=[],
        variables_schema={},
        model_settings={"model": "m", "temperature": 0.1},
    )
    b = content_hash(
        kind="text",
        template="x",
        messages=[],
        variables_schema={},
        model_settings={"temperature": 0.1, "model": "m"},
    )
    assert a == b
    assert hub["v1"].content_hash != hub["v2"].content_hash


def test_it_refuses_a_version_identical_to_the_newest(hub, alice):
    from apps.core.errors import ValidationFailed
    from apps.prompts import services

    with pytest.raises(ValidationFailed, match="Nothing changed"):
        services.version_create(
            team=hub["team"],
            actor=alice,
            prompt=hub["prompt"],
            kind="text",
            template="Hello {{ name }}!",
            commit_message="same",
        )


def test_it_refuses_raw_sql_updates_of_a_chains_steps(hub):
    with pytest.raises(Exception) as excinfo, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE prompts_promptversion SET steps = %s WHERE id = %s",
                ["[]", hub["v1"].pk],
            )
    assert "immutable" in str(excinfo.value)
