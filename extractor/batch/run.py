"""A batch run: many articles through one shared extractor, concurrently, resumably.

Workers take jobs from a bounded queue fed lazily from the inputs, so memory stays flat
however many articles there are. Each finished article is one line in the results file
(or the errors file), written whole and flushed at once. An article is known by its content
and the extraction config (`key`): what the results file already holds is skipped, what the
cache holds is copied, and an identical article met twice is extracted once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing_extensions import Unpack

from extractor.backends.throttle import Throttle
from extractor.batch.batchapi import BatchSender, BatchState
from extractor.batch.cache import CardCache, default_path
from extractor.batch.closest import reference
from extractor.batch.duplicates import NearDuplicates
from extractor.batch.inputs import Job, jobs
from extractor.batch.store import Store
from extractor.core.article import Article
from extractor.core.card import SignalCard
from extractor.core.errors import ConfigError, ExtractionError
from extractor.core.result import ExtractionResult
from extractor.core.text import one_line, redact
from extractor.core.usage import Usage
from extractor.pipeline.extract import Extractor, ExtractorOptions

STATUSES = ("done", "cached", "duplicate", "failed", "skipped")


@dataclass
class BatchOptions:
    """concurrency: articles in flight. rpm / tpm: optional request and token caps per minute.
    cache: the SQLite file (None: the user cache folder); use_cache False bypasses it.
    errors: the errors file (None: <output>.errors.jsonl beside the results).
    extract_near_duplicates: also extract articles flagged as the same story.
    batch_api: send first requests through the OpenAI Batch API, `batch_group` at a time,
    polling every `batch_poll` seconds; follow-up requests go live."""

    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    cache: Path | None = None
    use_cache: bool = True
    errors: Path | None = None
    extract_near_duplicates: bool = False
    batch_api: bool = False
    batch_group: int = 1000
    batch_poll: float = 30.0


@dataclass(frozen=True)
class Outcome:
    """What happened to one input; `record` is the line written (results or errors file)."""

    status: str
    record: dict[str, Any]


@dataclass
class BatchSummary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    cost: float | None = None
    seconds: float = 0.0
    rate_limit_pauses: int = 0
    repaired_bytes: int = 0
    batches: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        if outcome.status in ("done", "failed"):
            usage = outcome.record.get("usage") or {}
            for name in ("prompt_tokens", "completion_tokens", "requests", "reasks"):
                setattr(self.usage, name, getattr(self.usage, name) + int(usage.get(name, 0)))
            self.usage.transport_retries += int(usage.get("transport_retries", 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.counts,
            "usage": self.usage.as_dict(),
            "model": self.model,
            "cost_usd": None if self.cost is None else round(self.cost, 6),
            "seconds": round(self.seconds, 3),
            "rate_limit_pauses": self.rate_limit_pauses,
            "batches": self.batches,
            "warnings": self.warnings,
        }


def _fingerprint(extractor: Extractor) -> str:
    """Everything besides the article that shapes the card."""
    settings, endpoint = extractor.settings, extractor.endpoint
    config = {
        "model": endpoint.model,
        "mode": endpoint.mode,
        "strategy": settings.strategy,
        "prompt_version": extractor.prompts.version,
        "limits": [settings.limits.keywords, settings.limits.themes, settings.limits.signals],
        "temperature": settings.temperature,
        "reask_temperature": settings.reask_temperature,
        "max_tokens": settings.max_tokens,
        "max_reasks": settings.max_reasks,
        "max_article_tokens": settings.max_article_tokens,
    }
    return json.dumps(config, sort_keys=True)


def article_key(article: Article, fingerprint: str) -> str:
    digest = hashlib.sha256()
    for part in (one_line(article.text), article.title or "", fingerprint):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def result_record(job: Job, key: str, article: Article, result: ExtractionResult) -> dict[str, Any]:
    details = result.as_dict()
    return {
        "id": job.id,
        "key": key,
        "reference": reference(article.url, article.text),
        "source": job.source,
        **details,
        "attempts": len(result.attempts),
        "cached": False,
        "duplicate_of": None,
    }


def failure_record(
    job: Job, key: str, error: Exception, secret: str | None = None
) -> dict[str, Any]:
    attempts = error.attempts if isinstance(error, ExtractionError) else []
    usage = error.usage.as_dict() if isinstance(error, ExtractionError) else Usage().as_dict()
    return {
        "id": job.id,
        "key": key,
        "source": job.source,
        "error": redact(one_line(str(error)), secret) or type(error).__name__,
        "kind": type(error).__name__,
        "attempts": [
            {"section": a.section, "error": a.error, "raw": a.raw} for a in attempts
        ],
        "usage": usage,
    }


def _copy(
    record: dict[str, Any], job: Job, key: str, article: Article, status: str, original: str
) -> dict[str, Any]:
    """A finished record reused for another input: this line cost nothing."""
    card = SignalCard.model_validate(record["card"]).model_copy(update={"link": article.url})
    return {
        **record,
        "id": job.id,
        "key": key,
        "reference": reference(article.url, article.text),
        "source": job.source,
        "card": card.model_dump(),
        "usage": Usage().as_dict(),
        "seconds": 0.0,
        "cached": status == "cached",
        "duplicate_of": original if status == "duplicate" else None,
    }


class Batch:
    """One run over `inputs`, appending to `output`. Iterate `outcomes()` to drive it."""

    def __init__(
        self,
        inputs: list[str],
        output: Path,
        options: BatchOptions | None = None,
        **extractor_options: Unpack[ExtractorOptions],
    ) -> None:
        self.inputs = inputs
        self.output = output
        self.options = options or BatchOptions()
        if self.options.concurrency < 1:
            raise ValueError("concurrency must be 1 or more")
        self.throttle = Throttle(self.options.rpm, self.options.tpm)
        extractor_options["throttle"] = self.throttle
        self.extractor = Extractor(**extractor_options)
        self.fingerprint = _fingerprint(self.extractor)
        self.summary = BatchSummary(model=self.extractor.endpoint.model)
        self._in_flight: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._near: NearDuplicates  # made per run: it keeps a temporary index on disk
        self._near_futures: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._keys: dict[str, str] = {}  # id -> key of each article seen, to find its card
        self._sender: BatchSender | None = None
        if self.options.batch_api and self.extractor.endpoint.embedded:
            raise ConfigError("the Batch API needs an OpenAI endpoint, not the embedded model")

    @property
    def errors_path(self) -> Path:
        return self.options.errors or self.output.with_name(self.output.stem + ".errors.jsonl")

    async def outcomes(self) -> AsyncIterator[Outcome]:
        started = time.perf_counter()
        self._near = NearDuplicates()
        store = Store(self.output, self.errors_path)
        self.summary.repaired_bytes = store.repaired
        scratch = None
        if self.options.use_cache:
            cache = CardCache(self.options.cache or default_path())
        else:
            # Still dedupe within the run, without reading or keeping anything after it.
            scratch = tempfile.TemporaryDirectory(prefix="extractor-run-")
            cache = CardCache(Path(scratch.name) / "run.sqlite")
        workers = self.options.concurrency
        if self.options.batch_api:
            # Every article of a group waits on it at once, so a group needs that many workers.
            workers = self.options.batch_group
            self._sender = BatchSender(
                self.extractor.client.async_client,
                self.extractor.client.policy,
                BatchState(self.output.with_name(self.output.stem + ".batchapi.json")),
                self.options.batch_group,
                self.options.batch_poll,
            )
            self._sender.workers = workers
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=workers * 2)
        results: asyncio.Queue[Outcome | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                for job in jobs(self.inputs):
                    await queue.put(job)
            finally:
                for _ in range(workers):
                    await queue.put(None)

        async def work() -> None:
            try:
                while (job := await queue.get()) is not None:
                    await results.put(await self._handle(job, store, cache))
            finally:
                if self._sender is not None:
                    self._sender.worker_done()
                await results.put(None)

        tasks = [asyncio.create_task(produce())]
        tasks += [asyncio.create_task(work()) for _ in range(workers)]
        try:
            finished = 0
            while finished < workers:
                outcome = await results.get()
                if outcome is None:
                    finished += 1
                    continue
                self.summary.add(outcome)
                yield outcome
            for task in tasks:
                task.result()  # an input error in the producer surfaces here
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._sender is not None:
                await self._sender.close()
                self.summary.batches = self._sender.batches
                self.summary.warnings += self._sender.problems
            store.close()
            cache.close()
            self._near.close()
            await self.extractor.aclose()
            if scratch is not None:
                scratch.cleanup()
            self.summary.seconds = time.perf_counter() - started
            self.summary.cost = self.summary.usage.cost(self.summary.model)
            self.summary.rate_limit_pauses = self.throttle.pauses

    async def _handle(self, job: Job, store: Store, cache: CardCache) -> Outcome:
        try:
            # Only a URL waits on the network; a thread hop for the rest costs more than it saves.
            article = await asyncio.to_thread(job.load) if job.remote else job.load()
        except Exception as err:
            unread = "input:" + hashlib.sha256(job.source.encode()).hexdigest()
            record = failure_record(job, unread, err, self.extractor.endpoint.api_key)
            store.fail(record)
            return Outcome("failed", record)
        key = article_key(article, self.fingerprint)
        self._keys[job.id] = key
        if (job.id, key) in store.done:
            if not self.options.extract_near_duplicates:
                self._near.check(job.id, article.text)  # later copies of its story find it
            return Outcome("skipped", {"id": job.id, "key": key})
        store.done.add((job.id, key))  # claimed: a repeat of this input in the run is skipped
        reused = await self._reuse(job, key, article, cache)
        if reused is not None:
            store.write(reused.record)
            return reused
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        self._near_futures[job.id] = future
        try:
            result = await self._extract(article)
        except Exception as err:  # whatever went wrong, the article is listed, never lost
            record = failure_record(job, key, err, self.extractor.endpoint.api_key)
            store.done.discard((job.id, key))
            store.fail(record)
            future.set_result(None)
            return Outcome("failed", record)
        except BaseException:
            future.set_result(None)
            raise
        finally:
            self._in_flight.pop(key, None)
            self._near_futures.pop(job.id, None)
        record = result_record(job, key, article, result)
        cache.put(key, record)
        store.write(record)
        future.set_result(record)
        return Outcome("done", record)

    async def _extract(self, article: Article) -> ExtractionResult:
        if self._sender is None:
            return await self.extractor.aextract(article)
        pending = self.extractor.pending(article)
        completion = await self._sender.ask(pending)
        return await self.extractor.aresume(pending, completion)

    async def _wait(
        self, future: asyncio.Future[dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        shielded = asyncio.shield(future)
        return await (self._sender.idle_until(shielded) if self._sender else shielded)

    async def _reuse(
        self, job: Job, key: str, article: Article, cache: CardCache
    ) -> Outcome | None:
        """An identical article extracted before (this run or a cached one), or the same
        story already seen in this run: copy its card instead of paying again."""
        if key in self._in_flight:
            original = await self._wait(self._in_flight[key])
            if original is not None:
                copy = _copy(original, job, key, article, "duplicate", original["id"])
                return Outcome("duplicate", copy)
        cached = cache.get(key)
        if cached is not None:
            return Outcome("cached", _copy(cached, job, key, article, "cached", cached["id"]))
        if self.options.extract_near_duplicates:
            return None
        story = self._near.check(job.id, article.text)
        if story is None:
            return None
        if story in self._near_futures:
            original = await self._wait(self._near_futures[story])
        else:
            original = cache.get(self._keys[story]) if story in self._keys else None
        if original is None:
            return None  # the first copy failed: this one gets its own chance
        return Outcome("duplicate", _copy(original, job, key, article, "duplicate", story))


async def aiter_batch(
    inputs: list[str],
    output: Path,
    options: BatchOptions | None = None,
    **extractor_options: Unpack[ExtractorOptions],
) -> AsyncIterator[Outcome]:
    """Run a batch and yield each article's outcome as it finishes."""
    batch = Batch(inputs, output, options, **extractor_options)
    async for outcome in batch.outcomes():
        yield outcome


def extract_batch(
    inputs: list[str],
    output: Path,
    options: BatchOptions | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    **extractor_options: Unpack[ExtractorOptions],
) -> BatchSummary:
    """Run a batch to the end and return its summary; `on_outcome` sees each article."""
    batch = Batch(inputs, output, options, **extractor_options)

    async def drive() -> None:
        async for outcome in batch.outcomes():
            if on_outcome is not None:
                on_outcome(outcome)

    asyncio.run(drive())
    return batch.summary
