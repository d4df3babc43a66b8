"""The operation budget of one render (promptyard.render_budget), through the SDK's public
rendering: loops, recursion, what operations build and the output are bounded, and going
over is a RenderError naming the limit, never a RecursionError or an endless render."""

from __future__ import annotations

import pytest
from promptyard import Prompt, RenderError, render_budget, render_prompt


def render(template: str, **values):
    return Prompt.from_dict(
        {"name": "t", "version": 1, "kind": "text", "template": template, "content_hash": "x"}
    ).render(**values)


def refused(template: str, **values) -> str:
    with pytest.raises(RenderError) as caught:
        render(template, **values)
    return caught.value.message


def test_it_stops_nested_loops_at_the_operation_limit():
    message = refused(
        "{% for a in range(10**4) %}{% for b in range(10**4) %}{% endfor %}{% endfor %}done"
    )
    assert message.startswith("Template over budget:")
    assert f"{render_budget.MAX_STEPS:,} loop iterations" in message


def test_it_counts_loops_over_data_too():
    items = list(range(1000))
    message = refused(
        "{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}", items=items
    )
    assert "loop iterations" in message
    # Under the limit the same loops render.
    assert (
        render(
            "{% for a in items %}{% for b in items %}.{% endfor %}{% endfor %}", items=items[:100]
        )
        == "." * 10_000
    )


def test_it_counts_the_work_of_a_render_exactly(monkeypatch):
    """Deterministic and linear in the work: 300 x 300 loops spend one step per iteration
    (300 + 90,000) and one per call of range() (1 + 300): 90,601 steps, so a limit of
    90,601 passes and 90,600 does not."""
    template = "{% for a in range(300) %}{% for b in range(300) %}{% endfor %}{% endfor %}ok"
    monkeypatch.setattr(render_budget, "MAX_STEPS", 90_601)
    assert render(template) == "ok"
    monkeypatch.setattr(render_budget, "MAX_STEPS", 90_600)
    assert "more than 90,600 loop iterations" in refused(template)


def test_it_stops_a_recursive_macro_with_a_render_error():
    message = refused("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")
    assert f"calls nested more than {render_budget.MAX_DEPTH} deep" in message
    # Bounded recursion within the limit is fine.
    assert render(
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(30) }}"
    ) == "".join(str(n) for n in range(31))


def test_it_stops_a_recursive_loop_over_self_referencing_calls():
    tree = [{"name": "root", "children": [{"name": "leaf", "children": []}]}]
    template = (
        "{% for node in tree recursive %}{{ node.name }}"
        "{% if node.children %}[{{ loop(node.children) }}]{% endif %}{% endfor %}"
    )
    assert render(template, tree=tree) == "root[leaf]"


@pytest.mark.parametrize(
    "template, says",
    [
        (
            "{% set y = 'y' * 100000 %}{{ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y }}",
            "a value of 1,100,000 characters",
        ),
        (
            "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}",
            "characters or items",
        ),
        (
            "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "characters or items",
        ),
        (
            "{% set l = [1] %}{% for i in range(40) %}{% if l.extend(l) %}{% endif %}{% endfor %}",
            "items",
        ),
        ("{{ ('x' * 100000)|replace('', 'x' * 100000) }}", "replace()"),
        ("{{ range(100000)|join('x' * 100000) }}", "join()"),
        ("{{ ['x' * 100000] * 100000 }}", "characters of text"),
        ("{{ (['x' * 100000] * 1000)|string }}", "characters of text"),
        ("{{ '%0*d' % (10**8, 1) }}", "'*' width"),
        ("{{ '%099999999d' % 1 }}", "format width or precision of 99999999"),
        ("{{ '{:>999999999}'.format(1) }}", "format width or precision of 999999999"),
        ("{{ 'x'.center(10**9) }}", "a width of 1,000,000,000"),
        ("{{ 'x'|center(10**9) }}", "a width of 1,000,000,000"),
        ("{{ 'a\\nb'|indent(10**9) }}", "indent"),
        ("{{ range(3)|batch(10**9, 'x')|list }}", "a width of 1,000,000,000"),
        ("{% for i in range(100) %}{{ 'x' * 20000 }}{% endfor %}", "longer than 1,000,000"),
    ],
)
def test_it_bounds_what_operations_build(template, says):
    message = refused(template)
    assert message.startswith("Template over budget:") and says in message


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{% if 'zzz' in big %}{% endif %}{% endfor %}",
        "{% for i in range(100000) %}{% if 'zzz' not in big %}{% endif %}{% endfor %}",
        "{% for i in range(100000) %}{% if 'zzz' is in big %}{% endif %}{% endfor %}",
        "{% for i in range(100000) %}{% if big|length %}{% endif %}{% endfor %}",
        "{% for i in range(100000) %}{% if big.count('z') %}{% endif %}{% endfor %}",
        "{% for i in range(100000) %}{% if items|sum %}{% endif %}{% endfor %}",
    ],
)
def test_it_counts_the_work_of_searching_and_filtering_big_values(template):
    """Few steps, much work: each step goes through a 100,000-long value."""
    message = refused(template, big="x" * 100_000, items=list(range(100_000)))
    assert "characters built or scanned" in message


def test_it_refuses_templates_nested_too_deeply_to_compile():
    for template in (
        "{{" + "(" * 5000 + "1" + ")" * 5000 + "}}",
        "{% if true %}" * 120 + "x" + "{% endif %}" * 120,
    ):
        assert "nested too deeply" in refused(template)


def test_it_renders_ordinary_templates_as_before():
    assert (
        render(
            "{% for ex in examples %}Q{{ loop.index }}: {{ ex.q|trim }}{% if not loop.last %}, "
            "{% endif %}{% endfor %} | {{ tags|join(', ')|upper }} | {{ '%s=%05.1f' % ('x', 3.14159) }}"
            " | {{ '{:>4}|{}'.format('a', [1, 2]) }} | {{ [1] + [2] }} {{ 'a' ~ 1 ~ none }}",
            examples=[{"q": " one "}, {"q": "two"}],
            tags=["a", "b"],
        )
        == "Q1: one, Q2: two | A, B | x=003.1 |    a|[1, 2] | [1, 2] a1None"
    )


def test_each_render_has_its_own_budget():
    # 60,000 iterations twice: over the limit together, within it apiece.
    template = "{% for a in range(300) %}{% for b in range(200) %}{% endfor %}{% endfor %}ok"
    assert [render(template) for _ in range(3)] == ["ok"] * 3
    chat = render_prompt(
        kind="chat",
        messages=[{"role": "user", "content": template}, {"role": "user", "content": template}],
    )
    assert [m["content"] for m in chat] == ["ok", "ok"]
