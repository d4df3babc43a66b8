"""In a real browser: a 130-row dataset filtered to a split, paged by keyset through htmx
(next, last, previous, first), the filter and the address bar kept in step."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from apps.core.tenancy import team_scope
from apps.datasets import services


def test_it_pages_a_filtered_table_by_keyset_in_place(new_page, acme, bob):
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=bob, name="paged")
        services.examples_bulk_create(
            team=acme,
            actor=bob,
            dataset=dataset,
            rows=[
                {"input": {"ticket": f"ticket {i}"}, "split": "b" if i % 13 == 0 else "a"}
                for i in range(130)
            ],
        )
    kept = [i for i in range(130) if i % 13]  # the 120 rows of split a
    page = new_page(bob)
    page.goto(f"/t/acme/datasets/{dataset.pk}/?split=a")
    rows = page.locator("#examples tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text(f"ticket {kept[0]}")
    page.evaluate("window.notReloaded = true")  # gone if a link loaded a whole page

    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"split=a&after=\d+"))
    expect(rows.first).to_contain_text(f"ticket {kept[50]}")
    expect(page.locator("select[name=split]")).to_have_value("a")

    page.get_by_role("link", name="Last »").click()
    expect(page).to_have_url(re.compile(r"split=a&last=1"))
    expect(rows.last).to_contain_text(f"ticket {kept[-1]}")
    expect(rows.first).to_contain_text(f"ticket {kept[-50]}")
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)

    page.get_by_role("link", name="← Previous").click()
    expect(page).to_have_url(re.compile(r"split=a&before=\d+"))
    expect(rows.first).to_contain_text(f"ticket {kept[-100]}")

    page.get_by_role("link", name="« First").click()
    expect(rows.first).to_contain_text(f"ticket {kept[0]}")
    expect(page.get_by_role("link", name="← Previous")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
