"""In a real browser: bob saves a version with a seed, a reasoning effort and extra
settings typed as JSON; a bad key in the JSON box is named next to it."""

import json

import pytest

from apps.core.tenancy import team_scope


@pytest.mark.django_db(transaction=True)
def test_it_versions_open_model_settings_from_the_editor(new_page, acme, bob):
    page = new_page(bob)
    page.goto("/t/acme/prompts/new/")
    page.fill("#id_name", "tuned")
    page.fill("#id_template", "Answer {{ q }}")
    page.fill("#id_seed", "42")
    page.select_option("#id_reasoning_effort", "medium")
    page.select_option("#id_parallel_tool_calls", "false")
    page.fill("#id_extra_settings", json.dumps({"colour": "red"}))
    page.fill("#id_commit_message", "seeded")
    page.click("#editor button[type=submit]")
    page.wait_for_selector(".field-error:has-text(\"Unknown model setting 'colour'\")")
    assert page.input_value("#id_seed") == "42"  # what was typed stays

    page.fill("#id_extra_settings", json.dumps({"logit_bias": {"50256": -100}}))
    page.click("#editor button[type=submit]")
    page.wait_for_url("**/prompts/tuned/")

    from apps.prompts.models import PromptVersion

    with team_scope(acme):
        version = PromptVersion.objects.get(prompt__name="tuned")
    assert version.model_settings == {
        "seed": 42,
        "reasoning_effort": "medium",
        "parallel_tool_calls": False,
        "logit_bias": {"50256": -100},
    }
