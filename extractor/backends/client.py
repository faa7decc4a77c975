"""The openai SDK clients and the one layer that retries transport failures.

The SDK's own retries are switched off (`max_retries=0`) and tenacity owns 429 / 5xx /
timeout / connection retries instead, so the two never multiply, every retry is counted in
usage, and the same policy covers the embedded model and every remote endpoint.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import openai
import pydantic
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletion
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from extractor.backends.config import Endpoint
from extractor.backends.embedded import (
    AsyncEmbeddedTransport,
    EmbeddedTransport,
    ensure_available,
)
from extractor.backends.throttle import Throttle

T = TypeVar("T")
_EMBEDDED_URL = "http://embedded.invalid/v1"


class BadResponse(Exception):
    """The endpoint answered 200 with something that is not a chat completion."""


def is_transient(error: BaseException) -> bool:
    """Failures worth the same request again: rate limits, server errors, network trouble,
    and a success response cut off or garbled on the way."""
    if isinstance(error, openai.APIConnectionError | BadResponse):  # timeouts included
        return True
    return isinstance(error, openai.APIStatusError) and (
        error.status_code in (408, 409, 429) or error.status_code >= 500
    )


def retry_after(error: BaseException | None) -> float | None:
    """Seconds the server asked us to wait, from Retry-After-Ms or Retry-After."""
    response = getattr(error, "response", None)
    if not isinstance(response, httpx2.Response):
        return None
    headers = response.headers
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _WaitRetryAfter(wait_base):
    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        hinted = retry_after(outcome.exception() if outcome else None)
        if hinted is not None:
            return min(hinted, self.cap)
        return min(float(self.fallback(retry_state)), self.cap)


@dataclass
class RetryPolicy:
    """Bounded transport retries: exponential backoff with jitter unless the server says when."""

    max_retries: int = 3
    max_wait: float = 60.0
    backoff: wait_base = field(default_factory=lambda: wait_exponential_jitter(initial=1, max=30))

    def _kwargs(self, on_retry: Callable[[RetryCallState], None]) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(is_transient),
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": _WaitRetryAfter(self.backoff, self.max_wait),
            "before_sleep": on_retry,
            "reraise": True,
        }

    def call(self, fn: Callable[[], T], on_retry: Callable[[RetryCallState], None]) -> T:
        return Retrying(**self._kwargs(on_retry))(fn)

    async def acall(
        self, fn: Callable[[], Awaitable[T]], on_retry: Callable[[RetryCallState], None]
    ) -> T:
        return await AsyncRetrying(**self._kwargs(on_retry))(fn)


def _client_options(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "api_key": endpoint.api_key or ("embedded" if endpoint.embedded else "unset"),
        "base_url": _EMBEDDED_URL if endpoint.embedded else endpoint.base_url,
        "max_retries": 0,
        "timeout": endpoint.timeout,
    }


_CHAT = "/chat/completions"


def _body(request: dict[str, Any]) -> dict[str, Any]:
    """The SDK's documented way to post a body as it is. `chat.completions.create` would
    first walk it against the SDK's typed parameters, about a millisecond of CPU per request
    (as much as the rest of the SDK's work) to transform plain JSON into itself; a test checks
    that the two bodies agree for every mode."""
    return {"body": request, "options": {"security": {"bearer_auth": True}}}


def _completion(content: bytes) -> object:
    """The response body as the SDK would build it, about 15 times faster: validated by
    pydantic-core in one pass when it is a well-formed chat completion, else built leniently
    as the SDK builds every response, for `_checked` to judge. ValueError: not JSON."""
    try:
        return ChatCompletion.model_validate_json(content)
    except pydantic.ValidationError:
        data = json.loads(content)
        return ChatCompletion.construct(**data) if isinstance(data, dict) else data


def _checked(response: object) -> ChatCompletion:
    """The SDK builds responses without validating them: check the fields the pipeline reads,
    so a garbled 200 is retried like any other transport failure instead of crashing."""
    # A bare string comes back when a server answers 200 with a non-JSON content type.
    if not isinstance(response, ChatCompletion):
        raise BadResponse(f"expected a chat completion, got {type(response).__name__}")
    if not isinstance(response.choices, list):
        raise BadResponse("the response has no list of choices")
    if response.choices:
        message = getattr(response.choices[0], "message", None)
        if message is None or not hasattr(message, "content"):
            raise BadResponse("the response's first choice has no message")
        if message.content is not None and not isinstance(message.content, str):
            raise BadResponse("the response's message content is not text")
        if message.tool_calls is not None and not isinstance(message.tool_calls, list):
            raise BadResponse("the response's tool calls are not a list")
    usage = response.usage
    counts = ("prompt_tokens", "completion_tokens")
    if usage is not None and not all(isinstance(getattr(usage, n, None), int) for n in counts):
        raise BadResponse("the response's token counts are not numbers")
    return response


class ModelClient:
    """Sends one chat completion request with transport retries; clients are made on first use."""

    def __init__(
        self,
        endpoint: Endpoint,
        policy: RetryPolicy | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        if endpoint.embedded:
            ensure_available()
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy()
        self.throttle = throttle
        self._sync: OpenAI | None = None
        self._async: AsyncOpenAI | None = None

    @property
    def sync_client(self) -> OpenAI:
        if self._sync is None:
            http = httpx2.Client(transport=EmbeddedTransport()) if self.endpoint.embedded else None
            self._sync = OpenAI(**_client_options(self.endpoint), http_client=http)
        return self._sync

    @property
    def async_client(self) -> AsyncOpenAI:
        if self._async is None:
            http = (
                httpx2.AsyncClient(transport=AsyncEmbeddedTransport())
                if self.endpoint.embedded
                else None
            )
            self._async = AsyncOpenAI(**_client_options(self.endpoint), http_client=http)
        return self._async

    def complete(
        self, request: dict[str, Any], on_retry: Callable[[RetryCallState], None]
    ) -> ChatCompletion:
        client = self.sync_client

        def send() -> ChatCompletion:
            try:
                return _checked(_completion(client.post(_CHAT, cast_to=bytes, **_body(request))))
            except ValueError as err:  # a garbled body: not JSON
                raise BadResponse(f"the response body is not valid JSON: {err}") from err

        return self.policy.call(send, on_retry)

    async def acomplete(
        self, request: dict[str, Any], on_retry: Callable[[RetryCallState], None]
    ) -> ChatCompletion:
        client = self.async_client
        throttle = self.throttle

        async def post() -> object:
            async with throttle.sending() if throttle is not None else nullcontext():
                content = await client.post(_CHAT, cast_to=bytes, **_body(request))
            return _completion(content)

        async def send() -> ChatCompletion:
            try:
                completion = _checked(await post())
            except ValueError as err:
                raise BadResponse(f"the response body is not valid JSON: {err}") from err
            except openai.RateLimitError as err:
                if throttle is not None:
                    throttle.pause(min(retry_after(err) or 1.0, self.policy.max_wait))
                raise
            if throttle is not None and completion.usage is not None:
                throttle.record(completion.usage.total_tokens)
            return completion

        return await self.policy.acall(send, on_retry)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.close()
