"""Error classes. Each names one kind of failure so callers (and the CLI's exit codes) can tell
bad input from a failed extraction without parsing messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extractor.core.result import Attempt
    from extractor.core.usage import Usage


class ExtractorError(Exception):
    """Base of every error this library raises on purpose."""


class InputError(ExtractorError, ValueError):
    """The article could not be read or is not an article (empty, binary, unreachable URL)."""


class ConfigError(ExtractorError, ValueError):
    """The configuration is unusable (unknown mode, missing model, embedded model not installed)."""


class CardFormatError(ExtractorError, ValueError):
    """A seed-format document is malformed; `line` is 1-based where a line is to blame."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class ExtractionError(ExtractorError):
    """The model never produced a valid card. Carries every attempt with its raw output."""

    def __init__(self, message: str, attempts: list[Attempt], usage: Usage) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.usage = usage

    @property
    def raw(self) -> str | None:
        """The last raw model output, for debugging."""
        return self.attempts[-1].raw if self.attempts else None


class EndpointError(ExtractionError):
    """The endpoint failed at the transport level after bounded retries (HTTP status or network)."""

    def __init__(
        self, message: str, attempts: list[Attempt], usage: Usage, status: int | None = None
    ) -> None:
        super().__init__(message, attempts, usage)
        self.status = status


class ScoringError(ExtractorError):
    """Evaluation could not compute similarities (for example, the embeddings endpoint failed)."""


class StorageError(ExtractorError, OSError):
    """A file of the run could not be written (disk full, permissions): the run stops, and the
    message names the file and the operating system's reason."""


class ResultsInUseError(StorageError):
    """Another run holds the results file; the message names its process."""
