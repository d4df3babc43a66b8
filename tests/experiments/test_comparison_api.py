"""The comparison summary over the API: figures, the gate outcome, team scoping."""

from __future__ import annotations

from django.urls import reverse

from tests.conftest import bearer
from tests.experiments.compare_world import add_cells, make_experiment

T, F = True, False


def test_it_returns_the_summary_and_the_gate_outcome(acme, alice, api_client, api_key_for):
    experiment, variants = make_experiment(acme, alice)
    add_cells(acme, experiment, variants, [(T, F)] * 10 + [(T, T)] * 5)
    raw = api_key_for(acme, alice, scopes=["experiments:read"])
    url = reverse("api:experiment-comparison", kwargs={"experiment_id": experiment.pk})
    body = api_client.get(url, {"threshold": "0.05"}, **bearer(raw)).json()
    (evaluator,) = body["evaluators"]
    base, cand = evaluator["variants"]
    assert (base["passed"], cand["passed"], cand["judged"]) == (15, 5, 15)
    versus = cand["versus_baseline"]
    assert (versus["test"], versus["regressions"], versus["verdict"]) == ("paired", 10, "worse")
    assert versus["examples"] == versus["pairs"] == 15
    assert body["gate"]["regression"] is True
    assert "worse on exact" in body["gate"]["findings"][0]["message"]
    tolerant = api_client.get(url, {"threshold": "0.9"}, **bearer(raw)).json()
    assert tolerant["gate"]["regression"] is False


def test_a_session_user_reads_it_under_the_team_url_and_outsiders_get_404(
    acme, alice, dave, globex, client
):
    experiment, variants = make_experiment(acme, alice)
    add_cells(acme, experiment, variants, [(T, T)])
    url = reverse(
        "team_api:experiment-comparison",
        kwargs={"team_slug": "acme", "experiment_id": experiment.pk},
    )
    client.force_login(alice)
    assert client.get(url).status_code == 200
    client.force_login(dave)
    assert client.get(url).status_code == 404
