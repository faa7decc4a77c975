"""What a batch run reads: folders and globs of .txt / .md / .html / .pdf files, JSONL manifests
(`id` plus one of `text`, `html`, `url`; optional `title`, `url`, `date`), files listing URLs
one per line, and single files or URLs. Jobs are produced lazily, so 100,000 inputs cost no
more memory than ten; a job that cannot be read fails on its own, not the run."""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from extractor.core.article import Article
from extractor.core.errors import InputError
from extractor.pipeline.load import article_from_text, load_article

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".xhtml", ".pdf")
_URL = re.compile(r"^https?://\S+$", re.I)
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Job:
    id: str
    source: str
    text: str | None = None
    html: str | None = None
    url: str | None = None
    title: str | None = None
    date: str | None = None
    problem: str | None = None  # a manifest line that could not be read

    @property
    def remote(self) -> bool:
        """Loading it means waiting on the network."""
        local = self.text is not None or self.html is not None
        return not local and _URL.match(self.url or self.source) is not None

    def load(self) -> Article:
        """Read and clean the article; raises `InputError` with a one-line reason."""
        if self.problem:
            raise InputError(self.problem)
        if self.text is not None:
            article = article_from_text(self.text, name=self.id, html=False, url=self.url)
        elif self.html is not None:
            article = article_from_text(self.html, name=self.id, html=True, url=self.url)
        else:
            article = load_article(self.url or self.source)
        return replace(
            article,
            title=self.title or article.title,
            url=self.url or article.url,
            date=self.date or article.date,
        )


def jobs(inputs: Sequence[str | Job]) -> Iterator[Job]:
    """The articles behind `inputs`; a `Job` given directly is taken as it is."""
    for given in inputs:
        if isinstance(given, Job):
            yield given
        else:
            yield from _expand(given)


def count(inputs: Sequence[str | Job]) -> int:
    """How many jobs `jobs` will yield, for the progress bar's ETA; reads no article."""
    return sum(
        1 if isinstance(given, Job) else sum(1 for _ in _expand(given, counting=True))
        for given in inputs
    )


def _expand(given: str, counting: bool = False) -> Iterator[Job]:
    if _URL.match(given):
        yield Job(id=given, source=given, url=given)
        return
    path = Path(given)
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.suffix.lower() in ARTICLE_SUFFIXES):
            if file.is_file():
                yield Job(id=file.relative_to(path).as_posix(), source=str(file))
        return
    if _GLOB.search(given) and not path.exists():
        matches = sorted(glob.glob(given, recursive=True))
        if not matches:
            raise InputError(f"{given}: the pattern matches no file")
        for match in matches:
            if Path(match).is_file():
                yield Job(id=match, source=match)
        return
    if not path.is_file():
        raise InputError(f"{given}: no such file, folder or URL")
    if path.suffix.lower() == ".jsonl":
        yield from _manifest(path, counting)
    elif _is_url_list(path):
        yield from _urls(path)
    else:
        yield Job(id=path.name, source=str(path))


def _is_url_list(path: Path) -> bool:
    """A text file whose every non-blank, non-comment line (of the first 64 KB) is a URL."""
    if path.suffix.lower() not in (".txt", ".urls", ".list", ""):
        return False
    with path.open("rb") as handle:
        head = handle.read(65_536)
    lines = [line.strip() for line in head.decode("utf-8", "replace").splitlines()]
    if len(head) == 65_536:
        lines = lines[:-1]  # possibly cut in the middle
    lines = [line for line in lines if line and not line.startswith("#")]
    return bool(lines) and all(_URL.match(line) for line in lines)


def _urls(path: Path) -> Iterator[Job]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            url = line.strip()
            if url and not url.startswith("#"):
                yield Job(id=url, source=url, url=url)


def _manifest(path: Path, counting: bool) -> Iterator[Job]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            if counting:
                yield Job(id=where, source=where)
                continue
            yield _manifest_job(line, where)


def _manifest_job(line: str, where: str) -> Job:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as err:
        return Job(id=where, source=where, problem=f"{where}: not JSON ({err.msg})")
    if not isinstance(entry, dict):
        return Job(id=where, source=where, problem=f"{where}: not a JSON object")
    doc_id = str(entry.get("id") or where)
    fields = {k: entry.get(k) for k in ("text", "html", "url", "title", "date")}
    bad = [k for k, v in fields.items() if v is not None and not isinstance(v, str)]
    if bad:
        return Job(id=doc_id, source=where, problem=f"{where}: {', '.join(bad)} must be text")
    if fields["text"] is None and fields["html"] is None and fields["url"] is None:
        return Job(id=doc_id, source=where, problem=f"{where}: needs one of text, html or url")
    return Job(id=doc_id, source=where, **fields)
