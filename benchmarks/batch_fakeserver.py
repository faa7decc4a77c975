"""A fake OpenAI-compatible endpoint for the batch benchmarks, meant to run in its own process.

It answers every POST /v1/chat/completions with a valid signal card after `--latency`
milliseconds: `quoted_card_json()` of tests/fakeserver.py, whose evidence quotes the test
article that every benchmark article carries (so the card is grounded and never re-asked),
its title numbered after the request's article ("Report N: ..."), so that no two cards embed
alike for Closest links. It prints `port N` on its first line of stdout once it listens.
It is a bare asyncio HTTP/1.1 server with keep-alive, not the ThreadingHTTPServer of the
tests: a latency is an `asyncio.sleep`, not a thread held per request, and answering costs
about 20 microseconds of CPU, so that the client side is what the benchmarks measure.

    python benchmarks/batch_fakeserver.py [--latency MS] [--port N] [--capture FILE]

`--capture FILE` writes the JSON body of the first chat completion request to FILE.
GET /stats answers {"requests": N, "busy_seconds": S, "peak_in_flight": P}: requests answered
so far, CPU seconds the server spent on them, and the most requests it held at once (waiting
out the latency, so 1 at 0 ms) since the previous /stats: what a client's concurrency really
was.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakeserver import TITLE, completion_body, quoted_card_json  # noqa: E402

_REPORT = re.compile(rb'titled \\"Report (\d+)')


def _response(status: str, payload: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    return head.encode("ascii") + payload


class FakeEndpoint:
    def __init__(self, latency: float, capture: Path | None) -> None:
        self.latency = latency
        self.capture = capture
        body = completion_body(quoted_card_json(), prompt_tokens=900, completion_tokens=250)
        self.payload = json.dumps(body).encode()
        self.title = TITLE.encode()
        self.missing = _response("404 Not Found", b'{"error": {"message": "no route"}}')
        self.requests = 0
        self.in_flight = 0
        self.peak = 0

    def answer(self, request: bytes) -> bytes:
        found = _REPORT.search(request)
        if found is None:
            return _response("200 OK", self.payload)
        numbered = self.title + b" " + found.group(1)
        return _response("200 OK", self.payload.replace(self.title, numbered, 1))

    def stats(self) -> bytes:
        busy = time.process_time()
        stats = {"requests": self.requests, "busy_seconds": busy, "peak_in_flight": self.peak}
        self.peak = self.in_flight
        payload = json.dumps(stats).encode()
        return _response("200 OK", payload)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                if method == "POST" and path.rstrip("/") == "/v1/chat/completions":
                    if self.capture is not None:
                        self.capture.write_bytes(body)
                        self.capture = None
                    self.in_flight += 1
                    self.peak = max(self.peak, self.in_flight)
                    if self.latency:
                        await asyncio.sleep(self.latency)
                    self.in_flight -= 1
                    self.requests += 1
                    writer.write(self.answer(body))
                elif method == "GET" and path == "/stats":
                    writer.write(self.stats())
                else:
                    writer.write(self.missing)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def main(latency_ms: float, port: int, capture: Path | None) -> None:
    endpoint = FakeEndpoint(latency_ms / 1000, capture)
    server = await asyncio.start_server(endpoint.serve, "127.0.0.1", port, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="milliseconds per answer")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--capture", type=Path, help="write the first request body here")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.latency, args.port, args.capture))
