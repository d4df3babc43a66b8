"""Experiment and evaluator pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.experiments.models import Evaluator, Experiment, Result, Score, Status
from apps.experiments.runner import execute
from apps.experiments.services import experiment_start


def url(name, **kwargs):
    return reverse(f"experiments:{name}", kwargs={"team_slug": "acme", **kwargs})


def test_it_lists_experiments_with_status_variants_and_pass_rate(client, lab, alice):
    experiment = lab.experiment(evaluators=[lab.evaluator()], name="Capitals run")
    with team_scope(lab.team):
        experiment_start(team=lab.team, actor=alice, experiment=experiment, enqueue=False)
    execute(experiment.pk)
    client.force_login(alice)
    response = client.get(url("list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Capitals run" in body and "Completed" in body
    assert "qa v1" in body and "questions" in body and "100.0 %" in body


def test_it_prefills_the_new_form_from_a_version_and_estimates_the_cost(client, lab, alice):
    client.force_login(alice)
    response = client.get(url("new") + f"?version={lab.version.pk}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "qa v1 on questions" in body
    assert "6 model calls" in body and "This is an estimate" in body
    assert "Estimated cost" in body


def test_it_estimates_against_the_cap(client, lab, alice):
    client.force_login(alice)
    response = client.get(
        url("estimate"),
        {
            "dataset": lab.dataset.pk,
            "versions": [lab.version.pk],
            "models": ["saved"],
            "other_models": "other-model",
            "other_provider": lab.provider.pk,
            "repetitions": 2,
            "concurrency": 4,
            "cost_cap": "0.01",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "24 model calls" in body
    assert "above the cap" in body
    assert "<html" not in body


def test_it_creates_and_queues_an_experiment(client, lab, alice):
    evaluator = lab.evaluator()
    client.force_login(alice)
    response = client.post(
        url("new"),
        {
            "name": "From the form",
            "dataset": lab.dataset.pk,
            "versions": [lab.version.pk],
            "evaluators": [evaluator.pk],
            "repetitions": 1,
            "concurrency": 4,
            "cost_cap": "5",
            "action": "start",
        },
    )
    experiment = Experiment.objects.unscoped().get(name="From the form")
    assert response.status_code == 302
    assert response["Location"] == url("detail", experiment_id=experiment.pk)
    assert experiment.status == Status.QUEUED and experiment.total_cells == 6
    with team_scope(lab.team):
        assert experiment.evaluator_links.get().name == "exact"


def test_it_shows_service_errors_next_to_the_form(client, lab, alice):
    client.force_login(alice)
    response = client.post(
        url("new"),
        {
            "name": "Bad split",
            "dataset": lab.dataset.pk,
            "split": "nope",
            "versions": [lab.version.pk],
            "repetitions": 1,
            "concurrency": 4,
        },
    )
    assert response.status_code == 200
    assert "has no examples at revision" in response.content.decode()


def test_it_refuses_the_new_form_to_viewers(client, lab, carol):
    client.force_login(carol)
    assert client.get(url("new")).status_code == 403


def test_it_shows_progress_and_escaped_results(client, lab, alice):
    experiment = lab.experiment(evaluators=[lab.evaluator()])
    with team_scope(lab.team):
        experiment_start(team=lab.team, actor=alice, experiment=experiment, enqueue=False)
        variant = experiment.variants.get()
        result = Result.objects.create(
            experiment=experiment,
            variant=variant,
            example_id=lab.dataset.example_rows.first().example_id,
            output="<script>alert(1)</script>",
        )
        Score.objects.create(
            result=result,
            experiment=experiment,
            evaluator_name="exact",
            passed=False,
            label="fail",
            explanation="<b>nope</b>",
            source="code",
        )
        Experiment.objects.filter(pk=experiment.pk).update(
            status=Status.RUNNING, done_count=1, error_count=0
        )
    client.force_login(alice)
    page = client.get(url("detail", experiment_id=experiment.pk)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;nope&lt;/b&gt;" in page
    assert 'hx-trigger="every 1s"' in page
    progress = client.get(
        url("progress", experiment_id=experiment.pk) + "?was=running", HTTP_HX_REQUEST="true"
    )
    assert progress.status_code == 200
    assert "1 of 6" in progress.content.decode() and "HX-Refresh" not in progress
    with team_scope(lab.team):
        Experiment.objects.filter(pk=experiment.pk).update(status=Status.COMPLETED)
    finished = client.get(
        url("progress", experiment_id=experiment.pk) + "?was=running", HTTP_HX_REQUEST="true"
    )
    assert finished["HX-Refresh"] == "true"
    assert 'hx-trigger="every 1s"' not in finished.content.decode()


def test_it_filters_results_to_errors(client, lab, alice, demo_echo_server):
    experiment = lab.experiment()
    with team_scope(lab.team):
        variant = experiment.variants.get()
        for i, example in enumerate(lab.dataset.example_rows.all()[:2]):
            Result.objects.create(
                experiment=experiment,
                variant=variant,
                example_id=example.example_id,
                output="" if i else "fine",
                error="boom" if i else "",
            )
    client.force_login(alice)
    body = client.get(url("detail", experiment_id=experiment.pk) + "?errors=1").content.decode()
    assert "boom" in body and ">fine<" not in body


def test_it_cancels_and_resumes_from_the_page(client, lab, alice):
    experiment = lab.experiment()
    with team_scope(lab.team):
        experiment_start(team=lab.team, actor=alice, experiment=experiment, enqueue=False)
    client.force_login(alice)
    client.post(url("cancel", experiment_id=experiment.pk))
    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    client.post(url("resume", experiment_id=experiment.pk), {"cost_cap": "2.5"})
    experiment.refresh_from_db()
    assert experiment.status == Status.QUEUED and str(experiment.cost_cap) == "2.5000"


def test_it_creates_and_edits_evaluators_with_versions(client, lab, alice):
    client.force_login(alice)
    response = client.post(
        url("evaluators"),
        {"name": "mentions paris", "kind": "contains", "contains__values": "Paris\n"},
    )
    assert response.status_code == 302
    with team_scope(lab.team):
        evaluator = Evaluator.objects.get(name="mentions paris")
    assert evaluator.params["values"] == ["Paris"] and evaluator.version == 1
    response = client.post(
        url("evaluator", evaluator_id=evaluator.pk),
        {
            "name": "mentions paris",
            "kind": "contains",
            "contains__values": "Paris",
            "contains__mode": "all",
        },
    )
    evaluator.refresh_from_db()
    assert evaluator.version == 2 and evaluator.params["mode"] == "all"
    bad = client.post(url("evaluators"), {"name": "broken", "kind": "regex", "regex__pattern": "("})
    assert bad.status_code == 200
    assert "not a valid regular expression" in bad.content.decode()
    page = client.get(url("evaluators")).content.decode()
    assert "mentions paris" in page and "LLM judge" in page


def test_it_offers_a_form_per_evaluator_kind_from_its_declared_parameters(client, lab, alice):
    from apps.experiments.evaluators import REGISTRY

    client.force_login(alice)
    page = client.get(url("evaluators")).content.decode()
    assert 'name="params"' not in page  # no raw JSON box
    for kind, spec in REGISTRY.items():
        assert f'id="params-{kind}"' in page
        for param in spec.params:
            assert f'name="{kind}__{param.name}"' in page, (kind, param.name)
    # A choice is a select of its choices, a number an input with its bounds.
    assert '<select name="contains__mode"' in page
    assert 'name="similarity__threshold"' in page and 'max="1.0"' in page
    response = client.post(
        url("evaluators"),
        {
            "name": "short",
            "kind": "length",
            "length__max_length": "40",
            "length__unit": "words",
        },
    )
    assert response.status_code == 302
    with team_scope(lab.team):
        evaluator = Evaluator.objects.get(name="short")
    assert evaluator.params == {"min_length": None, "max_length": 40, "unit": "words"}
    # Edited again, the page fills the kind's fields from the saved parameters.
    page = client.get(url("evaluator", evaluator_id=evaluator.pk)).content.decode()
    assert 'name="length__max_length" value="40"' in page
    assert '<option value="words" selected>' in page


def test_it_shows_saved_parameters_as_json_not_a_python_dict(client, lab, alice, carol):
    lab.evaluator(name="strict", kind="exact_match", params={"case_sensitive": True})
    client.force_login(alice)
    page = client.get(url("evaluators")).content.decode()
    assert "&quot;case_sensitive&quot;: true" in page
    assert "True" not in page.split('id="evaluators"')[1].split("</table>")[0]
    client.force_login(carol)
    with team_scope(lab.team):
        evaluator = Evaluator.objects.get(name="strict")
    page = client.get(url("evaluator", evaluator_id=evaluator.pk)).content.decode()
    assert "<code>case_sensitive</code>" in page and ">true</dd>" in page


def test_it_refuses_evaluator_writes_to_viewers(client, lab, carol):
    client.force_login(carol)
    response = client.post(url("evaluators"), {"name": "x", "kind": "valid_json"})
    assert response.status_code == 403
    assert "As a viewer, you cannot create evaluators" in response.content.decode()


def test_it_warns_when_a_version_cannot_render_the_dataset(client, lab, alice):
    other = lab.version_with("Needs {{ missing_variable }}")
    client.force_login(alice)
    response = client.get(
        url("estimate"),
        {"dataset": lab.dataset.pk, "versions": [other.pk], "repetitions": 1, "concurrency": 1},
    )
    body = response.content.decode()
    assert "qa v2 fails to render 6 of 6 sampled examples" in body
    assert "Missing variable &#x27;missing_variable&#x27;" in body


def test_it_shows_which_status_and_result_filter_is_on(client, lab, alice):
    """The filters are a .subnav, the style that underlines the aria-current link."""
    experiment = lab.experiment(name="Filters")
    client.force_login(alice)
    body = client.get(url("list") + "?status=draft").content.decode()
    assert '<nav class="subnav" aria-label="Filter by status">' in body
    assert '<a href="?status=draft" aria-current="page">' in body
    body = client.get(url("detail", experiment_id=experiment.pk) + "?errors=1").content.decode()
    assert '<nav class="subnav" aria-label="Filter results">' in body


def test_it_labels_variants_with_provider_and_model(client, lab, alice, demo_echo):
    from tests.experiments.conftest import make_provider

    other = make_provider(lab.team, alice, demo_echo, name="Backup <b>")
    second = lab.version_with("Q: {{ q }}", provider_id=other.pk)
    experiment = lab.experiment(versions=[lab.version, second])
    client.force_login(alice)
    html = client.get(url("detail", experiment_id=experiment.pk)).content.decode()
    assert "demo · demo-echo" in html
    assert "Backup &lt;b&gt; · demo-echo" in html


@pytest.mark.parametrize(
    "schema, says",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"maxLength": ' + "9" * 5000 + "}", "more than 4300 digits"),
        ('{"items": ' * 100 + "{}" + "}" * 100, "nested deeper than 64"),
    ],
)
def test_it_refuses_hostile_evaluator_json_in_the_form(client, lab, alice, schema, says):
    client.force_login(alice)
    response = client.post(
        url("evaluators"),
        {"name": "hostile", "kind": "json_schema", "json_schema__schema": schema},
    )
    assert response.status_code == 200
    assert says in response.content.decode()


def _link(response, rel: str) -> str:
    import re

    match = re.search(rf'rel="{rel}" href="([^"]*)"', response.content.decode())
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def _cells(response) -> list[tuple[int, str]]:
    return [(r.position, r.variant.label) for r in response.context["page"].object_list]


def test_it_pages_results_by_keyset_keeping_the_filter(
    client, lab, alice, django_assert_max_num_queries
):
    """90 examples x 2 variants: pages in (position, variant) order through cursors, the
    errors filter kept on every link, the table alone for htmx, a bounded query count."""
    other = lab.version_with("Other: {{ q }}")
    experiment = lab.experiment(versions=[lab.version, other])
    with team_scope(lab.team):
        a, b = experiment.variants.order_by("position")
        Result.objects.bulk_create(
            Result(
                team=lab.team,
                experiment=experiment,
                variant=variant,
                example_id=f"00000000-0000-0000-0000-{position:012d}",
                position=position,
                output=f"out {position}",
                error="boom" if position % 3 == 0 else "",
            )
            for position in range(1, 91)
            for variant in (b, a)  # stored out of order: the page sorts
        )
    every = [(p, v.label) for p in range(1, 91) for v in (a, b)]
    errors = [cell for cell in every if cell[0] % 3 == 0]
    client.force_login(alice)
    detail = url("detail", experiment_id=experiment.pk)
    with django_assert_max_num_queries(20) as captured:
        first = client.get(detail)
    assert not any("OFFSET" in q["sql"].upper() for q in captured.captured_queries)
    assert _cells(first) == every[:50]
    middle = client.get(detail + _link(first, "next"))
    assert _cells(middle) == every[50:100]
    last = client.get(detail + _link(middle, "last"))
    assert _cells(last) == every[-50:] and not last.context["page"].has_next
    assert _cells(client.get(detail + _link(last, "prev"))) == every[-100:-50]

    failing = client.get(detail, {"errors": 1})
    assert _cells(failing) == errors[:50]
    assert "errors=1" in _link(failing, "next") and "after=" in _link(failing, "next")
    fragment = client.get(
        detail + _link(failing, "next"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    assert b"<html" not in fragment.content and b'id="results"' in fragment.content
    assert _cells(fragment) == errors[50:]
    only_b = client.get(detail, {"variant": b.pk, "last": 1})
    assert _cells(only_b)[-1] == (90, b.label) and "variant=" in _link(only_b, "first")
