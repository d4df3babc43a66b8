"""The client's typed errors, from the server's error body: each status its class, the
field at fault, Retry-After honoured; reads retried, writes only when surely not done."""

from __future__ import annotations

import httpx
import pytest
from promptyard import (
    AuthenticationError,
    Conflict,
    FetchError,
    NotFound,
    PermissionDenied,
    Promptyard,
    RateLimited,
    ServerError,
    ValidationError,
)


def client_answering(*answers: httpx.Response, max_retries: int = 2):
    """A client whose server answers `answers` in order; the requests it saw."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    client = Promptyard(
        api_key="pyd_test",
        base_url="http://server.test",
        max_retries=max_retries,
        backoff=0.0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    return client, seen


def error(status: int, detail: str, code: str, errors=None, headers=None) -> httpx.Response:
    body = {"detail": detail, "code": code, **({"errors": errors} if errors else {})}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    "status, kind",
    [
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
    ],
)
def test_it_raises_the_error_of_each_status(status, kind):
    client, seen = client_answering(error(status, "no", "x"))
    with pytest.raises(kind) as caught:
        client.datasets.get(3)
    assert (caught.value.status, caught.value.detail, caught.value.code) == (status, "no", "x")
    assert len(seen) == 1  # a refusal is final


def test_a_validation_error_names_its_field():
    body = error(
        400,
        "model_settings.seed: seed must be a whole number.",
        "invalid",
        errors={"model_settings.seed": ["seed must be a whole number."]},
    )
    client, _ = client_answering(body)
    with pytest.raises(ValidationError) as caught:
        client.prompts.create_version("p", template="x", commit_message="c")
    assert caught.value.field == "model_settings.seed"
    assert caught.value.errors == {"model_settings.seed": ["seed must be a whole number."]}


def test_it_waits_out_retry_after_then_raises_rate_limited_with_it():
    limited = error(429, "slow down", "throttled", headers={"Retry-After": "0"})
    client, seen = client_answering(limited, limited, limited, max_retries=2)
    with pytest.raises(RateLimited) as caught:
        client.prompts.create("p")  # a write: a 429 did nothing, so it is retried too
    assert caught.value.retry_after == 0 and len(seen) == 3


def test_a_long_retry_after_is_not_waited_out():
    client, seen = client_answering(error(429, "later", "throttled", headers={"Retry-After": "60"}))
    with pytest.raises(RateLimited) as caught:
        client.traces.list()
    assert caught.value.retry_after == 60 and len(seen) == 1


def test_reads_are_retried_after_a_5xx_and_writes_are_not():
    ok = httpx.Response(200, json={"id": 3, "name": "golden"})
    client, seen = client_answering(error(503, "busy", "error"), ok)
    assert client.datasets.get(3).name == "golden" and len(seen) == 2

    client, seen = client_answering(error(500, "boom", "error"), ok)
    with pytest.raises(ServerError):
        client.datasets.create("golden")  # it may have been stored: not sent twice
    assert len(seen) == 1


def test_an_unreachable_server_is_a_fetch_error():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    client = Promptyard(
        api_key="pyd_test",
        base_url="http://server.test",
        max_retries=1,
        backoff=0.0,
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(FetchError, match="could not reach"):
        client.experiments.get(1)


def test_it_follows_pages_up_to_the_limit():
    def page(n, has_next):
        following = f"http://server.test/api/v1/datasets/?page={n + 1}" if has_next else None
        rows = [{"id": n * 10 + i, "name": f"d{n}{i}"} for i in range(2)]
        return httpx.Response(200, json={"count": 6, "next": following, "results": rows})

    client, seen = client_answering(page(1, True), page(2, True), page(3, False))
    assert [d.id for d in client.datasets.list()] == [10, 11, 20, 21, 30, 31]
    assert [r.url.params.get("page") for r in seen] == [None, "2", "3"]
    client, seen = client_answering(page(1, True), page(2, True))
    assert len(client.datasets.list(limit=3)) == 3 and len(seen) == 2
