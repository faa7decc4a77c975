"""Extraction in worker processes, for runs whose CPU per article outgrows one core.

Against a self-hosted server that answers in milliseconds, a run is bound by the CPU it
spends per article (building requests, the SDK, checking and grounding answers), and one
event loop holds one core. The run itself keeps what must be decided in one place (reading,
keys, near-duplicates, the cache, the results file); each worker holds its own `Extractor`
(client, connections, event loop, throttle) and sends back each article's finished record.

Workers are forked when the run starts, before it opens its files or starts a thread, so
they share its imports and start in milliseconds. Each talks to the run over a socket pair
with length-prefixed pickles, never blocking either side's event loop. A worker that dies
fails the articles it held, with the reason, and the run goes on with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from extractor.backends.throttle import Throttle
from extractor.batch.inputs import Job
from extractor.core.article import Article
from extractor.core.record import FailureRecord, ResultRecord
from extractor.core.result import ExtractionResult
from extractor.pipeline.document import with_pages
from extractor.pipeline.extract import Extractor

ARTICLES_PER_WORKER = 16  # in flight; fewer and one event loop keeps up on its own
# Articles a worker holds per request it may have in flight: while its requests wait on the
# network, the next articles are already sent over and their prompts rendered, so a slot
# freed is a request sent, not a round trip through the run's process first.
HELD_PER_REQUEST = 2
_HEADER = struct.Struct("!I")


def available() -> bool:
    """Forking is what makes workers cheap; where it is missing the run stays in one process."""
    return "fork" in multiprocessing.get_all_start_methods()


def default_count(concurrency: int) -> int:
    """One worker per `ARTICLES_PER_WORKER` articles in flight, at most one per core; 0
    (extract in the run's own process) when fewer than two would run, or when the process
    has other threads, which a fork would copy mid-step (a caller's web server, say)."""
    count = min(os.cpu_count() or 1, concurrency // ARTICLES_PER_WORKER)
    alone = threading.active_count() == 1
    return count if count >= 2 and alone and available() else 0


@dataclass(frozen=True)
class Finished:
    """One article's end in a worker: its record and the JSON line that record is."""

    record: ResultRecord | FailureRecord
    line: str

    @classmethod
    def of(
        cls,
        outcome: ExtractionResult | Exception,
        *,
        id: str,
        key: str,
        source: str,
        article: Article,
        secret: str | None = None,
    ) -> Finished:
        """The card's record, or the failure's when `outcome` is the error."""
        record: ResultRecord | FailureRecord
        if isinstance(outcome, Exception):
            record = FailureRecord.of_error(outcome, id=id, key=key, source=source, secret=secret)
        else:
            record = ResultRecord.of(outcome, id=id, key=key, source=source, article=article)
        return cls(record, record.to_json())


@dataclass(frozen=True)
class _Ending:
    """A worker's last message: what its extractor noted and the rate-limit pauses it took."""

    notes: list[str]
    pauses: int


async def _send(writer: asyncio.StreamWriter, message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_HEADER.pack(len(payload)) + payload)
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> Any:
    """The next message, or None at the end of the stream (or a reset: a peer killed
    with bytes unread)."""
    try:
        header = await reader.readexactly(_HEADER.size)
        return pickle.loads(await reader.readexactly(_HEADER.unpack(header)[0]))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class Worker:
    """The run's side of one worker process."""

    def __init__(self, process: multiprocessing.process.BaseProcess, sock: socket.socket):
        self.process = process
        self._socket = sock
        self._reader: asyncio.StreamReader
        self._writer: asyncio.StreamWriter
        self._pending: dict[int, asyncio.Future[Finished]] = {}
        self._listener: asyncio.Task[None] | None = None
        self.ending: _Ending | None = None
        self._lost: str | None = None

    @property
    def load(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        return self._lost is None

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_unix_connection(sock=self._socket)
        self._listener = asyncio.create_task(self._listen())

    async def extract(self, ticket: int, job: Job, key: str, article: Article) -> Finished:
        if self._lost is not None:
            raise WorkerLost(self._lost)
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._pending[ticket] = future
        try:
            await _send(self._writer, (ticket, job.id, key, job.source, article))
            return await future
        finally:
            self._pending.pop(ticket, None)

    async def _listen(self) -> None:
        try:
            while (message := await _receive(self._reader)) is not None:
                if isinstance(message, _Ending):
                    self.ending = message
                    continue
                ticket, finished = message
                future = self._pending.get(ticket)
                if future is not None and not future.done():
                    future.set_result(finished)
        finally:
            # Whatever ended the stream, nothing more is sent to this worker, and nothing
            # it held is waited for.
            self._lost = "its worker process ended"
            self._writer.close()  # a worker still running sees the end, and stops
            await asyncio.to_thread(self.process.join)
            self._lost = f"its worker process ended (exit code {self.process.exitcode})"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(WorkerLost(self._lost))

    async def finish(self) -> None:
        """Ask the worker to finish what it holds and stop; wait until it has."""
        if self._lost is None:
            with contextlib.suppress(OSError):  # it is gone already
                await _send(self._writer, None)
        if self._listener is not None:
            await self._listener


class WorkerLost(RuntimeError):
    """The worker process holding an article ended before it answered."""


class Workers:
    """A pool of worker processes; `extract` sends an article to the least busy one."""

    def __init__(self, workers: list[Worker], concurrency: int) -> None:
        self._workers = workers
        self._tickets = 0
        self.capacity = concurrency * HELD_PER_REQUEST  # articles the run hands them at once

    @classmethod
    async def start(
        cls,
        count: int,
        extractor_options: Mapping[str, object],
        concurrency: int,
        rpm: float | None,
        tpm: float | None,
    ) -> Workers:
        """Fork `count` workers; requests in flight and rate caps are shared out evenly among
        them."""
        context = multiprocessing.get_context("fork")
        share_rpm = None if rpm is None else rpm / count
        share_tpm = None if tpm is None else tpm / count
        workers: list[Worker] = []
        ours: list[socket.socket] = []
        sys.stdout.flush()  # or a child would write the run's buffered output again
        sys.stderr.flush()
        for index in range(count):
            in_flight = concurrency // count + (index < concurrency % count)
            mine, theirs = socket.socketpair()
            ours.append(mine)
            process = context.Process(
                target=_serve,
                args=(
                    theirs,
                    list(ours),
                    dict(extractor_options),
                    Throttle(share_rpm, share_tpm, in_flight),
                ),
                daemon=True,
                name="extractor-worker",
            )
            process.start()
            theirs.close()
            worker = Worker(process, mine)
            await worker.connect()
            workers.append(worker)
        return cls(workers, concurrency)

    async def extract(self, job: Job, key: str, article: Article) -> Finished:
        """The article's record from the least busy worker still alive."""
        alive = [worker for worker in self._workers if worker.alive]
        if not alive:
            raise WorkerLost("every worker process has ended")
        self._tickets += 1
        worker = min(alive, key=lambda w: w.load)
        return await worker.extract(self._tickets, job, key, article)

    async def kill(self) -> tuple[list[str], int]:
        """Stop every worker now, whatever it holds."""
        for worker in self._workers:
            worker.process.kill()
        return await self.finish()

    async def finish(self) -> tuple[list[str], int]:
        """Stop every worker once it has answered what it holds; their extractors' notes
        (each once) and rate-limit pauses."""
        await asyncio.gather(*(worker.finish() for worker in self._workers))
        notes: list[str] = []
        pauses = 0
        for worker in self._workers:
            if worker.ending is not None:
                notes += [note for note in worker.ending.notes if note not in notes]
                pauses += worker.ending.pauses
        return notes, pauses


def _serve(
    sock: socket.socket,
    runs: list[socket.socket],
    extractor_options: dict[str, Any],
    throttle: Throttle,
) -> None:
    """A worker process's life: extract what the run sends until it says stop."""
    for end in runs:  # the run's ends, this worker's and its elder siblings': only the
        end.close()  # run may hold them, or a worker would not see the run end
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle
    asyncio.events._set_running_loop(None)  # forked from inside the run's event loop
    asyncio.run(_serve_async(sock, extractor_options, throttle))


async def _serve_async(
    sock: socket.socket, extractor_options: dict[str, Any], throttle: Throttle
) -> None:
    extractor = Extractor(**extractor_options, throttle=throttle)
    secret = extractor.profile.endpoint.api_key
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    tasks: set[asyncio.Task[None]] = set()

    async def one(ticket: int, id: str, key: str, source: str, article: Article) -> None:
        outcome: ExtractionResult | Exception
        try:
            outcome = with_pages(await extractor.aextract(article), article)
        except Exception as err:  # whatever went wrong, the run lists the article
            outcome = err
        done = Finished.of(outcome, id=id, key=key, source=source, article=article, secret=secret)
        await _send(writer, (ticket, done))

    try:
        while (message := await _receive(reader)) is not None:
            task = asyncio.create_task(one(*message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        await _send(writer, _Ending(extractor.notes, throttle.pauses))
    finally:
        await extractor.aclose()
        writer.close()
