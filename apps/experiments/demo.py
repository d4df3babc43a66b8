"""Demo data: the evaluators; support-reply's three versions measured on the golden set; a
policy on its `production` tag; alice's request to promote the improvement (v3), with the
gating experiment attached as its evidence, waiting for bob's review; and a comparison of
the two ticket-triage versions.

The experiments run through the real runner against demo-echo while the demo is seeded
(apps.llm.demo.demo_echo_available), so their pages show results at the first login and the
versions really score differently: v2 loses the thanks and most order statuses, v3 states
every one. When no demo-echo can be reached they stay queued for the worker. Idempotent:
everything is found by name first, and a finished run is never run again."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from apps.core.tenancy import team_scope
from apps.datasets.models import Dataset
from apps.experiments import services
from apps.experiments.models import Evaluator, Experiment, Status
from apps.experiments.runner import execute
from apps.experiments.selectors import policy_for
from apps.llm.demo import demo_echo_available, ensure_demo_provider
from apps.prompts import selectors as prompt_selectors
from apps.prompts import services as prompt_services
from apps.prompts.models import PromotionRequest, Prompt, PromptVersion

STORY_PROMPT = "support-reply"
GOLDEN = "support-golden"
STORY_EXPERIMENT = "support-reply v1 · v2 · v3 on support-golden"
TRIAGE_EXPERIMENT = "ticket-triage v1 vs v2 on support-tickets"
# The gate of support-reply's production tag: the reply states the order's status, and
# thanks the customer. Non-inferiority with the default margin (five points).
POLICY_EVALUATORS = ("states-order-status", "thanks-customer")
EVALUATORS: list[tuple[str, str, dict[str, Any], str]] = [
    ("valid-json", "valid_json", {"require_type": "object"}, "The answer is a JSON object."),
    (
        "mentions-category",
        "contains",
        {"expected_field": "category"},
        "The answer names the expected category.",
    ),
    ("under-2s", "latency", {"max_ms": 2000}, "Answered within two seconds."),
    (
        "states-order-status",
        "contains",
        {"expected_field": "order_status"},
        "The reply tells the customer their order's status, word for word.",
    ),
    (
        "thanks-customer",
        "contains",
        {"values": ["thank you"]},
        "The reply thanks the customer.",
    ),
]
REQUEST_DESCRIPTION = (
    "v3 always tells the customer where their order is (v1 loses the status on long "
    "messages) and keeps v1's thanks, which v2 dropped. The gating experiment on "
    "support-golden is attached."
)


def _evaluators(team, actor) -> dict[str, Evaluator]:
    found = {}
    for name, kind, params, description in EVALUATORS:
        evaluator = Evaluator.objects.filter(name=name).first()
        if evaluator is None:
            evaluator = services.evaluator_create(
                team=team,
                actor=actor,
                name=name,
                kind=kind,
                params=params,
                description=description,
            )
        found[name] = evaluator
    return found


def _experiment(team, actor, *, name, dataset, versions, evaluators) -> Experiment:
    """The named experiment, created and queued once (the first version is the baseline)."""
    experiment = Experiment.objects.filter(name=name).first()
    if experiment is not None:
        return experiment
    experiment = services.experiment_create(
        team=team,
        actor=actor,
        name=name,
        dataset=dataset,
        variants=[
            services.VariantSpec(prompt_version=v, is_baseline=i == 0)
            for i, v in enumerate(versions)
        ],
        evaluators=evaluators,
        concurrency=4,
        cost_cap="1.00",
    )
    services.experiment_start(team=team, actor=actor, experiment=experiment, enqueue=False)
    return experiment


def _policy(team, actor, prompt, dataset, evaluators):
    policy = policy_for(prompt, "production")
    if policy is None:
        policy = services.policy_set(
            team=team,
            actor=actor,
            prompt=prompt,
            tag_name="production",
            dataset=dataset,
            evaluators=[evaluators[name].pk for name in POLICY_EVALUATORS],
        )
    return policy


def _promotion(team, alice, prompt) -> PromotionRequest | None:
    """alice asks to promote v3 to production; the gate's experiment is its evidence.
    Made once: not again after it was approved, rejected or cancelled."""
    candidate = PromptVersion.objects.get(prompt=prompt, number=3)
    if PromotionRequest.objects.filter(prompt=prompt, candidate=candidate).exists():
        return None
    if prompt_selectors.version_at_tag(prompt, "production") == candidate:
        return None
    request = prompt_services.promotion_request_create(
        team=team,
        actor=alice,
        prompt=prompt,
        tag_name="production",
        candidate=candidate,
        description=REQUEST_DESCRIPTION,
    )
    services.gating_experiment_run(team=team, actor=alice, promotion=request)
    return request


def _run_queued(team, actor, experiments) -> None:
    """Run the demo's queued experiments now when demo-echo answers (else the worker will)."""
    waiting = [e for e in experiments if e.status == Status.QUEUED]
    if not waiting:
        return
    provider = ensure_demo_provider(team=team, actor=actor)
    with demo_echo_available(provider.base_url) as live:
        if live:
            for experiment in waiting:
                execute(experiment.pk)


def _demo_experiments(prompt) -> list[Experiment]:
    """The demo's own experiments: the two comparisons and the gate's evidence (never one a
    user queued since)."""
    evidence = [
        pk
        for request in PromotionRequest.objects.filter(prompt=prompt, candidate__number=3)
        for pk in request.evidence or []
    ]
    return list(
        Experiment.objects.filter(
            Q(name__in=[STORY_EXPERIMENT, TRIAGE_EXPERIMENT]) | Q(pk__in=evidence)
        ).order_by("pk")
    )


def seed(team, users):
    alice = users["alice"]
    with team_scope(team):
        evaluators = _evaluators(team, alice)
        prompt = Prompt.objects.filter(name=STORY_PROMPT).first()
        golden = Dataset.objects.filter(name=GOLDEN).first()
        tickets = Dataset.objects.filter(name="support-tickets").first()
        if prompt is None or golden is None or tickets is None:
            return  # another app's demo data is missing: nothing to measure
        versions = list(PromptVersion.objects.filter(prompt=prompt, number__lte=3))
        _experiment(
            team,
            alice,
            name=STORY_EXPERIMENT,
            dataset=golden,
            versions=sorted(versions, key=lambda v: v.number),
            evaluators=[evaluators[n] for n in (*POLICY_EVALUATORS, "under-2s")],
        )
        triage = PromptVersion.objects.filter(prompt__name="ticket-triage", number__lte=2)
        _experiment(
            team,
            alice,
            name=TRIAGE_EXPERIMENT,
            dataset=tickets,
            versions=sorted(triage, key=lambda v: v.number),
            evaluators=[evaluators[n] for n in ("valid-json", "mentions-category", "under-2s")],
        )
        _policy(team, alice, prompt, golden, evaluators)
        _promotion(team, alice, prompt)
        _run_queued(team, alice, _demo_experiments(prompt))
