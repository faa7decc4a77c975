"""Structured-output modes as they reach the wire, and how an endpoint is resolved from
arguments and the environment."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from extractor.backends.config import EMBEDDED_MODEL, OPENAI_DEFAULT_MODEL, resolve
from extractor.backends.modes import TOOL_NAME
from extractor.backends.profile import Mode, Strategy, resolve_profile
from extractor.core.card import DEFAULT_LIMITS
from extractor.core.errors import ConfigError, EndpointError
from extractor.core.schema import card_schema
from extractor.pipeline.extract import Extractor
from tests.fakeserver import (
    ARTICLE,
    SIGNALS,
    TITLE,
    FakeServer,
    bad_request,
    card_json,
    cells,
    completion_body,
    extract_from,
    fast_policy,
    make_extractor,
    quoted_card_json,
    reply,
    tool_call,
)

CARD_SCHEMA = card_schema(DEFAULT_LIMITS)


def _all_objects_closed(node: Any) -> bool:
    """Every object in a schema has additionalProperties false, as strict mode requires."""
    if isinstance(node, list):
        return all(_all_objects_closed(item) for item in node)
    if not isinstance(node, dict):
        return True
    if node.get("type") == "object" and node.get("additionalProperties") is not False:
        return False
    return all(_all_objects_closed(value) for value in node.values())


def test_json_schema_mode_sends_a_strict_schema(server: FakeServer) -> None:
    server.play(card_json())
    result = extract_from(server, mode="json_schema")
    body = server.bodies[0]
    format_ = body["response_format"]
    assert format_["type"] == "json_schema"
    assert format_["json_schema"]["strict"] is True
    assert format_["json_schema"]["name"] == "signal_card_card"
    schema = format_["json_schema"]["schema"]
    assert schema == CARD_SCHEMA
    assert schema["additionalProperties"] is False
    assert _all_objects_closed(schema)
    assert "tools" not in body
    # The API carries the schema, so the prompt does not repeat it.
    assert "additionalProperties" not in server.requests[0].user_text
    assert result.mode == "json_schema"
    assert result.card.title == TITLE


def test_json_object_mode_sends_the_schema_and_prompts_it(server: FakeServer) -> None:
    server.play(card_json())
    result = extract_from(server, mode="json_object")
    body = server.bodies[0]
    assert body["response_format"] == {"type": "json_object", "schema": CARD_SCHEMA}
    assert json.dumps(CARD_SCHEMA, ensure_ascii=False) in server.requests[0].user_text
    assert result.mode == "json_object"
    assert result.card.title == TITLE


def test_tools_mode_forces_the_function_and_reads_its_arguments(server: FakeServer) -> None:
    server.play(tool_call(card_json()))
    result = extract_from(server, mode="tools")
    body = server.bodies[0]
    assert "response_format" not in body
    (tool,) = body["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == TOOL_NAME
    assert tool["function"]["parameters"] == CARD_SCHEMA
    assert tool["function"]["strict"] is True
    assert body["tool_choice"] == {"type": "function", "function": {"name": TOOL_NAME}}
    # The message content is null: the card can only have come from the tool call.
    assert result.card.title == TITLE
    answered = json.loads(result.attempts[-1].raw or "")
    assert [cells(row) for row in answered["signals"]] == [cells(row) for row in SIGNALS]
    assert all(row["evidence"] in ARTICLE for row in answered["signals"])
    assert result.mode == "tools"


def test_tools_mode_re_asks_bad_arguments(server: FakeServer) -> None:
    server.play([tool_call('{"title": "Half a card"'), tool_call(card_json())])
    result = extract_from(server, mode="tools")
    assert len(server.requests) == 2
    assert server.requests[1].messages[2] == {
        "role": "assistant",
        "content": '{"title": "Half a card"',
    }
    assert result.usage.reasks == 1


def test_json_mode_sends_no_format_and_accepts_fenced_answers(server: FakeServer) -> None:
    server.play(f"```json\n{card_json()}\n```")
    result = extract_from(server, mode="json")
    body = server.bodies[0]
    assert "response_format" not in body
    assert "tools" not in body
    assert json.dumps(CARD_SCHEMA, ensure_ascii=False) in server.requests[0].user_text
    assert result.usage.reasks == 0
    assert result.card.title == TITLE


def test_json_mode_accepts_prose_around_the_object(server: FakeServer) -> None:
    server.play(f"Here is the card:\n{card_json()}\nHope this helps.")
    result = extract_from(server, mode="json")
    assert len(server.requests) == 1
    assert result.card.title == TITLE


def test_a_compatible_server_gets_max_tokens(server: FakeServer) -> None:
    server.play(card_json())
    extract_from(server)
    body = server.bodies[0]
    assert body["max_tokens"] == 3000
    assert "max_completion_tokens" not in body
    assert "temperature" not in body  # remote endpoints keep their own default
    assert "seed" not in body


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "tools", "json"])
def test_the_body_sent_is_what_the_sdk_would_have_made_of_it(server: FakeServer, mode: str) -> None:
    """The client posts bodies as built, skipping the SDK's typed-parameter transform: that
    transform must have nothing to change in them (no alias, no dropped key)."""
    from openai._utils import maybe_transform
    from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    server.play(["not json", card_json()])
    extract_from(server, mode=mode, temperature=0.2)
    assert len(server.bodies) == 2
    for body in server.bodies:
        assert maybe_transform(body, CompletionCreateParamsNonStreaming) == body
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


def test_temperature_is_sent_when_given(server: FakeServer) -> None:
    server.play(["not json", card_json()])
    extract_from(server, temperature=0.3)
    assert [b["temperature"] for b in server.bodies] == [0.3, 0.3]


def test_api_openai_com_gets_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    extractor = Extractor(
        base_url="https://api.openai.com/v1",
        api_key="sk-test",
        model="gpt-4.1-mini",
        retry_policy=fast_policy(0),
    )
    assert extractor.profile.endpoint.host_kind == "openai"
    assert extractor.profile.token_limit_key == "max_completion_tokens"
    sent: list[dict[str, Any]] = []

    def complete(request: dict[str, Any], on_retry: Any) -> ChatCompletion:
        sent.append(request)
        return ChatCompletion.model_validate(completion_body(quoted_card_json()))

    # Nothing leaves the machine: the transport layer is replaced, the request is recorded.
    monkeypatch.setattr(extractor.client, "complete", complete)
    result = extractor.extract(ARTICLE)
    (request,) = sent
    assert request["max_completion_tokens"] == 3000
    assert "max_tokens" not in request
    assert request["model"] == "gpt-4.1-mini"
    assert request["response_format"]["type"] == "json_schema"
    assert result.card.title == TITLE


# ------------------------------------------------------------------------------------------
# Endpoint resolution
# ------------------------------------------------------------------------------------------

ENV = {
    "OPENAI_BASE_URL": "http://env.example:8080/v1",
    "OPENAI_API_KEY": "sk-env",
    "EXTRACTOR_MODEL": "env-model",
}


def test_explicit_arguments_beat_the_environment() -> None:
    endpoint = resolve(
        model="arg-model",
        base_url="http://arg.example:9000/v1",
        api_key="sk-arg",
        environ=ENV,
    )
    assert endpoint.model == "arg-model"
    assert endpoint.base_url == "http://arg.example:9000/v1"
    assert endpoint.api_key == "sk-arg"
    assert endpoint.embedded is False


def test_the_environment_fills_what_arguments_leave_out() -> None:
    endpoint = resolve(model="arg-model", environ=ENV)
    assert endpoint.model == "arg-model"
    assert endpoint.base_url == ENV["OPENAI_BASE_URL"]
    assert endpoint.api_key == ENV["OPENAI_API_KEY"]
    assert endpoint.host_kind == "compatible"
    profile = resolve_profile(endpoint)
    assert profile.mode is Mode.JSON_SCHEMA and profile.strategy is Strategy.SINGLE
    assert profile.token_limit_key == "max_tokens" and not profile.small_model


def test_nothing_configured_means_the_embedded_model() -> None:
    endpoint = resolve(environ={})
    assert endpoint.embedded is True
    assert endpoint.model == EMBEDDED_MODEL == "smollm2-135m-instruct"
    assert endpoint.base_url is None
    assert endpoint.host_kind == "embedded"
    profile = resolve_profile(endpoint)
    assert profile.mode is Mode.JSON_OBJECT and profile.strategy is Strategy.SECTIONED
    assert profile.small_model and profile.takes_length_caps and profile.seeded
    assert profile.cites_sentences
    assert profile.temperature == 0.0 and profile.reask_temperature == 0.7


def test_base_url_embedded_selects_the_embedded_model() -> None:
    environ = {k: v for k, v in ENV.items() if k != "EXTRACTOR_MODEL"}
    endpoint = resolve(base_url="embedded", environ=environ)
    assert endpoint.embedded is True
    assert endpoint.base_url is None
    assert endpoint.model == EMBEDDED_MODEL


def test_a_base_url_without_a_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--model"):
        resolve(base_url="http://127.0.0.1:8080/v1", environ={})


def test_an_openai_key_alone_uses_openai_and_its_default_model() -> None:
    endpoint = resolve(environ={"OPENAI_API_KEY": "sk-env"})
    assert endpoint.embedded is False
    assert endpoint.model == OPENAI_DEFAULT_MODEL
    assert endpoint.host_kind == "openai"
    assert resolve_profile(endpoint).mode is Mode.JSON_SCHEMA


def test_a_model_without_an_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs an endpoint"):
        resolve(model="gpt-4o", environ={})


def test_an_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown mode"):
        resolve_profile(
            resolve(model="m", base_url="http://127.0.0.1:1/v1", environ={}), mode="xml"
        )


def test_a_non_http_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        resolve(model="m", base_url="ftp://example.com/v1", environ={})


@pytest.mark.parametrize(
    ("base_url", "kind"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://myres.openai.azure.com/openai/v1", "azure"),
        ("http://127.0.0.1:8080/v1", "compatible"),
    ],
)
def test_host_kind(base_url: str, kind: str) -> None:
    assert resolve(model="m", base_url=base_url, environ={}).host_kind == kind


def test_extractor_rejects_an_unknown_strategy_and_negative_reasks(server: FakeServer) -> None:
    with pytest.raises(ConfigError, match="unknown strategy"):
        make_extractor(server, strategy="paragraphs")
    with pytest.raises(ConfigError, match="max_reasks"):
        make_extractor(server, max_reasks=-1)
    assert server.requests == []


def test_an_endpoint_without_json_schema_falls_back_to_json_object(server: FakeServer) -> None:
    """Servers such as llama-cpp-python's reject `json_schema`; left to its default, the
    extractor switches once to the next weaker mode and says so on the result."""
    server.play(
        lambda body: (
            bad_request("unsupported response_format")
            if body["response_format"]["type"] == "json_schema"
            else reply(card_json())
        )
    )
    extractor = make_extractor(server)
    try:
        result = extractor.extract(ARTICLE)
        again = extractor.extract(ARTICLE)
    finally:
        extractor.close()
    kinds = [body["response_format"]["type"] for body in server.bodies]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert result.mode == "json_object" and result.card.title == TITLE
    assert any("rejected mode json_schema (HTTP 400)" in w for w in result.warnings)
    assert again.warnings == []


def test_an_explicit_mode_is_never_changed(server: FakeServer) -> None:
    server.play(bad_request("unsupported response_format"))
    with pytest.raises(EndpointError) as caught:
        extract_from(server, mode="json_schema")
    assert len(server.requests) == 1 and caught.value.status == 400


def test_max_tokens_overrides_the_per_section_caps(server: FakeServer) -> None:
    server.play(card_json())
    extract_from(server, max_tokens=12345)
    assert server.bodies[0]["max_tokens"] == 12345
