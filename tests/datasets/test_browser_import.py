"""In a real browser: upload a CSV, map its columns, check the preview, commit, edit a row,
see the new revision."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from apps.core.tenancy import team_scope
from apps.datasets import selectors, services
from apps.datasets.models import Dataset

CSV = (
    "body,category,agent\n"
    "I was charged twice,billing,ann\n"
    '"The app crashes, every time",bug,bo\n'
    "Please add dark mode,feature,cy\n"
)


def test_it_imports_a_csv_then_edits_a_row_as_a_new_revision(new_page, acme, bob):
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=bob, name="triage")
    page = new_page(bob)

    page.goto(f"/t/acme/datasets/{dataset.pk}/import/")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "tickets.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    page.get_by_role("button", name="Upload and preview").click()

    # Map: body → input variable "ticket", category → expected, agent → metadata.
    expect(page.locator("#mapping-table")).to_contain_text("category")
    page.get_by_label("Input variable name for column body").fill("ticket")
    page.get_by_label("Target of column category").select_option("expected")
    page.get_by_label("Target of column agent").select_option("metadata")
    preview = page.locator("#preview-table")
    expect(preview).to_contain_text("ticket")
    expect(preview.locator("tbody tr")).to_have_count(3)
    expect(preview.locator("tbody tr").nth(1)).to_contain_text("The app crashes, every time")
    expect(preview.locator("tbody tr").first).to_contain_text('{"agent": "ann"}')
    with team_scope(acme):
        assert selectors.examples_at_revision(Dataset.objects.get(pk=dataset.pk)).count() == 0

    page.get_by_role("button", name="Import all rows").click()
    expect(page).to_have_url(re.compile(rf"/t/acme/datasets/{dataset.pk}/$"))
    expect(page.locator(".messages")).to_contain_text("Imported 3 rows")
    table = page.locator("#examples")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(page.locator("#dataset-table")).to_contain_text("revision 1")

    # Edit the second row inline (htmx): a new revision, the old one unchanged.
    row = table.locator("tbody tr").nth(1)
    row.get_by_role("link", name="Edit").click()
    editor = page.locator("tr.editing")
    expect(editor).to_be_visible()
    editor.locator("textarea[name=input]").fill('{"ticket": "The app crashes on start"}')
    editor.locator("textarea[name=expected]").fill("bug-critical")
    editor.get_by_role("button", name="Save as a new revision").click()
    expect(page.locator("#dataset-table")).to_contain_text("revision 2")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("The app crashes on start")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("bug-critical")

    # The revisions page shows what each revision did; revision 1 still has the old row.
    page.get_by_role("link", name="Revisions").click()
    revisions = page.locator("#revisions tbody tr")
    expect(revisions).to_have_count(3)
    expect(revisions.first).to_contain_text("r2")
    expect(revisions.first).to_contain_text("Edited 1 example")
    expect(revisions.nth(1)).to_contain_text("+3")
    page.goto(f"/t/acme/datasets/{dataset.pk}/?revision=1")
    expect(page.locator("#examples")).to_contain_text("The app crashes, every time")
    expect(page.locator("#dataset-table")).to_contain_text("read-only")
