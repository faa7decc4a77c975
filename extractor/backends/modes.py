"""Structured-output modes: how a request asks for JSON, and where the answer comes back.

Endpoints enforce structure differently: OpenAI's strict `json_schema`, llama.cpp's
`json_object` with a schema, function `tools`, or only a prompt (`json`). Each mode is one
pair of functions; everything around them (re-asks, retries, usage) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion

TOOL_NAME = "record_signal_card"


@dataclass(frozen=True)
class Reply:
    """What a completion said, whatever the mode."""

    text: str | None
    finish_reason: str | None
    refusal: str | None


def request_options(mode: str, schema: dict[str, Any], name: str) -> dict[str, Any]:
    if mode == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            }
        }
    if mode == "json_object":
        # OpenAI ignores the extra `schema` key; llama.cpp and vLLM compile it into a grammar.
        return {"response_format": {"type": "json_object", "schema": schema}}
    if mode == "tools":
        tool = {
            "type": "function",
            "function": {
                "name": TOOL_NAME,
                "description": "Record the requested part of the signal card.",
                "parameters": schema,
                "strict": True,
            },
        }
        return {
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}},
        }
    return {}


def read_reply(completion: ChatCompletion, mode: str) -> Reply:
    if not completion.choices:
        return Reply(text=None, finish_reason=None, refusal=None)
    choice = completion.choices[0]
    message = choice.message
    text = message.content
    if mode == "tools" and message.tool_calls:
        call = message.tool_calls[0]
        function = getattr(call, "function", None)
        text = function.arguments if function is not None else None
    return Reply(text=text, finish_reason=choice.finish_reason, refusal=message.refusal)
