"""Optimisation fixtures: the demo's support-reply prompt, its golden set and evaluators,
on a demo-echo of the test's own (so its request counts are the run's)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from apps.core.tenancy import team_scope


@dataclass
class DemoWorld:
    team: object
    alice: object
    server: object
    version: object
    dataset: object
    evaluators: list

    def run(self, **options):
        from apps.optimisation.services import optimisation_run_create

        defaults = dict(
            max_rounds=3,
            max_calls=200,
            seed=0,
            minibatch_size=4,
            concurrency=4,
            evaluators=self.evaluators,
        )
        with team_scope(self.team):
            return optimisation_run_create(
                team=self.team,
                actor=self.alice,
                prompt_version=self.version,
                dataset=self.dataset,
                **{**defaults, **options},
            )

    def finished(self, run=None, **options):
        """A run (made with `options` unless given) started and run to its end in this
        process, as the worker would, then read back."""
        from apps.optimisation.engine import execute
        from apps.optimisation.services import optimisation_run_start

        run = run if run is not None else self.run(**options)
        with team_scope(self.team):
            optimisation_run_start(team=self.team, actor=self.alice, run=run, enqueue=False)
        execute(run.pk)
        with team_scope(self.team):
            run.refresh_from_db()
        return run


def make_demo_world(team, users, server, settings) -> DemoWorld:
    from apps.datasets import demo as datasets_demo
    from apps.experiments import services as experiment_services
    from apps.experiments.demo import EVALUATORS, POLICY_EVALUATORS
    from apps.prompts import demo as prompts_demo
    from apps.prompts.models import PromptVersion

    settings.PROMPTYARD_DEMO_ECHO_URL = server.base_url
    datasets_demo.golden(team, users)
    prompts_demo.seed(team, users)
    with team_scope(team):
        evaluators = [
            experiment_services.evaluator_create(
                team=team,
                actor=users["alice"],
                name=name,
                kind=kind,
                params=params,
                description=description,
            )
            for name, kind, params, description in EVALUATORS
            if name in POLICY_EVALUATORS
        ]
        version = PromptVersion.objects.get(prompt__name="support-reply", number=1)
        dataset = datasets_demo.Dataset.objects.get(name=datasets_demo.GOLDEN_NAME)
    return DemoWorld(team, users["alice"], server, version, dataset, evaluators)


@pytest.fixture
def demo_world(acme, alice, bob, carol, erin, demo_echo_server, settings):
    server = demo_echo_server()
    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    return make_demo_world(acme, users, server, settings)
