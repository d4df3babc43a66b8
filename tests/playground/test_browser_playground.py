"""alice opens a version in the playground, fills its variables, watches the answer stream
in, adds a second variant, runs both at once and saves the second as a new version. The
answers come first: at the top of each variant, lined up across the columns, with the model
settings folded into a one-line summary; on a phone the variants are a swipeable row."""

from playwright.sync_api import expect

from apps.core.tenancy import team_scope
from tests.phone_width import PHONE

# Counts how many times the output changed while streaming, so the test can tell a
# streamed answer from one that arrived all at once.
WATCH_OUTPUT = """
(index) => {
  const out = document.querySelectorAll('[data-variant] [data-output]')[index];
  window.__updates = window.__updates || {};
  window.__updates[index] = 0;
  new MutationObserver(() => { window.__updates[index] += 1; })
    .observe(out, {childList: true, characterData: true, subtree: true});
  // And what the status line said while the answer streamed in.
  const stats = document.querySelectorAll('[data-variant] [data-stats]')[index];
  window.__said = window.__said || {};
  window.__said[index] = [];
  new MutationObserver(() => { window.__said[index].push(stats.textContent); })
    .observe(stats, {childList: true, characterData: true, subtree: true});
}
"""


def test_it_runs_variants_side_by_side_and_saves_one(new_page, acme, alice, demo_echo_server):
    from apps.llm.services import provider_create
    from apps.prompts.models import PromptVersion
    from apps.prompts.services import prompt_create, version_create

    server = demo_echo_server(chunk_delay_ms=40)
    with team_scope(acme):
        provider = provider_create(
            team=acme,
            actor=alice,
            name="demo-echo",
            base_url=server.base_url,
            models=["demo-echo"],
            prices={"demo-echo": {"input": 1.0, "output": 2.0}},
            is_demo=True,
        )
        prompt = prompt_create(team=acme, actor=alice, name="greeting")
        v1 = version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="Say hello to {{ name }} in {{ tone }} words",
            variables_schema={"tone": {"type": "string", "enum": ["warm", "plain"]}},
            model_settings={"provider_id": provider.pk, "model": "demo-echo"},
            commit_message="first",
        )

    page = new_page(alice)
    page.goto(f"/t/acme/playground/?version={v1.pk}")
    expect(page.get_by_text("Opened from")).to_contain_text("greeting v1")
    page.fill("#var-name", "Ada")
    page.select_option("#var-tone", "plain")

    # --- one variant, streamed --------------------------------------------------------
    page.evaluate(WATCH_OUTPUT, 0)
    page.get_by_role("button", name="Run all variants").click()
    variant_a = page.locator("[data-variant]").nth(0)
    expect(variant_a.locator("[data-output]")).to_have_text("echo: Say hello to Ada in plain words")
    expect(variant_a.locator("[data-stats]")).to_contain_text("7 in / 8 out tokens")
    expect(variant_a.locator("[data-stats]")).to_contain_text("$0.000023")
    assert page.evaluate("window.__updates[0]") > 1
    said = page.evaluate("window.__said[0]")
    assert any(text.startswith("Streaming… 2 chunks in ") for text in said), said

    # --- a second variant with different text, both run at once ----------------------
    page.get_by_role("button", name="Add variant").click()
    variant_b = page.locator("[data-variant]").nth(1)
    expect(variant_b.locator(".variant-title")).to_have_text("Variant B")
    # The variables form follows the templates and keeps what was typed.
    with page.expect_response(lambda r: "/playground/variables/" in r.url):
        variant_b.locator("textarea[data-field=template]").fill(
            "Greet {{ name }} <img src=x onerror=window.__xss=1> {{ tone }}"
        )
    expect(page.locator("#var-name")).to_have_value("Ada")
    page.get_by_role("button", name="Run all variants").click()
    expect(variant_a.locator("[data-output]")).to_have_text("echo: Say hello to Ada in plain words")
    expect(variant_b.locator("[data-output]")).to_have_text(
        "echo: Greet Ada <img src=x onerror=window.__xss=1> plain"
    )
    # Outputs first: each answer sits above its prompt, and the two answers start on the
    # same line and have the same height (the columns share their rows).
    out_a = variant_a.locator("[data-output]").bounding_box()
    out_b = variant_b.locator("[data-output]").bounding_box()
    template_a = variant_a.locator("textarea[data-field=template]").bounding_box()
    assert out_a["y"] + out_a["height"] <= template_a["y"]
    assert out_b["x"] > out_a["x"] + out_a["width"]  # side by side
    assert abs(out_a["y"] - out_b["y"]) < 1 and abs(out_a["height"] - out_b["height"]) < 1
    template_b = variant_b.locator("textarea[data-field=template]").bounding_box()
    assert abs(template_a["y"] - template_b["y"]) < 1
    # Model output is text, never markup.
    assert variant_b.locator("[data-output] img").count() == 0
    assert page.evaluate("window.__xss") is None

    # --- save variant B as v2 ----------------------------------------------------------
    variant_b.get_by_role("button", name="Save as new version…").click()
    variant_b.locator("[data-save-field=commit_message]").fill("friendlier greeting")
    variant_b.get_by_role("button", name="Save new version").click()
    expect(variant_b.locator("[data-save-result]")).to_contain_text("Saved as greeting v2")

    with team_scope(acme):
        versions = list(PromptVersion.objects.filter(prompt=prompt).order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].template == "Say hello to {{ name }} in {{ tone }} words"
    assert versions[1].template == "Greet {{ name }} <img src=x onerror=window.__xss=1> {{ tone }}"
    assert versions[1].commit_message == "friendlier greeting"

    # --- every run is in the history ----------------------------------------------------
    page.goto("/t/acme/playground/history/")
    expect(page.locator("table tbody tr")).to_have_count(3)


def test_it_runs_and_saves_when_the_team_has_datasets(new_page, acme, alice, greeting):
    """The dataset picker is a form field named "dataset": it must not break the run."""
    from apps.datasets.services import dataset_create, example_create

    with team_scope(acme):
        dataset = dataset_create(team=acme, actor=alice, name="greetings")
        example_create(
            team=acme, actor=alice, dataset=dataset, input={"name": "Grace", "tone": "warm"}
        )

    page = new_page(alice)
    page.goto(f"/t/acme/playground/?version={greeting.pk}")
    page.select_option("select[name=dataset]", label="greetings")
    expect(page.locator("select[name=example_choice] option")).to_have_count(2)
    # htmx binds the swapped-in picker once it has settled.
    page.wait_for_function("() => !document.querySelector('.htmx-settling, .htmx-request')")
    with page.expect_response(lambda r: "/playground/variables/" in r.url):
        page.select_option("select[name=example_choice]", index=1)
    expect(page.locator("#var-name")).to_have_value("Grace")
    page.get_by_role("button", name="Run all variants").click()
    variant_a = page.locator("[data-variant]").nth(0)
    expect(variant_a.locator("[data-output]")).to_contain_text("Grace")
    expect(variant_a.locator("[data-error]")).to_be_hidden()
    page.get_by_role("button", name="Add variant").click()
    expect(page.locator("[data-variant]")).to_have_count(2)
    variant_a.locator("textarea[data-field=template]").fill("Hi {{ name }}, {{ tone }}")
    variant_a.get_by_role("button", name="Save as new version…").click()
    variant_a.locator("[data-save-field=commit_message]").fill("from the dataset")
    variant_a.get_by_role("button", name="Save new version").click()
    expect(variant_a.locator("[data-save-result]")).to_contain_text("Saved as greeting v2")


def test_it_folds_settings_into_a_summary_and_swipes_variants_on_a_phone(
    new_page, acme, alice, greeting
):
    page = new_page(alice)
    page.set_viewport_size(PHONE)
    page.goto(f"/t/acme/playground/?version={greeting.pk}")
    variant_a = page.locator("[data-variant]").nth(0)
    settings = variant_a.locator("details.variant-settings")
    summary = settings.locator("summary")
    # Closed, one line; opens on a click and follows what is typed.
    expect(summary).to_have_text("Model settings: demo-echo")
    expect(variant_a.locator("[data-field=temperature]")).to_be_hidden()
    summary.click()
    variant_a.locator("[data-field=temperature]").fill("0.2")
    variant_a.locator("[data-field=max_tokens]").fill("256")
    expect(variant_a.locator("[data-settings-summary]")).to_have_text("demo-echo · t=0.2 · 256 tok")
    summary.click()
    expect(variant_a.locator("[data-field=temperature]")).to_be_hidden()

    page.fill("#var-name", "Ada")
    page.get_by_role("button", name="Add variant").click()
    variant_b = page.locator("[data-variant]").nth(1)
    expect(variant_b.locator("[data-settings-summary]")).to_have_text("demo-echo · t=0.2 · 256 tok")
    page.get_by_role("button", name="Run all variants").click()
    output_a = variant_a.locator("[data-output]")
    expect(output_a).to_contain_text("Say hello to Ada")
    expect(variant_b.locator("[data-output]")).to_contain_text("Say hello to Ada")

    # The answer is on the screen without the user scrolling: the run brought it there.
    box = output_a.bounding_box()
    assert 0 <= box["y"] and box["y"] + min(box["height"], 60) <= PHONE["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # Variant B waits to the right in a row that swipes and snaps; the page itself does
    # not scroll sideways.
    row = page.evaluate(
        """() => {
          const row = document.getElementById('variants');
          const style = getComputedStyle(row);
          return {snap: style.scrollSnapType, scroll: row.scrollWidth, width: row.clientWidth,
                  page: document.documentElement.scrollWidth,
                  view: document.documentElement.clientWidth};
        }"""
    )
    assert row["snap"].startswith("x"), row
    assert row["scroll"] > row["width"], row
    assert row["page"] <= row["view"], row
    assert variant_b.bounding_box()["x"] >= PHONE["width"] * 0.8
    # A longer answer in B: both answer boxes grow together, the prompts stay in line.
    page.set_viewport_size({"width": 1280, "height": 800})
    variant_b.locator("textarea[data-field=template]").fill("Say hello to {{ name }}\n" * 12)
    page.get_by_role("button", name="Run all variants").click()
    expect(variant_b.locator("[data-output]")).to_contain_text("Say hello to Ada\nSay hello")
    out_a, out_b = (v.locator("[data-output]").bounding_box() for v in (variant_a, variant_b))
    assert out_b["height"] > 100 and abs(out_a["height"] - out_b["height"]) < 1
    prompts = [v.locator("[data-field=kind]").bounding_box()["y"] for v in (variant_a, variant_b)]
    assert abs(prompts[0] - prompts[1]) < 1
    page.set_viewport_size(PHONE)
    variant_b.scroll_into_view_if_needed()
    expect(variant_b.locator("[data-output]")).to_be_in_viewport()
