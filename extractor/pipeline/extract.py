"""The extraction loop: prompt, ask, validate, re-ask with the errors, assemble the card.

The loop is written once as a generator that yields requests and receives completions, so
the sync and async entry points share every decision and differ only in how they wait.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

import openai
from openai.types.chat import ChatCompletion
from tenacity import RetryCallState
from typing_extensions import Unpack

from extractor.backends.client import BadResponse, ModelClient, RetryPolicy
from extractor.backends.config import resolve
from extractor.backends.modes import read_reply, request_options
from extractor.backends.profile import (
    Negotiation,
    Profile,
    Strategy,
    Ungrounded,
    resolve_profile,
)
from extractor.backends.throttle import Throttle
from extractor.core.article import Article
from extractor.core.card import DEFAULT_LIMITS, CardDraft, CardLimits, SignalCard
from extractor.core.errors import EndpointError, ExtractionError
from extractor.core.result import Attempt, ExtractionResult
from extractor.core.schema import SECTIONS, Citations, card_schema, pick_schema
from extractor.core.text import one_line, redact
from extractor.core.usage import Usage
from extractor.pipeline import shortlist
from extractor.pipeline.ground import Aligner, fold, ground_card
from extractor.pipeline.load import article_from_text
from extractor.pipeline.phrases import key_phrases
from extractor.pipeline.prompting import Message, Prompts
from extractor.pipeline.validate import CARD, Invalid, check_section, decode_json, picked

_SENTENCE_END = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s")  # also CJK full stops

Steps = Generator[dict[str, Any], ChatCompletion, ExtractionResult]
Carry = dict[str, list[Any]]
# An answer's text, the items carried from earlier attempts, and whether no re-ask is left.
Checked = tuple[dict[str, Any], list[str]]  # the values and the repairs made to them
Check = Callable[[str, Carry, bool], Checked]
# Where each card field came from, on every result.
MODEL = "model"
HEADLINE = "article headline"
PICKED_ROWS = (
    "model, one row per article sentence it picked; its change, horizon and driving force "
    "each chosen among the vocabulary's entries nearest that sentence"
)
PICKED_SUMMARY = "model, the article sentences it picked for the signals, in article order"
CHOSEN = {
    "keywords": "model, chosen among the article's phrases",
    "themes": "model, chosen among the vocabulary's fields nearest the article",
}
ROWS_WANTED = 5  # as many rows as a seed card has
# A seed card lists ten keywords and three themes; choosing, a small model is asked for so many.
CHOSEN_WANTED = {"keywords": 10, "themes": 3}
ROW_CELL_LENGTH = 50  # a seed row's cells are 30-47 characters
_MIN_EVIDENCE_WORDS = 8  # shorter sentences (headlines, datelines) carry no signal


@dataclass
class _Run:
    article: Article
    profile: Profile
    prompts: Prompts
    usage: Usage = field(default_factory=Usage)
    attempts: list[Attempt] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    filled: dict[str, int] = field(default_factory=dict)  # items added to a chosen list

    def count_retry(self, _state: RetryCallState) -> None:
        self.usage.transport_retries += 1

    def failed(self, error: Exception) -> EndpointError:
        status = getattr(error, "status_code", None)
        reason = f"HTTP {status}" if status else type(error).__name__
        message = getattr(error, "message", None) or str(error)
        weaker = self.profile.mode.weaker
        hint = ""
        if status in (400, 422) and weaker:
            hint = f" (if the endpoint lacks this structured-output mode, try --mode {weaker})"
        retries = self.usage.transport_retries
        # A proxy may echo the request, key included, into its error text.
        message = redact(one_line(str(message)), self.profile.endpoint.api_key)
        text = f"the endpoint failed ({reason}; {retries} transport retries): {message}{hint}"
        return EndpointError(text, self.attempts, self.usage, status=status)

    def steps(self) -> Steps:
        started = time.perf_counter()
        version = self.prompts.version
        article = self._fit(self.article)
        aligner = Aligner(article.text)
        sections = SECTIONS if self.profile.strategy is Strategy.SECTIONED else (CARD,)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        choices = self._choices(article)
        for section in sections:
            if section == "title" and self.profile.strategy is Strategy.SECTIONED and article.title:
                # A tiny model's title is a worse headline than the article's own.
                values["title"], sources["title"] = article.title, HEADLINE
            elif section == "summary" and self.profile.picks_from_article:
                continue  # made of the sentences the signals step picks
            elif section == "signals" and self.profile.picks_from_article:
                values.update((yield from self._rows_from_sentences(article, aligner)))
                sources["signals"], sources["summary"] = PICKED_ROWS, PICKED_SUMMARY
            else:
                values.update((yield from self._section(article, aligner, section, choices)))
                if section in choices:
                    added = self.filled.get(section)
                    sources[section] = CHOSEN[section] + (
                        f" ({added} added from the top of that list)" if added else ""
                    )
        sources = {name: sources.get(name, MODEL) for name in SECTIONS}
        draft = CardDraft.model_validate(values, context={"limits": self.profile.limits})
        card = SignalCard.from_draft(draft, link=article.url)
        grounding, problems = ground_card(card, article.text)
        if self.profile.ungrounded is Ungrounded.KEEP:
            problems = [p for p in problems if not p.startswith("signal ")]
        self.warnings.extend(problems)
        return ExtractionResult(
            card=card,
            usage=self.usage,
            model=self.profile.endpoint.model,
            mode=self.profile.mode.value,
            strategy=self.profile.strategy.value,
            prompt_version=version,
            article=article,
            attempts=self.attempts,
            warnings=self.warnings,
            seconds=time.perf_counter() - started,
            grounding=grounding,
            sources=sources,
        )

    def _section(
        self,
        article: Article,
        aligner: Aligner,
        section: str,
        choices: dict[str, list[str]],
    ) -> Generator[dict[str, Any], ChatCompletion, dict[str, Any]]:
        profile = self.profile
        limits, small = profile.limits, profile.small_model
        offered = choices.get(section, [])
        if offered:
            low, high = limits.bounds(section)
            wanted = max(low, min(CHOSEN_WANTED[section], high or CHOSEN_WANTED[section]))
            # As many themes as a seed card; keywords may run on to the usual maximum.
            limits = replace(limits, **{section: (wanted, wanted if section == "themes" else high)})
        citations: Citations = "sentence" if profile.cites_sentences else "quote"
        schema = card_schema(
            limits,
            SECTIONS if section == CARD else (section,),
            sentences=small,
            max_lengths=small and profile.takes_length_caps,
            citations=citations,
            # Split into sentences only when rows cite them: a quoting card never needs it.
            sentence_count=len(aligner.sentences) if citations == "sentence" else 0,
            choices={section: offered},
        )
        shown = schema if profile.schema_in_prompt else None
        # Numbered sentences in every section's prompt, not only the signals one, so that the
        # sections still share their long prompt prefix.
        text = aligner.numbered() if citations == "sentence" else article.text
        messages: list[Message] = self.prompts.messages(
            article,
            section,
            limits,
            shown,
            sentences=small,
            text=text,
            citations=citations,
            choices=offered if section == "themes" else (),
        )
        task = self.prompts.instructions(
            section, limits, shown, sentences=small, citations=citations
        )

        def check(answer: str, carry: Carry, final: bool) -> Checked:
            try:
                values, repairs = check_section(
                    answer, section, limits, task, article.text, carry, aligner
                )
            except Invalid as invalid:
                kept = invalid.usable.get(section)
                if not offered or not kept:
                    raise
                values, repairs = self._top_up(kept, offered, section, limits, invalid)
            return self._police(values, repairs, final), repairs

        return (yield from self._ask(section, messages, schema, check))

    def _top_up(
        self,
        kept: list[Any],
        offered: list[str],
        section: str,
        limits: CardLimits,
        invalid: Invalid,
    ) -> Checked:
        """A model choosing among a list repeats an item rather than ending short: what it
        chose stands, and the list's first items it did not choose fill the count."""
        seen = {fold(str(item)) for item in kept}
        extra = [item for item in offered if fold(item) not in seen]
        filled = [*kept, *extra[: max(0, limits.bounds(section)[0] - len(kept))]]
        try:
            values, repairs = check_section(json.dumps({section: filled}), section, limits)
        except Invalid:
            raise invalid from None
        self.filled[section] = len(filled) - len(kept)
        return values, [
            *repairs,
            f"{section}: the model chose {len(kept)}; {len(filled) - len(kept)} added from "
            "the top of its list",
        ]

    def _choices(self, article: Article) -> dict[str, list[str]]:
        """Small models behind an enforced schema choose keywords among the article's own
        phrases (when it has enough of them) and themes among broad fields; the others write
        their own."""
        if not self.profile.picks_from_article:
            return {}
        phrases = key_phrases(article.text)
        fields = shortlist.nearest(
            article.text, self.prompts.themes(), shortlist.embedder(), shortlist.THEME_CHOICES
        )
        enough = len(phrases) >= 2 * self.profile.limits.keywords[0]
        return {"keywords": phrases, "themes": fields} if enough else {"themes": fields}

    def _rows_from_sentences(
        self, article: Article, aligner: Aligner
    ) -> Generator[dict[str, Any], ChatCompletion, dict[str, Any]]:
        """Evidence first, for small models: the model picks the article sentences that
        report a change, then writes each row from its one sentence, which is the row's
        evidence. Short prompts keep a tiny model on topic and every row grounded."""
        profile = self.profile
        low, high = profile.limits.signals
        want = max(low, min(ROWS_WANTED, high or ROWS_WANTED))
        candidates = [
            number
            for number, (start, end) in enumerate(aligner.sentences, start=1)
            if len(article.text[start:end].split()) >= _MIN_EVIDENCE_WORDS
        ] or list(range(1, len(aligner.sentences) + 1))
        want = min(want, len(candidates))
        schema = pick_schema(candidates, want)
        messages = self.prompts.messages(
            article,
            "pick",
            CardLimits(signals=(want, want)),
            None,
            text=aligner.numbered(),
            citations="sentence",
        )

        def check_pick(answer: str, _carry: Carry, _final: bool) -> Checked:
            return {"picks": picked(answer, candidates, low)}, []

        picks = (yield from self._ask("pick", messages, schema, check_pick))["picks"]
        rows: list[dict[str, Any]] = []
        row_limits = CardLimits(signals=(1, 1))
        row_schema = card_schema(
            row_limits,
            ("signals",),
            max_lengths=profile.takes_length_caps,
            citations="none",
            cell_length=ROW_CELL_LENGTH,
        )["properties"]["signals"]["items"]
        # What the row prompt says besides its sentence: answers copied from it are echoes.
        row_task = self.prompts.row_instructions()
        vocabularies = self.prompts.cell_vocabularies()
        for number in picks:
            start, end = aligner.sentences[number - 1]
            sentence = article.text[start:end]
            row_messages = self.prompts.row(sentence)
            # Ranked against the headline too, which says what the sentence is part of; each
            # entry serves one row, so rows do not share a horizon.
            offered = shortlist.nearest_each(
                f"{article.title}. {sentence}" if article.title else sentence,
                vocabularies,
                shortlist.embedder(),
                shortlist.CELL_CHOICES,
                taken={cell: {row[cell] for row in rows} for cell in vocabularies},
            )
            schema = _with_choices(row_schema, offered)

            def check_row(answer: str, carry: Carry, final: bool, number: int = number) -> Checked:
                wrapped = json.dumps({"signals": [{"evidence": number, **_object(answer)}]})
                values, repairs = check_section(
                    wrapped, "signals", row_limits, row_task, article.text, carry, aligner
                )
                return self._police(values, repairs, final), repairs

            try:
                found = yield from self._ask(
                    "signal", row_messages, schema, check_row, min(profile.max_reasks, 1)
                )
            except ExtractionError:
                # One sentence that gives no row does not sink the card, and is not worth
                # more than one re-ask: the other sentences are.
                continue
            row = found["signals"][0]
            if all(_row_cells(row) != _row_cells(kept) for kept in rows):
                rows.append(row)
        if len(rows) < low:
            raise ExtractionError(
                f"no valid signals: {len(rows)} of the {len(picks)} sentences picked gave a row",
                self.attempts,
                self.usage,
            )
        return {"signals": rows, "summary": _summary(article, aligner, picks)}

    def _ask(
        self,
        section: str,
        messages: list[Message],
        schema: dict[str, Any],
        check: Check,
        max_reasks: int | None = None,
    ) -> Generator[dict[str, Any], ChatCompletion, dict[str, Any]]:
        """Ask until `check` accepts an answer, at most `max_reasks` (the profile's unless
        given) more times; each re-ask carries the errors (and the list items already
        accepted) back to the model."""
        profile = self.profile
        first = messages
        tries = (profile.max_reasks if max_reasks is None else max_reasks) + 1
        carry: Carry = {}
        asked = False  # the one re-ask about unsupported rows
        # The answer that re-ask was about: valid, so it stands if the re-ask does no better.
        before: tuple[dict[str, Any], list[str]] | None = None
        for attempt in range(tries):
            temperature = profile.temperature if attempt == 0 else profile.reask_temperature
            request = self._request(messages, section, schema, temperature, seed=attempt)
            completion = yield request
            self.usage.requests += 1
            if completion.usage is not None:
                self.usage.prompt_tokens += completion.usage.prompt_tokens
                self.usage.completion_tokens += completion.usage.completion_tokens
            reply = read_reply(completion, profile.mode)
            if reply.refusal or reply.finish_reason == "content_filter":
                why = reply.refusal or "the endpoint's content filter stopped the answer"
                self.attempts.append(
                    Attempt(section, reply.text, f"refused: {why}", reply.finish_reason)
                )
                raise ExtractionError(
                    f"the model refused ({section}): {why}", self.attempts, self.usage
                )
            try:
                if reply.finish_reason == "length":
                    raise Invalid(
                        [
                            f"the answer was cut off at {profile.token_limit(section)} "
                            "tokens; answer briefly"
                        ]
                    )
                if not reply.text:
                    raise Invalid(["the answer was empty"])
                values, repairs = check(reply.text, carry, asked or attempt + 1 == tries)
            except Invalid as invalid:
                if invalid.grounding:
                    asked, before = True, (invalid.values, invalid.repairs)
                self.attempts.append(
                    Attempt(section, reply.text, str(invalid), reply.finish_reason)
                )
                carry = invalid.usable or carry
                if attempt + 1 == tries and before is not None:
                    self.warnings.append(
                        f"{section}: the answers after the re-ask about unsupported rows were "
                        "unusable; kept the answer before it"
                    )
                    self.warnings.extend(before[1])
                    return before[0]
                if attempt + 1 == tries:
                    raise ExtractionError(
                        f"no valid {section} after {tries} attempts: {invalid.errors[0]}",
                        self.attempts,
                        self.usage,
                    ) from None
                self.usage.reasks += 1
                messages = self._reask(messages, first, reply.text, invalid.errors, carry)
                continue
            self.attempts.append(Attempt(section, reply.text, None, reply.finish_reason))
            if before is not None and _supported(before[0]) > _supported(values):
                self.warnings.append(
                    f"{section}: the re-asked answer had fewer supported rows; kept the one "
                    "before it"
                )
                values, repairs = before
            self.warnings.extend(repairs)
            return values
        raise AssertionError("unreachable: the loop returns or raises")

    def _police(self, values: dict[str, Any], repairs: list[str], final: bool) -> dict[str, Any]:
        """Apply the policy for signal rows the article does not support: raises `Invalid`
        to re-ask (once, with the reasons) or to ask for more rows when dropping left too few;
        returns the values to keep otherwise. `final`: no re-ask is left for this."""
        rows = values.get("signals")
        policy = self.profile.ungrounded
        if not isinstance(rows, list) or policy in (Ungrounded.KEEP, Ungrounded.FLAG):
            return values
        supported = [row for row in rows if _grounded(row)]
        if len(supported) == len(rows):
            return values
        usable = {k: v for k, v in values.items() if isinstance(v, list)}
        usable["signals"] = supported
        if policy is Ungrounded.REASK and not final:
            reasons = [_unsupported(number, row) for number, row in enumerate(rows, start=1)]
            raise Invalid(
                [r for r in reasons if r], usable, grounding=True, values=values, repairs=repairs
            )
        if policy is Ungrounded.DROP:
            self.warnings.append(
                f"signals: dropped {len(rows) - len(supported)} rows the article does not support"
            )
            low = self.profile.limits.signals[0]
            if len(supported) < low:
                raise Invalid(
                    [
                        f"only {len(supported)} signals are supported by the article; find "
                        f"{low - len(supported)} more, each with its evidence"
                    ],
                    usable,
                )
            return {**values, "signals": supported}
        return values

    def _reask(
        self,
        messages: list[Message],
        first: list[Message],
        raw: str | None,
        errors: list[str],
        carry: dict[str, list[Any]],
    ) -> list[Message]:
        """Capable models fix an answer best when shown it with its errors. Small ones (the
        sectioned strategy) copy whatever answer is in context, so they get the first prompt
        again with the errors and the items already kept, and no earlier answer."""
        if self.profile.strategy is not Strategy.SECTIONED:
            feedback = self.prompts.reask(errors)
            return [*messages, {"role": "assistant", "content": raw or ""}, _user(feedback)]
        kept = [_label(item) for items in carry.values() for item in items]
        feedback = self.prompts.reask(errors, kept)
        return [*first[:-1], _user(first[-1]["content"] + "\n\n" + feedback)]

    def _request(
        self,
        messages: list[Message],
        section: str,
        schema: dict[str, Any],
        temperature: float | None,
        seed: int,
    ) -> dict[str, Any]:
        profile = self.profile
        request: dict[str, Any] = {
            "model": profile.endpoint.model,
            "messages": messages,
            **request_options(profile.mode, schema, f"signal_card_{section}"),
        }
        request[profile.token_limit_key] = profile.token_limit(section)
        if temperature is not None:
            request["temperature"] = temperature
        if profile.seeded:
            request["seed"] = seed
        return request

    def _fit(self, article: Article) -> Article:
        """Cut an article over the token budget at the last sentence end that fits, and say
        so on the result: a long report loses its tail, never the whole card."""
        budget, count = self.profile.max_article_tokens, self.profile.count_tokens
        # No token is longer than 16 characters in real text: the search starts from there.
        text = article.text[: budget * 16]
        total = count(text)
        if total <= budget and len(text) == len(article.text):
            return article
        ends = [m.start() + 1 for m in _SENTENCE_END.finditer(text)] + [len(text)]
        low, high = 0, len(ends) - 1
        while low < high:  # the longest prefix, ending a sentence, within the budget
            middle = (low + high + 1) // 2
            if count(text[: ends[middle]]) <= budget:
                low = middle
            else:
                high = middle - 1
        cut = text[: ends[low]]
        if count(cut) > budget:  # not even one sentence fits: cut inside it
            cut = cut[: budget * len(cut) // max(count(cut), 1)]
        self.warnings.append(
            f"article truncated to fit the model: {len(cut.split())} of "
            f"{len(article.text.split())} words kept (a budget of {budget} tokens)"
        )
        return replace(article, text=cut.rstrip())


def _summary(article: Article, aligner: Aligner, picks: list[int]) -> str:
    """The picked sentences, in article order and without the headline: sentences that report
    the article's changes summarise it better than a tiny model's paraphrase, and invent
    nothing."""
    headline = fold(article.title or "")
    chosen = [
        " ".join(article.text[slice(*aligner.sentences[n - 1])].split()) for n in sorted(picks)
    ]
    kept = [text for text in chosen if fold(text) != headline]
    return " ".join(kept or chosen)


def _with_choices(schema: dict[str, Any], offered: dict[str, list[str]]) -> dict[str, Any]:
    """`schema` of a row each of whose `offered` cells is one of its entries."""
    chosen = {cell: {"type": "string", "enum": entries} for cell, entries in offered.items()}
    return {**schema, "properties": {**schema["properties"], **chosen}}


def _as_article(article: str | Article) -> Article:
    return article_from_text(article) if isinstance(article, str) else article


def _user(content: str) -> Message:
    return {"role": "user", "content": content}


def _object(answer: str) -> dict[str, Any]:
    value = decode_json(answer)
    if not isinstance(value, dict):
        raise Invalid(["expected one JSON object with the four fields"])
    value.pop("evidence", None)
    return value


def _row_cells(row: dict[str, Any]) -> list[str]:
    return [str(v).casefold() for k, v in row.items() if k != "evidence"]


def _grounded(row: dict[str, Any]) -> bool:
    return any(span["match"] != "none" for span in row["evidence"])


def _supported(values: dict[str, Any]) -> int:
    rows = values.get("signals")
    return sum(_grounded(row) for row in rows) if isinstance(rows, list) else 0


def _unsupported(number: int, row: dict[str, Any]) -> str | None:
    """Why row `number` needs better evidence, in words a model can act on; None if fine."""
    spans = row["evidence"]
    if _grounded(row):
        return None
    cited = "; ".join(str(span["text"])[:80] for span in spans if span["text"])
    where = f"its evidence {cited!r}" if cited else "it cites nothing"
    found = any(span["start"] is not None for span in spans)
    why = "says nothing about it" if found else "is not in the article"
    return (
        f"signal {number} ({str(row.get('signal', ''))[:60]!r}): {where} {why}; give the "
        "article's own sentence it comes from"
    )


def _label(item: Any) -> str:
    return str(item.get("signal", "")) if isinstance(item, dict) else str(item)


class Pending:
    """An extraction paused at its first request."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.steps = run.steps()
        self.request: dict[str, Any] = next(self.steps)


class Extractor:
    """A configured extractor; reuse one for many articles to share clients and connections.

    model, base_url, api_key: the endpoint; unset, the environment, then the embedded model.
    mode: json_schema | json_object | tools | json; unset, chosen per endpoint (and lowered
        once for the whole run if the endpoint rejects it).
    strategy: single | sectioned; unset, sectioned for the embedded model, else single.
    max_reasks: re-asks after a validation failure, per card or section.
    max_retries: transport retries per request (429, 5xx, timeouts, connection errors).
    limits: item counts the validators and the schema enforce.
    temperature: unset, 0 for the embedded model and the endpoint's default elsewhere.
    timeout: seconds per request. max_article_tokens: longer articles are cut at a sentence
        end, with a warning (unset: what the model's context leaves room for).
    max_tokens: completion cap per request; raise it for reasoning models, whose hidden
        reasoning counts against it. prompts_dir: your own templates.
    throttle: pacing shared with other extractors (async only): a run-wide pause on 429 and
        optional request and token rate caps.
    ungrounded: keep | flag | drop | reask, for signal rows the article does not support;
        reask (the default) asks once more with the reasons, then flags what remains.

    The policy is resolved once into `profile`; an extractor shared by many threads or tasks
    is safe, because nothing about it changes mid-run except, once, a rejected mode.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        mode: str | None = None,
        strategy: str | None = None,
        max_reasks: int = 2,
        max_retries: int = 3,
        limits: CardLimits = DEFAULT_LIMITS,
        temperature: float | None = None,
        timeout: float | None = None,
        max_article_tokens: int | None = None,
        max_tokens: int | None = None,
        prompts_dir: str | None = None,
        retry_policy: RetryPolicy | None = None,
        throttle: Throttle | None = None,
        ungrounded: str = Ungrounded.REASK,
    ) -> None:
        endpoint = resolve(model, base_url, api_key, timeout)
        self._negotiation = Negotiation(
            resolve_profile(
                endpoint,
                mode=mode,
                strategy=strategy,
                max_reasks=max_reasks,
                limits=limits,
                temperature=temperature,
                max_article_tokens=max_article_tokens,
                max_tokens=max_tokens,
                ungrounded=ungrounded,
            )
        )
        self.prompts = Prompts(Path(prompts_dir) if prompts_dir else None)
        self.client = ModelClient(
            endpoint, retry_policy or RetryPolicy(max_retries=max_retries), throttle
        )

    @property
    def profile(self) -> Profile:
        """The policy new extractions use (after any mode the endpoint rejected)."""
        return self._negotiation.profile

    @property
    def notes(self) -> list[str]:
        """What the run changed about the policy, such as a mode the endpoint rejected."""
        return list(self._negotiation.notes)

    def fingerprint(self) -> str:
        return self.profile.fingerprint(self.prompts.version)

    def _run(self, article: Article, profile: Profile, notes: list[str]) -> _Run:
        return _Run(article, profile, self.prompts, warnings=[*article.warnings, *notes])

    def extract(self, article: str | Article) -> ExtractionResult:
        parsed = _as_article(article)
        profile, notes = self.profile, list[str]()
        while True:
            run = self._run(parsed, profile, notes)
            steps = run.steps()
            request = next(steps)
            try:
                while True:
                    try:
                        completion = self.client.complete(request, run.count_retry)
                    except (openai.APIError, BadResponse) as err:
                        raise run.failed(err) from err
                    request = steps.send(completion)
            except StopIteration as done:
                result: ExtractionResult = done.value
                return result
            except EndpointError as err:
                profile, note = self._negotiation.rejected(profile, err)
                notes += [note] if note else []

    async def aextract(self, article: str | Article) -> ExtractionResult:
        parsed = _as_article(article)
        profile, notes = self.profile, list[str]()
        while True:
            pending = Pending(self._run(parsed, profile, notes))
            try:
                return await self.aresume(pending)
            except EndpointError as err:
                profile, note = self._negotiation.rejected(profile, err)
                notes += [note] if note else []

    def pending(self, article: str | Article) -> Pending:
        """An extraction stopped before its first request, for callers that send that request
        another way (the Batch API) and hand the answer to `aresume`."""
        return Pending(self._run(_as_article(article), self.profile, []))

    async def aresume(
        self, pending: Pending, completion: ChatCompletion | None = None
    ) -> ExtractionResult:
        """Go on from `pending.request`: with its answer when given, else by sending it; any
        further request (a re-ask, the next section) is sent live."""
        run, steps, request = pending.run, pending.steps, pending.request
        try:
            while True:
                if completion is None:
                    try:
                        completion = await self.client.acomplete(request, run.count_retry)
                    except (openai.APIError, BadResponse) as err:
                        raise run.failed(err) from err
                request = steps.send(completion)
                completion = None
        except StopIteration as done:
            result: ExtractionResult = done.value
            return result

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.client.aclose()


class ExtractorOptions(TypedDict, total=False):
    """The keyword arguments of `Extractor`, so the one-shot functions are typed too."""

    model: str | None
    base_url: str | None
    api_key: str | None
    mode: str | None
    strategy: str | None
    max_reasks: int
    max_retries: int
    limits: CardLimits
    temperature: float | None
    timeout: float | None
    max_article_tokens: int | None
    max_tokens: int | None
    prompts_dir: str | None
    retry_policy: RetryPolicy | None
    throttle: Throttle | None
    ungrounded: str


def extract_article(
    article: str | Article, **options: Unpack[ExtractorOptions]
) -> ExtractionResult:
    """Turn one article (text, markdown or HTML, or an `Article`) into a validated signal card.

    Options are those of `Extractor`. Raises `InputError`, `ConfigError` or `ExtractionError`.
    """
    extractor = Extractor(**options)
    try:
        return extractor.extract(article)
    finally:
        extractor.close()


async def aextract_article(
    article: str | Article, **options: Unpack[ExtractorOptions]
) -> ExtractionResult:
    """The async twin of `extract_article`."""
    extractor = Extractor(**options)
    try:
        return await extractor.aextract(article)
    finally:
        await extractor.aclose()
