"""Model policy: how to ask one endpoint, resolved once into an immutable `Profile`.

Everything that differs between a capable hosted model and the tiny embedded one (the
structured-output mode, the strategy, whether a grammar enforces the schema, which token-limit
key the API takes, how tokens are counted, the article budget, temperatures) is decided here
and nowhere else. A run never changes a profile: when an endpoint rejects the default mode,
`Negotiation` swaps in a new profile for the rest of the run, once, keyed on the mode the
rejected request actually sent, so concurrent articles agree on one mode.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from extractor.backends.config import Endpoint
from extractor.backends.tokens import article_budget, counter
from extractor.core.card import DEFAULT_LIMITS, CardLimits
from extractor.core.errors import ConfigError, EndpointError


class Mode(StrEnum):
    """How a request asks for JSON; see `modes.py`."""

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    TOOLS = "tools"
    JSON = "json"

    @property
    def weaker(self) -> Mode | None:
        """The mode to try when an endpoint rejects this one."""
        return _WEAKER.get(self)


_WEAKER = {
    Mode.JSON_SCHEMA: Mode.JSON_OBJECT,
    Mode.TOOLS: Mode.JSON_OBJECT,
    Mode.JSON_OBJECT: Mode.JSON,
}


class Strategy(StrEnum):
    """One request for the whole card, or one per section (small models)."""

    SINGLE = "single"
    SECTIONED = "sectioned"


class Ungrounded(StrEnum):
    """What to do with a signal row the article does not support: keep it as it is, flag it
    in the warnings, drop it, or re-ask the model once with the reason and then flag it."""

    KEEP = "keep"
    FLAG = "flag"
    DROP = "drop"
    REASK = "reask"


MODES = tuple(mode.value for mode in Mode)
STRATEGIES = tuple(strategy.value for strategy in Strategy)
UNGROUNDED = tuple(policy.value for policy in Ungrounded)
# Completion caps per section: long enough for a good answer, short enough that a small model
# looping inside a string stops.
_MAX_TOKENS = {
    "title": 64,
    "summary": 400,
    "keywords": 200,
    "themes": 120,
    "signals": 900,
    "card": 3000,
    "pick": 40,  # a handful of sentence numbers
    "signal": 160,  # one row
}


@dataclass(frozen=True)
class Profile:
    endpoint: Endpoint
    mode: Mode
    strategy: Strategy
    mode_chosen: bool  # a mode the user named is never lowered
    max_reasks: int
    limits: CardLimits
    temperature: float | None
    reask_temperature: float | None
    max_article_tokens: int
    max_tokens: int | None
    ungrounded: Ungrounded
    count_tokens: Callable[[str], int] = field(compare=False, repr=False)

    @property
    def small_model(self) -> bool:
        """Small models copy a schema's descriptions and end a list of sentences more reliably
        than one long summary: the embedded one, or any run under the sectioned strategy."""
        return self.strategy is Strategy.SECTIONED or self.endpoint.embedded

    @property
    def enforces_schema(self) -> bool:
        """Whether the request carries the schema for the endpoint to decode by: every mode
        but plain `json` (OpenAI ignores a json_object schema; llama.cpp and vLLM do not)."""
        return self.mode is not Mode.JSON

    @property
    def takes_length_caps(self) -> bool:
        """Whether `maxLength` caps may go into the schema, so that a small model looping
        inside a string still ends it: OpenAI's and Azure's strict mode rejects them, while
        grammar-based servers (llama.cpp, vLLM, Ollama) enforce them."""
        strict_subset = self.endpoint.host_kind in ("openai", "azure")
        return self.mode is not Mode.JSON_SCHEMA or not strict_subset

    @property
    def schema_in_prompt(self) -> bool:
        """Modes whose API does not carry the schema to the model need it in the prompt; small
        models never see it, because they copy it."""
        return self.mode in (Mode.JSON, Mode.JSON_OBJECT) and not self.small_model

    @property
    def cites_sentences(self) -> bool:
        """Small models cite the number of an article sentence, which an enforced schema
        restricts to sentences that exist; the others quote the article verbatim."""
        return self.small_model and self.enforces_schema

    @property
    def picks_from_article(self) -> bool:
        """Sectioned small models behind an enforced schema choose their keywords and the
        sentences their rows come from among the article's own (see the README's Strategies)."""
        return self.strategy is Strategy.SECTIONED and self.cites_sentences

    @property
    def token_limit_key(self) -> str:
        # OpenAI's newer models reject max_tokens; most compatible servers only know it.
        return "max_tokens" if self.endpoint.host_kind == "compatible" else "max_completion_tokens"

    @property
    def seeded(self) -> bool:
        """The embedded model is deterministic per seed; re-asks vary it."""
        return self.endpoint.embedded

    def token_limit(self, section: str) -> int:
        return self.max_tokens or _MAX_TOKENS[section]

    def lowered(self) -> Profile | None:
        """This profile with the next weaker mode, or None when there is none to try."""
        weaker = self.mode.weaker
        if self.mode_chosen or weaker is None:
            return None
        return replace(self, mode=weaker)

    def fingerprint(self, prompt_version: str) -> str:
        """Everything besides the article that shapes the card: the key of cache and resume.

        The mode is the one asked for ('auto' when it was left to the extractor), because
        that is what a rerun knows before it sends anything; the mode actually used is on
        every result."""
        config = {
            "model": self.endpoint.model,
            "mode": self.mode.value if self.mode_chosen else "auto",
            "strategy": self.strategy.value,
            "prompt_version": prompt_version,
            "limits": [self.limits.keywords, self.limits.themes, self.limits.signals],
            "temperature": self.temperature,
            "reask_temperature": self.reask_temperature,
            "max_tokens": self.max_tokens,
            "max_reasks": self.max_reasks,
            "max_article_tokens": self.max_article_tokens,
            "ungrounded": self.ungrounded.value,
        }
        return json.dumps(config, sort_keys=True)


def resolve_profile(
    endpoint: Endpoint,
    *,
    mode: str | None = None,
    strategy: str | None = None,
    max_reasks: int = 2,
    limits: CardLimits = DEFAULT_LIMITS,
    temperature: float | None = None,
    max_article_tokens: int | None = None,
    max_tokens: int | None = None,
    ungrounded: str = Ungrounded.REASK,
) -> Profile:
    """The policy for `endpoint`; unset options take the endpoint's defaults."""
    if ungrounded not in UNGROUNDED:
        raise ConfigError(
            f"unknown ungrounded policy {ungrounded!r}; choose one of {', '.join(UNGROUNDED)}"
        )
    if mode is not None and mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if strategy is not None and strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if max_reasks < 0:
        raise ConfigError("max_reasks must be 0 or more")
    embedded = endpoint.embedded
    # llama.cpp turns a json_object schema straight into a grammar; elsewhere strict is safest.
    default_mode = Mode.JSON_OBJECT if embedded else Mode.JSON_SCHEMA
    # Deterministic first answers from the small local model; a little randomness on re-asks
    # so it does not repeat the same mistake word for word.
    first = temperature if temperature is not None else (0.0 if embedded else None)
    return Profile(
        endpoint=endpoint,
        mode=Mode(mode) if mode else default_mode,
        strategy=Strategy(strategy)
        if strategy
        else (Strategy.SECTIONED if embedded else Strategy.SINGLE),
        mode_chosen=mode is not None,
        max_reasks=max_reasks,
        limits=limits,
        temperature=first,
        reask_temperature=0.7 if embedded and temperature is None else first,
        max_article_tokens=max_article_tokens or article_budget(endpoint),
        max_tokens=max_tokens,
        ungrounded=Ungrounded(ungrounded),
        count_tokens=counter(endpoint),
    )


class Negotiation:
    """The profile a run uses, lowered at most once per mode when the endpoint rejects it.

    Concurrent articles may all send the default mode before the first rejection comes back;
    each reports the profile its request used, and only the first report for that mode lowers
    it, so every article ends up in one mode and the change is noted once."""

    def __init__(self, profile: Profile) -> None:
        self._profile = profile
        self._lock = threading.Lock()
        self.notes: list[str] = []

    @property
    def profile(self) -> Profile:
        return self._profile

    def rejected(self, sent: Profile, error: EndpointError) -> tuple[Profile, str | None]:
        """The profile to retry with after `error`, and a note if this call lowered it; raises
        `error` unless the endpoint refused `sent.mode` before answering anything."""
        lowered = sent.lowered()
        if error.status not in (400, 422) or error.usage.requests or lowered is None:
            raise error
        with self._lock:
            if self._profile.mode is not sent.mode:
                return self._profile, None  # another article already lowered it
            self._profile = lowered
        note = (
            f"the endpoint rejected mode {sent.mode.value} (HTTP {error.status}); "
            f"used {lowered.mode.value}"
        )
        self.notes.append(note)
        return lowered, note
