"""Function versions on the server: the spans of @trace number a function's versions
(v1, v2, … per function per team; a callee's change is a new version), the versions page
diffs their code, and promptyard.function_version reads one back through the API."""

from __future__ import annotations

import importlib
import sys
import textwrap

import promptyard
import pytest
from promptyard import FunctionVersionNotFound, tracing

from apps.core.tenancy import team_scope
from apps.traces.models import FunctionVersion, Span

pytestmark = pytest.mark.django_db(transaction=True)

APP = """
    import promptyard
    from ragpkg.retrieval import retrieve

    @promptyard.trace(settings={"model": "demo-echo", "k": 2})
    def answer_question(question):
        return " | ".join(retrieve(question))
"""
RETRIEVAL = """
    def retrieve(question):
        return [question.upper(), "doc-1"]
"""


@pytest.fixture
def ragpkg(tmp_path, monkeypatch):
    root = tmp_path / "ragpkg"
    root.mkdir()
    (root / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))

    def load(retrieval: str):
        (root / "app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
        (root / "retrieval.py").write_text(textwrap.dedent(retrieval), encoding="utf-8")
        for name in [m for m in sys.modules if m.split(".")[0] == "ragpkg"]:
            del sys.modules[name]
        importlib.invalidate_caches()
        return importlib.import_module("ragpkg.app")

    yield load
    for name in [m for m in sys.modules if m.split(".")[0] == "ragpkg"]:
        del sys.modules[name]


@pytest.fixture
def key(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["traces:write", "traces:read"], name="app")


def test_spans_number_versions_and_the_sdk_reads_them_back(
    live_server, ragpkg, key, acme, alice, client
):
    tracing.configure_tracing(api_key=key, base_url=live_server.url, schedule_delay_millis=50)
    try:
        app = ragpkg(RETRIEVAL)
        assert app.answer_question("why?") == "WHY? | doc-1"
        assert app.answer_question("how?") == "HOW? | doc-1"  # same version: nothing new
        assert promptyard.flush_tracing()
        # The callee changes (the decorated function does not): a new version.
        app = ragpkg(RETRIEVAL.replace('"doc-1"', '"doc-1", "doc-2"'))
        assert app.answer_question("why?") == "WHY? | doc-1 | doc-2"
        assert promptyard.flush_tracing()
    finally:
        tracing.shutdown_tracing()

    with team_scope(acme):
        versions = list(FunctionVersion.objects.order_by("number"))
        assert [(v.name, v.number) for v in versions] == [
            ("ragpkg.app.answer_question", 1),
            ("ragpkg.app.answer_question", 2),
        ]
        assert versions[0].settings == {"model": "demo-echo", "k": 2}
        assert '"doc-2"' in versions[1].source and '"doc-2"' not in versions[0].source
        assert "def answer_question" in versions[1].source
        # The code is kept once, as the version, not on every span.
        spans = list(Span.objects.all())
        assert len(spans) == 3
        assert all("promptyard.function.source" not in s.attributes for s in spans)
        assert len({s.function_version for s in spans}) == 2

    v1 = promptyard.function_version("answer_question", 1, api_key=key, base_url=live_server.url)
    assert (v1.name, v1.number, v1.settings["k"]) == ("ragpkg.app.answer_question", 1, 2)
    assert "def retrieve" in v1.source and "doc-2" not in v1.source
    with pytest.raises(FunctionVersionNotFound):
        promptyard.function_version("answer_question", 9, api_key=key, base_url=live_server.url)

    client.force_login(alice)
    url = f"/t/{acme.slug}/traces/functions/ragpkg.app.answer_question/versions/"
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "v1 → v2" in body and "doc-2" in body and 'id="function-versions"' in body
    unified = client.get(url + "?mode=unified&from=1&to=2", HTTP_HX_REQUEST="true")
    assert unified.status_code == 200
    assert "diff-line-add" in unified.content.decode()
    assert "<html" not in unified.content.decode()  # the fragment only


def test_numbers_stay_gapless_when_a_version_arrives_twice(acme):
    from apps.traces.functions.fields import function_seen
    from apps.traces.functions.services import function_versions_record

    seen: dict = {}
    for version_hash, source in (("aaa", "def f(): 1"), ("bbb", "def f(): 2"), ("aaa", "x")):
        function_seen(
            seen,
            name="app.f",
            version_hash=version_hash,
            attributes={"promptyard.function.source": source},
        )
    with team_scope(acme):
        assert function_versions_record(team=acme, seen=seen) == 2
        assert function_versions_record(team=acme, seen=seen) == 0  # again: nothing new
        seen2: dict = {}
        function_seen(
            seen2,
            name="app.f",
            version_hash="ccc",
            attributes={"promptyard.function.source": "def f(): 3"},
        )
        function_versions_record(team=acme, seen=seen2)
        assert list(
            FunctionVersion.objects.order_by("number").values_list("version_hash", "number")
        ) == [("aaa", 1), ("bbb", 2), ("ccc", 3)]
