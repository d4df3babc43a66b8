"""Helpers for phone-width browser tests: the demo world, and pages that must not scroll
sideways at 390 px (a wide table belongs in a .table-wrap that scrolls on its own)."""

from __future__ import annotations

from django.core.management import call_command

PHONE = {"width": 390, "height": 844}

# The widest element that sticks out of the viewport, for the failure message.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('main *')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1) out.push(el.tagName + '.' + el.className + '#' + el.id);
  }
  return {scroll: document.documentElement.scrollWidth, width, culprits: out.slice(0, 5)};
}"""


def seed_demo_users(password: str) -> dict:
    """Run seed_demo; return alice/bob/carol/erin with `password` (the fixtures' one)."""
    from apps.accounts.models import User

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    users = {}
    for handle in ("alice", "bob", "carol", "erin"):
        user = User.objects.get(email=f"{handle}@acme.test")
        user.set_password(password)
        user.save(update_fields=["password"])
        users[handle] = user
    return users


def sideways(page, paths: list[str]) -> dict[str, dict]:
    """{path: measurements} for each page wider than the phone's viewport."""
    page.set_viewport_size(PHONE)
    wide = {}
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(OVERFLOWING)
        if found["scroll"] > found["width"]:
            wide[path] = found
    return wide
