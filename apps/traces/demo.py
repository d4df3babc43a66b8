"""Demo traces for `manage.py seed_demo`: the support bot answering order questions in two
deployments, each with its own code and prompt.

- production runs the first version of `support_bot.answer` with support-reply v1 (the
  production tag); one of its model calls times out;
- staging runs the second version of the function (it looks the order status up itself)
  with support-reply v3, except one worker still serving v2: the drift the Environments
  page shows (apps/prompts/demo.py records what each deployment fetched).

Each function version is the SDK's hash of a real function below (`function_version`, the
hash `@promptyard.trace` records), and each model answer is what demo-echo answers to the
rendered prompt, so the traces agree with the experiments. Idempotent: fixed trace and span
ids, stored once.

Then the demo steps other apps registered (`hooks.demo_steps`) get production's model
calls: the annotations demo queues them when its queue is still empty."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from promptyard.tracing import function_version

from apps.core.tenancy import team_scope
from apps.llm.demo_echo import answer as demo_echo_answer
from apps.prompts.models import PromptVersion
from apps.prompts.rendering import render_prompt
from apps.traces import hooks
from apps.traces.models import Span, Trace
from apps.traces.otlp import RawSpan
from apps.traces.services import spans_ingest

MS = 1_000_000
HOUR_NS = 3_600 * 1_000 * MS
FUNCTION_NAME = "support_bot.answer"
PROMPT = "support-reply"
ORDER_STATUSES = {"A-1001": "shipped", "A-1002": "delayed", "A-1003": "out for delivery"}


def _messages(version, values: dict) -> list[dict]:
    rendered = render_prompt(
        kind=version.kind,
        template=version.template,
        messages=version.messages,
        variables_schema=version.variables_schema,
        values=values,
    )
    return [{"role": "user", "content": rendered}] if isinstance(rendered, str) else rendered


def answer_v1(version, message: str, order_status: str) -> list[dict]:
    """support_bot.answer as production runs it: the shop passes the order status in."""
    return _messages(version, {"message": message, "order_status": order_status})


def answer_v2(version, message: str, order_status: str) -> list[dict]:
    """support_bot.answer on staging: it looks the status up by order number itself."""
    for number, status in ORDER_STATUSES.items():
        if number in message:
            order_status = status
    return _messages(
        version, {"message": message.strip(), "order_status": order_status or "unknown"}
    )


@dataclass(frozen=True)
class Deployment:
    environment: str
    worker: str
    function: object
    prompt_version: int


PRODUCTION = Deployment("production", "shop-web", answer_v1, 1)
STAGING = Deployment("staging", "support-worker", answer_v2, 3)
STAGING_BEHIND = Deployment("staging", "support-worker-2", answer_v2, 2)

# (deployment, customer message, order status, hours ago, failed)
CALLS = [
    (PRODUCTION, "Where is my order?", "shipped", 20, False),
    (PRODUCTION, "Why is my delivery late?", "delayed", 18, False),
    (
        PRODUCTION,
        "I ordered a coffee grinder two weeks ago and the tracking number still does not "
        "work. Can you tell me where it is?",
        "shipped",
        16,
        False,
    ),
    (PRODUCTION, "Did you receive my payment?", "awaiting payment", 14, True),
    (
        PRODUCTION,
        "I paid for express shipping but it has been five days already. What is going on "
        "with my order?",
        "delayed",
        12,
        False,
    ),
    (PRODUCTION, "Is my order out for delivery?", "out for delivery", 9, False),
    (STAGING, "Where is order A-1001?", "", 8, False),
    (
        STAGING,
        "Hello, order A-1002 was for my daughter's birthday on Saturday and it has not "
        "arrived. Will it make it in time?",
        "",
        6,
        False,
    ),
    (STAGING_BEHIND, "Has A-1003 left the warehouse yet?", "", 5, False),
    (STAGING, "Can I still cancel order A-1001?", "", 3, False),
    (STAGING_BEHIND, "My order A-1002 is late again. Why?", "", 2, False),
]


def _id(label: str, size: int) -> str:
    return hashlib.sha256(label.encode()).hexdigest()[: size * 2]


def _spans(index, call, version, start_ns) -> list[RawSpan]:
    deployment, message, status, _, failed = call
    label = f"demo-{deployment.environment}-{index}"
    trace_id = _id(label, 16)
    root_id, tool_id, llm_id = (_id(f"{label}-{part}", 8) for part in ("root", "tool", "llm"))
    resource = {
        "service.name": "support-bot",
        "service.instance.id": deployment.worker,
        "deployment.environment": deployment.environment,
    }
    messages = deployment.function(version, message, status)
    body = {"model": "demo-echo", "messages": messages, "temperature": 0.2, "max_tokens": 400}
    reply, _ = demo_echo_answer(body)
    looked_up = "lookup_order" if deployment.function is answer_v2 else "search_help_center"
    llm_attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "demo-echo",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 400,
        "gen_ai.input.messages": json.dumps(messages),
        "promptyard.prompt.name": PROMPT,
        "promptyard.prompt.version": version.number,
    }
    if not failed:
        llm_attrs.update(
            {
                "gen_ai.usage.input_tokens": sum(len(m["content"].split()) for m in messages),
                "gen_ai.usage.output_tokens": len(reply.split()),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": reply}]),
            }
        )
    # Staging's lookup is a local call; production's help-centre search is slower.
    tool_ms = 25 if deployment.function is answer_v2 else 110
    llm_ms = 180 + 7 * len(reply.split())
    end_ns = start_ns + (tool_ms + llm_ms + 40) * MS
    return [
        RawSpan(
            trace_id=trace_id,
            span_id=root_id,
            parent_span_id="",
            name="answer",
            kind="server",
            start_ns=start_ns,
            end_ns=end_ns,
            status_code="error" if failed else "ok",
            status_message="model call timed out" if failed else "",
            attributes={
                "promptyard.function.name": FUNCTION_NAME,
                "promptyard.function.version": function_version(deployment.function),
                "input.value": json.dumps({"message": message, "order_status": status}),
                **({} if failed else {"output.value": reply}),
            },
            events=[],
            resource=resource,
        ),
        RawSpan(
            trace_id=trace_id,
            span_id=tool_id,
            parent_span_id=root_id,
            name=looked_up,
            kind="internal",
            start_ns=start_ns + 10 * MS,
            end_ns=start_ns + (10 + tool_ms) * MS,
            status_code="ok",
            status_message="",
            attributes={"input.value": message, "output.value": status or "looked up"},
            events=[],
            resource=resource,
        ),
        RawSpan(
            trace_id=trace_id,
            span_id=llm_id,
            parent_span_id=root_id,
            name="chat demo-echo",
            kind="client",
            start_ns=start_ns + (20 + tool_ms) * MS,
            end_ns=end_ns - 10 * MS,
            status_code="error" if failed else "ok",
            status_message="timeout after 30 s" if failed else "",
            attributes=llm_attrs,
            events=[],
            resource=resource,
        ),
    ]


def seed(team, users):
    with team_scope(team):
        versions = {
            v.number: v for v in PromptVersion.objects.filter(prompt__name=PROMPT, number__lte=3)
        }
        if len(versions) < 3:
            return  # the prompts demo is missing: nothing to trace
        # Seeded once: a span's unique key holds its start time (the partition key), so the
        # same demo seeded again later would be new spans.
        if not Trace.objects.filter(trace_id__in=trace_ids()).exists():
            now = time.time_ns()
            spans = []
            for index, call in enumerate(CALLS):
                version = versions[call[0].prompt_version]
                spans.extend(_spans(index, call, version, now - call[3] * HOUR_NS))
            spans_ingest(team=team, actor=users["alice"], spans=spans)
        _run_demo_steps(team, users)


def trace_ids(environment: str | None = None) -> list[str]:
    return [
        _id(f"demo-{call[0].environment}-{index}", 16)
        for index, call in enumerate(CALLS)
        if environment is None or call[0].environment == environment
    ]


def _run_demo_steps(team, users):
    model_calls = (
        Span.objects.filter(trace__trace_id__in=trace_ids("production"))
        .exclude(model="")
        .select_related("trace")
        .order_by("start_ns")
    )
    for step in hooks.demo_steps():
        step(team, users, model_calls)
