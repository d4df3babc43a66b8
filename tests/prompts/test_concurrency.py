"""Concurrent writers on PostgreSQL: gap-free version numbers, exactly one approval."""

import threading

import pytest
from django.db import connection

from apps.core.errors import Conflict
from apps.core.tenancy import team_scope

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "Row locks (SELECT … FOR UPDATE) need PostgreSQL; SQLite serialises whole "
            "transactions. Run with ./scripts/with_postgres.sh."
        )


def run_at_once(count, work):
    """Start `count` threads on a barrier; return (results, errors) in thread order."""
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = [None] * count

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            errors[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_it_numbers_20_concurrent_versions_without_gaps(acme, alice):
    from apps.prompts import services
    from apps.prompts.models import PromptVersion

    with team_scope(acme):
        prompt = services.prompt_create(team=acme, actor=alice, name="busy")

    def create(i):
        with team_scope(acme):
            return services.version_create(
                team=acme,
                actor=alice,
                prompt=prompt,
                kind="text",
                template=f"writer {i}: {{{{ x }}}}",
                commit_message=f"writer {i}",
            ).number

    numbers, errors = run_at_once(20, create)
    assert errors == [None] * 20
    assert sorted(numbers) == list(range(1, 21))
    with team_scope(acme):
        stored = list(
            PromptVersion.objects.filter(prompt=prompt)
            .order_by("number")
            .values_list("number", flat=True)
        )
        assert stored == list(range(1, 21))
        from apps.prompts.selectors import version_at_tag

        assert version_at_tag(prompt, "latest").number == 20


def test_it_moves_the_tag_once_when_two_reviewers_approve_at_once(acme, alice, bob, make_user):
    from apps.prompts import services
    from apps.prompts.models import PromotionRequest, TagEvent
    from apps.prompts.selectors import version_at_tag
    from tests.conftest import add_member

    frank = make_user("frank@acme.test")
    add_member(acme, frank, "admin")
    with team_scope(acme):
        prompt = services.prompt_create(team=acme, actor=bob, name="racy")
        v1 = services.version_create(
            team=acme, actor=bob, prompt=prompt, kind="text", template="a", commit_message="a"
        )
        request = services.promotion_request_create(
            team=acme, actor=bob, prompt=prompt, tag_name="production", candidate=v1
        )
    reviewers = [alice, frank] * 4

    def approve(i):
        with team_scope(acme):
            return services.promotion_approve(
                team=acme, actor=reviewers[i], promotion=request, comment=f"r{i}"
            ).status

    statuses, errors = run_at_once(len(reviewers), approve)
    assert statuses.count("approved") == 1
    assert all(isinstance(e, Conflict) for e in errors if e is not None)
    assert sum(e is not None for e in errors) == len(reviewers) - 1
    with team_scope(acme):
        assert TagEvent.objects.filter(prompt=prompt, tag_name="production").count() == 1
        assert version_at_tag(prompt, "production") == v1
        assert PromotionRequest.objects.get(pk=request.pk).status == "approved"


def test_it_approves_only_one_of_two_competing_requests(acme, alice, bob, make_user):
    """Two requests against the same position approved at once: one moves, one is superseded."""
    from apps.prompts import services
    from apps.prompts.models import PromotionRequest, TagEvent

    frank = make_user("frank@acme.test")
    from tests.conftest import add_member

    add_member(acme, frank, "admin")
    with team_scope(acme):
        prompt = services.prompt_create(team=acme, actor=bob, name="racy")
        v1 = services.version_create(
            team=acme, actor=bob, prompt=prompt, kind="text", template="a", commit_message="a"
        )
        v2 = services.version_create(
            team=acme, actor=bob, prompt=prompt, kind="text", template="b", commit_message="b"
        )
        requests = [
            services.promotion_request_create(
                team=acme, actor=bob, prompt=prompt, tag_name="production", candidate=v
            )
            for v in (v1, v2)
        ]
    reviewers = [alice, frank]

    def approve(i):
        with team_scope(acme):
            return services.promotion_approve(
                team=acme, actor=reviewers[i], promotion=requests[i]
            ).status

    statuses, errors = run_at_once(2, approve)
    assert statuses.count("approved") == 1
    assert sum(isinstance(e, Conflict) for e in errors) == 1
    with team_scope(acme):
        assert TagEvent.objects.filter(prompt=prompt, tag_name="production").count() == 1
        final = sorted(
            PromotionRequest.objects.filter(prompt=prompt).values_list("status", flat=True)
        )
        assert final == ["approved", "superseded"]
