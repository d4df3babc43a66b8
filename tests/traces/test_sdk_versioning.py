"""@trace versions what matters: the version covers the function and the same-package
functions it calls (a callee's change changes it; an unrelated change does not); generators
and async generators are traced until their iteration ends; values pass a redaction hook."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap

import promptyard
import pytest
from promptyard import tracing
from promptyard.versioning import closure, closure_source

from tests.async_helper import run_async
from tests.traces.helpers import spans_by_name

FILES = {
    "__init__.py": "",
    "app.py": """
        from closurepkg import helpers
        from closurepkg.text import shout

        def answer(question):
            return shout(helpers.normalize(question))

        def unrelated():
            return "never called by answer"
    """,
    "helpers.py": """
        import json

        def normalize(text):
            return json.dumps(_strip(text))

        def _strip(text):
            return text.strip()
    """,
    "text.py": """
        def shout(text):
            return text.upper()
    """,
}


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "closurepkg"
    root.mkdir()

    def write(name: str, body: str) -> None:
        (root / name).write_text(textwrap.dedent(body), encoding="utf-8")

    for name, body in FILES.items():
        write(name, body)
    monkeypatch.syspath_prepend(str(tmp_path))

    def load():
        for name in [m for m in sys.modules if m.split(".")[0] == "closurepkg"]:
            del sys.modules[name]
        importlib.invalidate_caches()
        return importlib.import_module("closurepkg.app")

    yield write, load
    for name in [m for m in sys.modules if m.split(".")[0] == "closurepkg"]:
        del sys.modules[name]


def test_the_version_covers_the_functions_it_calls_in_its_package(package):
    write, load = package
    app = load()
    names = [name for name, _ in closure(app.answer)]
    assert names == [
        "closurepkg.app.answer",
        "closurepkg.helpers._strip",
        "closurepkg.helpers.normalize",
        "closurepkg.text.shout",
    ]  # json.dumps is a library's, unrelated() is not called
    assert "def _strip" in closure_source(app.answer)
    first = tracing.function_version(app.answer)

    # A change two calls deep changes the caller's version.
    write("helpers.py", FILES["helpers.py"].replace("text.strip()", "text.strip().lower()"))
    changed = tracing.function_version(load().answer)
    assert changed != first

    # A change to a function the caller never reaches does not.
    write("app.py", FILES["app.py"].replace("never called by answer", "still never called"))
    assert tracing.function_version(load().answer) == changed


def test_a_traced_callee_is_followed_through_its_decorator(package, memory):
    write, load = package
    write(
        "text.py",
        """
        import promptyard

        @promptyard.trace
        def shout(text):
            return text.upper()
        """,
    )
    app = load()
    assert "closurepkg.text.shout" in [name for name, _ in closure(app.answer)]
    traced = promptyard.trace(app.answer)
    assert traced(" hi ") == '"HI"'
    span = spans_by_name(memory)["answer"]
    assert span.attributes["promptyard.function.version"] == tracing.function_version(app.answer)
    assert "def shout" in span.attributes["promptyard.function.source"]


def test_a_generator_is_traced_until_its_iteration_ends(memory):
    @promptyard.trace(name="stream")
    def stream(words):
        with promptyard.trace("inner"):
            pass
        for word in words:
            yield word + " "

    assert "".join(stream(["a", "b", "c"])) == "a b c "
    spans = spans_by_name(memory)
    span = spans["stream"]
    assert span.attributes["output.value"] == "a b c "
    assert spans["inner"].parent.span_id == span.context.span_id  # its code runs under it
    assert span.end_time >= spans["inner"].end_time


def test_a_generator_of_objects_records_its_last_chunk_and_errors(memory):
    @promptyard.trace(name="numbers")
    def numbers():
        yield {"n": 1}
        yield {"n": 2}

    assert list(numbers()) == [{"n": 1}, {"n": 2}]

    @promptyard.trace(name="broken")
    def broken():
        yield "x"
        raise ValueError("boom")

    with pytest.raises(ValueError):
        list(broken())
    spans = spans_by_name(memory)
    assert spans["numbers"].attributes["output.value"] == '{"n": 2}'
    assert spans["broken"].status.status_code.name == "ERROR"
    assert spans["broken"].events[0].name == "exception"


def test_an_async_generator_is_traced_until_its_iteration_ends(memory):
    @promptyard.trace(name="astream")
    async def astream(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield f"t{i}"

    async def consume():
        return [chunk async for chunk in astream(3)]

    assert run_async(consume) == ["t0", "t1", "t2"]
    span = spans_by_name(memory)["astream"]
    assert span.attributes["output.value"] == "t0t1t2"
    assert span.attributes["input.value"] == '{"n": 3}'


def test_a_consumer_that_stops_early_ends_the_span(memory):
    @promptyard.trace(name="endless")
    def endless():
        i = 0
        while True:
            yield str(i)
            i += 1

    for chunk in endless():
        if chunk == "2":
            break
    span = spans_by_name(memory)["endless"]
    assert span.attributes["output.value"] == "012"


def test_values_pass_the_redaction_hook(memory):
    tracing.configure_tracing(
        exporter=memory,
        schedule_delay_millis=50,
        redact=lambda value: (
            {k: ("***" if k == "email" else v) for k, v in value.items()}
            if isinstance(value, dict)
            else value.replace("secret", "***")
        ),
    )

    @promptyard.trace(name="greet")
    def greet(name, email):
        return f"hello {name}, your secret is safe"

    greet("ann", email="ann@example.com")

    @promptyard.trace(name="fails")
    def fails(x):
        return 42  # an int: the hook's .replace raises

    fails({"x": 1})
    spans = spans_by_name(memory)
    assert spans["greet"].attributes["input.value"] == '{"name": "ann", "email": "***"}'
    assert spans["greet"].attributes["output.value"] == "hello ann, your *** is safe"
    assert spans["fails"].attributes["output.value"] == tracing.REDACTION_FAILED
