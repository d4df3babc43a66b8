"""Security review: untrusted text reaches pages escaped; instructions Markdown has no HTML
and no script links."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from apps.annotations import services
from apps.annotations.instructions import render_instructions
from apps.core.tenancy import team_scope
from apps.datasets import services as dataset_services


class _TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def _tags(html: str) -> list:
    parser = _TagCollector()
    parser.feed(html)
    return parser.tags


PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.mark.parametrize(
    "markdown",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![x](javascript:alert(1))",
        "<javascript:alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        PAYLOAD,
        "<details open ontoggle=alert(1)>",
        "[x](  javascript:alert(1) )",
    ],
)
def test_it_renders_instructions_without_html_or_script_links(markdown):
    tags = _tags(render_instructions(markdown))
    assert {t for t, _ in tags} <= {"p", "a", "em", "strong", "code"}, tags
    for _, attrs in tags:
        assert not any(name.startswith("on") for name, _ in attrs), attrs
        for name, value in attrs:
            if name in ("href", "src"):
                assert (
                    (value or "")
                    .strip()
                    .lower()
                    .startswith(("http:", "https:", "mailto:", "#", "/"))
                ), attrs


def test_it_keeps_ordinary_markdown_links():
    html = render_instructions("See [the guide](https://example.com/guide).")
    assert 'href="https://example.com/guide"' in html
    assert "noopener" in html


@pytest.mark.django_db
def test_it_escapes_instructions_and_dataset_cells_on_pages(client, acme, alice):
    with team_scope(acme):
        queue = services.queue_create(
            team=acme, actor=alice, name="q", instructions=PAYLOAD + "\n\n[x](javascript:alert(3))"
        )
        dataset = dataset_services.dataset_create(team=acme, actor=alice, name="d")
        dataset_services.example_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            input={"q": PAYLOAD},
            expected=PAYLOAD,
            metadata={"m": PAYLOAD},
        )
    client.force_login(alice)
    for url in (f"/t/acme/annotations/queues/{queue.pk}/", f"/t/acme/datasets/{dataset.pk}/"):
        body = client.get(url).content.decode()
        assert "<script>alert(2)" not in body, url
        assert '<img src=x onerror="alert(1)">' not in body, url
        for tag, attrs in _tags(body):
            assert not (tag == "img" and ("src", "x") in attrs), url
            for name, value in attrs:
                assert "alert(" not in (value or ""), (url, tag, name, value)
