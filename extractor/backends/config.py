"""Which endpoint and model to use: explicit arguments, then the environment, then the
embedded local model, so a user with nothing configured still gets a card offline."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from extractor.core.errors import ConfigError

EMBEDDED = "embedded"
EMBEDDED_MODEL = "smollm2-135m-instruct"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Endpoint:
    model: str
    base_url: str | None
    api_key: str | None
    embedded: bool
    timeout: float = 120.0

    @property
    def host_kind(self) -> str:
        """'embedded', 'openai', 'azure' or 'compatible': decides defaults the API differs on."""
        if self.embedded:
            return "embedded"
        host = urlparse(self.base_url or "https://api.openai.com").hostname or ""
        if host.endswith("openai.azure.com") or host.endswith("cognitiveservices.azure.com"):
            return "azure"
        if host == "api.openai.com":
            return "openai"
        return "compatible"


def resolve(
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    env = os.environ if environ is None else environ
    chose_embedded = base_url == EMBEDDED
    base_url = base_url or env.get("OPENAI_BASE_URL") or None
    api_key = api_key or env.get("OPENAI_API_KEY") or None
    # An explicit choice of the embedded model overrides a model named in the environment.
    model = model or (None if chose_embedded else env.get("EXTRACTOR_MODEL")) or None
    embedded = chose_embedded or (base_url is None and api_key is None)
    if embedded:
        if model not in (None, EMBEDDED_MODEL):
            raise ConfigError(
                f"model {model!r} needs an endpoint: pass --base-url or set OPENAI_BASE_URL / "
                f"OPENAI_API_KEY (with no endpoint the embedded {EMBEDDED_MODEL} runs)"
            )
        base_url, model = None, EMBEDDED_MODEL
    elif base_url is not None and not urlparse(base_url).scheme.startswith("http"):
        raise ConfigError(f"base URL {base_url!r} is not an http(s) URL")
    if model is None:
        if base_url is not None and urlparse(base_url).hostname != "api.openai.com":
            raise ConfigError(
                "name the model to use on this endpoint with --model or EXTRACTOR_MODEL"
            )
        model = OPENAI_DEFAULT_MODEL
    if timeout is not None and timeout <= 0:
        raise ConfigError("timeout must be a positive number of seconds")
    return Endpoint(
        model=model,
        base_url=base_url,
        api_key=api_key,
        embedded=embedded,
        timeout=120.0 if timeout is None else timeout,
    )
