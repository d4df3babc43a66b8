"""Every page of the page crawl, looked at in a real browser at 1280×800 and at 390×844.

The pages are the page crawl's (tests/test_page_crawl.py: the demo world with untrusted
text planted, every link the owner can follow). On each, at both widths:
- the page does not scroll sideways (`scrollWidth <= clientWidth` on the document);
- no text is clipped in a table cell or a chart label, measured in the DOM: a cell whose
  content is wider than its box (`scrollWidth > clientWidth`), an SVG chart label drawn
  outside its chart;
- nothing is written to the console as an error, and no script fails.
Screenshots of the six main screens at both widths are written under the test's tmp path
(the path is printed; run with -s to see it).

Bounded in time: one browser and one page per width, reused for every URL; a URL shape
(ids replaced) is looked at once, and at most MAX_PAGES shapes are, so the test costs a
couple of minutes, not one per page of the crawl.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.test_browser_csp import _browser_context
from tests.test_page_crawl import crawl, world  # noqa: F401  (the crawl's demo world fixture)

WIDTHS = {"wide": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
MAX_PAGES = 120  # distinct URL shapes; the crawl of the demo world reaches fewer

# What a page looks like to a person, measured in the DOM.
MEASURE = """() => {
  const doc = document.documentElement;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const clipped = [];
  for (const cell of document.querySelectorAll('td, th')) {
    if (!cell.getClientRects().length || !cell.textContent.trim()) continue;
    if (cell.scrollWidth > cell.clientWidth + 1) {
      clipped.push(`${name(cell)} "${cell.textContent.trim().slice(0, 40)}" ` +
                   `${cell.scrollWidth}>${cell.clientWidth}`);
    }
  }
  for (const label of document.querySelectorAll('svg text')) {
    const svg = label.ownerSVGElement.getBoundingClientRect();
    const box = label.getBoundingClientRect();
    if (!box.width) continue;
    if (box.left < svg.left - 1 || box.right > svg.right + 1) {
      clipped.push(`chart label "${label.textContent.trim().slice(0, 40)}" outside its chart`);
    }
  }
  return {scroll: doc.scrollWidth, width: doc.clientWidth, clipped: clipped.slice(0, 5)};
}"""

# The six screens a reviewer wants to see: (file name, how to find it among the crawl's URLs).
MAIN_SCREENS = [
    ("prompt", re.compile(r"^/t/acme/prompts/[^/]+/$")),
    ("playground", re.compile(r"^/t/acme/playground/$")),
    ("comparison", re.compile(r"^/t/acme/experiments/\d+/compare/$")),
    ("dataset", re.compile(r"^/t/acme/datasets/\d+/$")),
    ("traces", re.compile(r"^/t/acme/traces/$")),
    ("annotation-queue", re.compile(r"^/t/acme/annotations/queues/\d+/$")),
]


def shape(url: str) -> str:
    """A URL with its ids (numbers, hex, uuids) replaced: pages of one shape look alike."""
    return re.sub(r"/[0-9a-f-]{6,}(?=/|$)|/\d+(?=/|$)", "/#", url.split("?", 1)[0])


def pages_to_look_at(urls: list[str]) -> list[str]:
    picked, shapes = [], set()
    for url in sorted(urls, key=lambda u: ("?" in u, u)):  # a page before its query variants
        if shape(url) in shapes:
            continue
        shapes.add(shape(url))
        picked.append(url)
    return picked[:MAX_PAGES]


@pytest.mark.django_db(transaction=True)
def test_it_looks_right_at_both_widths_with_no_console_error(
    world,  # noqa: F811
    browser,
    live_server,
    tmp_path_factory,
):
    client = Client()
    client.force_login(world["alice"])
    _, pages, errors = crawl(client, "/t/acme/")
    assert not errors
    urls = pages_to_look_at(list(pages))
    assert len(urls) > 20, urls
    screens = {}
    for file_name, pattern in MAIN_SCREENS:
        found = sorted(u for u in pages if pattern.match(u))
        assert found, f"no {file_name} page in the crawl"
        screens[found[0]] = file_name
    shots = tmp_path_factory.mktemp("screens")

    problems: list[str] = []
    context = _browser_context(browser, live_server, world["alice"])
    page = context.new_page()
    console: list[str] = []

    def on_console(message):
        # A fragment URL opened as a page has no <link rel=icon>, so the browser asks for
        # /favicon.ico, which is not served: that 404 is the browser's, not the page's.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            console.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(f"uncaught: {error}"))
    for width_name, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        for url in urls + [u for u in screens if u not in urls]:
            console.clear()
            response = page.goto(url, wait_until="load")
            assert response is not None and response.status < 400, (url, response)
            page.wait_for_function("() => window.__htmxInFlight <= 0")
            found = page.evaluate(MEASURE)
            where = f"{url} at {width_name}"
            if found["scroll"] > found["width"]:
                problems.append(f"{where}: scrolls sideways ({found['scroll']}>{found['width']})")
            problems += [f"{where}: clipped {c}" for c in found["clipped"]]
            problems += [f"{where}: console: {text}" for text in console]
            if url in screens:
                page.screenshot(path=shots / f"{screens[url]}-{width_name}.png", full_page=True)
    context.close()

    written = sorted(p.name for p in shots.iterdir())
    print(f"visual check: {len(urls)} pages × {len(WIDTHS)} widths; screenshots in {shots}")
    assert len(written) == len(MAIN_SCREENS) * len(WIDTHS), written
    assert not problems, "\n".join(problems)
