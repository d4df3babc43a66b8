"""Keyset pages and counts that cost the page (apps.core.pagination), on the audit trail."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.pagination import Count, estimated_count, keyset_page
from apps.core.templatetags.counts import approx
from apps.core.tenancy import team_scope
from apps.teams.models import AuditEvent
from apps.teams.services import audit_record

pytestmark = pytest.mark.django_db
ORDER = ("-created_at", "-id")


@pytest.fixture
def events(acme, alice):
    with team_scope(acme):
        for i in range(12):
            audit_record(team=acme, actor=alice, verb="test.page", after={"i": i})
        return AuditEvent.objects.filter(verb="test.page")


def _numbers(page) -> list[int]:
    return [e.after["i"] for e in page.rows]


def test_it_walks_forward_and_back_without_gaps_or_repeats(acme, events):
    with team_scope(acme):
        first = keyset_page(events, order=ORDER, params={}, per_page=5)
        second = keyset_page(events, order=ORDER, params={"after": first.next_cursor}, per_page=5)
        third = keyset_page(events, order=ORDER, params={"after": second.next_cursor}, per_page=5)
        back = keyset_page(
            events, order=ORDER, params={"before": third.previous_cursor}, per_page=5
        )
        again = keyset_page(
            events, order=ORDER, params={"from": second.previous_cursor}, per_page=5
        )
        last = keyset_page(events, order=ORDER, params={"last": "1"}, per_page=5)
    assert _numbers(first) + _numbers(second) + _numbers(third) == list(range(11, -1, -1))
    assert not first.has_previous and first.has_next and third.has_previous and not third.has_next
    assert _numbers(back) == _numbers(second) == _numbers(again)
    assert _numbers(last) == [4, 3, 2, 1, 0] and last.has_previous and not last.has_next
    assert first.count is None and third.next_query == ""
    assert second.next_query.startswith("after=") and second.previous_query.startswith("before=")


def test_it_shows_the_first_page_for_a_tampered_cursor_and_the_end_for_a_stale_one(acme, events):
    with team_scope(acme):
        first = _numbers(keyset_page(events, order=ORDER, params={}, per_page=5))
        for junk in ("", "abc", "1", "1_2_3", "-_-", "9" * 19 + "_1", "1_" + "9" * 30):
            assert (
                _numbers(keyset_page(events, order=ORDER, params={"after": junk}, per_page=5))
                == first
            )
        # Past the end (its rows deleted since): the last page, not an empty one with links.
        beyond = keyset_page(events, order=ORDER, params={"after": "0_0"}, per_page=5)
        before_all = keyset_page(events, order=ORDER, params={"before": "99999999999999_0"})
    assert _numbers(beyond) == [4, 3, 2, 1, 0]
    assert _numbers(before_all) == first + list(range(6, -1, -1))


def test_it_counts_a_whole_list_on_one_page_exactly(acme, events):
    with team_scope(acme):
        page = keyset_page(events, order=ORDER, params={}, per_page=50, count=Count(99, False))
    assert page.count == Count(12) and approx(page.count) == "12"


def test_it_caps_or_estimates_a_count_instead_of_reading_every_row(acme, events):
    with team_scope(acme):
        if connection.vendor == "postgresql":
            assert estimated_count(events) == Count(12)  # small by the planner: counted
        else:
            assert estimated_count(events, cap=5) == Count(5, exact=False, at_least=True)
            assert estimated_count(events, cap=50) == Count(12)
    assert approx(Count(5, exact=False, at_least=True)) == "over 5"
    assert approx(Count(1234, exact=False)) == "about 1,234"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate")
def test_it_takes_the_planners_estimate_for_a_large_list(acme, alice):
    with team_scope(acme):
        AuditEvent.objects.bulk_create(
            AuditEvent(team=acme, actor_label="x", verb="test.many", target_type="t")
            for _ in range(3000)
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE teams_auditevent")
        count = estimated_count(AuditEvent.objects.filter(verb="test.many"))
    assert not count.exact and 1000 <= count.value <= 9000
