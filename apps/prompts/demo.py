"""Demo prompts for team acme: support-reply (the story: a production version, a regression
and an improvement), a chat prompt with a history placeholder and a JSON-output prompt, each
with `production` and `staging` tags; bob may review support-reply's promotions; and the
API keys of two deployments (production, staging) with what they fetched, one staging
worker still on an old version. The promotion of support-reply v3 waiting for bob is the
experiments demo's (it needs the policy and its evidence). Running it again changes
nothing."""

from __future__ import annotations

from apps.core.tenancy import team_scope
from apps.llm.demo import ensure_demo_provider
from apps.prompts import selectors, services, telemetry
from apps.prompts.models import PERM_APPROVE_PROMOTION, Prompt, PromptVersion
from apps.teams.models import ApiKey
from apps.teams.services import api_key_create

DEMO_MODEL = {"model": "demo-echo", "temperature": 0.2, "max_tokens": 400}

# The story of the demo: production runs v1; v2 (answer in one sentence) was a regression
# that dropped the thanks and the order status; v3 keeps v1's tone and always says where
# the order is. demo-echo follows these instructions by its documented rules, so the three
# really score differently on the golden set (apps/datasets/demo.py).
SUPPORT_SYSTEM = "You are the support assistant of Acme Shop. "
SUPPORT_USER = "{{ message }}\n\nOrder status: {{ order_status }}"
SUPPORT_VARIABLES = {
    "message": {"type": "string", "description": "The customer's message"},
    "order_status": {"type": "string", "description": "The order's status, from the shop"},
}
SUPPORT_REPLY = [
    dict(
        messages=[
            {
                "role": "system",
                "content": SUPPORT_SYSTEM + "Thank the customer and keep it brief: customers "
                "read replies on their phones.",
            },
            {"role": "user", "content": SUPPORT_USER},
        ],
        variables_schema=SUPPORT_VARIABLES,
        commit_message="Support reply: thank the customer, keep it brief",
    ),
    dict(
        messages=[
            {"role": "system", "content": SUPPORT_SYSTEM + "Answer in one sentence."},
            {"role": "user", "content": SUPPORT_USER},
        ],
        variables_schema=SUPPORT_VARIABLES,
        commit_message="Shorter still: answer in one sentence",
    ),
    dict(
        messages=[
            {
                "role": "system",
                "content": SUPPORT_SYSTEM + "Thank the customer and keep it brief, but always "
                "mention the order status so they know where their order is.",
            },
            {"role": "user", "content": SUPPORT_USER},
        ],
        variables_schema=SUPPORT_VARIABLES,
        commit_message="Back to v1's tone, and always mention the order status",
    ),
]

CHAT_ASSISTANT = [
    dict(
        messages=[
            {"role": "system", "content": "You are a helpful assistant for {{ company }}."},
            {"role": "placeholder", "name": "history"},
            {"role": "user", "content": "{{ question }}"},
        ],
        commit_message="Chat assistant with conversation history",
    ),
    dict(
        messages=[
            {
                "role": "system",
                "content": (
                    "You are a helpful assistant for {{ company }}. Cite the help-centre "
                    "article when you use one. Say you do not know rather than guess."
                ),
            },
            {"role": "placeholder", "name": "history"},
            {"role": "user", "content": "{{ question }}"},
        ],
        commit_message="Cite sources; admit uncertainty",
    ),
]

TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "bug", "feature", "other"]},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["category", "urgency"],
}
TICKET_TRIAGE = [
    dict(
        template=(
            "Classify this support ticket. Answer with JSON "
            '{"category": ..., "urgency": 1-5}.\n\nTicket: {{ ticket }}'
        ),
        settings={"response_format": {"type": "json_object"}},
        commit_message="JSON triage of tickets",
    ),
    dict(
        template=(
            "Classify this support ticket into billing, bug, feature or other, and rate its "
            "urgency from 1 (can wait) to 5 (outage).\n"
            "{% if language and language != 'en' %}The ticket is in {{ language }}.\n{% endif %}"
            "\nTicket: {{ ticket }}"
        ),
        variables_schema={
            "ticket": {"type": "string"},
            # Optional: the demo dataset's tickets carry no language (English).
            "language": {"type": "string", "enum": ["en", "de", "fr"], "required": False},
        },
        settings={
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "triage", "schema": TRIAGE_SCHEMA},
            }
        },
        commit_message="Strict JSON schema; ticket language",
    ),
]


def _ensure_prompt(team, actor, name, description, kind, drafts, *, provider) -> Prompt:
    prompt = Prompt.objects.filter(name=name).first()
    if prompt is None:
        prompt = services.prompt_create(team=team, actor=actor, name=name, description=description)
    have = PromptVersion.objects.filter(prompt=prompt).count()
    for draft in drafts[have:]:
        services.version_create(
            team=team,
            actor=actor,
            prompt=prompt,
            kind=kind,
            template=draft.get("template", ""),
            messages=draft.get("messages"),
            variables_schema=draft.get("variables_schema"),
            model_settings={
                **DEMO_MODEL,
                "provider_id": provider.pk,
                **draft.get("settings", {}),
            },
            commit_message=draft["commit_message"],
        )
    return prompt


def _version(prompt, number):
    return PromptVersion.objects.get(prompt=prompt, number=number)


def _ensure_tag(team, prompt, tag, numbers, *, requester, approver):
    """Put a tag on its versions in turn (the last stays) the way a team would: directly,
    or through an approved request. Only a tag not set yet is set."""
    if selectors.version_at_tag(prompt, tag) is not None:
        return
    for number in numbers:
        version = _version(prompt, number)
        if team.is_protected_tag(tag):
            request = services.promotion_request_create(
                team=team,
                actor=requester,
                prompt=prompt,
                tag_name=tag,
                candidate=version,
                description="Initial release",
            )
            services.promotion_approve(
                team=team, actor=approver, promotion=request, comment="Ship it"
            )
        else:
            services.tag_move(
                team=team, actor=requester, prompt=prompt, tag_name=tag, version=version
            )


def _ensure_approver(team, prompt, *, owner, user):
    """Editors review a prompt's promotions once an admin grants it (bob on support-reply)."""
    if not user.has_perm(PERM_APPROVE_PROMOTION, prompt):
        services.approver_grant(team=team, actor=owner, prompt=prompt, user=user)


# What each deployment fetched: (key name, environment, tag, version served, fetches). The
# second staging worker still serves v2, which the staging tag has left: drift on the
# Environments page.
FETCHES = [
    ("shop-web", "production", "production", 1, 240),
    ("support-worker", "staging", "staging", 3, 60),
    ("support-worker-2", "staging", "staging", 2, 25),
]


def _ensure_fetches(team, prompt, *, owner):
    """The deployments' API keys and what they fetched, through the fetch telemetry."""
    have = set(ApiKey.objects.values_list("name", flat=True))
    counted = False
    for name, environment, tag, number, fetches in FETCHES:
        if name in have:
            continue
        key, _ = api_key_create(
            team=team, actor=owner, name=name, scopes=["prompts:read"], environment=environment
        )
        for _ in range(fetches):
            telemetry.record(api_key=key, tag=tag, served=[(prompt.pk, number)])
        counted = True
    if counted:
        telemetry.flush()


def seed(team, users):
    alice, bob = users["alice"], users["bob"]
    provider = ensure_demo_provider(team=team, actor=alice)
    with team_scope(team):
        support = _ensure_prompt(
            team,
            alice,
            "support-reply",
            "Replies to customers asking where their order is.",
            "chat",
            SUPPORT_REPLY,
            provider=provider,
        )
        chat = _ensure_prompt(
            team,
            alice,
            "chat-assistant",
            "The help-centre chat assistant.",
            "chat",
            CHAT_ASSISTANT,
            provider=provider,
        )
        triage = _ensure_prompt(
            team,
            bob,
            "ticket-triage",
            "Routes incoming tickets (JSON output).",
            "text",
            TICKET_TRIAGE,
            provider=provider,
        )
        # support-reply: v1 in production; staging tried v2, then moved on to v3.
        _ensure_tag(team, support, "production", [1], requester=bob, approver=alice)
        _ensure_tag(team, support, "staging", [2, 3], requester=bob, approver=alice)
        for prompt in (chat, triage):
            _ensure_tag(team, prompt, "production", [1], requester=bob, approver=alice)
            _ensure_tag(team, prompt, "staging", [2], requester=bob, approver=alice)
        _ensure_approver(team, support, owner=alice, user=bob)
        _ensure_fetches(team, support, owner=alice)
    return {"prompts": [support.name, chat.name, triage.name]}
