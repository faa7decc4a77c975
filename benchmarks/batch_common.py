"""Shared pieces of the batch benchmarks (`benchmarks/batch_*.py`); not a benchmark itself.

- `make_manifest`: N distinct articles of about 400 words, drawn in random order from the
  vocabulary of `examples/` and `seeds/` with a fixed seed, so that no two share a 5-word
  shingle and near-duplicate detection merges none of them.
- `Server`: `batch_fakeserver.py` in its own process, so it never takes the GIL from the
  client being measured.
- `timed`: one subprocess, whole-process wall time, its CPU time and peak RSS from `wait4`,
  and what it printed.
- `ours` / `bare`: the `extractor batch` command and the bare AsyncOpenAI script
  (`batch_bare.py`) against the same server, at the same concurrency.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
MODEL = "fake-model"
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))  # `tests.fakeserver` for the benchmarks that import it

_SUMMARY = re.compile(
    r"(\d+) done, (\d+) cached, (\d+) duplicates, (\d+) already done, (\d+) failed in "
    r"([\d.]+) s"
)
_BARE = re.compile(r"bare: (\d+) done in ([\d.]+) s")


# ---------------------------------------------------------------------------------------------
# Articles
# ---------------------------------------------------------------------------------------------


def _evidence() -> str:
    from tests.fakeserver import ARTICLE

    return ARTICLE.partition("\n\n")[2]


_EVIDENCE = _evidence()


def vocabulary() -> list[str]:
    words: set[str] = set()
    for folder in ("examples", "seeds"):
        for path in sorted((ROOT / folder).glob("*.txt")):
            words.update(re.findall(r"[a-z]{2,}", path.read_text(encoding="utf-8").lower()))
    return sorted(words)


def article(rng: random.Random, vocab: Sequence[str], number: int, words: int = 400) -> str:
    """A headline line, a blank line, `words` random words in sentences of 8 to 24, then the
    body of the tests' article, which the fake server's card quotes as its evidence (so the
    card is grounded, as a real model's is, and no article is re-asked)."""
    title = f"Report {number}: " + " ".join(rng.choices(vocab, k=5)).title()
    sentences, left = [], words
    while left > 0:
        size = min(left, rng.randint(8, 24))
        chosen = rng.choices(vocab, k=size)
        sentences.append(" ".join(chosen).capitalize() + ".")
        left -= size
    return title + "\n\n" + " ".join(sentences) + "\n\n" + _EVIDENCE


def make_manifest(path: Path, count: int, seed: int = 0, words: int = 400) -> Path:
    """A JSONL manifest of `count` distinct articles, ids a00000, a00001, ..."""
    rng, vocab = random.Random(seed), vocabulary()
    with path.open("w", encoding="utf-8") as handle:
        for number in range(count):
            entry = {"id": f"a{number:05d}", "text": article(rng, vocab, number, words)}
            handle.write(json.dumps(entry) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# The fake endpoint
# ---------------------------------------------------------------------------------------------


class Server:
    """`batch_fakeserver.py` in a child process; use as a context manager."""

    def __init__(self, latency_ms: float = 0.0, capture: Path | None = None) -> None:
        command = [PY, str(BENCH / "batch_fakeserver.py"), "--latency", str(latency_ms)]
        if capture is not None:
            command += ["--capture", str(capture)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("port "):
            self.process.kill()
            raise RuntimeError(f"the fake server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as reply:
            stats: dict[str, float] = json.loads(reply.read())
        return stats

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------------------------------------
# Running and timing one command
# ---------------------------------------------------------------------------------------------


@dataclass
class Timed:
    wall: float  # whole process, fork to exit, seconds
    cpu: float  # user + system seconds of the process
    max_rss_mb: float  # peak resident set size
    code: int
    stderr: str
    server_requests: int = 0
    server_cpu: float = 0.0  # CPU seconds the fake server spent meanwhile
    peak_in_flight: int = 0  # the most requests the fake server held at once meanwhile
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)

    @property
    def phase(self) -> float | None:
        """The extraction phase the command reports itself (after imports and setup)."""
        found = _SUMMARY.search(self.stderr) or _BARE.search(self.stderr)
        return float(found.groups()[-1]) if found else None

    @property
    def counts(self) -> dict[str, int]:
        found = _SUMMARY.search(self.stderr)
        if found:
            names = ("done", "cached", "duplicate", "skipped", "failed")
            return dict(zip(names, (int(g) for g in found.groups()[:5]), strict=True))
        bare = _BARE.search(self.stderr)
        return {"done": int(bare.group(1))} if bare else {}


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def timed(
    command: list[str], env: dict[str, str], server: Server | None = None, poll: float = 0.0
) -> Timed:
    """Run `command` to its end; `poll` > 0 also samples its RSS every `poll` seconds."""
    before = server.stats() if server else {"requests": 0, "busy_seconds": 0.0}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT
        )
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(poll):
                rss = _rss_mb(process.pid)
                if rss is not None:
                    samples.append((time.perf_counter() - started, rss))

        sampler = threading.Thread(target=sample, daemon=True) if poll > 0 else None
        if sampler is not None:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        if sampler is not None:
            sampler.join()
        err.seek(0)
        stderr = err.read()
    after = server.stats() if server else before
    return Timed(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        code=process.returncode,
        stderr=stderr,
        server_requests=int(after["requests"] - before["requests"]),
        server_cpu=after["busy_seconds"] - before["busy_seconds"],
        peak_in_flight=int(after.get("peak_in_flight", 0)) if server else 0,
        rss_samples=samples,
    )


@functools.cache
def _compiled() -> None:
    """Compile the package's bytecode once, as installing a wheel does: a source checkout
    under PYTHONDONTWRITEBYTECODE (this machine's default) would otherwise compile every
    module again in each timed process, which an installed extractor never does and the
    bare script's installed packages never do either."""
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "extractor")], check=True)


def environment(folder: Path) -> dict[str, str]:
    _compiled()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_BASE_URL", "EXTRACTOR_MODEL") and "proxy" not in k.lower()
    }
    env.update(
        OPENAI_API_KEY="sk-test",
        EXTRACTOR_CACHE=str(folder / "cache.sqlite"),
        NO_PROXY="127.0.0.1,localhost",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def ours(
    manifest: Path,
    output: Path,
    server: Server,
    concurrency: int,
    cache: Path | None = None,
    closest: int = 0,
) -> list[str]:
    """`extractor batch`; without `cache`, --no-cache; `closest` links per card (0: none)."""
    command = [
        PY, "-m", "extractor.cli", "batch", str(manifest), "-o", str(output),
        "--concurrency", str(concurrency), "--base-url", server.base_url, "--model", MODEL,
        "--mode", "json_schema", "--strategy", "single", "--quiet", "--closest", str(closest),
    ]  # fmt: skip
    return command + (["--cache", str(cache)] if cache is not None else ["--no-cache"])


def bare(
    manifest: Path, template: Path, output: Path, server: Server, concurrency: int
) -> list[str]:
    return [
        PY, str(BENCH / "batch_bare.py"), str(manifest), str(template), str(output),
        "--base-url", server.base_url, "--concurrency", str(concurrency),
    ]  # fmt: skip


def capture_template(folder: Path) -> Path:
    """Run `extractor batch` on one article against a capturing server and keep the request it
    sent, with that article's text and title, for `batch_bare.py` to replay."""
    manifest = folder / "capture.jsonl"
    text = article(random.Random("capture"), vocabulary(), 0)
    manifest.write_text(json.dumps({"id": "capture", "text": text}) + "\n", encoding="utf-8")
    body_file = folder / "captured-body.json"
    with Server(capture=body_file) as server:
        run = timed(ours(manifest, folder / "capture-out.jsonl", server, 1), environment(folder))
    if run.code != 0 or not body_file.is_file():
        raise RuntimeError(f"capturing a request failed:\n{run.stderr}")
    body: dict[str, Any] = json.loads(body_file.read_text(encoding="utf-8"))
    title = text.partition("\n")[0].strip()
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if text not in user or f'titled "{title}"' not in user:
        raise RuntimeError("the captured request does not carry the article as expected")
    template = folder / "template.json"
    template.write_text(json.dumps({"body": body, "text": text, "title": title}), "utf-8")
    return template


def check(run: Timed, what: str, expected: dict[str, int], concurrency: int | None = None) -> None:
    """Fail loudly when a run did not do what it was meant to (a fast failure is no result),
    or held more requests at once than `concurrency` (a faster run that way is no result)."""
    counts = run.counts
    wrong: dict[str, object] = {
        k: (counts.get(k), v) for k, v in expected.items() if counts.get(k) != v
    }
    if concurrency is not None and run.peak_in_flight > concurrency:
        wrong["requests in flight"] = (run.peak_in_flight, concurrency)
    if run.code != 0 or wrong:
        raise RuntimeError(
            f"{what}: exit {run.code}, counts {counts} (expected {expected})\n" + run.stderr[-2000:]
        )


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def spread(values: Sequence[float], digits: int = 2) -> str:
    """'median (min to max)' of the repeats."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f} to {max(values):.{digits}f})"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print(flush=True)


@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as name:
        yield Path(name)
