"""The OpenAI Batch API (about half the price, answers within 24 h) as a way to send each
article's first request. Requests are gathered into groups, written as JSONL with a
`custom_id`, uploaded, submitted and polled; answers are joined back by `custom_id` and go
through the same validation loop as live ones. Whatever needs another request (a re-ask, the
next section, a request the batch failed) is sent live.

Each submitted batch is recorded in a state file beside the results with the custom_ids
(request hashes) it holds, so a run killed while waiting collects that batch on its rerun
instead of paying for the same requests twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from extractor.backends.client import RetryPolicy
from extractor.core.errors import ConfigError
from extractor.pipeline.extract import Pending
from extractor.store.files import atomic_write

T = TypeVar("T")
_DONE = ("completed", "failed", "expired", "cancelled")
_ENDPOINT = "/v1/chat/completions"


class BatchState:
    """Submitted, not yet collected batches and the custom_ids in each, rewritten atomically,
    so that a request already paid for is collected, never submitted again."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, list[str]]:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        if not isinstance(value, dict):
            return {}
        return {str(k): [str(c) for c in v] for k, v in value.items() if isinstance(v, list)}

    def _write(self, state: dict[str, list[str]]) -> None:
        if not state:
            self.path.unlink(missing_ok=True)
            return
        with atomic_write(self.path) as handle:
            handle.write(json.dumps(state).encode("utf-8"))

    def put(self, batch_id: str, custom_ids: list[str]) -> None:
        self._write({**self.read(), batch_id: custom_ids})

    def drop(self, batch_id: str) -> None:
        state = self.read()
        state.pop(batch_id, None)
        self._write(state)


def custom_id(request: dict[str, Any]) -> str:
    """The same request always gets the same id, so a rerun recognises what it submitted."""
    body = json.dumps(request, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(body).hexdigest()[:32]


class BatchSender:
    """Collects pending requests and answers them through the Batch API, a group at a time.

    A group is sent when it is full, or when every worker that could still add to it is
    waiting on it (`idle`), so a run never stalls on a half-full group."""

    def __init__(
        self,
        client: AsyncOpenAI,
        policy: RetryPolicy,
        state: BatchState,
        group_size: int,
        poll_seconds: float,
    ) -> None:
        if group_size < 1 or poll_seconds <= 0:
            raise ConfigError("the Batch API needs a group size of 1 or more and a poll interval")
        self._client = client
        self._policy = policy
        self._state = state
        self._size = group_size
        self._poll = poll_seconds
        self._group: list[tuple[Pending, asyncio.Future[ChatCompletion | None]]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.workers = 0  # live workers that may still add a request
        self.batches = 0
        self._waiting: set[asyncio.Future[Any]] = set()
        self._collected: dict[str, ChatCompletion] = {}
        self.problems: list[str] = []

    async def ask(self, pending: Pending) -> ChatCompletion | None:
        """The batch's answer to `pending.request`, or None to send it live."""
        known = self._collected.pop(custom_id(pending.request), None)
        if known is not None:
            return known
        future: asyncio.Future[ChatCompletion | None] = asyncio.get_running_loop().create_future()
        self._group.append((pending, future))
        return await self.idle_until(future)

    async def idle_until(self, future: asyncio.Future[T]) -> T:
        """Wait without holding a group back: a worker waiting here (on the batch, or on a
        duplicate's original) can add nothing more to it until `future` is done."""
        self._waiting.add(future)
        self._maybe_send()
        try:
            return await future
        finally:
            self._waiting.discard(future)

    def worker_done(self) -> None:
        self.workers -= 1
        self._maybe_send()

    def _maybe_send(self) -> None:
        # A resolved future's worker is about to run again, so it does not count as idle.
        idle = sum(1 for future in self._waiting if not future.done())
        if self._group and (len(self._group) >= self._size or idle >= self.workers):
            group, self._group = self._group, []
            task = asyncio.create_task(self._send(group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(
        self, group: list[tuple[Pending, asyncio.Future[ChatCompletion | None]]]
    ) -> None:
        ids = [custom_id(pending.request) for pending, _ in group]
        submitted = {cid: bid for bid, cids in self._state.read().items() for cid in cids}
        batches = {submitted[cid] for cid in ids if cid in submitted}
        pairs = zip(ids, group, strict=True)
        new = {cid: pending.request for cid, (pending, _) in pairs if cid not in submitted}
        answers: dict[str, ChatCompletion] = {}
        try:
            if new:
                batches.add(await self._create(new))
            for batch_id in batches:
                answers.update(await self._collect(batch_id))
        except Exception as err:  # what the batches did not answer goes live
            self.problems.append(f"Batch API: {type(err).__name__}: {err}; sent live instead")
        for cid, (_, future) in zip(ids, group, strict=True):
            if not future.done():
                future.set_result(answers.pop(cid, None))
        self._collected.update(answers)  # paid-for answers of articles not asked for yet

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> T:  # tenacity retries only coroutine functions asynchronously
            return await make()

        return await self._policy.acall(attempt, lambda _state: None)

    async def _create(self, requests: dict[str, dict[str, Any]]) -> str:
        lines = [
            json.dumps({"custom_id": cid, "method": "POST", "url": _ENDPOINT, "body": body})
            for cid, body in sorted(requests.items())
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        uploaded = await self._call(
            lambda: self._client.files.create(file=("requests.jsonl", data), purpose="batch")
        )
        created = await self._call(
            lambda: self._client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
            )
        )
        self._state.put(created.id, sorted(requests))
        self.batches += 1
        return created.id

    async def _collect(self, batch_id: str) -> dict[str, ChatCompletion]:
        batch = await self._call(lambda: self._client.batches.retrieve(batch_id))
        while batch.status not in _DONE:
            await asyncio.sleep(self._poll)
            batch = await self._call(lambda: self._client.batches.retrieve(batch_id))
        answers: dict[str, ChatCompletion] = {}
        if batch.output_file_id:
            output_id = batch.output_file_id
            content = await self._call(lambda: self._client.files.content(output_id))
            answers = _answers(content.text)
        self._state.drop(batch_id)
        return answers

    async def close(self) -> None:
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


def _answers(text: str) -> dict[str, ChatCompletion]:
    """Successful answers by custom_id; errors and unreadable lines are left out, and their
    requests go live."""
    found: dict[str, ChatCompletion] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            response = entry.get("response") or {}
            if response.get("status_code") != 200:
                continue
            found[str(entry["custom_id"])] = ChatCompletion.model_validate(response["body"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError):
            continue
    return found
