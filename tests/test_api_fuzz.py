"""The API answers as its OpenAPI schema says: a property-based fuzz of every operation.

Schemathesis reads /api/schema/ and, for every operation, generates requests that fit the
schema (positive) and requests that break it (negative), sends them to the app in process
(WSGI) and checks each answer: no 5xx, a documented status code, content type and headers,
a body that matches the documented schema, and invalid parameters refused (a 4xx, never a
2xx).

Both mounts are walked: /api/v1/ with an admin API key of a throwaway team that holds one
object of every kind (tests/isolation_world.py), and /api/v1/t/<team>/ as its signed-in
owner. Path ids are drawn from the generator or are the world's real ones, so answers
with bodies are checked, not only 404s. Deletes run last, on the real objects too.

Bounded for `make test`: a fixed seed (same examples every run), a few examples per
operation and mode, no shrinking.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from rest_framework.views import APIView
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests import schema_client
from tests.isolation_world import KWARG_SOURCES, build_world

wsgi_app = schema_client.wsgi_app  # fixtures
api_schema = schema_client.api_schema

# Examples per operation and mode (positive, negative) on each mount. A deeper run, e.g.
# before a release: PROMPTYARD_FUZZ_EXAMPLES=100 PROMPTYARD_FUZZ_SEED=<any int>.
KEY_EXAMPLES = int(os.environ.get("PROMPTYARD_FUZZ_EXAMPLES", 5))
SESSION_EXAMPLES = max(2, KEY_EXAMPLES // 3)
SEED = os.environ.get("PROMPTYARD_FUZZ_SEED")
SESSION_MOUNT = "/api/v1/t/{team_slug}/"


@pytest.fixture(autouse=True)
def _unthrottled(monkeypatch):
    """Rate limits are not this test's subject: at full speed it would spend a key's
    allowance and meet 429s (documented, so no failure) instead of the operations."""
    monkeypatch.setattr(APIView, "throttle_classes", [])


@pytest.fixture
def fuzz_world(acme, alice, bob, globex, api_key_for):
    world = build_world(acme, alice, bob)
    world.objects["admin_key"] = api_key_for(acme, alice, scopes=["admin"])
    return world


@pytest.fixture
def session_credentials(client, alice):
    """alice's session cookie and a CSRF token pair, as a browser would send them."""
    client.force_login(alice)
    token = "fuzz" * 8  # a CSRF secret: the cookie and the header carry the same one
    return {
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": token},
        "headers": {"X-CSRFToken": token, "Referer": "http://localhost/"},
    }


def _real_path_parameters(operation, world) -> dict:
    real = {}
    for parameter in operation.path_parameters:
        name = parameter.name
        if name == "team_slug":
            real[name] = world.team.slug
        elif name in KWARG_SOURCES:
            try:
                real[name] = KWARG_SOURCES[name](world)
            except LookupError:
                pass
    return real


def _fuzz(operation, *, mode, examples, world, fixed, call):
    """Run `examples` generated cases of `operation` through `call`; path parameters are
    generated or the world's real ones (`fixed` ones always)."""
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)
    real = {**_real_path_parameters(operation, world), **fixed}
    if real.keys() - fixed.keys():
        strategy = st.one_of(
            strategy, operation.as_strategy(generation_mode=mode, path_parameters=real)
        )

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        call(case)

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()


def _call_and_validate(case, **kwargs):
    """Send the case and run the checks. A body that breaks its schema is held to every
    check but the rejection one: DRF reads JSON scalars leniently (5 where a string is
    declared is "5"), which is no error; query and path parameters are parsed strictly
    (apps/core/query.py), so there invalid values must be refused."""
    excluded = []
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY):
        excluded.append(negative_data_rejection)
    case.call_and_validate(excluded_checks=excluded, **kwargs)


def _negatable(operation) -> bool:
    """Whether a request can break this operation's schema: any string is a valid string
    path parameter, so an operation with nothing else has no negative data."""
    if len(operation.query) or len(operation.body):
        return True
    return any(p.definition.get("schema") != {"type": "string"} for p in operation.path_parameters)


def _walk(schema, *, mount, examples, world, fixed, call):
    """Fuzz every operation under `mount`, deletes last; the failures, and how long each
    operation took."""
    operations = []
    failures = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"schema: {result.err()}")
            continue
        operation = result.ok()
        on_session_mount = operation.path.startswith(SESSION_MOUNT)
        if on_session_mount == (mount == SESSION_MOUNT):
            operations.append(operation)
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    timings = []
    for operation in operations:
        started = time.monotonic()
        modes = [GenerationMode.POSITIVE]
        if _negatable(operation):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                _fuzz(operation, mode=mode, examples=examples, world=world, fixed=fixed, call=call)
            except (Exception, BaseExceptionGroup) as exc:  # report every failing operation
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
        timings.append((round(time.monotonic() - started, 2), operation.label))
    return failures, timings, len(operations)


def _report(name, started, count, failures, timings):
    slowest = sorted(timings, reverse=True)[:5]
    print(f"\n{name}: {count} operations in {time.monotonic() - started:.1f} s; slowest {slowest}")
    assert not failures, f"{len(failures)} failing:\n\n" + "\n\n".join(failures)


def test_the_key_mounted_api_answers_as_its_schema_says(api_schema, fuzz_world):
    headers = {"Authorization": f"Bearer {fuzz_world.objects['admin_key']}"}
    started = time.monotonic()
    failures, timings, count = _walk(
        api_schema,
        mount="/api/v1/",
        examples=KEY_EXAMPLES,
        world=fuzz_world,
        fixed={},
        call=lambda case: _call_and_validate(case, headers=headers),
    )
    assert count > 80  # every operation of the API, not a filtered few
    _report("/api/v1/", started, count, failures, timings)


def test_the_session_mounted_api_answers_as_its_schema_says(
    api_schema, fuzz_world, session_credentials
):
    started = time.monotonic()
    failures, timings, count = _walk(
        api_schema,
        mount=SESSION_MOUNT,
        examples=SESSION_EXAMPLES,
        world=fuzz_world,
        fixed={"team_slug": fuzz_world.team.slug},
        call=lambda case: _call_and_validate(case, **session_credentials),
    )
    assert count > 80
    _report(SESSION_MOUNT, started, count, failures, timings)
