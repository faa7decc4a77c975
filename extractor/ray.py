"""The Ray Data engine: extraction over a `ray.data.Dataset`, for corpora past one machine.

`extract_dataset` maps an actor pool over the dataset with `map_batches`. Each actor holds
one `Extractor` (its client, connection pool and resolved profile), a `Throttle` and a
handle on the card cache, and keeps up to `concurrency` articles of its batch in flight on
its own event loop; so a pool of `actors` actors has up to `actors * concurrency` requests
in flight, and `rpm` / `tpm` cap each actor, not the pool. Every output row is a results
record (the fields of a `results.jsonl` line) with one more field, `failure`: None for an
article that gave a card, else the errors-file record of one that did not (and `card` is
None). Rows whose (id, key) is in `done` produce no row and no request.

`run_batch` is `extractor batch --engine ray`: the same inputs, results file, errors file,
rerun skipping and Closest links as the local engine, with the extraction done by Ray.

Ray is the optional `ray` extra and is imported only by this module.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from extractor.backends.throttle import Throttle
from extractor.batch.cache import CardCache, default_path
from extractor.batch.inputs import Job, jobs
from extractor.batch.run import BatchOptions, BatchSummary, Outcome, failure_record, link
from extractor.core.errors import ConfigError
from extractor.core.record import FailureRecord, ResultRecord, article_key
from extractor.pipeline.extract import Extractor, ExtractorOptions
from extractor.store.lock import RunLock
from extractor.store.results import ResultsWriter, errors_path, read_results

if TYPE_CHECKING:
    import ray.data

_JOB_FIELDS = tuple(field.name for field in dataclasses.fields(Job))
_COLUMNS = (*ResultRecord.model_fields, "failure")


def _require_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ConfigError(
            f"{err}: the Ray engine needs pip install 'signal-extractor[ray]'"
        ) from None
    return ray


class _ExtractorActor:
    """One actor of the pool: an Extractor and a cache kept for the actor's whole life."""

    def __init__(
        self,
        extractor_options: dict[str, Any],
        cache: Path | None,
        concurrency: int,
        rpm: float | None,
        tpm: float | None,
        done: frozenset[tuple[str, str]],
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._turn = threading.Lock()
        self._extractor = Extractor(**extractor_options, throttle=Throttle(rpm, tpm))
        self._fingerprint = self._extractor.fingerprint()
        self._secret = self._extractor.profile.endpoint.api_key
        self._cache = CardCache(cache) if cache is not None else None
        self._slots = concurrency
        self._done = done

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        with self._turn:  # Ray calls from a worker thread; the loop is this actor's one
            rows = self._loop.run_until_complete(self._batch(batch.to_pylist()))
            if self._cache is not None:
                self._cache.commit()  # an actor may be stopped without warning after a batch
        return {name: [row[name] for row in rows] for name in _COLUMNS}

    async def _batch(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        slots = asyncio.Semaphore(self._slots)

        async def one(row: dict[str, Any]) -> dict[str, Any] | None:
            async with slots:
                return await self._one(_job(row))

        done = await asyncio.gather(*(one(row) for row in rows))
        return [row for row in done if row is not None]

    async def _one(self, job: Job) -> dict[str, Any] | None:
        try:
            article = await asyncio.to_thread(job.load) if job.remote else job.load()
        except Exception as err:
            unread = "input:" + hashlib.sha256(job.source.encode()).hexdigest()
            return _failed(failure_record(job, unread, err, self._secret))
        key = article_key(article, self._fingerprint)
        if (job.id, key) in self._done:
            return None
        cached = self._cache.get(key) if self._cache is not None else None
        if cached is not None:
            record = cached.copied(
                id=job.id, key=key, source=job.source, article=article, duplicate_of=None
            )
            return _row(record)
        try:
            result = await self._extractor.aextract(article)
        except Exception as err:  # listed in the errors file, never lost
            return _failed(failure_record(job, key, err, self._secret))
        record = ResultRecord.of(result, id=job.id, key=key, source=job.source, article=article)
        if self._cache is not None:
            self._cache.put(key, record)
        return _row(record)


def _job(row: dict[str, Any]) -> Job:
    """A dataset row as the job a manifest line makes; `source` defaults to the id."""
    fields: dict[str, Any] = {k: row.get(k) for k in _JOB_FIELDS if row.get(k) is not None}
    ident = str(fields.pop("id", "") or fields.get("url") or "")
    fields.setdefault("source", ident)
    if not ident:
        fields["problem"] = "a dataset row without an id"
    return Job(id=ident, **fields)


def _row(record: ResultRecord) -> dict[str, Any]:
    return {**record.model_dump(mode="json"), "failure": None}


def _failed(failure: FailureRecord) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_COLUMNS)
    row.update(id=failure.id, key=failure.key, source=failure.source)
    row["failure"] = failure.model_dump(mode="json")
    return row


def _done_set(done: Path | Collection[tuple[str, str]] | None) -> frozenset[tuple[str, str]]:
    if done is None:
        return frozenset()
    if isinstance(done, Path):
        if not done.is_file():
            return frozenset()
        return frozenset((record.id, record.key) for record in read_results(done))
    return frozenset(done)


def extract_dataset(
    dataset: ray.data.Dataset,
    *,
    actors: int = 2,
    concurrency: int = 8,
    batch_size: int | None = None,
    num_cpus: float = 0.5,
    rpm: float | None = None,
    tpm: float | None = None,
    cache: Path | None = None,
    use_cache: bool = True,
    done: Path | Collection[tuple[str, str]] | None = None,
    **extractor_options: Unpack[ExtractorOptions],
) -> ray.data.Dataset:
    """Extract every row of `dataset` (columns of a manifest line: `id` and one of `text`,
    `html`, `url`; optional `title`, `date`, `source`) and return the results records.

    actors: the pool size, each with its own Extractor. concurrency: articles in flight per
    actor. batch_size: rows handed to an actor at once (default 4 * concurrency, so the
    actor stays busy between batches). num_cpus: reserved per actor; the work is waiting on
    the network, so less than a core. rpm / tpm: caps per actor. cache: the SQLite card
    cache each actor opens (None: the user cache folder; on a cluster, each node's own).
    done: a results file, or (id, key) pairs, whose articles are skipped without a request.
    Lazy, like any Dataset: nothing runs until it is consumed.
    """
    _require_ray()
    if actors < 1 or concurrency < 1 or num_cpus < 0:
        raise ConfigError("actors and concurrency must be 1 or more, num_cpus not negative")
    if (rpm is not None and rpm <= 0) or (tpm is not None and tpm <= 0):
        raise ConfigError("rpm and tpm must be positive")
    # Made once here, so a bad option fails before Ray starts an actor.
    Extractor(**extractor_options).close()
    return dataset.map_batches(
        _ExtractorActor,
        fn_constructor_kwargs={
            "extractor_options": dict(extractor_options),
            "cache": (cache or default_path()) if use_cache else None,
            "concurrency": concurrency,
            "rpm": rpm,
            "tpm": tpm,
            "done": _done_set(done),
        },
        batch_size=batch_size or 4 * concurrency,
        batch_format="pyarrow",
        concurrency=actors,
        num_cpus=num_cpus,
    )


class RayBatch:
    """`extractor batch --engine ray`: inputs read by the driver, extracted by an actor pool,
    written by the driver to the results and errors files the local engine writes, under
    the same run lock. `address`: a running cluster (None: a local Ray started for the run,
    or the one this process already joined)."""

    def __init__(
        self,
        inputs: Sequence[str | Job],
        output: Path,
        options: BatchOptions | None = None,
        *,
        address: str | None = None,
        actors: int = 2,
        **extractor_options: Unpack[ExtractorOptions],
    ) -> None:
        self.inputs = list(inputs)
        self.output = output
        self.options = options or BatchOptions()
        if self.options.batch_api:
            raise ConfigError("the Ray engine sends requests live; drop --batch-api")
        self.address = address
        self.actors = actors
        self.extractor_options = extractor_options
        probe = Extractor(**extractor_options)
        self.summary = BatchSummary(model=probe.profile.endpoint.model)
        self.summary.mode = probe.profile.mode.value
        probe.close()
        self._ray = _require_ray()

    @property
    def errors_path(self) -> Path:
        return self.options.errors or errors_path(self.output)

    def outcomes(self) -> Iterator[Outcome]:
        """Run, yielding each article's outcome as the driver writes it."""
        started = time.perf_counter()
        lock = RunLock(self.output)
        lock.acquire()
        try:
            writer = ResultsWriter(self.output, self.errors_path)
            self.summary.repaired_bytes = writer.repaired
            try:
                yield from self._extract(writer)
            finally:
                writer.close()
            if self.options.closest:
                self.summary.closest = link(self.output, self.options, self.summary.warnings)
        finally:
            lock.release()
            self.summary.seconds = time.perf_counter() - started
            self.summary.cost = self.summary.usage.cost(self.summary.model)

    def _extract(self, writer: ResultsWriter) -> Iterator[Outcome]:
        ray = self._ray
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        rows = [dataclasses.asdict(job) for job in jobs(self.inputs)]
        if not rows:
            return
        options = self.options
        results = extract_dataset(
            ray.data.from_items(rows),
            actors=self.actors,
            concurrency=options.concurrency,
            rpm=options.rpm,
            tpm=options.tpm,
            cache=options.cache,
            use_cache=options.use_cache,
            done=writer.done,
            **self.extractor_options,
        )
        produced = 0
        for row in results.iter_rows():
            outcome = _write(dict(row), writer)
            self.summary.add(outcome)
            produced += 1
            yield outcome
        self.summary.counts["skipped"] += len(rows) - produced  # dropped by the actors as done


def _write(row: dict[str, Any], writer: ResultsWriter) -> Outcome:
    """One output row into the results or the errors file, as the local engine writes it."""
    failure = row.pop("failure")
    if failure is not None:
        record = FailureRecord.model_validate(failure)
        writer.fail(record)
        return Outcome("failed", record.id, record.key, record)
    result = ResultRecord.parse(row)
    writer.write(result)
    return Outcome("cached" if result.cached else "done", result.id, result.key, result)
