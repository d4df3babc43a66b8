"""Annotating where the trace is, in a real browser: a Fail without reasoning is refused,
with reasoning it shows on the trace at once (htmx), and the explorer's review filter
finds it."""

from __future__ import annotations

import re

from tests.traces.helpers import hex_id, ingest, raw_span


def test_it_annotates_a_trace_from_its_page(new_page, acme, alice):
    from playwright.sync_api import expect

    trace_id = hex_id(7, 16)
    ingest(acme, alice, [raw_span(trace_id, hex_id(7, 8), name="agent run")])
    ingest(acme, alice, [raw_span(hex_id(8, 16), hex_id(8, 8), name="other run")])
    page = new_page(alice)
    page.goto(f"/t/acme/traces/{trace_id}/")

    form = page.get_by_role("form", name="Verdict on this trace")
    form.get_by_role("radio", name="Fail").check()
    form.get_by_role("button", name="Save verdict").click()
    scores = page.locator("#trace-scores")
    expect(scores.get_by_role("alert")).to_contain_text("a Fail needs reasoning")

    form = page.get_by_role("form", name="Verdict on this trace")
    form.get_by_role("radio", name="Fail").check()
    form.get_by_role("textbox", name="Reasoning").fill("It invented an order number.")
    form.get_by_role("button", name="Save verdict").click()
    expect(scores.get_by_role("status")).to_have_text("Verdict saved.")
    expect(scores.locator('tr[data-score-name="verdict"]')).to_contain_text(
        "It invented an order number."
    )
    expect(page).to_have_url(re.compile(f"/t/acme/traces/{trace_id}/$"))  # no reload

    page.goto("/t/acme/traces/")
    page.get_by_label("Review").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    results = page.locator("#trace-results")
    expect(results.get_by_role("link", name="agent run")).to_be_visible()
    expect(results.get_by_role("link", name="other run")).to_have_count(0)
    expect(results).to_contain_text("verdict: false")
