"""Long documents read whole: cut into parts that fit the model (`chunking`), each part
extracted by the ordinary `Extractor` (a bounded number at once, each cached on its own so
an interrupted report resumes), then merged into one card (`merge`) whose summary and title
a last model call writes from the parts' summaries (`prompts/document/summary.j2`).

Evidence offsets point into the whole document, and carry the PDF page they start on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

from extractor.backends.modes import read_reply, request_options
from extractor.core.article import Article
from extractor.core.card import CardLimits, SignalCard
from extractor.core.errors import ConfigError, ExtractionError
from extractor.core.record import ResultRecord, article_key
from extractor.core.result import ExtractionResult
from extractor.core.text import has_words, one_line
from extractor.core.usage import Usage
from extractor.pipeline.chunking import Chunk, split
from extractor.pipeline.extract import ROWS_WANTED, Extractor
from extractor.pipeline.ground import ground_card, sentences
from extractor.pipeline.merge import Embedder, document_limits, merge_items, merge_rows

_SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "summary": {"type": "string"}},
    "required": ["title", "summary"],
    "additionalProperties": False,
}
# Requests one part costs: one card, or the five sections of the sectioned strategy.
_REQUESTS = {"single": 1, "sectioned": 5}
_ANSWER_TOKENS = {"single": 1500, "sectioned": 1200}


class PartCache(Protocol):
    """Where finished parts are kept between runs (`batch.cache.CardCache` is one)."""

    def get(self, key: str) -> ResultRecord | None: ...

    def put(self, key: str, record: ResultRecord) -> None: ...


@dataclass(frozen=True)
class Plan:
    """What reading a document will cost, before anything is sent."""

    chunks: list[Chunk]
    skipped: int  # parts beyond max_chunks, left unread
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None


Progress = Callable[[Chunk, int, int, str], None]  # chunk, done, total, "done" / "cached"
LEAD_PARTS = 6  # parts whose first picked sentence makes a tiny model's report summary
# Where the merged card's fields came from (`ExtractionResult.sources`).
HEADLINE = "document title"
FIRST_TITLE = "the first part's title"
LEADS = "the first sentence the model picked in each of up to 6 parts, spread over the document"
WRITTEN = "model, from the parts' headlines and summaries"
FIRST = "the first part's (the summary of the parts failed)"
MERGED_ITEMS = "the parts', ranked by how many parts name them"


class DocumentReader:
    """Reads documents of any length with one `Extractor`.

    chunk_tokens: tokens per part (unset: the extractor's article budget). max_chunks: read at
    most this many parts, with a warning. concurrency: parts in flight at once. embedder:
    merges same-meaning rows (MiniLM); without one, rows merge by their words. limits: the
    merged card's item counts (unset: the extractor's, upper bounds grown with the parts)."""

    def __init__(
        self,
        extractor: Extractor,
        *,
        chunk_tokens: int | None = None,
        max_chunks: int | None = None,
        concurrency: int = 4,
        embedder: Embedder | None = None,
        limits: CardLimits | None = None,
    ) -> None:
        if chunk_tokens is not None and chunk_tokens < 200:
            raise ConfigError("chunk_tokens must be 200 or more")
        if max_chunks is not None and max_chunks < 1:
            raise ConfigError("max_chunks must be 1 or more")
        if concurrency < 1:
            raise ConfigError("concurrency must be 1 or more")
        self.extractor = extractor
        self.chunk_tokens = chunk_tokens or extractor.profile.max_article_tokens
        self.max_chunks = max_chunks
        self.concurrency = concurrency
        self.embedder = embedder
        self.limits = limits

    def plan(self, article: Article) -> Plan:
        profile = self.extractor.profile
        chunks = split(article.text, self.chunk_tokens, profile.count_tokens)
        kept = chunks[: self.max_chunks] if self.max_chunks else chunks
        per = _REQUESTS[profile.strategy.value]
        reading = per  # requests that carry the part's text
        if profile.picks_from_article:  # keywords, themes, pick, then a short request per row
            per, reading = 3 + ROWS_WANTED, 3
        overhead = 600 * per  # system prompt, task and row examples, per request
        prompt = sum(chunk.tokens * reading + overhead for chunk in kept)
        answer = _ANSWER_TOKENS[profile.strategy.value] * len(kept)
        summary = len(kept) > 1 and not profile.picks_from_article  # one request for it
        if summary:
            prompt, answer = prompt + 300 * len(kept) + 400, answer + 300
        usage = Usage(prompt_tokens=prompt, completion_tokens=answer)
        requests = per * len(kept) + summary
        return Plan(
            kept,
            len(chunks) - len(kept),
            requests,
            prompt,
            answer,
            usage.cost(profile.endpoint.model),
        )

    def read(
        self,
        article: Article,
        cache: PartCache | None = None,
        progress: Progress | None = None,
    ) -> ExtractionResult:
        """One card for the whole of `article`; raises the first part's error only when no
        part gave a card."""
        started = time.perf_counter()
        plan = self.plan(article)
        if len(plan.chunks) == 1 and not plan.skipped:
            result = self.extractor.extract(article)
            return with_pages(result, article)
        fingerprint = self.extractor.fingerprint()
        total = len(plan.chunks)
        done = 0
        # Parts finish on pool threads: the count and the progress callback (one line each,
        # which two threads' prints would otherwise interleave) are taken one at a time.
        reporting = threading.Lock()

        def one(chunk: Chunk) -> tuple[Chunk, ExtractionResult | ResultRecord | Exception]:
            nonlocal done
            part = replace(article, text=chunk.text, pages=(), warnings=())
            key = article_key(part, fingerprint)
            cached = cache.get(key) if cache is not None else None
            outcome: ExtractionResult | ResultRecord | Exception
            if cached is not None:
                outcome, how = cached, "cached"
            else:
                try:
                    outcome, how = self.extractor.extract(part), "done"
                except ExtractionError as err:
                    outcome, how = err, "failed"
                if cache is not None and isinstance(outcome, ExtractionResult):
                    cache.put(key, ResultRecord.of(outcome, id=f"part-{chunk.index}", key=key,
                                                   source="part", article=part))  # fmt: skip
            with reporting:
                done += 1
                if progress is not None:
                    progress(chunk, done, total, how)
            return chunk, outcome

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            outcomes = list(pool.map(one, plan.chunks))
        return self._merged(article, plan, outcomes, started)

    def _merged(
        self,
        article: Article,
        plan: Plan,
        outcomes: list[tuple[Chunk, ExtractionResult | ResultRecord | Exception]],
        started: float,
    ) -> ExtractionResult:
        usage, warnings, cards = Usage(), list(article.warnings), []
        attempts = []
        last: ExtractionResult | ResultRecord | None = None
        errors = []
        total = len(plan.chunks)
        for chunk, outcome in outcomes:
            where = f"part {chunk.index + 1} of {total}"
            if isinstance(outcome, Exception):
                errors.append(outcome)
                warnings.append(f"{where} gave no card, so the card misses it: {outcome}")
                continue
            if isinstance(outcome, ExtractionResult):
                usage.add(outcome.usage)
                attempts += outcome.attempts
                warnings += [f"{where}: {w}" for w in outcome.warnings]
            cards.append((chunk, outcome.card))
            last = outcome
        if not cards or last is None:
            raise errors[0]
        if plan.skipped:
            warnings.append(
                f"read {total} of {total + plan.skipped} parts (max_chunks): the card misses "
                f"the last {len(article.text) - plan.chunks[-1].end:,} characters"
            )
        limits = self.limits or document_limits(self.extractor.profile.limits, len(cards))
        parts = [card for _, card in cards]
        if self.extractor.profile.picks_from_article:
            title, summary, asked = self._picked_summary(article, parts)
            sources = {"title": HEADLINE if article.title else FIRST_TITLE, "summary": LEADS}
        else:
            title, summary, asked = self._summary(article, parts)
            sources = dict.fromkeys(("title", "summary"), WRITTEN if asked.requests else FIRST)
            if asked.requests == 0 and len(cards) > 1:
                warnings.append("the summary of the parts failed; the card keeps the first part's")
        usage.add(asked)
        by = "meaning (MiniLM)" if self.embedder is not None else "words"
        sources |= {
            "keywords": MERGED_ITEMS,
            "themes": MERGED_ITEMS,
            "signals": f"the parts' rows, the same signal merged by {by}, ranked by support",
        }
        card = SignalCard.model_validate(
            {
                "title": title,
                "summary": summary,
                "keywords": merge_items([c.keywords for _, c in cards], limits.keywords[1]),
                "themes": merge_items([c.themes for _, c in cards], limits.themes[1]),
                "signals": [
                    row.model_dump() for row in merge_rows(cards, limits.signals[1], self.embedder)
                ],
                "link": article.url,
            },
            context={"limits": limits},
        )
        whole = replace(article, warnings=())
        grounding, problems = ground_card(card, article.text)
        return with_pages(
            ExtractionResult(
                card=card,
                usage=usage,
                model=last.model,
                mode=last.mode,
                strategy=last.strategy,
                prompt_version=last.prompt_version,
                article=whole,
                attempts=attempts,
                warnings=warnings + problems,
                seconds=time.perf_counter() - started,
                grounding=grounding,
                sources=sources,
                chunks=len(cards),
            ),
            article,
        )

    @staticmethod
    def _picked_summary(article: Article, cards: list[SignalCard]) -> tuple[str, str, Usage]:
        """For a tiny model, as for its article cards: the document's own title, and a summary
        of sentences the model picked, the first of each part's, spread over the document. A
        135M model's summary of summaries is worse than either, and it invents."""
        count = min(LEAD_PARTS, len(cards))
        spread = sorted({round(i * (len(cards) - 1) / max(count - 1, 1)) for i in range(count)})
        leads = [_first_sentence(cards[i].summary) for i in spread]
        return article.title or cards[0].title, " ".join(dict.fromkeys(leads)), Usage()

    def _summary(self, article: Article, cards: list[SignalCard]) -> tuple[str, str, Usage]:
        """The report's headline and summary, written by the model from the parts' own; the
        first part's when the answer is unusable (and no request is counted as spent)."""
        extractor = self.extractor
        profile = extractor.profile
        prompt = extractor.prompts.render(
            "document/summary.j2",
            title=article.title,
            parts=[{"title": c.title, "summary": c.summary} for c in cards],
        )
        request = {
            "model": profile.endpoint.model,
            "messages": [{"role": "user", "content": prompt}],
            **request_options(profile.mode, _SUMMARY_SCHEMA, "report_summary"),
            profile.token_limit_key: profile.token_limit("summary"),
        }
        if profile.temperature is not None:
            request["temperature"] = profile.temperature
        usage = Usage()
        try:
            completion = extractor.client.complete(request, lambda _state: None)
            text = read_reply(completion, profile.mode).text or ""
            answer = json.loads(text[text.index("{") : text.rindex("}") + 1])
            title, summary = one_line(str(answer["title"])), one_line(str(answer["summary"]))
            if has_words(title) and has_words(summary):
                usage.requests = 1
                if completion.usage is not None:
                    usage.prompt_tokens = completion.usage.prompt_tokens
                    usage.completion_tokens = completion.usage.completion_tokens
                return title, summary, usage
        except Exception:  # any failure of this one call leaves the parts' own summary
            pass
        return cards[0].title, cards[0].summary, usage


def _first_sentence(text: str) -> str:
    spans = sentences(text)
    return text[spans[0][0] : spans[0][1]] if spans else text


def with_pages(result: ExtractionResult, article: Article) -> ExtractionResult:
    """Evidence spans told which PDF page they start on (a no-op for text without pages)."""
    if not article.pages:
        return result
    rows = [
        row.model_copy(
            update={
                "evidence": [
                    span.model_copy(update={"page": article.page_at(span.start)})
                    if span.start is not None
                    else span
                    for span in row.evidence
                ]
            }
        )
        for row in result.card.signals
    ]
    result.card = result.card.model_copy(update={"signals": rows})
    result.article = replace(result.article, pages=article.pages)
    return result
