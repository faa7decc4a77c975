"""Each native library answers on this machine's CPU, in a child process: a crash here is one
failed test naming the signal, and the in-process tests that need the library are skipped."""

from __future__ import annotations

import pytest

from tests.native import PROBES, probe


@pytest.mark.parametrize("name", sorted(PROBES))
def test_native_code_runs_on_this_cpu(name: str) -> None:
    child = probe(name)
    assert child.returncode == 0, child.explain()
    print(child.stdout)


def test_llama_cpp_reports_its_cpu_features_and_answers() -> None:
    child = probe("llama")
    assert child.returncode == 0, child.explain()
    assert "llama.cpp:" in child.stdout and "CPU" in child.stdout
    answer = child.stdout.split("answer:", 1)[1].strip()
    assert len(answer) > 2  # a quoted, non-empty answer
