"""Demo data: a few evaluators and a queued experiment of the triage prompt on the demo
dataset (the worker started by `make run` runs it against demo-echo). Idempotent."""

from __future__ import annotations

from apps.core.tenancy import team_scope
from apps.datasets.models import Dataset
from apps.experiments import services
from apps.experiments.models import Evaluator, Experiment
from apps.llm.models import ProviderConfig
from apps.prompts.models import PromptVersion

EXPERIMENT_NAME = "ticket-triage v1 on support-tickets"
EVALUATORS = [
    ("valid-json", "valid_json", {"require_type": "object"}, "The answer is a JSON object."),
    (
        "mentions-category",
        "contains",
        {"expected_field": "category"},
        "The answer names the expected category.",
    ),
    ("under-2s", "latency", {"max_ms": 2000}, "Answered within two seconds."),
]


def seed(team, users):
    alice = users["alice"]
    with team_scope(team):
        evaluators = []
        for name, kind, params, description in EVALUATORS:
            evaluator = Evaluator.objects.filter(name=name).first()
            if evaluator is None:
                evaluator = services.evaluator_create(
                    team=team,
                    actor=alice,
                    name=name,
                    kind=kind,
                    params=params,
                    description=description,
                )
            evaluators.append(evaluator)
        if Experiment.objects.filter(name=EXPERIMENT_NAME).exists():
            return
        dataset = Dataset.objects.filter(name="support-tickets").first()
        version = PromptVersion.objects.filter(prompt__name="ticket-triage", number=1).first()
        provider = ProviderConfig.objects.filter(is_demo=True).order_by("pk").first()
        if dataset is None or version is None or provider is None:
            return
        experiment = services.experiment_create(
            team=team,
            actor=alice,
            name=EXPERIMENT_NAME,
            dataset=dataset,
            variants=[
                services.VariantSpec(prompt_version=version, overrides={"provider_id": provider.pk})
            ],
            evaluators=evaluators,
            concurrency=4,
            cost_cap="1.00",
        )
        services.experiment_start(team=team, actor=alice, experiment=experiment)
