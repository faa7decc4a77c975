"""Real model traffic, replayed from cassettes recorded against llama.cpp's OpenAI-compatible
server running the bundled SmolLM2 model (json_schema through tests/record_server.py, since
llama-cpp-python's server has no json_schema response format). Replay needs no server.

Re-record: start the servers (`tests/llama_server.py` on port 8765, which is llama.cpp's own
on the portable CPU path; `tests/record_server.py 8766`), then
    LLM_BASE_URL=http://127.0.0.1:8765/v1 pytest tests/test_cassettes.py --record-mode=rewrite \
        -k "not json_schema"
    LLM_BASE_URL=http://127.0.0.1:8766/v1 pytest tests/test_cassettes.py --record-mode=rewrite \
        -k "json_schema and each_mode"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor import ExtractionError, Extractor, SignalCard
from extractor.backends.modes import TOOL_NAME

ARTICLE = (Path(__file__).parent / "data" / "solar_article.txt").read_text(encoding="utf-8")
CASSETTES = Path(__file__).parent / "cassettes" / "test_cassettes"


def _extract(endpoint: dict[str, str], mode: str, article: str = ARTICLE) -> tuple[object, list]:
    extractor = Extractor(
        **endpoint, mode=mode, strategy="sectioned", temperature=0.0, max_retries=0
    )
    try:
        return extractor.extract(article), []
    finally:
        extractor.close()


def _requests(test_name: str) -> list[dict]:
    import yaml

    data = yaml.safe_load((CASSETTES / f"{test_name}.yaml").read_text(encoding="utf-8"))
    return [json.loads(i["request"]["body"]) for i in data["interactions"]]


@pytest.mark.vcr
@pytest.mark.parametrize("mode", ["json_schema", "json_object", "tools"])
def test_each_mode_yields_a_valid_card(llm_endpoint: dict[str, str], mode: str) -> None:
    result, _ = _extract(llm_endpoint, mode)
    card = result.card
    assert SignalCard.from_markdown(card.to_markdown()).model_dump(exclude={"signals"}) == (
        card.model_dump(exclude={"signals"})
    )
    for row in card.signals:
        for span in row.evidence:
            if span.match == "exact":
                assert result.article.text[span.start : span.end] == span.text
    assert len(card.keywords) >= 5 and len(card.themes) >= 2 and len(card.signals) >= 2
    assert result.usage.requests >= 5 and result.usage.prompt_tokens > 0
    assert result.mode == mode


@pytest.mark.vcr
def test_unconstrained_json_mode_fails_cleanly_on_a_tiny_model(
    llm_endpoint: dict[str, str],
) -> None:
    """Without a grammar, SmolLM2-135M does not write JSON: the error says so and keeps every
    raw answer."""
    with pytest.raises(ExtractionError) as caught:
        _extract(llm_endpoint, "json")
    error = caught.value
    assert len(error.attempts) == 3 and all(a.raw for a in error.attempts)
    assert "not valid JSON" in str(error) and error.raw == error.attempts[-1].raw
    assert error.usage.requests == 3 and error.usage.reasks == 2


def test_json_schema_mode_sent_a_strict_schema() -> None:
    bodies = _requests("test_each_mode_yields_a_valid_card[json_schema]")
    for body in bodies:
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        schema = fmt["json_schema"]["schema"]
        assert schema["additionalProperties"] is False
        assert schema["required"] == list(schema["properties"])


def test_tools_mode_forced_the_tool() -> None:
    for body in _requests("test_each_mode_yields_a_valid_card[tools]"):
        assert body["tool_choice"]["function"]["name"] == TOOL_NAME


def test_cassettes_hold_no_host_or_key() -> None:
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text(encoding="utf-8").lower()
        assert "127.0.0.1" not in text and "authorization" not in text and "sk-test" not in text


@pytest.mark.vcr
def test_template_syntax_in_the_article_reaches_the_model_verbatim(
    llm_endpoint: dict[str, str], vcr: Any
) -> None:
    article = ARTICLE + "\n\nReaders wrote {{ 7*7 }} and {% if x %}odd{% endif %} in the comments."
    result, _ = _extract(llm_endpoint, "json_object", article)
    assert result.card.title
    user = json.loads(vcr.requests[0].body)["messages"][1]["content"]
    assert "{{ 7*7 }}" in user and "{% if x %}odd{% endif %}" in user and "49" not in user
