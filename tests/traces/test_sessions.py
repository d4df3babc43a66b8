"""Sessions and users: `session.id` / `user.id` (and their other spellings) lifted onto
the trace, the session page as a conversation, and the explorer's filters."""

from __future__ import annotations

import re

import pytest

from apps.core.tenancy import team_scope
from apps.traces import semconv
from apps.traces.models import Trace
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


def _turn(team, actor, n, *, session, user, question, answer, attr_on_child=False):
    trace_id = hex_id(n, 16)
    ids = {"session.id": session, "user.id": user}
    root_attrs = {"input.value": question, "output.value": answer}
    child_attrs = {}
    (child_attrs if attr_on_child else root_attrs).update(ids)
    ingest(
        team,
        actor,
        [
            raw_span(trace_id, hex_id(n, 8), name=f"turn-{n}", start_ms=n * 1000, attrs=root_attrs),
            raw_span(
                trace_id,
                hex_id(100 + n, 8),
                parent=hex_id(n, 8),
                name="chat",
                start_ms=n * 1000 + 1,
                attrs=child_attrs,
            ),
        ],
    )
    return trace_id


@pytest.mark.parametrize(
    "attrs, session, user",
    [
        ({"session.id": "s1", "user.id": "u1"}, "s1", "u1"),
        ({"gen_ai.conversation.id": "c9", "enduser.id": "e7"}, "c9", "e7"),
        ({"langfuse.session.id": "l1", "langfuse.user.id": "l2"}, "l1", "l2"),
        ({"session.id": 42}, "42", ""),
    ],
)
def test_it_reads_session_and_user_ids_in_each_spelling(attrs, session, user):
    fields = semconv.extract(attrs, [])
    assert (fields.session_id, fields.user_id) == (session, user)


def test_the_trace_takes_its_session_and_user_from_any_span(acme, alice):
    _turn(acme, alice, 1, session="s-1", user="u-1", question="q", answer="a", attr_on_child=True)
    with team_scope(acme):
        trace = Trace.objects.get()
    assert (trace.session_id, trace.user_id) == ("s-1", "u-1")


def test_the_session_page_shows_its_turns_in_order(
    client, acme, alice, django_assert_max_num_queries
):
    # Sent out of order: the page orders them by when they happened.
    _turn(acme, alice, 3, session="s-1", user="u-1", question="And tomorrow?", answer="Rain.")
    _turn(acme, alice, 1, session="s-1", user="u-1", question="Weather <today>?", answer="Sun.")
    _turn(acme, alice, 2, session="s-2", user="u-2", question="Other chat", answer="Hi")
    client.force_login(alice)
    with django_assert_max_num_queries(12):
        page = client.get("/t/acme/traces/sessions/s-1/").content.decode()
    turns = re.findall(r'data-trace-id="([0-9a-f]+)"', page)
    assert turns == [hex_id(1, 16), hex_id(3, 16)]
    assert page.index("Weather &lt;today&gt;?") < page.index("Sun.") < page.index("And tomorrow?")
    assert "Other chat" not in page and "u-1" in page
    assert client.get("/t/acme/traces/sessions/nobody/").status_code == 404


def test_the_explorer_filters_by_session_and_user(client, acme, alice):
    _turn(acme, alice, 1, session="s-1", user="u-1", question="a", answer="b")
    _turn(acme, alice, 2, session="s-1", user="u-2", question="c", answer="d")
    _turn(acme, alice, 3, session="s-2", user="u-2", question="e", answer="f")
    client.force_login(alice)

    def names(**params):
        page = client.get("/t/acme/traces/", params).content.decode()
        return sorted(set(re.findall(r">(turn-\d)</a>", page)))

    assert names(session="s-1") == ["turn-1", "turn-2"]
    assert names(user="u-2") == ["turn-2", "turn-3"]
    assert names(session="s-1", user="u-2") == ["turn-2"]
    detail = client.get(f"/t/acme/traces/{hex_id(1, 16)}/").content.decode()
    assert "/t/acme/traces/sessions/s-1/" in detail


def test_the_api_filters_and_returns_sessions(api_client, acme, alice, api_key_for):
    from tests.conftest import bearer

    _turn(acme, alice, 1, session="s-1", user="u-1", question="a", answer="b")
    _turn(acme, alice, 2, session="s-2", user="u-1", question="c", answer="d")
    raw = api_key_for(acme, alice, scopes=["traces:read"])
    body = api_client.get("/api/v1/traces/", {"session": "s-2"}, **bearer(raw)).json()
    assert [(t["session_id"], t["user_id"]) for t in body["results"]] == [("s-2", "u-1")]


def test_an_outsider_never_sees_a_session(client, acme, alice, dave):
    _turn(acme, alice, 1, session="s-1", user="u-1", question="secret", answer="b")
    client.force_login(dave)
    assert client.get("/t/acme/traces/sessions/s-1/").status_code == 404
    assert client.get("/t/globex/traces/sessions/s-1/").status_code == 404


def test_ids_with_slashes_and_odd_characters_still_link(client, acme, alice):
    _turn(acme, alice, 1, session="org/42 chat?x=1", user="u/1", question="q", answer="a")
    client.force_login(alice)
    detail = client.get(f"/t/acme/traces/{hex_id(1, 16)}/").content.decode()
    assert "/t/acme/traces/sessions/org/42%20chat%3Fx=1/" in detail
    page = client.get("/t/acme/traces/sessions/org/42%20chat%3Fx%3D1/")
    assert page.status_code == 200 and hex_id(1, 16) in page.content.decode()
    assert client.get("/t/acme/traces/").status_code == 200
