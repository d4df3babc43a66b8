from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.datasets import selectors, services
from apps.datasets.models import Dataset, Example, PendingUpload

pytestmark = pytest.mark.django_db


def url(name, **kwargs):
    return reverse(f"datasets:{name}", kwargs={"team_slug": "acme", **kwargs})


@pytest.fixture
def dataset(acme, alice):
    with team_scope(acme):
        ds = services.dataset_create(team=acme, actor=alice, name="tickets")
        services.examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=ds,
            rows=[
                {"input": {"ticket": f"ticket {i}"}, "expected": f"label {i % 3}", "split": s}
                for i, s in enumerate(["train"] * 60 + ["test"] * 15)
            ],
        )
    return ds


def test_it_shows_an_empty_state(client, acme, alice):
    client.force_login(alice)
    response = client.get(url("list"))
    assert response.status_code == 200
    assert b"No datasets yet" in response.content


def test_it_creates_a_dataset_from_the_list(client, acme, bob):
    client.force_login(bob)
    response = client.post(url("list"), {"name": "faq", "description": "questions"})
    with team_scope(acme):
        dataset = Dataset.objects.get(name="faq")
    assert response.status_code == 302
    assert response["Location"] == url("detail", dataset_id=dataset.pk)
    again = client.post(url("list"), {"name": "faq"})
    assert again.status_code == 200 and b"already exists" in again.content


def test_it_hides_the_create_form_from_viewers_and_refuses_their_post(client, acme, carol):
    client.force_login(carol)
    assert b"Create dataset" not in client.get(url("list")).content
    assert client.post(url("list"), {"name": "x"}).status_code == 403


def test_it_paginates_50_rows_and_filters_by_split_and_search(client, dataset, alice):
    client.force_login(alice)
    page1 = client.get(url("detail", dataset_id=dataset.pk))
    assert page1.status_code == 200
    assert len(page1.context["page"].rows) == 50 and page1.context["page"].count.value == 75
    assert page1.context["page"].count.exact  # the revision's kept row count
    page2 = client.get(
        url("detail", dataset_id=dataset.pk) + "?" + page1.context["page"].next_query
    )
    assert [r.input["ticket"] for r in page2.context["page"].rows][0] == "ticket 50"
    assert len(page2.context["page"].rows) == 25 and not page2.context["page"].has_next
    test_split = client.get(url("detail", dataset_id=dataset.pk), {"split": "test"})
    assert test_split.context["page"].count.value == 15
    search = client.get(
        url("detail", dataset_id=dataset.pk), {"q": "TICKET 7"}, HTTP_HX_REQUEST="true"
    )
    assert {r.input["ticket"] for r in search.context["page"].rows} == {"ticket 7"} | {
        f"ticket {i}" for i in range(70, 75)
    }
    assert b"<html" not in search.content  # the table partial only


def _link(response, rel: str) -> str:
    """The href of the pagination link `rel` (first, prev, next, last), unescaped."""
    import re

    match = re.search(rf'rel="{rel}" href="([^"]*)"', response.content.decode())
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def _tickets(response) -> list[int]:
    return [int(r.input["ticket"].split()[1]) for r in response.context["page"].rows]


def test_it_pages_first_middle_last_by_keyset_keeping_the_filters(client, acme, alice):
    """130 rows, 120 in split a: the links carry a cursor (the row's position) and the
    filters, previous from the last page lands on the middle one, htmx gets the table."""
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=alice, name="keyset")
        services.examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            rows=[
                {"input": {"ticket": f"ticket {i}"}, "split": "b" if i % 13 == 0 else "a"}
                for i in range(130)
            ],
        )
    expected = [i for i in range(130) if i % 13]
    client.force_login(alice)
    detail = url("detail", dataset_id=dataset.pk)
    first = client.get(detail, {"split": "a"})
    assert _tickets(first) == expected[:50]
    assert not first.context["page"].has_previous and first.context["page"].has_next
    next_href = _link(first, "next")
    assert "split=a" in next_href and "after=" in next_href and "page=" not in next_href

    middle = client.get(detail + next_href, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dataset-table")
    assert b"<html" not in middle.content and b'id="dataset-table"' in middle.content
    assert _tickets(middle) == expected[50:100]
    assert 'hx-target="#dataset-table"' in middle.content.decode()

    last = client.get(detail + _link(middle, "last"))
    assert _tickets(last) == expected[-50:]
    assert last.context["page"].has_previous and not last.context["page"].has_next
    assert "split=a" in _link(last, "prev")
    back = client.get(detail + _link(last, "prev"))
    assert _tickets(back) == expected[-100:-50]
    assert _tickets(client.get(detail + _link(back, "first"))) == expected[:50]
    # A hand-made cursor is ignored: the first page, never an error.
    for junk in ("x'; drop", "9" * 19, "-" + "9" * 25, "1_2"):
        assert _tickets(client.get(detail, {"split": "a", "after": junk})) == expected[:50]
        assert client.get(detail, {"before": junk, "from": junk}).status_code == 200


def test_it_keeps_the_page_on_show_after_an_inline_write(client, dataset, bob):
    client.force_login(bob)
    detail = url("detail", dataset_id=dataset.pk)
    page2 = client.get(detail + "?" + client.get(detail).context["page"].next_query)
    row = page2.context["page"].rows[3]
    shown = page2.content.decode()
    assert f'name="from" value="{row.position - 3}"' in shown  # the page's first row
    saved = client.post(
        url("example_edit", dataset_id=dataset.pk, example_id=row.example_id),
        {"input": '{"ticket": "edited"}', "from": row.position - 3},
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200 and saved["HX-Retarget"] == "#dataset-table"
    tickets = [r.input["ticket"] for r in saved.context["page"].rows]
    assert tickets[0] == "ticket 50" and tickets[3] == "edited" and len(tickets) == 25


def test_it_adds_edits_and_deletes_inline(client, dataset, bob):
    client.force_login(bob)
    added = client.post(
        url("example_add", dataset_id=dataset.pk),
        {"input": '{"ticket": "new one"}', "expected": "billing", "split": "dev"},
        HTTP_HX_REQUEST="true",
    )
    assert added.status_code == 200 and added["HX-Retarget"] == "#dataset-table"
    assert b"new one" in added.content or added.context["page"].count.value == 76
    with team_scope(dataset.team):
        dataset.refresh_from_db()
        row = selectors.examples_at_revision(dataset).get(input__ticket="new one")
    assert dataset.current_revision == 2

    form = client.get(
        url("example_edit", dataset_id=dataset.pk, example_id=row.example_id),
        HTTP_HX_REQUEST="true",
    )
    assert form.status_code == 200 and b"new one" in form.content and b"<html" not in form.content

    bad = client.post(
        url("example_edit", dataset_id=dataset.pk, example_id=row.example_id),
        {"input": "[1, 2]"},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 200 and b"must be a JSON object" in bad.content
    assert "HX-Retarget" not in bad

    saved = client.post(
        url("example_edit", dataset_id=dataset.pk, example_id=row.example_id),
        {"input": '{"ticket": "edited"}', "expected": '{"label": "x"}', "split": "dev"},
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200
    with team_scope(dataset.team):
        dataset.refresh_from_db()
        edited = selectors.example_at_revision(dataset, row.example_id)
    assert dataset.current_revision == 3
    assert edited.input == {"ticket": "edited"} and edited.expected == {"label": "x"}

    deleted = client.post(url("example_delete", dataset_id=dataset.pk, example_id=row.example_id))
    assert deleted.status_code == 302
    with team_scope(dataset.team):
        dataset.refresh_from_db()
        assert not selectors.examples_at_revision(dataset).filter(example_id=row.example_id)
        assert selectors.examples_at_revision(dataset, 3).filter(example_id=row.example_id)


def test_it_shows_an_old_revision_read_only(client, dataset, alice):
    client.force_login(alice)
    with team_scope(dataset.team):
        first = selectors.examples_at_revision(dataset).first()
        services.example_delete(
            team=dataset.team, actor=alice, dataset=dataset, example_id=first.example_id
        )
    old = client.get(url("detail", dataset_id=dataset.pk), {"revision": 1})
    assert old.context["revision"].number == 1 and not old.context["can_edit"]
    assert b"read-only" in old.content and b"Add an example" not in old.content
    assert old.context["page"].count.value == 75
    current = client.get(url("detail", dataset_id=dataset.pk))
    assert current.context["can_edit"] and current.context["page"].count.value == 74


def test_it_lists_revisions_with_their_counts(client, dataset, alice):
    client.force_login(alice)
    with team_scope(dataset.team):
        first = selectors.examples_at_revision(dataset).first()
        services.example_update(
            team=dataset.team,
            actor=alice,
            dataset=dataset,
            example_id=first.example_id,
            split="dev",
        )
    page = client.get(url("revisions", dataset_id=dataset.pk))
    assert page.status_code == 200
    assert [(r.number, r.added, r.changed, r.removed) for r in page.context["page"]] == [
        (2, 0, 1, 0),
        (1, 75, 0, 0),
        (0, 0, 0, 0),
    ]
    detail = client.get(url("revision_detail", dataset_id=dataset.pk, revision=2))
    assert detail.status_code == 200 and len(detail.context["diff"].changed) == 1
    assert client.get(url("revision_detail", dataset_id=dataset.pk, revision=9)).status_code == 404


def test_it_imports_through_upload_mapping_preview_and_commit(
    client, acme, bob, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    client.force_login(bob)
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=bob, name="imp")
    data = "body,category,notes\n" + "".join(f"text {i},cat{i % 2},n{i}\n" for i in range(30))
    uploaded = client.post(
        url("import", dataset_id=dataset.pk),
        {"file": SimpleUploadedFile("t.csv", data.encode())},
    )
    assert uploaded.status_code == 302
    with team_scope(acme):
        upload = PendingUpload.objects.get()
    assert uploaded["Location"] == url(
        "import_map", dataset_id=dataset.pk, upload_token=upload.token
    )
    page = client.get(uploaded["Location"])
    assert page.status_code == 200 and len(page.context["preview_rows"]) == 20
    mapping = {
        "target-0": "input",
        "name-0": "ticket",
        "target-1": "expected",
        "target-2": "metadata",
    }
    preview = client.post(uploaded["Location"], mapping, HTTP_HX_REQUEST="true")
    html = preview.content.decode()
    assert "<html" not in html and html.count("<tr>") == 21  # header + 20 rows
    assert '<span class="mono muted">ticket</span> text 0' in html
    assert "{&quot;notes&quot;: &quot;n0&quot;}" in html
    with team_scope(acme):
        assert Example.objects.filter(dataset=dataset).count() == 0
    committed = client.post(
        url("import_commit", dataset_id=dataset.pk, upload_token=upload.token), mapping
    )
    assert committed.status_code == 302
    with team_scope(acme):
        rows = list(selectors.examples_at_revision(Dataset.objects.get(pk=dataset.pk)))
        assert PendingUpload.objects.count() == 0
    assert len(rows) == 30 and rows[0].expected == "cat0"


def test_it_shows_the_line_of_a_failed_commit_and_writes_nothing(
    client, acme, bob, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    client.force_login(bob)
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=bob, name="imp")
    data = "q,label\n" + "".join(f"q{i},l{i}\n" for i in range(40)) + "ragged\n"
    uploaded = client.post(
        url("import", dataset_id=dataset.pk), {"file": SimpleUploadedFile("t.csv", data.encode())}
    )
    with team_scope(acme):
        upload = PendingUpload.objects.get()
    committed = client.post(
        url("import_commit", dataset_id=dataset.pk, upload_token=upload.token),
        {"target-0": "input", "target-1": "expected"},
    )
    assert uploaded.status_code == 302 and committed.status_code == 400
    assert b"Line 42: expected 2 columns" in committed.content
    with team_scope(acme):
        assert Example.objects.filter(dataset=dataset).count() == 0


def test_it_refuses_an_oversized_upload_with_a_clear_message(client, acme, bob, settings):
    settings.PROMPTYARD_IMPORT_MAX_BYTES = 10
    client.force_login(bob)
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=bob, name="imp")
    response = client.post(
        url("import", dataset_id=dataset.pk),
        {"file": SimpleUploadedFile("t.csv", b"q\n" + b"a\n" * 20)},
    )
    assert response.status_code == 400 and b"the limit is 10 bytes" in response.content


def test_it_exports_a_revision_as_csv(client, dataset, alice):
    client.force_login(alice)
    response = client.get(url("export", dataset_id=dataset.pk), {"revision": 1, "format": "csv"})
    assert response.status_code == 200 and response.streaming
    assert 'filename="tickets-r1.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 76 and rows[0][1] == "ticket"
    assert client.get(url("export", dataset_id=dataset.pk), {"revision": 9}).status_code == 404


def test_it_renders_any_page_of_10000_rows_in_at_most_8_queries(
    client, acme, alice, django_assert_max_num_queries
):
    """The whole page: user, membership, team switcher, permissions + its own 2-3 queries.

    (The session is served from the cache; navigation badges load in their own request.)
    """
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=alice, name="big")
        services.examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            rows=(
                {"input": {"ticket": f"ticket {i}"}, "expected": "x", "split": ("a", "b")[i % 2]}
                for i in range(10_000)
            ),
        )
        first = selectors.examples_at_revision(dataset).first()
        services.example_update(
            team=acme, actor=alice, dataset=dataset, example_id=first.example_id, split="c"
        )
    client.force_login(alice)
    client.get(url("detail", dataset_id=dataset.pk))  # warm the session
    # Positions are 1..10,000: a cursor is the position of the row before (or after) a page.
    for params in (
        {},
        {"after": 50},
        {"after": 5000},
        {"last": 1},
        {"before": 9951},
        {"after": 6850, "revision": 1},
        {"after": 100, "split": "a"},
        {"after": 990, "q": "ticket 99"},
    ):
        with django_assert_max_num_queries(8) as captured:
            response = client.get(url("detail", dataset_id=dataset.pk), params)
        assert response.status_code == 200
        assert len(response.context["page"].rows) > 0
        sql = " ".join(q["sql"].upper() for q in captured.captured_queries)
        assert "OFFSET" not in sql
        if not ({"split", "q"} & set(params)):  # the revision keeps its count
            assert "COUNT(" not in sql
    assert response.context["revision"].splits == ["a", "b", "c"]
    last = client.get(url("detail", dataset_id=dataset.pk), {"last": 1})
    assert last.context["page"].rows[-1].input == {"ticket": "ticket 9999"}
    middle = client.get(url("detail", dataset_id=dataset.pk), {"after": 5000})
    assert middle.context["page"].rows[0].input == {"ticket": "ticket 5000"}


def test_it_keeps_the_add_form_open_with_its_error(client, dataset, bob):
    client.force_login(bob)
    response = client.post(
        url("example_add", dataset_id=dataset.pk),
        {"input": "not json", "expected": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "HX-Retarget" not in response
    html = response.content.decode()
    assert 'id="add-example"' in html and "open" in html and "Not valid JSON" in html
    dataset.refresh_from_db()
    assert dataset.current_revision == 1


def test_it_shows_viewers_no_edit_controls_and_refuses_their_writes(client, dataset, carol):
    client.force_login(carol)
    page = client.get(url("detail", dataset_id=dataset.pk))
    assert page.status_code == 200 and b"Add an example" not in page.content
    assert b">Edit<" not in page.content
    with team_scope(dataset.team):
        row = selectors.examples_at_revision(dataset).first()
    edit = url("example_edit", dataset_id=dataset.pk, example_id=row.example_id)
    assert client.get(edit).status_code == 403
    assert client.post(edit, {"input": '{"a": 1}'}).status_code == 403
    delete = url("example_delete", dataset_id=dataset.pk, example_id=row.example_id)
    assert client.post(delete).status_code == 403
    assert client.get(url("import", dataset_id=dataset.pk)).status_code == 403


def test_it_escapes_cells(client, acme, alice):
    with team_scope(acme):
        ds = services.dataset_create(team=acme, actor=alice, name="xss")
        services.example_create(
            team=acme, actor=alice, dataset=ds, input={"q": "<script>alert(1)</script>"}
        )
    client.force_login(alice)
    html = client.get(url("detail", dataset_id=ds.pk)).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_it_refuses_an_oversized_upload_from_its_content_length(client, acme, bob, settings):
    settings.PROMPTYARD_IMPORT_MAX_BYTES = 1024
    client.force_login(bob)
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=bob, name="imp")
    response = client.post(
        url("import", dataset_id=dataset.pk),
        {"file": SimpleUploadedFile("t.csv", b"q\n" + b"a\n" * 100_000)},
    )
    assert response.status_code == 413 and b"the limit is 1.0 KB" in response.content
    with team_scope(acme):
        assert PendingUpload.objects.count() == 0


def test_it_links_import_only_for_members_who_may_import(client, dataset, carol, bob):
    import_url = url("import", dataset_id=dataset.pk).encode()
    client.force_login(carol)
    for name in ("detail", "revisions", "settings"):
        page = client.get(url(name, dataset_id=dataset.pk))
        assert page.status_code == 200 and import_url not in page.content, name
    client.force_login(bob)
    assert import_url in client.get(url("revisions", dataset_id=dataset.pk)).content
