"""alice evaluates two playground variants on a dataset with an evaluator, watches the
scores arrive per variant and per row, then saves the better variant with the protected
tag and lands on a promotion request citing the run."""

from playwright.sync_api import expect

from apps.core.tenancy import team_scope


def test_it_evaluates_variants_and_requests_promotion_of_one(new_page, acme, alice, greeting):
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.experiments.models import Experiment
    from apps.experiments.runner import execute
    from apps.experiments.services import evaluator_create

    with team_scope(acme):
        dataset = dataset_create(team=acme, actor=alice, name="people")
        examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            rows=[{"input": {"name": n, "tone": t}} for n, t in [("Ada", "warm"), ("Bo", "plain")]],
        )
        evaluator_create(
            team=acme, actor=alice, name="is-warm", kind="contains", params={"values": ["warm"]}
        )

    page = new_page(alice)
    page.goto(f"/t/acme/playground/?version={greeting.pk}")
    page.get_by_role("button", name="Add variant").click()
    variant_b = page.locator("[data-variant]").nth(1)
    variant_b.locator("textarea[data-field=template]").fill(
        "Say hello to {{ name }}, warm always ({{ tone }})"
    )
    page.select_option("select[name=eval_dataset]", label="people")
    page.get_by_label("is-warm").check()
    page.get_by_role("button", name="Evaluate variants").click()
    panel = page.locator("#evaluation")
    expect(panel.locator("[data-status]")).to_have_text("Queued")
    with team_scope(acme):
        experiment = Experiment.objects.get()
    execute(experiment.pk)
    # The panel polls until the run is done.
    expect(panel.locator("[data-variant-summary='A · v1']")).to_contain_text("50 % pass")
    expect(panel.locator("[data-variant-summary='B · v2']")).to_contain_text("100 % pass")
    expect(panel).to_contain_text("is-warm: fail")

    variant_b.get_by_role("button", name="Save as new version…").click()
    variant_b.locator("[data-save-field=commit_message]").fill("always warm")
    variant_b.locator("[data-save-field=tag_name]").fill("production")
    variant_b.get_by_role("button", name="Save new version").click()
    result = variant_b.locator("[data-save-result]")
    expect(result).to_contain_text("Already saved as greeting v2")
    result.locator("[data-promotion-link]").click()
    expect(page.locator("input[name=evidence], textarea[name=evidence]")).to_have_value(
        str(experiment.pk)
    )
