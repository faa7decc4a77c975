"""A scriptable fake OpenAI-compatible chat completions server on 127.0.0.1, for tests.

Not a test module. Use it as a context manager:

    with FakeServer([rate_limited(), reply(card_json())]) as server:
        result = make_extractor(server).extract(ARTICLE)
    assert len(server.requests) == 2

The script is a list of steps consumed in order (the last one repeats once reached) or a
callable taking the parsed request body and returning a step; a plain string stands for a
completion with that content. Every request is recorded with
its path, headers and parsed JSON body before it is answered.

Faults a real endpoint or network produces are steps too: `rate_limited`, `server_error`,
`hang`, `invalid_json`, `refusal`, `truncated`, `connection_reset` (closed without an
answer), `reset_mid_body` (closed halfway through the answer), `missing_choices`,
`content_not_text`, `usage_as_text`, `cut_answer` and `long_answer`.

GET requests serve `server.pages`: `server.pages[path] = (status, headers, body)`, where the
body is bytes, text, an iterable of byte chunks or a function returning one (sent without a
content length, as it comes: see `endless` and `trickle`), or `server.pages[path] = hang(s)`
to answer nothing. Other paths answer 404.

The tests fetch pages from servers on 127.0.0.1, which the extractor refuses unless
EXTRACTOR_ALLOW_PRIVATE_URLS is set: conftest.py sets it for every test, and tests of the
refusal remove it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import tenacity

from extractor.backends.client import RetryPolicy
from extractor.backends.modes import TOOL_NAME
from extractor.core.result import ExtractionResult
from extractor.pipeline.extract import Extractor
from extractor.pipeline.ground import sentences, terms
from extractor.pipeline.validate import Invalid, decode_json

# --------------------------------------------------------------------------------------------
# The article and answers that validate against it.
# --------------------------------------------------------------------------------------------

ARTICLE_TITLE = "Solar Microgrids Reach Remote Villages"
ARTICLE = f"""{ARTICLE_TITLE}

The Kenyan energy ministry announced on Monday that 400 villages in Turkana County now run on \
solar microgrids built with battery storage from a Nairobi start-up. The programme, funded by \
the African Development Bank, replaced diesel generators that cost households a third of their \
income. Local cooperatives own the grids and set tariffs through mobile money payments. \
Officials said the model will expand to Somalia and Ethiopia by 2027. Critics warned that \
battery recycling capacity in the region remains small."""

TITLE = "Solar Microgrids Power Turkana Villages"
SUMMARY_SENTENCES = [
    "Kenya says 400 villages in Turkana County now run on solar microgrids.",
    "The African Development Bank funded the programme, which replaced diesel generators.",
    "Local cooperatives own the grids and collect tariffs through mobile money.",
]
SUMMARY = " ".join(SUMMARY_SENTENCES)
KEYWORDS = [
    "Kenya",
    "Turkana County",
    "solar microgrids",
    "African Development Bank",
    "mobile money",
    "battery storage",
    "diesel generators",
    "Nairobi",
    "cooperatives",
    "battery recycling",
]
THEMES = ["Renewable Energy", "Rural Development", "Energy Access"]
# A row whose evidence is this is answered with the article sentence (or its number, when the
# request numbers them) that shares most words with the row: a model that quotes its source.
CITE = "@cite"
SIGNALS = [
    {
        "evidence": CITE,
        "signal": "Villages switch to cooperative solar microgrids",
        "change": "Diesel generators to community-owned solar",
        "horizon_10y": "Off-grid regions powered mainly by local renewables",
        "driving_force": "Falling solar and battery costs",
    },
    {
        "evidence": CITE,
        "signal": "Development bank funds rural electrification",
        "change": "State grids to financed local grids",
        "horizon_10y": "Blended finance as the default for rural power",
        "driving_force": "Energy access targets",
    },
    {
        "evidence": CITE,
        "signal": "Tariffs collected through mobile money",
        "change": "Cash billing to digital micro-payments",
        "horizon_10y": "Pay-as-you-go utilities across the region",
        "driving_force": "Mobile payment adoption",
    },
]


_VOCABULARY = sorted(set(ARTICLE.replace(".", " ").replace(",", " ").split()))


def distinct_text(seed: int, prefix: str = "story") -> str:
    """A distinct article per seed: random word order, so no two share a run of words and
    near-duplicate detection merges none of them."""
    rng = random.Random(f"{prefix}-{seed}")
    sentences = [" ".join(rng.choices(_VOCABULARY, k=14)).capitalize() + "." for _ in range(8)]
    return f"Headline number {seed} about {prefix}\n\n" + " ".join(sentences)


def distinct_articles(folder: Path, n: int, prefix: str = "story") -> Path:
    """`n` distinct article files named `<prefix>-0000.txt` and on."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{prefix}-{i:04d}.txt").write_text(distinct_text(i, prefix))
    return folder


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def card_dict(**overrides: Any) -> dict[str, Any]:
    """A valid full card as a dict; keyword arguments replace fields."""
    card: dict[str, Any] = {
        "title": TITLE,
        "summary": SUMMARY,
        "keywords": list(KEYWORDS),
        "themes": list(THEMES),
        "signals": [dict(row) for row in SIGNALS],
    }
    card.update(overrides)
    return card


def card_json(**overrides: Any) -> str:
    """A valid full card as the JSON string a model would answer."""
    return json.dumps(card_dict(**overrides))


def quoted_card_json(text: str = ARTICLE, **overrides: Any) -> str:
    """`card_json` with the rows' evidence already quoted from `text`, for answers that do
    not pass through the fake server."""
    card = card_dict(**overrides)
    for row, evidence in zip(card["signals"], cite_rows(card, text), strict=True):
        row["evidence"] = evidence
    return json.dumps(card)


def cells(row: dict[str, Any]) -> dict[str, Any]:
    """A signal row without its evidence: what the seed format keeps."""
    return {key: value for key, value in row.items() if key != "evidence"}


# The ARTICLE sentences (numbered from its headline, 1) each of SIGNALS comes from.
SIGNAL_SENTENCES = [2, 3, 4]


def section_answers() -> list[str]:
    """The answers of a clean 'sectioned' run behind an enforced schema, in the order they are
    asked: keywords, themes, the sentences that carry signals, then one row per sentence. No
    title (the article's own headline is the card's) and no summary (the picked sentences)."""
    return [
        json.dumps({"keywords": list(KEYWORDS)}),
        json.dumps({"themes": list(THEMES)}),
        json.dumps({"sentences": SIGNAL_SENTENCES}),
        *(json.dumps(cells(row)) for row in SIGNALS),
    ]


# --------------------------------------------------------------------------------------------
# Steps: what the server answers to one request.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    kind: str  # "completion", "status", "hang", "raw", "reset" or "reset_mid_body"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # a JSON-able value, or bytes for "raw"
    seconds: float = 0.0


def completion_body(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    refusal: str | None = None,
    finish_reason: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    model: str = "fake-model",
) -> dict[str, Any]:
    """A chat.completion JSON object as an OpenAI-compatible server returns it."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def reply(
    content: str | None,
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
) -> Step:
    """A valid completion whose message content is `content`."""
    return Step(
        "completion",
        body=completion_body(
            content,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        ),
    )


def truncated(content: str, **usage: int) -> Step:
    """A completion cut off by max_tokens (finish_reason 'length')."""
    return reply(content, finish_reason="length", **usage)


def tool_call(
    arguments: str, *, name: str = TOOL_NAME, prompt_tokens: int = 10, completion_tokens: int = 5
) -> Step:
    """A completion that calls the function `name` with the JSON `arguments` string."""
    calls = [
        {
            "id": "call_fake_1",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
    ]
    return Step(
        "completion",
        body=completion_body(
            None,
            tool_calls=calls,
            finish_reason="tool_calls",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        ),
    )


def refusal(text: str) -> Step:
    """A refusal: message.refusal set and content null."""
    return Step("completion", body=completion_body(None, refusal=text))


def status(
    code: int,
    message: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    error_type: str = "server_error",
) -> Step:
    """An HTTP error with an OpenAI-style error JSON body."""
    error = {"message": message or f"fake error {code}", "type": error_type, "code": None}
    return Step("status", status=code, headers=dict(headers or {}), body={"error": error})


def rate_limited(retry_after_ms: int = 10) -> Step:
    return status(
        429,
        "Rate limit reached",
        headers={"retry-after-ms": str(retry_after_ms)},
        error_type="rate_limit_error",
    )


def server_error(code: int = 500, retry_after_ms: int | None = None) -> Step:
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    return status(code, f"upstream failure {code}", headers=headers)


def bad_request(message: str = "response_format json_schema is not supported") -> Step:
    return status(400, message, error_type="invalid_request_error")


def hang(seconds: float = 5.0) -> Step:
    """Answer nothing for `seconds` (or until the server stops), longer than a client timeout."""
    return Step("hang", seconds=seconds)


def invalid_json(
    body: bytes = b'{"id": "chatcmpl-broken", "choices": [', content_type: str = "application/json"
) -> Step:
    """A 200 response whose body is not valid JSON."""
    return Step("raw", body=body, headers={"content-type": content_type})


def connection_reset() -> Step:
    """Close the connection at once (TCP reset) without sending any response."""
    return Step("reset")


def reset_mid_body(content: str | None = None, fraction: float = 0.5) -> Step:
    """Send the status line, headers and the first `fraction` of a completion's JSON (by
    default a valid card), then reset the connection."""
    return Step("reset_mid_body", body=completion_body(content or card_json()), seconds=fraction)


def malformed(body: Any) -> Step:
    """A 200 response with `body` as its JSON, whatever its shape."""
    return Step("completion", body=body)


def missing_choices() -> Step:
    """A chat.completion object without its 'choices' list."""
    body = completion_body(card_json())
    del body["choices"]
    return malformed(body)


def content_not_text(value: Any = 42) -> Step:
    """A completion whose message content is not a string (a number by default)."""
    body = completion_body(None)
    body["choices"][0]["message"]["content"] = value
    return malformed(body)


def usage_as_text(content: str | None = None) -> Step:
    """A completion (a valid card by default) whose usage counts are strings, not integers."""
    body = completion_body(content or card_json())
    body["usage"] = {"prompt_tokens": "10", "completion_tokens": "5", "total_tokens": "15"}
    return malformed(body)


def cut_answer(characters: int = 200) -> Step:
    """finish_reason 'length' with the card's JSON cut after `characters`: max_tokens hit."""
    return truncated(card_json()[:characters], completion_tokens=3000)


def long_answer(size: int = 1_000_000) -> Step:
    """A completion of `size` characters of prose (about 1 MB by default), not a card."""
    words = "the grid operator said the storage market keeps growing across the region "
    return reply((words * (size // len(words) + 1))[:size], completion_tokens=size // 4)


Page = tuple[int, dict[str, str], "bytes | str | Iterable[bytes] | Callable[[], Iterable[bytes]]"]


def endless(chunk: bytes = b"word " * 1000) -> Callable[[], Iterator[bytes]]:
    """A page body that never ends (until the client hangs up or the server stops)."""

    def body() -> Iterator[bytes]:
        while True:
            yield chunk

    return body


def trickle(chunk: bytes = b"word ", every: float = 0.1) -> Callable[[], Iterator[bytes]]:
    """A page body that never ends and sends one small chunk every `every` seconds."""

    def body() -> Iterator[bytes]:
        while True:
            time.sleep(every)
            yield chunk

    return body


Script = Sequence[Step | str] | Callable[[dict[str, Any]], Step | str]


def word_vector(text: str, dims: int = 64) -> list[float]:
    """A deterministic bag-of-words embedding: texts sharing words point the same way."""
    vector = [0.0] * dims
    for word in text.lower().split():
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dims] += 1.0
    return vector


# What the reliability tests did in this session; conftest.py prints it at the end and
# RELIABILITY.md quotes it.
TALLY: Counter[str] = Counter()


_ARTICLE = re.compile(r"<article>\n(.*?)\n</article>", re.S)
_NUMBERED = re.compile(r"^\[(\d+)\] ", re.M)


def cite_rows(answer: Any, text: str) -> list[Any]:
    """The evidence for each `CITE` row of `answer`, in order: the sentence of `text` sharing
    most words with the row, quoted, or its number when `text` is numbered."""
    numbered = bool(_NUMBERED.match(text))
    if numbered:
        parts = _NUMBERED.split(text)[1:]
        pieces = [(int(n), line.strip()) for n, line in zip(parts[::2], parts[1::2], strict=True)]
    else:
        pieces = [(0, text[a:b]) for a, b in sentences(text)]
    found: list[Any] = []
    rows = answer.get("signals", []) if isinstance(answer, dict) else []
    for row in rows:
        if isinstance(row, dict) and row.get("evidence") == CITE and pieces:
            wanted = terms(" ".join(str(v) for k, v in row.items() if k != "evidence"))
            number, sentence = max(pieces, key=lambda p: len(terms(p[1]) & wanted))
            found.append(number if numbered else sentence)
    return found


def cited(step: Step, request: dict[str, Any]) -> Step:
    """`step` with each `CITE` evidence in its answer replaced as `cite_rows` says, in the
    answer's own text (code fences and prose around the JSON stay as they are)."""
    if CITE not in json.dumps(step.body):
        return step
    message = step.body["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    raw = calls[0]["function"]["arguments"] if calls else message.get("content")
    if not isinstance(raw, str):
        return step
    user = next((m["content"] for m in request.get("messages", []) if m.get("role") == "user"), "")
    found = _ARTICLE.search(user if isinstance(user, str) else "")
    try:
        answer = decode_json(raw)
    except Invalid:
        return step
    evidence = iter(cite_rows(answer, found.group(1) if found else ""))
    content = re.sub(re.escape(json.dumps(CITE)), lambda _: json.dumps(next(evidence, CITE)), raw)
    body = json.loads(json.dumps(step.body))
    target = body["choices"][0]["message"]
    if calls:
        target["tool_calls"][0]["function"]["arguments"] = content
    else:
        target["content"] = content
    return Step(step.kind, step.status, step.headers, body, step.seconds)


def _is_fault(step: Step) -> bool:
    """Anything but a well-formed, finished answer with text in it."""
    if step.kind != "completion" or step.status != 200 or not isinstance(step.body, dict):
        return True
    choices = step.body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return True
    message = choices[0].get("message")
    return (
        choices[0].get("finish_reason") != "stop"
        or not isinstance(message, dict)
        or not isinstance(message.get("content"), str)
        or message.get("refusal") is not None
        or len(message["content"]) > 100_000
    )


def as_step(step: Step | str) -> Step:
    """A step; a plain string is shorthand for `reply(string)`."""
    return reply(step) if isinstance(step, str) else step


# --------------------------------------------------------------------------------------------
# The server.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def user_text(self) -> str:
        """The first user message's content."""
        return next(m["content"] for m in self.messages if m["role"] == "user")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        fake._record(self, None)
        page = fake.pages.get(self.path)
        if page is None:
            self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})
        elif isinstance(page, Step):
            if page.kind != "hang":
                raise ValueError("a page is (status, headers, body) or hang(seconds)")
            fake._stopping.wait(page.seconds)
        else:
            self._page(*page)

    def _page(self, code: int, headers: dict[str, str], body: Any) -> None:
        if isinstance(body, str):
            body = body.encode()
        if isinstance(body, bytes):
            self._send(code, body, headers)
            return
        chunks = body() if callable(body) else body
        try:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("connection", "close")
            self.end_headers()
            for chunk in chunks:
                if self.server.fake._stopping.is_set():
                    break
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the client hung up: what a size cap or a timeout does
        finally:
            self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fake = self.server.fake
        fake._record(self, body)
        if self.path.rstrip("/") == "/v1/embeddings":
            self._embeddings(fake, body)
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "x"}})
            return
        step = fake._next_step(body if isinstance(body, dict) else {})
        if fake.delay:
            with fake._held():
                time.sleep(fake.delay)
        if step.kind == "hang":
            fake._stopping.wait(step.seconds)
            return  # close without answering
        if step.kind == "raw":
            data = step.body if isinstance(step.body, bytes) else str(step.body).encode()
            self._send(step.status, data, step.headers)
            return
        if step.kind == "reset":
            self._reset()
            return
        if step.kind == "completion" and isinstance(body, dict):
            step = cited(step, body)
        if step.kind == "reset_mid_body":
            data = json.dumps(step.body).encode()
            try:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: int(len(data) * step.seconds)])
                self.wfile.flush()
            except OSError:
                pass
            self._reset()
            return
        self._send_json(step.status, step.body, step.headers)

    def _reset(self) -> None:
        """Close the socket with a TCP reset (SO_LINGER 0) rather than an orderly close."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _embeddings(self, fake: FakeServer, body: Any) -> None:
        with fake._lock:
            failing = fake.embedding_failures > 0
            fake.embedding_failures -= failing
        if failing:
            self._send_json(503, {"error": {"message": "busy", "type": "server_error"}})
            return
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": word_vector(text)}
            for i, text in enumerate(texts)
        ]
        self._send_json(
            200,
            {
                "object": "list",
                "data": data[::-1],  # out of order, as the API allows
                "model": body["model"],
                "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
            },
        )

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(
            code,
            json.dumps(payload).encode(),
            {"content-type": "application/json", **(headers or {})},
        )

    def _send(self, code: int, data: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout) before the answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer


class FakeServer:
    """A fake OpenAI-compatible endpoint on 127.0.0.1 with a random port."""

    def __init__(self, script: Script | None = None) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._script: Script = []
        self._position = 0
        self.requests: list[Recorded] = []
        self.embedding_failures = 0  # /v1/embeddings answers 503 this many times first
        self.delay = 0.0  # seconds every chat completion waits before its answer
        self._in_flight = 0
        self.peak_in_flight = 0  # the most chat completions held at once (during a delay)
        self.pages: dict[str, Page | Step] = {}  # GET path -> page (see the module docstring)
        self.play(script if script is not None else [reply(card_json())])
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------

    def play(self, script: Script | Step | str) -> FakeServer:
        """Replace the script (and restart it from its first step)."""
        if isinstance(script, Step | str):
            script = [script]
        if not callable(script) and not script:
            raise ValueError("a script needs at least one step")
        with self._lock:
            self._script = script
            self._position = 0
        return self

    def _next_step(self, body: dict[str, Any]) -> Step:
        with self._lock:
            script = self._script
            if callable(script):
                step = as_step(script(body))
            else:
                step = as_step(script[min(self._position, len(script) - 1)])
                self._position += 1
        if _is_fault(step):
            TALLY["faults injected"] += 1
        return step

    @contextmanager
    def _held(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, headers, body))

    # -- inspection --------------------------------------------------------------------------

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Building extractors against it.
# --------------------------------------------------------------------------------------------


def fast_policy(max_retries: int = 2) -> RetryPolicy:
    """Retries without real backoff sleeps."""
    return RetryPolicy(max_retries=max_retries, backoff=tenacity.wait_none(), max_wait=0.05)


def extractor_options(
    server: FakeServer, *, max_retries: int = 2, **options: Any
) -> dict[str, Any]:
    """Keyword arguments for `Extractor` / `extract_article` aimed at `server`."""
    return {
        "base_url": server.base_url,
        "api_key": "sk-test",
        "model": "fake-model",
        "retry_policy": fast_policy(max_retries),
        **options,
    }


def make_extractor(server: FakeServer, *, max_retries: int = 2, **options: Any) -> Extractor:
    return Extractor(**extractor_options(server, max_retries=max_retries, **options))


def extract_from(server: FakeServer, **options: Any) -> ExtractionResult:
    """One extraction of ARTICLE against `server`, closing the extractor's clients after."""
    extractor = make_extractor(server, **options)
    try:
        return extractor.extract(ARTICLE)
    finally:
        extractor.close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
