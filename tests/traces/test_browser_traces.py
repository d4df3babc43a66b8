"""The explorer in a real browser: list → trace → expand → prompt version; add to a dataset."""

from __future__ import annotations

import re

from apps.core.tenancy import team_scope
from tests.traces.helpers import hex_id, ingest, raw_span


def _world(acme, alice):
    from apps.datasets import services as dataset_services
    from apps.prompts import services as prompt_services

    with team_scope(acme):
        prompt = prompt_services.prompt_create(team=acme, actor=alice, name="support-reply")
        version = prompt_services.version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="Answer: {{ q }}",
            commit_message="first",
        )
        dataset = dataset_services.dataset_create(team=acme, actor=alice, name="golden")
    trace_id, root, plan, chat = hex_id(5, 16), hex_id(1, 8), hex_id(2, 8), hex_id(3, 8)
    ingest(
        acme,
        alice,
        [
            raw_span(
                trace_id,
                root,
                name="agent run",
                duration_ms=400,
                attrs={"input.value": "Where is my order?", "output.value": "On its way."},
            ),
            raw_span(trace_id, plan, parent=root, name="plan step", start_ms=10, duration_ms=300),
            raw_span(
                trace_id,
                chat,
                parent=plan,
                name="chat gpt-test",
                start_ms=20,
                duration_ms=200,
                attrs={
                    "gen_ai.request.model": "gpt-test",
                    "promptyard.prompt.name": "support-reply",
                    "promptyard.prompt.version": version.number,
                    "gen_ai.prompt": "Answer: Where is my order?",
                    "gen_ai.completion": "On its way.",
                },
            ),
        ],
    )
    return trace_id, version, dataset


def test_it_explores_a_trace_and_adds_it_to_a_dataset(new_page, acme, alice):
    from playwright.sync_api import expect

    trace_id, version, dataset = _world(acme, alice)
    page = new_page(alice)
    page.goto("/t/acme/traces/")
    page.get_by_role("link", name="agent run").click()
    expect(page).to_have_url(re.compile(f"/t/acme/traces/{trace_id}/"))

    # The nested step starts collapsed; expanding it shows the model call.
    chat_link = page.get_by_role("link", name="chat gpt-test")
    expect(chat_link).to_be_hidden()
    page.locator(f'summary:has([data-span-id="{hex_id(2, 8)}"]) .span-toggle').click()
    expect(chat_link).to_be_visible()

    chat_link.click()  # htmx swaps the span's details in
    detail = page.locator("#span-detail")
    expect(detail.get_by_role("heading", name="chat gpt-test")).to_be_visible()
    detail.get_by_role("link", name=f"support-reply v{version.number}").click()
    expect(page).to_have_url(re.compile(f"/t/acme/prompts/support-reply/v/{version.number}/"))

    page.go_back()
    page.goto(f"/t/acme/traces/{trace_id}/")
    form = page.get_by_role("form", name="Add to dataset")
    form.get_by_label("Add this input/output to").select_option(label="golden")
    form.get_by_role("button", name="Add to dataset").click()
    expect(page.get_by_text("Added to dataset golden")).to_be_visible()

    from apps.datasets.models import Example

    with team_scope(acme):
        example = Example.objects.get(dataset=dataset)
    assert example.source == "trace"
    assert example.input == {"input": "Where is my order?"}
    assert example.expected == "On its way."
