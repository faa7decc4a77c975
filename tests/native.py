"""Native code (llama.cpp, onnxruntime) run in a child process first, because a crash on
this machine's CPU would otherwise kill the whole test run instead of failing one test.

`probe(name)` runs a small real workload of that library in a child, once per session.
Tests that use the library in-process carry `pytest.mark.native(name)`; conftest.py skips
them, pointing at the failed probe test, when the child died. Not a test module.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBES = {
    # One real decode: the AMX crash happened in the first llama_decode, not at load.
    "llama": (
        "from extractor.backends import embedded\n"
        "print('llama.cpp:', embedded.system_info())\n"
        "llama = embedded._llama()\n"
        "assert llama.model_params.use_extra_bufts is False\n"
        "out = llama.create_chat_completion(\n"
        "    messages=[{'role': 'user', 'content': 'Name a colour.'}], max_tokens=8)\n"
        "print('answer:', repr(out['choices'][0]['message']['content']))\n"
    ),
    "minilm": (
        "from extractor.backends.embeddings import minilm\n"
        "vectors = minilm().embed(['solar microgrids in Kenya', 'a second sentence'])\n"
        "print('minilm:', vectors.shape)\n"
    ),
}


@dataclass(frozen=True)
class Child:
    returncode: int
    stdout: str
    stderr: str

    @property
    def crash(self) -> str | None:
        """'SIGSEGV' and the like when the child was killed by a signal, else None."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def explain(self) -> str:
        how = f"died with {self.crash}" if self.crash else f"exited {self.returncode}"
        return f"the child process {how}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr[-4000:]}"


def run_child(code: str, timeout: float = 600) -> Child:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Child(done.returncode, done.stdout, done.stderr)


@cache
def probe(name: str) -> Child:
    return run_child(PROBES[name])
