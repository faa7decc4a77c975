"""Long documents read whole through an OpenAI-compatible endpoint (the loopback fake): every
part reaches the model, one card comes back, its evidence reaches the end of the text."""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from extractor.batch.cache import CardCache
from extractor.batch.run import BatchOptions, extract_batch
from extractor.cli import main
from extractor.core.card import ANY_COUNT, CardLimits, SignalCard
from extractor.pipeline.chunking import Chunk, split
from extractor.pipeline.document import DocumentReader
from extractor.pipeline.ground import sentences
from extractor.pipeline.load import article_from_text, load_article
from extractor.pipeline.merge import document_limits, merge_items, merge_rows
from tests.fakeserver import (
    ARTICLE,
    CITE,
    SIGNALS,
    FakeServer,
    Step,
    card_json,
    cells,
    make_extractor,
    read_jsonl,
    refusal,
    reply,
)
from tests.pdfs import report_pdf

ROOT = Path(__file__).resolve().parent.parent
GOLD = [
    (ROOT / "evals" / json.loads(line)["article"]).read_text(encoding="utf-8")
    for line in (ROOT / "evals" / "manifest.jsonl").read_text().splitlines()
]
SUMMARY = {"title": "A Long Report On Many Changes", "summary": "The report covers many shifts."}
_ARTICLE = re.compile(r"<article>\n(.*?)\n</article>", re.S)


def _report(words: int = 50_000) -> str:
    parts: list[str] = []
    while sum(len(p.split()) for p in parts) < words:
        parts.append(GOLD[len(parts) % len(GOLD)])
    return "\n\n".join(parts)


def _parts(server: FakeServer, text: str, tokens: int) -> list[Chunk]:
    extractor = make_extractor(server)
    try:
        return split(text.strip(), tokens, extractor.profile.count_tokens)
    finally:
        extractor.close()


def _answer(body: dict[str, Any]) -> Step:
    if "report_summary" in json.dumps(body.get("response_format", {})):
        return reply(json.dumps(SUMMARY))
    return reply(card_json())


def test_a_50000_word_report_is_read_whole_into_one_card(server: FakeServer) -> None:
    text = _report()
    assert len(text.split()) >= 50_000
    server.play(_answer)
    extractor = make_extractor(server, mode="json_schema", strategy="single")
    reader = DocumentReader(extractor, chunk_tokens=20_000, concurrency=3)
    article = article_from_text(text, name="report")
    try:
        result = reader.read(article)
    finally:
        extractor.close()
    sent = [m.group(1) for r in server.requests if (m := _ARTICLE.search(r.user_text))]
    chunks = reader.plan(article).chunks
    assert sorted(sent) == sorted(chunk.text for chunk in chunks)
    assert len(sent) == result.chunks >= 5 and len(server.requests) == len(sent) + 1
    assert chunks[0].start == 0 and chunks[-1].end == len(result.article.text)
    assert all(after.start <= before.end for before, after in itertools.pairwise(chunks))
    assert result.card.title == SUMMARY["title"]
    ends = [s.end for row in result.card.signals for s in row.evidence if s.end is not None]
    assert max(ends) > 0.8 * len(text)
    for row in result.card.signals:
        for span in row.evidence:
            if span.start is not None and span.match != "none":
                assert text[span.start : span.end] == span.text


def test_an_interrupted_report_resumes_from_the_cache(server: FakeServer, tmp_path: Path) -> None:
    text = _report(8_000)
    server.play(_answer)
    extractor = make_extractor(server, mode="json_schema", strategy="single")
    cache = CardCache(tmp_path / "cache.sqlite")
    seen: list[str] = []
    reader = DocumentReader(extractor, chunk_tokens=3_000, concurrency=1)
    try:
        first = reader.read(article_from_text(text), cache=cache)
        sent = len(server.requests)
        again = reader.read(
            article_from_text(text), cache=cache, progress=lambda *a: seen.append(a[3])
        )
    finally:
        extractor.close()
        cache.close()
    assert first.chunks > 2 and set(seen) == {"cached"}
    assert len(server.requests) == sent + 1  # only the summary is asked again
    assert again.card.signals == first.card.signals


def test_parts_report_progress_one_at_a_time_with_distinct_counts(server: FakeServer) -> None:
    server.play(_answer)
    extractor = make_extractor(server, mode="json_schema", strategy="single")
    inside, overlaps, counts = [0], [0], []

    def progress(_chunk: Chunk, done: int, _total: int, _how: str) -> None:
        inside[0] += 1
        overlaps[0] += inside[0] > 1
        time.sleep(0.01)  # long enough for another part to finish meanwhile
        counts.append(done)
        inside[0] -= 1

    try:
        reader = DocumentReader(extractor, chunk_tokens=3_000, concurrency=4)
        result = reader.read(article_from_text(_report(12_000)), progress=progress)
    finally:
        extractor.close()
    assert overlaps == [0]
    assert counts == list(range(1, result.chunks + 1))


def test_a_dry_run_prints_the_cost_and_sends_nothing(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.txt"
    path.write_text(_report(20_000))
    code = main(
        ["extract", str(path), "--base-url", server.base_url, "--model", "gpt-4o-mini",
         "--chunk-tokens", "8000", "--max-chunks", "3", "--dry-run"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and not server.requests
    assert out.count("part ") == 3 and "3 parts" in out and "requests" in out and "$" in out


def test_a_two_article_pdf_gives_evidence_on_its_last_page(
    server: FakeServer, tmp_path: Path
) -> None:
    path = report_pdf(GOLD[:2], tmp_path / "two.pdf")
    article = load_article(path)
    last = article.text[sentences(article.text)[-1][0] :]
    words = last.rstrip(".").split()
    row = {
        "evidence": CITE,
        "signal": " ".join(words[:8]),
        "change": " ".join(words[8:14]),
        "horizon_10y": " ".join(words[14:20]),
        "driving_force": " ".join(words[-4:]),
    }

    def answer(body: dict[str, Any]) -> Step:
        if "report_summary" in json.dumps(body.get("response_format", {})):
            return reply(json.dumps(SUMMARY))
        return reply(card_json(signals=[*SIGNALS, row]))

    server.play(answer)
    extractor = make_extractor(server, mode="json_schema", strategy="single")
    try:
        result = DocumentReader(extractor, chunk_tokens=1_500).read(article)
    finally:
        extractor.close()
    assert {s.page for row in result.card.signals for s in row.evidence} - {None}
    ends = [s.end for row in result.card.signals for s in row.evidence if s.end]
    assert result.chunks >= 2 and article.page_at(max(ends) - 1) == len(article.pages)


def test_chunks_cut_at_sentence_ends_and_overlap_a_little() -> None:
    text = _report(5_000)
    chunks = split(text, 1_000, lambda t: len(t) // 4)
    assert len(chunks) > 4 and chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    for before, after in itertools.pairwise(chunks):
        assert after.start <= before.end and before.text.rstrip()[-1] in ".!?\"'"
        assert before.tokens <= 1_000


def test_items_rank_by_how_many_parts_name_them_and_limits_grow() -> None:
    assert merge_items([["a", "B"], ["b", "c"], ["C", "b"]], 2) == ["B", "c"]
    grown = document_limits(CardLimits(), 9)
    assert grown.signals == (2, 24) and grown.keywords == (5, 30) and grown.themes == (2, 10)


def test_a_part_without_a_card_is_named_and_the_rest_kept(server: FakeServer) -> None:
    text = _report(6_000)
    marker = GOLD[3].split("\n")[0][:40]

    def answer(body: dict[str, Any]) -> Step:
        if marker in json.dumps(body):
            return refusal("I cannot help with that.")
        return _answer(body)

    server.play(answer)
    extractor = make_extractor(server, mode="json_schema", strategy="single")
    try:
        result = DocumentReader(extractor, chunk_tokens=2_000).read(article_from_text(text))
    finally:
        extractor.close()
    missed = [w for w in result.warnings if "gave no card" in w]
    assert missed and result.chunks == len(
        DocumentReader(extractor, chunk_tokens=2_000).plan(article_from_text(text)).chunks
    ) - len(missed)
    assert result.card.signals


def _report_command(server: FakeServer, tmp_path: Path) -> tuple[Path, list[str]]:
    """A 12,000-word report on disk and the `extract` arguments that read it in parts."""
    path = tmp_path / "report.txt"
    path.write_text(_report(12_000))
    server.play(_answer)
    endpoint = ["--base-url", server.base_url, "--model", "fake-model", "--mode", "json_schema"]
    return path, ["extract", str(path), *endpoint, "--chunk-tokens", "3000", "--no-cache"]


def test_the_cli_reports_each_part_and_reads_only_max_chunks(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, args = _report_command(server, tmp_path)
    assert main([*args, "--dry-run"]) == 0
    total = capsys.readouterr().out.count("part ")
    assert total > 3 and not server.requests

    assert main(args) == 0
    err = capsys.readouterr().err
    lines = re.findall(rf"^part (\d+) of {total}: done \((\d+)/{total}\)$", err, re.M)
    assert sorted(int(part) for part, _ in lines) == list(range(1, total + 1))
    assert sorted(int(done) for _, done in lines) == list(range(1, total + 1))
    assert len(server.requests) == total + 1  # each part, then the summary of the parts

    before = len(server.requests)
    server.play(_answer)
    assert main([*args, "--max-chunks", "2"]) == 0
    out, err = capsys.readouterr()
    asked = server.requests[before:]
    sent = sorted(m.group(1) for r in asked if (m := _ARTICLE.search(r.user_text)))
    assert sent == sorted(chunk.text for chunk in _parts(server, path.read_text(), 3000)[:2])
    assert f"read 2 of {total} parts (max_chunks)" in err
    assert SignalCard.from_markdown(out).signals


def test_the_cli_caps_a_long_documents_card(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, args = _report_command(server, tmp_path)
    assert main([*args, "--max-signals", "2", "--max-keywords", "3"]) == 0
    card = SignalCard.from_markdown(capsys.readouterr().out)
    assert len(card.signals) == 2 and len(card.keywords) == 3
    assert main([*args, "--max-themes", "0"]) == 2
    assert "--max-themes must be 1 or more" in capsys.readouterr().err


def test_a_batch_reads_a_long_document_whole_and_skips_it_on_a_rerun(
    server: FakeServer, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    text = _report(8_000)
    (folder / "report.txt").write_text(text)
    (folder / "solar.txt").write_text(ARTICLE)
    server.play(_answer)
    out = tmp_path / "results.jsonl"
    options: dict[str, Any] = {
        "base_url": server.base_url, "model": "fake-model", "mode": "json_schema",
        "strategy": "single", "max_article_tokens": 2_500,
    }  # fmt: skip
    extract_batch([str(folder)], out, BatchOptions(closest=0), **options)
    records = {Path(r["source"]).name: r for r in read_jsonl(out)}
    report = records["report.txt"]
    parts = len(_parts(server, text, 2_500))
    assert parts > 2 and len(server.requests) == parts + 1 + 1  # parts, summary, the article
    ends = [s["end"] for row in report["card"]["signals"] for s in row["evidence"] if s["end"]]
    assert max(ends) > 0.8 * len(report["article"]["text"])
    assert records["solar.txt"]["card"]["signals"]

    sent = len(server.requests)
    extract_batch([str(folder)], out, BatchOptions(closest=0), **options)
    assert len(server.requests) == sent
    assert len(read_jsonl(out)) == 2


def test_a_one_part_pdf_in_a_batch_has_pages_on_its_evidence(
    server: FakeServer, tmp_path: Path
) -> None:
    path = report_pdf(GOLD[:2], tmp_path / "two.pdf")
    article = load_article(path)
    last = article.text[sentences(article.text)[-1][0] :].rstrip(".").split()
    row = {"evidence": CITE, "signal": " ".join(last[:8]), "change": " ".join(last[8:14]),
           "horizon_10y": " ".join(last[14:20]), "driving_force": " ".join(last[-4:])}  # fmt: skip
    server.play(reply(card_json(signals=[*SIGNALS, row])))
    out = tmp_path / "results.jsonl"
    extract_batch(
        [str(path)], out, BatchOptions(closest=0), base_url=server.base_url,
        model="fake-model", mode="json_schema", strategy="single",
    )  # fmt: skip
    (record,) = read_jsonl(out)
    assert len(server.requests) == 1
    spans = [s for r in record["card"]["signals"] for s in r["evidence"] if s["start"]]
    assert spans and all(s["page"] == article.page_at(s["start"]) for s in spans)
    assert max(s["page"] for s in spans) > 1


@pytest.mark.native("minilm")
def test_rows_of_different_parts_merge_by_meaning_with_minilm() -> None:
    from extractor.backends.embeddings import MiniLM

    def card(*rows: tuple[str, str]) -> SignalCard:
        signals = [
            {
                "signal": signal,
                "change": change,
                "horizon_10y": "More of it",
                "driving_force": "Cost",
                "evidence": [{"text": signal, "start": 0, "end": len(signal), "match": "exact"}],
            }
            for signal, change in rows
        ]
        fields = {"title": "T", "summary": "S.", "keywords": [], "themes": [], "signals": signals}
        return SignalCard.model_validate(fields, context={"limits": ANY_COUNT})

    first = card(
        ("Big Tech buys nuclear power for AI", "Fossil grid power to nuclear deals"),
        ("Schools ban phones in class", "Phones in class to phone-free schools"),
    )
    second = card(
        ("Technology giants sign nuclear electricity deals for AI", "Grid power to nuclear"),
        ("Farmers plant drought-resistant wheat", "Old seeds to drought-resistant crops"),
    )
    chunks = [Chunk(0, 0, 1000, "x", 250), Chunk(1, 900, 2000, "y", 250)]
    merged = merge_rows([(chunks[0], first), (chunks[1], second)], None, MiniLM(threads=1))
    lexical = merge_rows([(chunks[0], first), (chunks[1], second)], None, None)
    assert len(lexical) == 4  # different words: only meaning makes them one row
    assert len(merged) == 3
    top = merged[0]
    assert top.signal == "Big Tech buys nuclear power for AI"  # two parts support it
    assert sorted(span.start for span in top.evidence) == [0, 900]  # both parts' evidence


def test_a_small_models_report_card_keeps_the_reports_title_and_picked_sentences(
    server: FakeServer,
) -> None:
    text = "Foresight Review\n\n" + _report(6_000)
    rows = itertools.cycle(SIGNALS)

    def answer(body: dict[str, Any]) -> Step:
        name = body["response_format"]["json_schema"]["name"]
        schema = body["response_format"]["json_schema"]["schema"]["properties"]
        if name == "signal_card_pick":
            return reply(json.dumps({"sentences": schema["sentences"]["items"]["enum"][:5]}))
        if name == "signal_card_signal":
            return reply(json.dumps(cells(next(rows))))
        section = name.removeprefix("signal_card_")
        return reply(json.dumps({section: schema[section]["items"]["enum"][:8]}))

    server.play(answer)
    extractor = make_extractor(server, strategy="sectioned", ungrounded="keep")
    reader = DocumentReader(extractor, chunk_tokens=2_000, concurrency=2)
    article = article_from_text(text)
    try:
        plan = reader.plan(article)
        result = reader.read(article)
    finally:
        extractor.close()
    parts = len(plan.chunks)
    assert parts > 2 and plan.requests == 8 * parts  # no request for the report's summary
    assert len(server.requests) == 8 * parts
    assert "report_summary" not in json.dumps(server.bodies)
    assert result.card.title == "Foresight Review" and result.sources["title"] == "document title"
    assert result.sources["summary"].startswith("the first sentence the model picked")
    leads = [s for s in re.split(r"(?<=\.) ", result.card.summary) if s]
    flat = " ".join(text.split())
    assert 2 < len(leads) <= 6 and all(lead in flat for lead in leads)
    assert result.sources["signals"].startswith("the parts' rows")
