"""Demo traces for `manage.py seed_demo`: a few agent runs with model calls linked to a
prompt version, one failing. Idempotent: fixed trace and span ids, stored once.

Then the demo steps other apps registered (`hooks.demo_steps`) get the model calls: the
annotations demo, seeded before this one, queues them for review."""

from __future__ import annotations

import hashlib
import json
import time

from apps.core.tenancy import team_scope
from apps.prompts.models import PromptVersion
from apps.traces import hooks
from apps.traces.models import Span
from apps.traces.otlp import RawSpan
from apps.traces.services import spans_ingest

MS = 1_000_000


def _id(label: str, size: int) -> str:
    return hashlib.sha256(label.encode()).hexdigest()[: size * 2]


def _prompt(team):
    version = PromptVersion.objects.select_related("prompt").order_by("-created_at").first()
    return (version.prompt.name, version.number) if version else ("", None)


QUESTIONS = [
    ("How do I reset my password?", "Open Settings → Security and choose Reset password."),
    ("Can I export my data?", "Yes: Settings → Export gives you a JSON archive."),
    ("Why was I charged twice?", None),  # fails: the model call times out
    ("Do you support SSO?", "SSO with SAML is available on the Team plan."),
]


def _run(index, question, answer, prompt_name, prompt_number, start_ns):
    trace_id = _id(f"demo-trace-{index}", 16)
    root_id = _id(f"demo-root-{index}", 8)
    llm_id = _id(f"demo-llm-{index}", 8)
    tool_id = _id(f"demo-tool-{index}", 8)
    resource = {"service.name": "support-bot", "deployment.environment": "demo"}
    function = {
        "promptyard.function.name": "support_bot.answer",
        "promptyard.function.version": "3f2a9c1d0b7e",
    }
    failed = answer is None
    llm_attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "demo-echo",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "system", "content": "You answer support questions briefly."},
                {"role": "user", "content": question},
            ]
        ),
    }
    if prompt_name:
        llm_attrs.update(
            {"promptyard.prompt.name": prompt_name, "promptyard.prompt.version": prompt_number}
        )
    if not failed:
        llm_attrs.update(
            {
                "gen_ai.usage.input_tokens": 40 + index * 3,
                "gen_ai.usage.output_tokens": 18 + index,
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": answer}]),
            }
        )
    return [
        RawSpan(
            trace_id=trace_id,
            span_id=root_id,
            parent_span_id="",
            name="support_bot.answer",
            kind="server",
            start_ns=start_ns,
            end_ns=start_ns + 480 * MS,
            status_code="error" if failed else "ok",
            status_message="model call timed out" if failed else "",
            attributes={
                **function,
                "input.value": json.dumps({"question": question}),
                **({} if failed else {"output.value": answer}),
            },
            events=[],
            resource=resource,
        ),
        RawSpan(
            trace_id=trace_id,
            span_id=tool_id,
            parent_span_id=root_id,
            name="search_help_center",
            kind="internal",
            start_ns=start_ns + 10 * MS,
            end_ns=start_ns + 120 * MS,
            status_code="ok",
            status_message="",
            attributes={"input.value": question, "output.value": "3 articles"},
            events=[],
            resource=resource,
        ),
        RawSpan(
            trace_id=trace_id,
            span_id=llm_id,
            parent_span_id=root_id,
            name="chat demo-echo",
            kind="client",
            start_ns=start_ns + 130 * MS,
            end_ns=start_ns + 470 * MS,
            status_code="error" if failed else "ok",
            status_message="timeout after 30 s" if failed else "",
            attributes=llm_attrs,
            events=[],
            resource=resource,
        ),
    ]


def seed(team, users):
    with team_scope(team):
        prompt_name, prompt_number = _prompt(team)
        now = time.time_ns()
        spans = []
        for index, (question, answer) in enumerate(QUESTIONS):
            start = now - (len(QUESTIONS) - index) * 3_600 * 1_000 * MS
            spans.extend(_run(index, question, answer, prompt_name, prompt_number, start))
        spans_ingest(team=team, actor=users["alice"], spans=spans)
        _run_demo_steps(team, users)


def _run_demo_steps(team, users):
    demo_traces = [_id(f"demo-trace-{i}", 16) for i in range(len(QUESTIONS))]
    model_calls = (
        Span.objects.filter(trace__trace_id__in=demo_traces)
        .exclude(model="")
        .select_related("trace")
        .order_by("start_ns")
    )
    for step in hooks.demo_steps():
        step(team, users, model_calls)
