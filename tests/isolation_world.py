"""One object of every kind in team acme, for the tenant-isolation walk.

Each URL kwarg name maps to a function returning acme's value for it. A route whose kwarg
has no source here fails the walk until one is added (or the route is listed in
tests/test_tenant_isolation.py's UNWALKABLE with a reason).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from apps.core.tenancy import team_scope


@dataclass
class World:
    team: object
    owner: object
    objects: dict = field(default_factory=dict)


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def build_world(acme, alice, bob) -> World:
    world = World(team=acme, owner=alice)
    with team_scope(acme):
        _teams(world, acme, alice, bob)
        for builder in (
            _prompts,
            _datasets,
            _llm,
            _experiments,
            _annotations,
            _traces,
            _optimisation,
        ):
            builder(world, acme, alice, bob)
    return world


def _teams(world, team, alice, bob):
    from apps.teams import services
    from apps.teams.models import Membership

    world.objects["membership"] = Membership.objects.get(user=bob)
    world.objects["invite"], _ = services.invite_create(
        team=team, actor=alice, role="viewer", email="zoe@example.test"
    )
    world.objects["api_key"], _ = services.api_key_create(
        team=team, actor=alice, name="k", scopes=["prompts:read"]
    )
    world.objects["audit_event"] = services.audit_record(team=team, actor=alice, verb="test.event")


def text_prompt(*, team, actor, name, versions, description=""):
    """A prompt and its text versions, one per (template, commit_message), oldest first."""
    from apps.prompts import services

    prompt = services.prompt_create(team=team, actor=actor, name=name, description=description)
    created = [
        services.version_create(
            team=team,
            actor=actor,
            prompt=prompt,
            kind="text",
            template=template,
            commit_message=commit_message,
        )
        for template, commit_message in versions
    ]
    return prompt, created


def _prompts(world, team, alice, bob):
    services = _optional("apps.prompts.services")
    if services is None or not hasattr(services, "prompt_create"):
        return
    prompt, (v1, v2) = text_prompt(
        team=team,
        actor=alice,
        name="acme-only-prompt",
        versions=[("Hi {{ name }}", "first"), ("Hello {{ name }}", "second")],
    )
    world.objects.update(prompt=prompt, version=v1, version2=v2)
    if hasattr(services, "promotion_request_create"):
        world.objects["promotion"] = services.promotion_request_create(
            team=team,
            actor=bob,
            prompt=prompt,
            tag_name="production",
            candidate=v2,
            description="ship it",
        )
    if hasattr(services, "webhook_endpoint_create"):
        endpoint, _ = services.webhook_endpoint_create(
            team=team, actor=alice, url="https://hooks.example.com/acme", events=["tag.moved"]
        )
        world.objects["webhook"] = endpoint
    if hasattr(services, "rollout_start"):
        services.tag_move(team=team, actor=alice, prompt=prompt, tag_name="canary", version=v1)
        world.objects["rollout"] = services.rollout_start(
            team=team, actor=alice, prompt=prompt, tag_name="canary", candidate=v2, percent=10
        )


def _datasets(world, team, alice, bob):
    services = _optional("apps.datasets.services")
    if services is None or not hasattr(services, "dataset_create"):
        return
    dataset = services.dataset_create(
        team=team, actor=alice, name="acme-only-dataset", description=""
    )
    example = services.example_create(
        team=team, actor=alice, dataset=dataset, input={"q": "hi"}, expected="hello"
    )
    world.objects.update(dataset=dataset, example=example)
    importing = _optional("apps.datasets.importing")
    if importing is not None and hasattr(importing, "pending_upload_create"):
        from django.core.files.uploadedfile import SimpleUploadedFile

        world.objects["upload"] = importing.pending_upload_create(
            team=team,
            actor=alice,
            dataset=dataset,
            uploaded=SimpleUploadedFile("acme.csv", b"q,expected\nhi,hello\n"),
        )


def _llm(world, team, alice, bob):
    models = _optional("apps.llm.models")
    if models is None or not hasattr(models, "ProviderConfig"):
        return
    world.objects["provider"] = models.ProviderConfig.objects.create(
        team=team,
        name="acme-provider",
        kind="openai-compatible",
        base_url="http://127.0.0.1:9/v1",
        models=["m"],
    )
    playground = _optional("apps.playground.models")
    if playground is not None and hasattr(playground, "PlaygroundRun"):
        world.objects["playground_run"] = playground.PlaygroundRun.objects.create(
            team=team,
            user=alice,
            template="Hi {{ name }}",
            variables={"name": "acme-secret"},
            provider=world.objects["provider"],
            model="m",
            output="acme-only output",
        )
    if playground is not None and hasattr(playground, "RefineConversation"):
        conversation = playground.RefineConversation.objects.create(
            team=team, user=alice, provider_name="acme-provider", model="m"
        )
        world.objects["refine_message"] = playground.RefineMessage.objects.create(
            team=team,
            conversation=conversation,
            role="assistant",
            content="acme-only answer",
            template="acme-only template",
            has_proposal=True,
        )


def _experiments(world, team, alice, bob):
    models = _optional("apps.experiments.models")
    if models is None or "dataset" not in world.objects or "version" not in world.objects:
        return
    from apps.experiments.services import evaluator_create

    evaluator = evaluator_create(
        team=team, actor=alice, name="acme-only-evaluator", kind="valid_json"
    )
    dataset = world.objects["dataset"]
    experiment = models.Experiment.objects.create(
        team=team,
        name="acme-only-experiment",
        dataset=dataset,
        dataset_revision=dataset.current_revision,
        total_cells=1,
        status=models.Status.RUNNING,
    )
    variant = models.Variant.objects.create(
        team=team, experiment=experiment, prompt_version=world.objects["version"], label="v1"
    )
    result = models.Result.objects.create(
        team=team,
        experiment=experiment,
        variant=variant,
        example_id=world.objects["example"].example_id,
        output="{}",
    )
    score = models.Score.objects.create(
        team=team,
        result=result,
        experiment=experiment,
        evaluator=evaluator,
        label="pass",
        source="code",
    )
    world.objects.update(
        evaluator=evaluator, experiment=experiment, variant=variant, result=result, score=score
    )


def _annotations(world, team, alice, bob):
    services = _optional("apps.annotations.services")
    if services is None:
        return
    from apps.annotations.models import QueueItem

    queue = services.queue_create(team=team, actor=alice, name="acme-only-queue")
    # An item of its own (no experiment needed): the walk only needs acme's ids.
    item = QueueItem.objects.create(
        team=team,
        queue=queue,
        position=1,
        source_ref="isolation",
        snapshot={"input": {"q": "hi"}, "output": "hello", "auto_scores": []},
    )
    services.items_assign(team=team, actor=alice, queue=queue, users=[bob], items=[item])
    annotation = services.annotation_save(
        team=team,
        actor=bob,
        item=item,
        passed=False,
        reasoning="too curt",
        corrected_expected="hello there",
    )
    world.objects.update(annotation_queue=queue, queue_item=item, annotation=annotation)


def _traces(world, team, alice, bob):
    services = _optional("apps.traces.services")
    otlp = _optional("apps.traces.otlp")
    if services is None or otlp is None or not hasattr(services, "spans_ingest"):
        return
    from apps.traces.models import Span

    span = otlp.RawSpan(
        trace_id="ac" * 16,
        span_id="ac" * 8,
        parent_span_id="",
        name="acme-only-span",
        kind="internal",
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_000_500_000_000,
        status_code="ok",
        status_message="",
        attributes={
            "input.value": "acme secret",
            "session.id": "acme-session",
            # A traced function's first span: its code becomes acme's function version v1.
            "promptyard.function.name": "acme.only_function",
            "promptyard.function.version": "acme0000hash",
            "promptyard.function.source": "def only_function():\n    return 'acme secret'\n",
        },
        events=[],
    )
    services.spans_ingest(team=team, actor=alice, spans=[span])
    world.objects["span"] = Span.objects.get(span_id=span.span_id)
    world.objects["trace"] = world.objects["span"].trace
    online = _optional("apps.traces.online.services")
    evaluator = world.objects.get("evaluator")
    if online is not None and evaluator is not None:
        world.objects["online_rule"] = online.online_rule_create(
            team=team, actor=alice, name="acme-only-rule", evaluator=evaluator
        )


def _optimisation(world, team, alice, bob):
    models = _optional("apps.optimisation.models")
    if models is None or "evaluator" not in world.objects:
        return
    dataset = world.objects["dataset"]
    run = models.OptimisationRun.objects.create(
        team=team,
        name="acme-only-optimisation",
        prompt_version=world.objects["version"],
        dataset=dataset,
        dataset_revision=dataset.current_revision,
        train_ids=[str(world.objects["example"].example_id)],
        validation_ids=[],
        status=models.RunStatus.SUCCEEDED,
        created_by=alice,
    )
    run.evaluators.set([world.objects["evaluator"]], through_defaults={"team": team})
    world.objects["optimisation"] = run


def _get(world, name):
    obj = world.objects.get(name)
    if obj is None:
        raise LookupError(name)
    return obj


# URL kwarg -> acme's value. Every kwarg name used in a URL pattern needs an entry.
KWARG_SOURCES = {
    "membership_id": lambda w: _get(w, "membership").pk,
    "invite_id": lambda w: _get(w, "invite").pk,
    "key_id": lambda w: _get(w, "api_key").pk,
    "api_key_id": lambda w: _get(w, "api_key").pk,
    "event_id": lambda w: _get(w, "audit_event").pk,
    "prompt_id": lambda w: _get(w, "prompt").pk,
    "prompt_name": lambda w: _get(w, "prompt").name,
    "version_id": lambda w: _get(w, "version").pk,
    "version_number": lambda w: _get(w, "version").number,
    "other_number": lambda w: _get(w, "version2").number,
    "from_number": lambda w: _get(w, "version").number,
    "to_number": lambda w: _get(w, "version2").number,
    "tag_name": lambda w: "production",
    "promotion_id": lambda w: _get(w, "promotion").pk,
    "request_id": lambda w: _get(w, "promotion").pk,
    "rollout_id": lambda w: _get(w, "rollout").pk,
    "endpoint_id": lambda w: _get(w, "webhook").pk,
    "dataset_id": lambda w: _get(w, "dataset").pk,
    "example_id": lambda w: _get(w, "example").example_id,
    "revision": lambda w: 1,
    "upload_token": lambda w: _get(w, "upload").token,
    "provider_id": lambda w: _get(w, "provider").pk,
    "experiment_id": lambda w: _get(w, "experiment").pk,
    "evaluator_id": lambda w: _get(w, "evaluator").pk,
    "playground_run_id": lambda w: _get(w, "playground_run").pk,
    "refine_message_id": lambda w: _get(w, "refine_message").pk,
    "queue_id": lambda w: _get(w, "annotation_queue").pk,
    "queue_item_id": lambda w: _get(w, "queue_item").pk,
    "annotation_id": lambda w: _get(w, "annotation").pk,
    "trace_id": lambda w: _get(w, "trace").trace_id,
    "span_id": lambda w: _get(w, "span").span_id,
    "function_name": lambda w: "acme.only_function",
    "number": lambda w: 1,  # acme.only_function's v1
    "rule_id": lambda w: _get(w, "online_rule").pk,
    "session_id": lambda w: _get(w, "trace").session_id or "acme-session",
    "optimisation_id": lambda w: _get(w, "optimisation").pk,
}
