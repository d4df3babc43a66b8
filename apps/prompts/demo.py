"""Demo prompts for team acme: a text prompt, a chat prompt with a history placeholder and a
JSON-output prompt, each with several versions, `production` and `staging` tags, and one
open promotion request from bob. Running it again changes nothing."""

from __future__ import annotations

from apps.core.tenancy import team_scope
from apps.prompts import selectors, services
from apps.prompts.models import PromotionRequest, PromotionStatus, Prompt, PromptVersion

DEMO_MODEL = {"model": "demo-echo", "temperature": 0.2, "max_tokens": 400}

SUPPORT_REPLY = [
    dict(
        template=(
            "You are a support agent for {{ product }}.\n"
            "Reply to the customer message below.\n\n"
            "Message: {{ message }}"
        ),
        commit_message="First draft of the support reply",
    ),
    dict(
        template=(
            "You are a friendly, concise support agent for {{ product }}.\n"
            "Answer in at most three sentences and never promise refunds.\n\n"
            "Customer message:\n{{ message }}"
        ),
        commit_message="Shorter answers; no refund promises",
    ),
    dict(
        template=(
            "You are a friendly, concise support agent for {{ product }}.\n"
            "{% if customer_name %}Address the customer as {{ customer_name }}.\n{% endif %}"
            "Answer in at most three sentences and never promise refunds.\n\n"
            "Customer message:\n{{ message }}"
        ),
        variables_schema={
            "product": {"type": "string", "description": "Product name"},
            "message": {"type": "string", "description": "The customer's message"},
            "customer_name": {"type": "string", "required": False},
        },
        commit_message="Greet the customer by name when we know it",
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


def _ensure_prompt(team, actor, name, description, kind, drafts) -> Prompt:
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
            model_settings={**DEMO_MODEL, **draft.get("settings", {})},
            commit_message=draft["commit_message"],
        )
    return prompt


def _version(prompt, number):
    return PromptVersion.objects.get(prompt=prompt, number=number)


def _ensure_tag(team, prompt, tag, number, *, requester, approver):
    """Put a tag on a version the way a team would: directly, or through an approved request."""
    current = selectors.version_at_tag(prompt, tag)
    if current is not None:
        return
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
        services.promotion_approve(team=team, actor=approver, promotion=request, comment="Ship it")
    else:
        services.tag_move(team=team, actor=requester, prompt=prompt, tag_name=tag, version=version)


def seed(team, users):
    alice, bob = users["alice"], users["bob"]
    with team_scope(team):
        support = _ensure_prompt(
            team,
            bob,
            "support-reply",
            "Replies to customer support messages.",
            "text",
            SUPPORT_REPLY,
        )
        chat = _ensure_prompt(
            team,
            alice,
            "chat-assistant",
            "The help-centre chat assistant.",
            "chat",
            CHAT_ASSISTANT,
        )
        triage = _ensure_prompt(
            team,
            bob,
            "ticket-triage",
            "Routes incoming tickets (JSON output).",
            "text",
            TICKET_TRIAGE,
        )
        for prompt, production, staging in ((support, 2, 3), (chat, 1, 2), (triage, 1, 2)):
            _ensure_tag(team, prompt, "production", production, requester=bob, approver=alice)
            _ensure_tag(team, prompt, "staging", staging, requester=bob, approver=alice)
        # One request waiting for alice's review.
        candidate = _version(support, 3)
        waiting = PromotionRequest.objects.filter(
            prompt=support, tag_name="production", candidate=candidate
        ).exists()
        if not waiting and selectors.version_at_tag(support, "production") != candidate:
            services.promotion_request_create(
                team=team,
                actor=bob,
                prompt=support,
                tag_name="production",
                candidate=candidate,
                description=(
                    "v3 greets customers by name. Tried it on staging for a day; no complaints."
                ),
            )
    return {"prompts": [support.name, chat.name, triage.name], "open": PromotionStatus.OPEN}
