"""Trend names from an LLM, when an endpoint is configured.

Without one, a trend is named by its most central signal (the run does that itself): the
embedded SmolLM2-135M is not asked, because it copies a signal back or names something else,
which the central signal already does better and for free. The model sees a trend's most
central signals as data inside the `trends/label.j2` template and answers a name and a STEEP
category; an answer that is not that (or a failed request, after the usual retries) leaves
the trend its central signal and its measured category, and the report says how many.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from extractor.backends.client import ModelClient
from extractor.backends.config import Endpoint, resolve
from extractor.core.errors import ConfigError
from extractor.core.text import has_words, one_line
from extractor.core.usage import Usage
from extractor.pipeline.prompting import Prompts
from extractor.pipeline.validate import Invalid, decode_json
from extractor.trends.steep import CATEGORIES

TEMPLATE = "trends/label.j2"
LABEL_MODES = ("auto", "central", "llm")
SIGNALS_SHOWN = 12
_MAX_LABEL = 120
_WORKERS = 4


@dataclass(frozen=True)
class Label:
    text: str
    steep: str | None  # None when the model named no STEEP category


class LabelError(Exception):
    """The model gave no usable name for a trend."""


class LLMLabeller:
    """Names trends through the same client and retry layer as extraction, a few at once."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.usage = Usage()
        self._client = ModelClient(endpoint)
        self._prompts = Prompts()
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.endpoint.model

    def label(self, signals: Sequence[str]) -> Label:
        """A name for the trend whose most central signals are `signals`; `LabelError`."""
        prompt = self._prompts.render(TEMPLATE, signals=list(signals[:SIGNALS_SHOWN]))
        request: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "max_tokens": 80,
        }
        try:
            completion = self._client.complete(request, self._count_retry)
        except Exception as err:
            raise LabelError(f"{type(err).__name__}: {err}") from err
        with self._lock:
            self.usage.requests += 1
            if completion.usage is not None:
                self.usage.prompt_tokens += completion.usage.prompt_tokens
                self.usage.completion_tokens += completion.usage.completion_tokens
        text = completion.choices[0].message.content if completion.choices else None
        return _parse(text or "")

    def label_all(self, groups: Sequence[Sequence[str]]) -> list[Label | LabelError]:
        """`label` for each group, `_WORKERS` requests in flight; errors are returned."""

        def one(signals: Sequence[str]) -> Label | LabelError:
            try:
                return self.label(signals)
            except LabelError as err:
                return err

        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            return list(pool.map(one, groups))

    def close(self) -> None:
        self._client.close()

    def _count_retry(self, _state: object) -> None:
        with self._lock:
            self.usage.transport_retries += 1


def _parse(text: str) -> Label:
    try:
        answer = decode_json(text)
    except Invalid as err:
        raise LabelError(f"the answer is not JSON: {err}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("label"), str):
        raise LabelError("the answer has no label string")
    label = one_line(answer["label"]).strip(" \"'.")
    if not has_words(label) or len(label) > _MAX_LABEL:
        raise LabelError(f"unusable label {label[:_MAX_LABEL]!r}")
    steep = answer.get("steep")
    category = steep.strip().lower() if isinstance(steep, str) else None
    return Label(label, category if category in CATEGORIES else None)


def make_labeller(
    labels: str = "auto", *, model: str | None = None, base_url: str | None = None
) -> LLMLabeller | None:
    """`auto`: an LLM when an endpoint is configured (arguments or environment), else none;
    `central`: none; `llm`: an LLM, or `ConfigError` when no endpoint is configured."""
    if labels not in LABEL_MODES:
        raise ConfigError(f"unknown labels {labels!r}; choose one of {', '.join(LABEL_MODES)}")
    if labels == "central":
        return None
    endpoint = resolve(model=model, base_url=base_url)
    if endpoint.embedded:
        if labels == "llm":
            raise ConfigError(
                "LLM labels need an endpoint: pass --base-url or set OPENAI_BASE_URL / "
                "OPENAI_API_KEY (the embedded model is too small to name trends)"
            )
        return None
    return LLMLabeller(endpoint)
