"""The client's areas against the live server over real HTTP: prompts, tags and
promotions, datasets, experiments, annotation queues, traces and scores; typed results and
typed errors; the async client the same way."""

from __future__ import annotations

import promptyard
import pytest
from promptyard import (
    AsyncPromptyard,
    ChatPrompt,
    Comparison,
    Conflict,
    Dataset,
    DatasetRevision,
    Experiment,
    NotFound,
    PermissionDenied,
    PromotionRequest,
    PromptVersion,
    Promptyard,
    Tag,
    TextPrompt,
    Trace,
    ValidationError,
    tracing,
)

from apps.experiments.runner import execute
from tests.async_helper import run_async
from tests.experiments.conftest import make_lab

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = [
    "prompts:read",
    "prompts:write",
    "datasets:read",
    "datasets:write",
    "experiments:read",
    "experiments:write",
    "traces:read",
    "traces:write",
    "annotations:read",
    "annotations:write",
]


@pytest.fixture
def raw(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=ALL_SCOPES, name="sdk")


@pytest.fixture
def client(live_server, raw):
    with Promptyard(api_key=raw, base_url=live_server.url, max_retries=0) as client:
        yield client


def test_it_writes_and_reads_prompts(client):
    info = client.prompts.create("support", description="Support replies")
    assert (info.name, info.version_count) == ("support", 0)
    v1 = client.prompts.create_version("support", template="Answer {{ q }}", commit_message="first")
    v2 = client.prompts.create_version(
        "support",
        messages=[
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "{{ q }}"},
        ],
        model_settings={"model": "demo-echo", "seed": 7, "reasoning_effort": "low"},
        commit_message="chat",
        parent=1,
    )
    assert isinstance(v1, PromptVersion) and (v1.number, v1.kind, v1.variables) == (
        1,
        "text",
        ["q"],
    )
    assert (v2.number, v2.kind, v2.parent) == (2, "chat", 1)
    assert v2.model_settings == {"model": "demo-echo", "seed": 7, "reasoning_effort": "low"}

    assert [p.name for p in client.prompts.list()] == ["support"]
    assert [v.number for v in client.prompts.versions("support")] == [2, 1]
    assert client.prompts.get_version("support", 1).template == "Answer {{ q }}"
    latest = client.prompts.get_version("support", tag="latest")
    assert latest.number == 2
    rendered = latest.as_prompt()
    assert isinstance(rendered, ChatPrompt)
    assert rendered.render(q="Hi")[1] == {"role": "user", "content": "Hi"}
    kwargs = rendered.openai_kwargs(q="Hi")
    assert (kwargs["seed"], kwargs["reasoning_effort"]) == (7, "low")

    diff = client.prompts.diff("support", 1, 2)
    assert (diff.from_version, diff.to_version, diff.same) == (1, 2, False)
    assert "-Answer {{ q }}" in diff.unified and '+    "seed": 7' in diff.unified
    assert [s.title for s in diff.sections] == ["Prompt", "Settings"]


def test_served_prompts_narrow_to_text_or_chat(client, acme, alice):
    from tests.sdk.world import make_prompt, unprotect

    unprotect(acme, alice)
    make_prompt(acme, alice, templates=("Hello {{ name }}",))
    prompt = client.get_prompt("greeting")
    assert isinstance(prompt, TextPrompt) and prompt.render(name="Ann") == "Hello Ann"
    assert isinstance(client.prompts.get("greeting"), TextPrompt)


def test_it_moves_tags_and_requests_promotions(client, acme, alice):
    from tests.sdk.world import make_prompt

    make_prompt(acme, alice, templates=("A {{ x }}", "B {{ x }}"), tag="staging")
    event = client.tags.move("greeting", "staging", 2, reason="try B")
    assert (event.tag_name, event.from_version, event.to_version) == ("staging", 1, 2)
    tags = {t.name: t for t in client.tags.list("greeting")}
    assert isinstance(tags["staging"], Tag) and tags["staging"].version == 2
    assert [e.to_version for e in client.tags.history("greeting", "staging")] == [2, 1]

    # production is protected: a move is refused, a promotion request is the way.
    with pytest.raises(PermissionDenied):
        client.tags.move("greeting", "production", 2)
    request = client.tags.request_promotion("greeting", 2, description="B reads better")
    assert isinstance(request, PromotionRequest)
    assert (request.tag_name, request.candidate, request.status) == ("production", 2, "open")
    assert [r.id for r in client.tags.promotions("greeting", status="open")] == [request.id]
    assert client.tags.promotion(request.id).description == "B reads better"


def test_it_creates_uploads_and_downloads_datasets(client, tmp_path):
    dataset = client.datasets.create("golden", description="hand-picked")
    assert isinstance(dataset, Dataset) and dataset.current_revision == 0
    first = client.datasets.add_rows(
        "golden",
        [{"input": {"q": "a"}, "expected": "A"}, {"input": {"q": "b"}, "expected": "B"}],
        message="two rows",
    )
    assert isinstance(first, DatasetRevision) and (first.number, first.added) == (1, 2)
    csv = tmp_path / "more.csv"
    csv.write_text("q,expected\nc,C\n")
    second = client.datasets.upload(dataset.id, csv)
    assert (second.number, second.added, second.row_count) == (2, 1, 3)

    assert [r.number for r in client.datasets.revisions("golden")] == [2, 1, 0]
    old = client.datasets.rows("golden", revision=1)
    assert sorted(r["input"]["q"] for r in old) == ["a", "b"]
    now = client.datasets.rows(dataset.id)
    assert sorted((r["input"]["q"], r["expected"]) for r in now) == [
        ("a", "A"),
        ("b", "B"),
        ("c", "C"),
    ]
    assert set(now[0]) == {"id", "input", "expected", "metadata", "split"}
    assert client.datasets.get("golden").example_count == 3


def test_it_runs_an_experiment_and_fills_a_queue(client, acme, alice, demo_echo):
    lab = make_lab(acme, alice, demo_echo)
    lab.evaluator(name="exact")
    experiment = client.experiments.create(
        "sdk run",
        dataset="questions",
        variants=[{"prompt": "qa", "version": 1}],
        evaluators=["exact"],
    )
    assert isinstance(experiment, Experiment)
    assert (experiment.status, experiment.total_cells, experiment.finished) == ("draft", 6, False)
    with pytest.raises(TimeoutError):
        client.experiments.wait(experiment.id, timeout=0)
    assert client.experiments.start(experiment.id).status == "queued"
    execute(experiment.id)  # the worker's job, run here

    seen = []
    done = client.experiments.wait(experiment.id, on_progress=seen.append, poll_interval=0.01)
    assert (done.status, done.done_count, done.progress_percent) == ("completed", 6, 100)
    assert seen and seen[-1].status == "completed"
    results = client.experiments.results(experiment.id)
    assert len(results) == 6 and all(r.output.startswith("echo: Q:") for r in results)
    assert all(r.scores[0]["passed"] for r in results)
    assert len(client.experiments.results(experiment.id, limit=2)) == 2
    comparison = client.experiments.compare(experiment.id)
    assert isinstance(comparison, Comparison) and comparison.regression is False
    assert [e.id for e in client.experiments.list(status="completed")] == [experiment.id]

    queue = client.annotations.create_queue("review", instructions="Check tone")
    filled = client.annotations.fill(queue.id, experiment_id=experiment.id)
    assert (filled.added, len(filled.item_ids)) == (6, 6)
    assert [q.total for q in client.annotations.queues()] == [6]


def test_it_queries_traces_and_their_spans(client, live_server, raw):
    tracing.configure_tracing(api_key=raw, base_url=live_server.url, schedule_delay_millis=50)
    try:

        @promptyard.trace(name="retrieve")
        def retrieve(question):
            return [question]

        @promptyard.trace(name="answer")
        def answer(question):
            return f"42 ({retrieve(question)})"

        answer("why?")
        trace_id = None

        @promptyard.trace(name="other")
        def other():
            nonlocal trace_id
            trace_id = promptyard.current_trace_id()

        other()
        assert promptyard.flush_tracing()
    finally:
        tracing.shutdown_tracing()
    traces = client.traces.list()
    assert sorted(t.name for t in traces) == ["answer", "other"]
    assert [t.name for t in client.traces.list(name="answer")] == ["answer"]
    one = client.traces.get(trace_id)
    assert isinstance(one, Trace) and [s.name for s in one.spans] == ["other"]
    answer_trace = client.traces.get(client.traces.list(name="answer")[0].trace_id)
    assert sorted(s.name for s in answer_trace.spans) == ["answer", "retrieve"]

    client.scores.create(trace_id=trace_id, name="thumbs", value=True)
    assert [(s.name, s.value) for s in client.scores.list(trace_id=trace_id)] == [("thumbs", True)]


def test_it_raises_typed_errors(client, acme, alice, api_key_for, live_server):
    with pytest.raises(NotFound) as missing:
        client.prompts.get_version("nobody", 1)
    assert missing.value.status == 404 and missing.value.code == "not_found"
    client.prompts.create("p")
    with pytest.raises(ValidationError) as invalid:
        client.prompts.create_version("p", template="x", commit_message="")
    assert invalid.value.field == "commit_message"
    with pytest.raises(ValidationError) as bad_setting:
        client.prompts.create_version(
            "p", template="x", commit_message="m", model_settings={"seed": "seven"}
        )
    assert bad_setting.value.field == "model_settings.seed"
    with pytest.raises(NotFound):
        client.datasets.get("no such dataset")
    read_only = api_key_for(acme, alice, scopes=["prompts:read"], name="ro")
    with Promptyard(api_key=read_only, base_url=live_server.url) as reader:
        with pytest.raises(PermissionDenied) as refused:
            reader.prompts.create("q")
    assert refused.value.status == 403
    client.prompts.create_version("p", template="x", commit_message="m")
    client.tags.move("p", "release", 1)
    with pytest.raises((Conflict, ValidationError)):
        client.prompts.create("p")  # the name is taken


def test_the_async_client_has_the_same_areas(live_server, raw, acme, alice, demo_echo):
    lab = make_lab(acme, alice, demo_echo)

    async def scenario():
        async with AsyncPromptyard(api_key=raw, base_url=live_server.url) as client:
            version = await client.prompts.create_version(
                "qa",
                template="Q: {{ q }}!",
                commit_message="louder",
                model_settings={"provider_id": lab.provider.pk, "model": "demo-echo"},
            )
            diff = await client.prompts.diff("qa", 1, version.number)
            rows = await client.datasets.rows("questions")
            revision = await client.datasets.add_rows("questions", [{"input": {"q": "new"}}])
            experiment = await client.experiments.create(
                "async run", dataset=lab.dataset.pk, variants=[{"prompt": "qa", "version": 2}]
            )
            try:
                await client.prompts.get_version("qa", 9)
            except NotFound as exc:
                missing = exc
            seen = []

            async def progress(e):  # an async callback is awaited
                seen.append(e.status)

            with pytest.raises(TimeoutError):
                await client.experiments.wait(experiment.id, timeout=0, on_progress=progress)
            assert seen == ["draft"]
            return version, diff, rows, revision, experiment, missing

    version, diff, rows, revision, experiment, missing = run_async(scenario)
    assert version.number == 2 and "+Q: {{ q }}!" in diff.unified
    assert len(rows) == 6 and revision.number == 2
    assert experiment.status == "draft" and experiment.total_cells == 7
    assert missing.status == 404
