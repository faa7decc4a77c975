"""An optional LLM judge of faithfulness to the article, through the same client and retry
layer as extraction. Judges drift between runs, so each card is judged several times at a
non-zero temperature and the mean is reported with the judge's model, never as a default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extractor.backends.client import ModelClient
from extractor.backends.config import Endpoint
from extractor.core.card import SignalCard
from extractor.core.usage import Usage
from extractor.pipeline.prompting import Prompts
from extractor.pipeline.validate import Invalid, decode_json

TEMPLATE = "judge/faithfulness.j2"
MIN_SAMPLES = 3


@dataclass
class Judge:
    endpoint: Endpoint
    samples: int = MIN_SAMPLES
    json_object: bool = True  # ask for response_format json_object (off for plain-JSON servers)
    temperature: float = 0.7
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        self.samples = max(self.samples, MIN_SAMPLES)
        self._client = ModelClient(self.endpoint)
        self._prompts = Prompts()

    def judge(self, article: str, card: SignalCard) -> dict[str, Any]:
        """Mean score scaled to [0, 1] over the samples that answered; each sample's raw score
        and unsupported claims are kept for the report."""
        prompt = self._prompts.render(TEMPLATE, article=article, card=card.to_markdown())
        request: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature,
            "max_tokens": 300,
        }
        if self.json_object:
            request["response_format"] = {"type": "json_object"}
        samples: list[dict[str, Any]] = []
        for _ in range(self.samples):
            samples.append(self._sample(request))
        scores = [s["score"] for s in samples if s.get("score") is not None]
        return {
            "model": self.endpoint.model,
            "score": (sum(scores) / len(scores) - 1) / 4 if scores else None,
            "samples": samples,
        }

    def _sample(self, request: dict[str, Any]) -> dict[str, Any]:
        def count_retry(_state: object) -> None:
            self.usage.transport_retries += 1

        try:
            completion = self._client.complete(request, count_retry)
        except Exception as err:
            return {"score": None, "error": f"{type(err).__name__}: {err}"}
        self.usage.requests += 1
        if completion.usage is not None:
            self.usage.prompt_tokens += completion.usage.prompt_tokens
            self.usage.completion_tokens += completion.usage.completion_tokens
        text = completion.choices[0].message.content if completion.choices else None
        try:
            answer = decode_json(text or "")
            score = answer["score"]
            if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 5:
                raise ValueError(f"score {score!r} is not a number from 1 to 5")
        except (Invalid, KeyError, TypeError, ValueError) as err:
            return {"score": None, "error": f"unusable answer: {err}", "raw": text}
        unsupported = answer.get("unsupported")
        return {
            "score": float(score),
            "unsupported": [str(u) for u in unsupported] if isinstance(unsupported, list) else [],
        }

    def close(self) -> None:
        self._client.close()
