"""Batch API mode against a local fake of the files and batches endpoints: answers are joined
by custom_id and validated like live ones, failures go live, a killed run resumes its batch
instead of submitting (and paying for) it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from extractor.cli import main
from tests.fakeserver import (
    TALLY,
    card_json,
    cited,
    completion_body,
    distinct_articles,
    read_jsonl,
    reply,
)

Answer = Callable[[int, dict[str, Any]], dict[str, Any]]


def _good(_index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"status_code": 200, "body": cited(reply(card_json()), body).body}


class FakeBatchAPI:
    """Files, batches and chat completions on loopback; batches finish on the second poll
    unless `hold` is set."""

    def __init__(self, answer: Answer = _good) -> None:
        self.answer = answer
        self.hold = False
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.uploads = 0
        self.live: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, payload: Any, code: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with fake.lock:
                    if self.path.startswith("/v1/files/") and self.path.endswith("/content"):
                        data = fake.files[self.path.split("/")[3]]
                        self.send_response(200)
                        self.send_header("content-type", "application/octet-stream")
                        self.send_header("content-length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                    batch = fake.batches[self.path.split("/")[3]]
                    batch["polls"] += 1
                    if batch["polls"] >= 2 and not fake.hold and batch["status"] != "completed":
                        fake._finish(batch)
                    self._json({k: v for k, v in batch.items() if k != "polls"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                with fake.lock:
                    if self.path == "/v1/files":
                        fake.uploads += 1
                        file_id = f"file-{len(fake.files)}"
                        fake.files[file_id] = _multipart_file(raw, self.headers["content-type"])
                        self._json(
                            {"id": file_id, "object": "file", "bytes": len(raw),
                             "created_at": 0, "filename": "requests.jsonl",
                             "purpose": "batch", "status": "processed"}
                        )  # fmt: skip
                    elif self.path == "/v1/batches":
                        body = json.loads(raw)
                        batch_id = f"batch-{len(fake.batches)}"
                        fake.batches[batch_id] = {
                            "id": batch_id, "object": "batch", "endpoint": body["endpoint"],
                            "input_file_id": body["input_file_id"], "completion_window": "24h",
                            "status": "validating", "created_at": 0, "polls": 0,
                        }  # fmt: skip
                        batch = fake.batches[batch_id]
                        self._json({k: v for k, v in batch.items() if k != "polls"})
                    else:
                        fake.live.append(json.loads(raw))
                        self._json(cited(reply(card_json()), fake.live[-1]).body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def _finish(self, batch: dict[str, Any]) -> None:
        lines = []
        for index, line in enumerate(self.files[batch["input_file_id"]].decode().splitlines()):
            request = json.loads(line)
            assert request["url"] == "/v1/chat/completions" and request["method"] == "POST"
            response = self.answer(index, request["body"])
            entry = {"id": f"req-{index}", "custom_id": request["custom_id"]}
            lines.append(json.dumps({**entry, "response": response, "error": None}))
        output_id = f"file-{len(self.files)}"
        self.files[output_id] = ("\n".join(reversed(lines)) + "\n").encode()  # any order
        batch.update(status="completed", output_file_id=output_id)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _multipart_file(raw: bytes, content_type: str) -> bytes:
    boundary = content_type.split("boundary=")[1].strip('"').encode()
    for part in raw.split(b"--" + boundary):
        if b'name="file"' in part:
            return part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    raise AssertionError("no file part in the upload")


@pytest.fixture
def api() -> Iterator[FakeBatchAPI]:
    fake = FakeBatchAPI()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))


def _args(api: FakeBatchAPI, *extra: str | Path) -> list[str]:
    return [
        "batch", *map(str, extra), "--base-url", api.base_url, "--model", "fake-model",
        "--mode", "json_schema", "--strategy", "single", "--quiet", "--closest", "0",
        "--batch-api", "--batch-poll", "0.01",
    ]  # fmt: skip


def test_every_article_goes_through_one_batch(api: FakeBatchAPI, tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 6)
    out = tmp_path / "results.jsonl"
    assert main(_args(api, inputs, "-o", out)) == 0
    lines = read_jsonl(out)
    assert len(lines) == 6 and all(line["usage"]["requests"] == 1 for line in lines)
    assert len(api.batches) == 1 and api.uploads == 1 and api.live == []
    requests = api.files["file-0"].decode().splitlines()
    assert len({json.loads(r)["custom_id"] for r in requests}) == 6
    assert not (tmp_path / "results.batchapi.json").exists()


def test_groups_split_a_large_run(api: FakeBatchAPI, tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 7)
    out = tmp_path / "results.jsonl"
    assert main(_args(api, inputs, "-o", out, "--batch-group", "3")) == 0
    assert len(read_jsonl(out)) == 7 and len(api.batches) == 3 and api.live == []


def test_failed_and_invalid_answers_go_live(tmp_path: Path) -> None:
    def answer(index: int, body: dict[str, Any]) -> dict[str, Any]:
        if index == 0:
            return {"status_code": 500, "body": {"error": {"message": "boom"}}}
        if index == 1:
            return {"status_code": 200, "body": completion_body("not a card")}
        return _good(index, body)

    api = FakeBatchAPI(answer)
    try:
        inputs = distinct_articles(tmp_path / "in", 4)
        out = tmp_path / "results.jsonl"
        assert main(_args(api, inputs, "-o", out)) == 0
        lines = read_jsonl(out)
        assert len(lines) == 4
        assert len(api.live) == 2  # the failed request resent; the invalid answer re-asked
        assert sorted(line["usage"]["requests"] for line in lines) == [1, 1, 1, 2]
        reasks = [line for line in lines if line["usage"]["reasks"]]
        assert len(reasks) == 1
    finally:
        api.stop()


def test_a_killed_run_resumes_its_batch_instead_of_paying_twice(
    api: FakeBatchAPI, tmp_path: Path
) -> None:
    inputs = distinct_articles(tmp_path / "in", 5)
    out = tmp_path / "results.jsonl"
    state = tmp_path / "results.batchapi.json"
    api.hold = True
    command = [sys.executable, "-m", "extractor.cli", *_args(api, inputs, "-o", out)]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state.exists(), "the run never submitted its batch"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(api.batches) == 1
    api.hold = False
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(api.batches) == 1 and api.uploads == 1  # picked up, not submitted again
    ids = sorted(line["id"] for line in read_jsonl(out))
    assert ids == [f"story-{i:04d}.txt" for i in range(5)]
    assert not state.exists()
    TALLY["kill -9 trials"] += 1
    TALLY["articles checked after a kill: lost 0, twice 0"] += 5


def test_the_embedded_model_cannot_use_the_batch_api(tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 1)
    args = ["batch", str(inputs), "-o", str(tmp_path / "r.jsonl"), "--batch-api"]
    assert main([*args, "--base-url", "embedded", "--quiet"]) == 2
