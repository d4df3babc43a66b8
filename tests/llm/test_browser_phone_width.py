"""At phone width (390 px) the provider pages fit, demo-echo's badge included."""

from tests.conftest import PASSWORD
from tests.phone_width import PHONE, seed_demo_users, sideways

BADGE_OVERFLOW = """() => [...document.querySelectorAll('main .pill-warning')].map(el => {
  const r = el.getBoundingClientRect();
  let box = el.parentElement;
  while (box && getComputedStyle(box).display.startsWith('inline')) box = box.parentElement;
  const b = box.getBoundingClientRect();
  return Math.max(r.right - Math.min(b.right, document.documentElement.clientWidth), 0);
})"""


def test_it_fits_the_demo_echo_badge_on_a_phone(new_page, transactional_db):
    from apps.core.tenancy import team_scope
    from apps.llm.models import ProviderConfig
    from apps.teams.models import Team

    users = seed_demo_users(PASSWORD)
    with team_scope(Team.objects.get(slug="acme")):
        demo = ProviderConfig.objects.filter(is_demo=True).first()
    assert demo is not None
    page = new_page(users["alice"])
    page.set_viewport_size(PHONE)
    paths = ["/t/acme/llm/", f"/t/acme/llm/{demo.pk}/"]
    for path in paths:
        assert page.goto(path).status == 200, path
        overflow = page.evaluate(BADGE_OVERFLOW)
        assert overflow and max(overflow) <= 0.5, (path, overflow)
    assert sideways(page, paths) == {}
