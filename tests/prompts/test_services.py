"""Tags, rollback, promotion review and the role / per-prompt permission matrix."""

import pytest

from apps.core.errors import Conflict, PermissionRefused, ValidationFailed
from apps.prompts import selectors, services
from apps.prompts.models import PromotionStatus, TagEvent
from apps.teams.models import AuditEvent


@pytest.fixture
def frank(make_user, acme):
    from tests.conftest import add_member

    user = make_user("frank@acme.test", "Frank")
    add_member(acme, user, "admin")
    return user


def request_production(hub, actor, version=None, tag="production"):
    return services.promotion_request_create(
        team=hub["team"],
        actor=actor,
        prompt=hub["prompt"],
        tag_name=tag,
        candidate=version or hub["v2"],
        description="better",
    )


def approve(hub, actor, request, comment=""):
    return services.promotion_approve(
        team=hub["team"], actor=actor, promotion=request, comment=comment
    )


def test_it_numbers_versions_without_gaps(hub, bob):
    v3 = services.version_create(
        team=hub["team"],
        actor=bob,
        prompt=hub["prompt"],
        kind="text",
        template="Yo {{ name }}",
        commit_message="third",
    )
    assert v3.number == 3
    assert v3.author == bob
    assert selectors.version_at_tag(hub["prompt"], "latest") == v3
    latest_moves = TagEvent.objects.filter(tag_name="latest").count()
    assert latest_moves == 3


def test_it_validates_versions(hub, bob):
    def create(**kwargs):
        defaults = dict(
            team=hub["team"],
            actor=bob,
            prompt=hub["prompt"],
            kind="text",
            template="x {{ a }}",
            commit_message="m",
        )
        return services.version_create(**{**defaults, **kwargs})

    with pytest.raises(ValidationFailed, match="commit message"):
        create(commit_message="  ")
    with pytest.raises(ValidationFailed) as excinfo:
        create(template="one\ntwo {{ oops")
    assert excinfo.value.field == "template" and "line 2" in excinfo.value.message
    with pytest.raises(ValidationFailed, match="temperature"):
        create(model_settings={"temperature": 5})
    with pytest.raises(ValidationFailed, match="Unknown model setting"):
        create(model_settings={"temprature": 1})
    with pytest.raises(ValidationFailed, match="does not use"):
        create(variables_schema={"b": {"type": "string"}})
    with pytest.raises(ValidationFailed, match="at least one message"):
        create(kind="chat", messages=[])
    chat = create(
        kind="chat",
        messages=[
            {"role": "system", "content": "Be {{ tone }}"},
            {"role": "placeholder", "name": "history"},
            {"role": "user", "content": "{{ q }}"},
        ],
        variables_schema={"tone": {"type": "string", "enum": ["kind", "terse"]}},
        model_settings={
            "model": "m",
            "temperature": "0.3",
            "stop": "END",
            "response_format": "json_object",
        },
    )
    assert chat.variables == ["tone", "q", "history"]
    assert chat.model_settings == {
        "model": "m",
        "temperature": 0.3,
        "stop": ["END"],
        "response_format": {"type": "json_object"},
    }


def test_it_moves_unprotected_tags_and_records_the_move(hub, bob):
    from django.test import TestCase  # noqa: F401  (captureOnCommitCallbacks below)

    event = services.tag_move(
        team=hub["team"],
        actor=bob,
        prompt=hub["prompt"],
        tag_name="staging",
        version=hub["v1"],
        reason="try it",
    )
    assert (event.from_version, event.to_version, event.actor_user) == (None, hub["v1"], bob)
    event = services.tag_move(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="staging", version=hub["v2"]
    )
    assert event.from_version == hub["v1"]
    assert selectors.version_at_tag(hub["prompt"], "staging") == hub["v2"]
    assert AuditEvent.objects.filter(verb="prompt.tag_move").count() == 2
    with pytest.raises(Conflict):
        services.tag_move(
            team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="staging", version=hub["v2"]
        )
    for bad in ("Staging", "a/b", "x" * 37, ""):
        with pytest.raises(ValidationFailed):
            services.tag_move(
                team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name=bad, version=hub["v1"]
            )
    with pytest.raises(ValidationFailed, match="latest"):
        services.tag_move(
            team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="latest", version=hub["v1"]
        )


def test_it_sends_tag_moved_after_commit(hub, bob, django_capture_on_commit_callbacks):
    from apps.prompts.signals import tag_moved

    received = []

    def listener(sender, **kwargs):
        received.append((kwargs["team_id"], kwargs["prompt_name"], kwargs["tag_name"]))

    tag_moved.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.tag_move(
                team=hub["team"],
                actor=bob,
                prompt=hub["prompt"],
                tag_name="staging",
                version=hub["v1"],
            )
        assert received == []  # nothing before the commit
        for callback in callbacks:
            callback()
    finally:
        tag_moved.disconnect(listener)
    assert received == [(hub["team"].pk, "greeter", "staging")]


def test_it_refuses_direct_moves_of_protected_tags(hub, alice):
    with pytest.raises(PermissionRefused, match="protected"):
        services.tag_move(
            team=hub["team"],
            actor=alice,
            prompt=hub["prompt"],
            tag_name="production",
            version=hub["v2"],
        )


def test_it_rolls_an_unprotected_tag_back(hub, bob):
    services.tag_move(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="staging", version=hub["v1"]
    )
    services.tag_move(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="staging", version=hub["v2"]
    )
    event = services.tag_rollback(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="staging", version=hub["v1"]
    )
    assert event.is_rollback and not event.is_emergency
    assert selectors.version_at_tag(hub["prompt"], "staging") == hub["v1"]
    v3 = services.version_create(
        team=hub["team"],
        actor=bob,
        prompt=hub["prompt"],
        kind="text",
        template="{{ name }}!",
        commit_message="three",
    )
    with pytest.raises(ValidationFailed, match="never pointed"):
        services.tag_rollback(
            team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="staging", version=v3
        )


def test_it_promotes_through_an_approved_request(hub, alice, bob):
    request = request_production(hub, bob)
    assert request.current_version is None and request.status == PromotionStatus.OPEN
    approved = approve(hub, alice, request, "lgtm")
    assert approved.status == PromotionStatus.APPROVED
    assert approved.reviewer == alice and approved.review_comment == "lgtm"
    assert selectors.version_at_tag(hub["prompt"], "production") == hub["v2"]
    event = TagEvent.objects.get(tag_name="production")
    assert (event.actor_user, event.approver, event.promotion) == (bob, alice, approved)
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"prompt.promotion_request", "prompt.promotion_approve"} <= verbs


def test_it_never_lets_requesters_approve_their_own_request(hub, alice, frank):
    """Four eyes: even an owner cannot approve what they requested."""
    request = request_production(hub, alice)
    with pytest.raises(PermissionRefused, match="teammate"):
        approve(hub, alice, request)
    with pytest.raises(PermissionRefused):
        services.promotion_reject(team=hub["team"], actor=alice, promotion=request, comment="no")
    request.refresh_from_db()
    assert request.status == PromotionStatus.OPEN
    assert selectors.version_at_tag(hub["prompt"], "production") is None
    approve(hub, frank, request)
    assert selectors.version_at_tag(hub["prompt"], "production") == hub["v2"]


def test_it_supersedes_a_request_when_the_tag_moved(hub, alice, bob, frank):
    first = request_production(hub, bob, hub["v1"])
    second = request_production(hub, bob, hub["v2"])
    approve(hub, alice, first)
    # Eagerly superseded by the move...
    second.refresh_from_db()
    assert second.status == PromotionStatus.SUPERSEDED
    with pytest.raises(Conflict):
        approve(hub, frank, second)
    assert selectors.version_at_tag(hub["prompt"], "production") == hub["v1"]


def test_it_supersedes_on_approval_if_the_tag_moved_underneath(hub, alice, bob, frank):
    """A request whose recorded position no longer matches is superseded at approval."""
    from apps.prompts.models import PromotionRequest, Tag

    first = request_production(hub, bob, hub["v1"])
    approve(hub, alice, first)
    stale = request_production(hub, bob, hub["v2"])
    # Simulate a move that bypassed the eager check (e.g. an emergency rollback race).
    Tag.objects.filter(prompt=hub["prompt"], name="production").update(version=hub["v2"])
    with pytest.raises(Conflict, match="superseded"):
        approve(hub, frank, stale)
    assert PromotionRequest.objects.get(pk=stale.pk).status == PromotionStatus.SUPERSEDED
    assert AuditEvent.objects.filter(verb="prompt.promotion_supersede").exists()


def test_it_closes_requests_once(hub, alice, bob, frank):
    request = request_production(hub, bob)
    services.promotion_reject(team=hub["team"], actor=alice, promotion=request, comment="no data")
    with pytest.raises(Conflict):
        approve(hub, frank, request)
    request = request_production(hub, bob)
    services.promotion_cancel(team=hub["team"], actor=bob, promotion=request)
    with pytest.raises(Conflict):
        approve(hub, alice, request)
    with pytest.raises(Conflict, match="already asks"):
        request_production(hub, bob)
        request_production(hub, bob)


def test_it_allows_emergency_rollback_to_owners_and_admins_with_a_reason(hub, alice, bob, frank):
    approve(hub, alice, request_production(hub, bob, hub["v1"]))
    approve(hub, frank, request_production(hub, bob, hub["v2"]))
    kwargs = dict(team=hub["team"], prompt=hub["prompt"], tag_name="production", version=hub["v1"])
    with pytest.raises(PermissionRefused):
        services.tag_rollback(actor=bob, reason="broken", **kwargs)
    with pytest.raises(ValidationFailed, match="reason"):
        services.tag_rollback(actor=alice, reason="  ", **kwargs)
    event = services.tag_rollback(actor=alice, reason="v2 answers in French", **kwargs)
    assert event.is_emergency and event.is_rollback
    assert event.reason == "v2 answers in French"
    assert selectors.version_at_tag(hub["prompt"], "production") == hub["v1"]
    audit = AuditEvent.objects.get(verb="prompt.tag_emergency_rollback")
    assert audit.after["emergency"] is True and audit.after["reason"] == "v2 answers in French"


# --- the permission matrix -----------------------------------------------------------

ROLES = ["owner", "admin", "editor", "annotator", "viewer"]
WRITERS = {"owner", "admin", "editor"}
REVIEWERS = {"owner", "admin"}


@pytest.fixture
def people(acme, alice, bob, carol, erin, frank):
    return {"owner": alice, "admin": frank, "editor": bob, "annotator": erin, "viewer": carol}


def _allowed(fn) -> bool:
    try:
        fn()
    except PermissionRefused:
        return False
    return True


@pytest.mark.parametrize("role", ROLES)
def test_it_enforces_the_role_matrix(hub, people, role, make_user):
    actor = people[role]
    team, prompt = hub["team"], hub["prompt"]
    assert _allowed(lambda: services.prompt_create(team=team, actor=actor, name=f"p-{role}")) == (
        role in WRITERS
    )
    assert _allowed(
        lambda: services.version_create(
            team=team,
            actor=actor,
            prompt=prompt,
            kind="text",
            template=f"{role} {{{{ name }}}}",
            commit_message="m",
        )
    ) == (role in WRITERS)
    assert _allowed(
        lambda: services.tag_move(
            team=team, actor=actor, prompt=prompt, tag_name=f"t-{role}", version=hub["v1"]
        )
    ) == (role in WRITERS)
    assert _allowed(lambda: request_production(hub, actor, hub["v1"], tag=f"gate-{role}")) == (
        role in WRITERS
    )
    # Review a request someone else made.
    requester = people["editor"] if role != "editor" else people["admin"]
    request = request_production(hub, requester, hub["v2"], tag=f"rev-{role}")
    assert _allowed(lambda: approve(hub, actor, request)) == (role in REVIEWERS)
    assert _allowed(
        lambda: services.approver_grant(
            team=team, actor=actor, prompt=prompt, user=people["viewer"]
        )
    ) == (role in REVIEWERS)


def test_it_lets_a_granted_member_review_that_prompt_only(hub, alice, bob, carol, erin):
    team = hub["team"]
    other = services.prompt_create(team=team, actor=bob, name="other")
    other_v1 = services.version_create(
        team=team, actor=bob, prompt=other, kind="text", template="o", commit_message="o"
    )
    services.approver_grant(team=team, actor=alice, prompt=hub["prompt"], user=erin)
    assert list(selectors.approvers_of(hub["prompt"])) == [erin]
    from apps.prompts.models import PromptUserObjectPermission

    # Stored in the direct-FK grant table, not guardian's generic one.
    assert PromptUserObjectPermission.objects.filter(
        user=erin, content_object=hub["prompt"]
    ).exists()
    mine = request_production(hub, bob)
    elsewhere = services.promotion_request_create(
        team=team, actor=bob, prompt=other, tag_name="production", candidate=other_v1
    )
    assert list(selectors.needs_review(erin, team)) == [mine]
    with pytest.raises(PermissionRefused):
        approve(hub, erin, elsewhere)
    approve(hub, erin, mine)
    assert selectors.version_at_tag(hub["prompt"], "production") == hub["v2"]

    services.approver_revoke(team=team, actor=alice, prompt=hub["prompt"], user=erin)
    again = request_production(hub, bob, hub["v1"])
    with pytest.raises(PermissionRefused):
        approve(hub, erin, again)


def test_it_grants_approval_only_to_members(hub, alice, dave):
    with pytest.raises(ValidationFailed, match="members"):
        services.approver_grant(team=hub["team"], actor=alice, prompt=hub["prompt"], user=dave)


def test_it_counts_the_review_inbox_per_person(hub, alice, bob, frank):
    request_production(hub, bob)
    assert selectors.needs_review(alice, hub["team"]).count() == 1
    assert selectors.needs_review(frank, hub["team"]).count() == 1
    assert selectors.needs_review(bob, hub["team"]).count() == 0  # own request, and editor


def test_it_lists_prompts_with_their_tags_in_few_queries(hub, bob, django_assert_max_num_queries):
    for n in range(5):
        prompt = services.prompt_create(team=hub["team"], actor=bob, name=f"p{n}")
        services.version_create(
            team=hub["team"],
            actor=bob,
            prompt=prompt,
            kind="text",
            template="x",
            commit_message="m",
        )
    with django_assert_max_num_queries(2):
        prompts = selectors.prompt_list()
        maps = {p.name: p.tag_map for p in prompts}
    assert maps["greeter"] == {"latest": 2}
    assert len(maps) == 6
