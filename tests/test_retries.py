"""Transport retries: tenacity is the only retry layer (the SDK runs with max_retries=0), so the
fake server sees exactly 1 + retries requests, every retry is counted in usage, and a failure
that outlasts the policy becomes an `EndpointError` with the usage and attempts so far."""

from __future__ import annotations

import email.utils
import time

import httpx2
import openai
import pytest

from extractor.backends.client import is_transient, retry_after
from extractor.core.errors import EndpointError, ExtractionError
from extractor.pipeline.extract import Extractor
from tests.fakeserver import (
    ARTICLE,
    KEYWORDS,
    TITLE,
    FakeServer,
    bad_request,
    card_json,
    closed_port,
    extract_from,
    fast_policy,
    hang,
    invalid_json,
    make_extractor,
    rate_limited,
    reply,
    section_answers,
    server_error,
    status,
)


def _fail(server: FakeServer, **options) -> EndpointError:
    with pytest.raises(EndpointError) as caught:
        extract_from(server, **options)
    return caught.value


def test_a_rate_limit_then_success_costs_exactly_one_retry(server: FakeServer) -> None:
    server.play([rate_limited(retry_after_ms=10), reply(card_json())])
    result = extract_from(server, max_retries=3)
    assert len(server.requests) == 2
    assert result.usage.transport_retries == 1
    assert result.card.title == TITLE
    # The retry re-sends the identical request.
    assert server.bodies[0] == server.bodies[1]


def test_a_server_error_that_persists_gives_up_after_the_policys_retries(
    server: FakeServer,
) -> None:
    server.play(server_error(500))
    error = _fail(server, max_retries=2)
    # 1 try + 2 retries: had the SDK also retried, the server would see a multiple of this.
    assert len(server.requests) == 3
    assert error.status == 500
    assert "HTTP 500" in str(error)
    assert "2 transport retries" in str(error)
    assert error.usage.transport_retries == 2
    assert error.usage.requests == 0  # no completion ever arrived
    assert error.attempts == []
    assert isinstance(error, ExtractionError)
    assert isinstance(error.__cause__, openai.InternalServerError)


def test_two_unavailable_answers_then_success(server: FakeServer) -> None:
    server.play([server_error(503), server_error(503), reply(card_json())])
    result = extract_from(server, max_retries=2)
    assert len(server.requests) == 3
    assert result.usage.transport_retries == 2
    assert result.card.title == TITLE


def test_a_bad_request_is_not_retried_and_hints_at_another_mode(server: FakeServer) -> None:
    server.play(bad_request("response_format json_schema is not supported"))
    error = _fail(server, max_retries=3, mode="json_schema")
    assert len(server.requests) == 1
    assert error.status == 400
    assert error.usage.transport_retries == 0
    message = str(error)
    assert "json_schema is not supported" in message
    assert "--mode json_object" in message


def test_a_bad_request_in_plain_json_mode_has_no_mode_hint(server: FakeServer) -> None:
    server.play(bad_request("context length exceeded"))
    error = _fail(server, max_retries=3, mode="json")
    assert len(server.requests) == 1
    assert error.status == 400
    assert "--mode" not in str(error)


def test_the_mode_hint_never_suggests_the_mode_that_just_failed(server: FakeServer) -> None:
    server.play(bad_request("response_format json_object is not supported"))
    error = _fail(server, max_retries=0, mode="json_object")
    assert error.status == 400
    assert "--mode" in str(error)
    assert "--mode json_object" not in str(error)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(server: FakeServer, code: int) -> None:
    server.play(status(code, f"client error {code}"))
    # An explicit mode: left to its default, a 400/422 switches mode (see test_modes).
    error = _fail(server, max_retries=3, mode="json_schema")
    assert len(server.requests) == 1
    assert error.status == code


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(server: FakeServer, code: int) -> None:
    server.play([status(code, headers={"retry-after-ms": "1"}), reply(card_json())])
    result = extract_from(server, max_retries=1)
    assert len(server.requests) == 2
    assert result.usage.transport_retries == 1


def test_a_hanging_endpoint_times_out_and_is_retried_once(server: FakeServer) -> None:
    server.play(hang(seconds=10))
    error = _fail(server, max_retries=1, timeout=0.5)
    assert len(server.requests) == 2
    assert error.status is None
    assert error.usage.transport_retries == 1
    assert isinstance(error.__cause__, openai.APITimeoutError)
    assert "APITimeoutError" in str(error)


def test_a_refused_connection_is_an_endpoint_error() -> None:
    port = closed_port()
    extractor = Extractor(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="sk-test",
        model="fake-model",
        retry_policy=fast_policy(1),
    )
    try:
        with pytest.raises(EndpointError) as caught:
            extractor.extract(ARTICLE)
    finally:
        extractor.close()
    error = caught.value
    assert error.status is None
    assert error.usage.transport_retries == 1
    assert isinstance(error.__cause__, openai.APIConnectionError)
    assert "APIConnectionError" in str(error)


def test_retries_in_a_sectioned_run_resend_the_same_section(server: FakeServer) -> None:
    keywords, themes, *rest = section_answers()
    server.play([keywords, server_error(503, retry_after_ms=1), themes, *rest])
    result = extract_from(server, max_retries=2, strategy="sectioned")
    assert len(server.requests) == 7
    assert server.bodies[1] == server.bodies[2]
    assert result.usage.transport_retries == 1
    assert result.usage.requests == 6
    assert result.card.keywords == KEYWORDS


async def test_async_extraction_retries_the_same_way(server: FakeServer) -> None:
    server.play([rate_limited(retry_after_ms=10), server_error(500), reply(card_json())])
    extractor = make_extractor(server, max_retries=2)
    try:
        result = await extractor.aextract(ARTICLE)
    finally:
        await extractor.aclose()
    assert len(server.requests) == 3
    assert result.usage.transport_retries == 2
    assert result.card.title == TITLE


async def test_async_extraction_gives_up_after_the_policys_retries(server: FakeServer) -> None:
    server.play(server_error(500))
    extractor = make_extractor(server, max_retries=2)
    try:
        with pytest.raises(EndpointError) as caught:
            await extractor.aextract(ARTICLE)
    finally:
        await extractor.aclose()
    assert len(server.requests) == 3
    assert caught.value.status == 500


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_an_unparseable_response_body_is_an_endpoint_error(
    server: FakeServer, content_type: str
) -> None:
    server.play(invalid_json(b'{"id": "chatcmpl-broken", "choices": [', content_type))
    with pytest.raises(ExtractionError):
        extract_from(server, max_retries=0)


# ------------------------------------------------------------------------------------------
# retry_after(): what the server asked for, in seconds.
# ------------------------------------------------------------------------------------------


def _rate_limit(headers: dict[str, str]) -> openai.RateLimitError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(429, headers=headers, request=request)
    return openai.RateLimitError("rate limited", response=response, body=None)


def test_retry_after_reads_seconds() -> None:
    assert retry_after(_rate_limit({"retry-after": "7"})) == 7.0
    assert retry_after(_rate_limit({"retry-after": "1.5"})) == 1.5


def test_retry_after_prefers_milliseconds() -> None:
    assert retry_after(_rate_limit({"retry-after-ms": "250"})) == 0.25
    assert retry_after(_rate_limit({"retry-after-ms": "10", "retry-after": "30"})) == 0.01


def test_retry_after_reads_an_http_date() -> None:
    future = email.utils.formatdate(time.time() + 120, usegmt=True)
    waited = retry_after(_rate_limit({"retry-after": future}))
    assert waited is not None
    assert 100 < waited <= 121
    past = email.utils.formatdate(time.time() - 120, usegmt=True)
    assert retry_after(_rate_limit({"retry-after": past})) == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "soon, please"},
        {"retry-after": ""},
        {"retry-after-ms": "ten"},
        {},
    ],
)
def test_retry_after_ignores_garbage(headers: dict[str, str]) -> None:
    assert retry_after(_rate_limit(headers)) is None


def test_retry_after_without_a_response_is_none() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    assert retry_after(openai.APIConnectionError(request=request)) is None
    assert retry_after(None) is None
    assert retry_after(ValueError("not an HTTP error")) is None


def test_transient_classification() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    assert is_transient(_rate_limit({}))
    assert is_transient(openai.APITimeoutError(request=request))
    bad = openai.BadRequestError("bad", response=httpx2.Response(400, request=request), body=None)
    assert not is_transient(bad)
    assert not is_transient(ValueError("x"))
