"""Experiment fixtures: a demo-echo provider, a prompt version on it, a dataset, evaluators."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

PRICES = {"demo-echo": {"input": 1000.0, "output": 1000.0}}  # $0.001 per token: caps bite fast


@dataclass
class Lab:
    team: object
    actor: object
    provider: object
    prompt: object
    version: object
    dataset: object

    def version_with(self, template: str, **settings):
        from apps.core.tenancy import team_scope
        from apps.prompts.services import version_create

        with team_scope(self.team):
            return version_create(
                team=self.team,
                actor=self.actor,
                prompt=self.prompt,
                kind="text",
                template=template,
                model_settings={"provider_id": self.provider.pk, "model": "demo-echo", **settings},
                commit_message="variant",
            )

    def evaluator(self, name="exact", kind="exact_match", params=None):
        from apps.core.tenancy import team_scope
        from apps.experiments.services import evaluator_create

        with team_scope(self.team):
            return evaluator_create(
                team=self.team, actor=self.actor, name=name, kind=kind, params=params or {}
            )

    def experiment(self, *, versions=None, evaluators=(), name="exp", **options):
        from apps.core.tenancy import team_scope
        from apps.experiments.services import VariantSpec, experiment_create

        with team_scope(self.team):
            return experiment_create(
                team=self.team,
                actor=self.actor,
                name=name,
                dataset=self.dataset,
                variants=[VariantSpec(prompt_version=v) for v in (versions or [self.version])],
                evaluators=list(evaluators),
                **options,
            )


def make_provider(team, actor, base_url, name="demo"):
    from apps.core.tenancy import team_scope
    from apps.llm.models import ProviderConfig

    with team_scope(team):
        return ProviderConfig.objects.create(
            team=team,
            name=name,
            kind="openai-compatible",
            base_url=base_url,
            models=["demo-echo"],
            prices=PRICES,
            is_demo=True,
            max_retries=0,
        )


def make_lab(team, actor, base_url, *, rows=None, template="Q: {{ q }}"):
    from apps.core.tenancy import team_scope
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.prompts.services import prompt_create, version_create

    provider = make_provider(team, actor, base_url)
    if rows is None:
        rows = [
            {"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"}
            for i in range(6)
        ]
    with team_scope(team):
        prompt = prompt_create(team=team, actor=actor, name="qa")
        version = version_create(
            team=team,
            actor=actor,
            prompt=prompt,
            kind="text",
            template=template,
            model_settings={"provider_id": provider.pk, "model": "demo-echo"},
            commit_message="first",
        )
        dataset = dataset_create(team=team, actor=actor, name="questions")
        examples_bulk_create(team=team, actor=actor, dataset=dataset, rows=rows)
        dataset.refresh_from_db()
    return Lab(team, actor, provider, prompt, version, dataset)


@pytest.fixture
def lab(acme, alice, demo_echo):
    return make_lab(acme, alice, demo_echo)
