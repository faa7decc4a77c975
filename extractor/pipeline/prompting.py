"""Prompt stage: render the jinja2 templates in `prompts/` into chat messages.

The sandbox and StrictUndefined mean a template typo fails loudly and a template can reach
nothing dangerous; the article is only ever a variable, so `{{ 7*7 }}` inside an article
reaches the model as those seven characters.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from extractor.core.article import Article
from extractor.core.card import CardLimits

_PACKAGE = Path(__file__).resolve().parent.parent
# Installed wheels carry the templates inside the package; a source checkout keeps them top level.
_CANDIDATES = (_PACKAGE / "prompts", _PACKAGE.parent / "prompts")

Message = dict[str, Any]


def prompts_dir() -> Path:
    for candidate in _CANDIDATES:
        if (candidate / "system.j2").is_file():
            return candidate
    raise FileNotFoundError("prompt templates not found; the package is installed incompletely")


@cache
def _environment(directory: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


def _version(directory: Path) -> str:
    # Re-hashed only when a template's size or modification time changes: a batch asks for
    # the version once per article.
    with os.scandir(directory) as entries:  # no Path per file: this runs once per card
        stamps = tuple(
            sorted(
                (entry.name, stat.st_size, stat.st_mtime_ns)
                for entry in entries
                if entry.name.endswith((".j2", ".json"))  # templates, and what they show
                for stat in [entry.stat()]
            )
        )
    return _hash(directory, stamps)


@cache
def _hash(directory: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@cache
def _examples(path: Path, _mtime_ns: int) -> list[dict[str, Any]]:
    # Read once per version of the file, not once per row request.
    examples: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return examples


# The row cells a small model chooses among a vocabulary rather than writes, and their files.
CELL_VOCABULARIES = {
    "change": "changes.json",
    "horizon_10y": "horizons.json",
    "driving_force": "drivers.json",
}


@cache
def _vocabulary(path: Path, _mtime_ns: int) -> tuple[str, ...]:
    return tuple(json.loads(path.read_text(encoding="utf-8")))


class Prompts:
    """The template set of one directory; `version` changes whenever any template does."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = (directory or prompts_dir()).resolve()
        self._env = _environment(self.directory)

    @property
    def version(self) -> str:
        """Read afresh each time: jinja reloads edited templates, so the hash must follow."""
        return _version(self.directory)

    def render(self, name: str, **variables: Any) -> str:
        return self._env.get_template(name).render(**variables).strip()

    def messages(
        self,
        article: Article,
        section: str,
        limits: CardLimits,
        schema: dict[str, Any] | None,
        sentences: bool = False,
        text: str | None = None,
        citations: str = "quote",
        choices: Sequence[str] = (),
    ) -> list[Message]:
        """System then user message. The article comes before the task so that the calls for
        different sections share a long prompt prefix, which llama.cpp reuses from its cache.
        `sentences` asks for the summary as a list of sentences (see `card_schema`); `text`
        is the article as shown (numbered sentences when rows cite them by number); `choices`
        are the items the task offers, shown to the model."""
        schema_text = json.dumps(schema, ensure_ascii=False) if schema is not None else ""
        system = self.render("system.j2")
        user = self.render(
            "user.j2",
            article=article,
            text=article.text if text is None else text,
            section=section,
            limits=limits,
            schema=schema_text,
            sentences=sentences,
            citations=citations,
            choices=choices,
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def instructions(
        self,
        section: str,
        limits: CardLimits,
        schema: dict[str, Any] | None,
        sentences: bool = False,
        citations: str = "quote",
    ) -> str:
        """What the prompt says besides the article and its metadata: the text a model's
        answer must not be copied from (a headline taken from the article is no echo)."""
        task = self.render(
            "task.j2",
            section=section,
            limits=limits,
            sentences=sentences,
            citations=citations,
            choices=(),
        )
        schema_text = json.dumps(schema, ensure_ascii=False) if schema is not None else ""
        return "\n".join((self.render("system.j2"), task, schema_text))

    def row(self, sentence: str) -> list[Message]:
        """The request for one signal row, written from one sentence of the article, after
        worked examples as earlier turns: a tiny model follows a shown answer far better
        than a described one. The examples' domains are none of the gold articles'. The
        headline is not shown: a tiny model copies it into every row."""
        messages: list[Message] = [{"role": "system", "content": self.render("system.j2")}]
        for example in self.row_examples():
            shown = self.render("row.j2", sentence=example["sentence"])
            messages.append({"role": "user", "content": shown})
            messages.append({"role": "assistant", "content": json.dumps(example["row"])})
        user = self.render("row.j2", sentence=sentence)
        return [*messages, {"role": "user", "content": user}]

    def row_examples(self) -> list[dict[str, Any]]:
        path = self.directory / "row_examples.json"
        return _examples(path, path.stat().st_mtime_ns)

    def row_instructions(self) -> str:
        """What a row answer must not be copied from: the task and the examples' rows."""
        shown = [json.dumps(example["row"]) for example in self.row_examples()]
        return "\n".join([self.render("row.j2", sentence=""), *shown])

    def themes(self) -> tuple[str, ...]:
        """The broad fields small models choose their themes among."""
        path = self.directory / "themes.json"
        return _vocabulary(path, path.stat().st_mtime_ns)

    def cell_vocabularies(self) -> dict[str, tuple[str, ...]]:
        """Per row cell, the entries small models choose it among."""
        return {
            cell: _vocabulary(path, path.stat().st_mtime_ns)
            for cell, name in CELL_VOCABULARIES.items()
            for path in [self.directory / name]
        }

    def reask(self, errors: list[str], kept: list[str] | None = None) -> str:
        return self.render("reask.j2", errors=errors, kept=kept or [])
