"""`{{ page.count|approx }}`: a list's size as its page can afford to know it."""

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def approx(count) -> str:
    """ "1,234" (exact), "about 1,234" (the planner's estimate), "over 10,000" (counted up
    to a cap); "" without a count."""
    if count is None:
        return ""
    number = intcomma(count.value)
    if count.exact:
        return number
    return f"over {number}" if count.at_least else f"about {number}"
