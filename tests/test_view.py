"""`extractor view`: each card beside its article, every row's evidence highlighted and linked
both ways, rows without support marked, and nothing an article says ever run as markup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.cli import main
from extractor.core.card import ANY_COUNT, SignalCard
from extractor.core.record import RecordArticle, ResultRecord
from extractor.view.page import Viewed, load, segments
from tests.browser import visit
from tests.fakeserver import card_dict

HOSTILE = "<script>window.__pwned = 1</script>"
TEXT = (
    "Kenya connected 400 villages to solar microgrids. "
    f"A reader wrote {HOSTILE} in the comments. "
    "Local cooperatives own the grids and set tariffs. "
    "Critics warned that recycling capacity is small."
)


def _span(text: str, piece: str, match: str = "exact") -> dict[str, Any]:
    start = text.index(piece)
    return {"text": piece, "start": start, "end": start + len(piece), "match": match}


def _card(text: str, link: str | None = None) -> SignalCard:
    rows = [
        ("Villages go solar", "Diesel to solar", "Rural solar grids", "Costs",
         [_span(text, "Kenya connected 400 villages to solar microgrids")]),
        ("Microgrids spread", "Pilots to villages", "Solar everywhere", "Policy",
         [_span(text, "400 villages to solar microgrids. A reader")]),  # overlaps row 1
        ("Cooperatives own grids", "Utility to cooperative", "Local utilities", "Money",
         [_span(text, "Local cooperatives own the grids and set tariffs")]),
        ("Comment spam rises", "Quiet to noisy", "Moderated comments", "Trolls",
         [_span(text, "Critics warned that recycling capacity is small", "none")]),
        ("Drones deliver parcels", "Roads to drones", "Drone logistics", "Automation",
         [{"text": "FedEx drones", "start": None, "end": None, "match": "none"}]),
    ]  # fmt: skip
    signals = [
        {"signal": s, "change": c, "horizon_10y": h, "driving_force": d, "evidence": e}
        for s, c, h, d, e in rows
    ]
    data = {**card_dict(signals=signals), "link": link}
    return SignalCard.model_validate(data, context={"limits": ANY_COUNT})


def test_segments_cut_the_article_at_every_evidence_boundary() -> None:
    pieces = segments(Viewed("a", _card(TEXT), TEXT))
    assert "".join(piece.text for piece in pieces) == TEXT
    marked = [(piece.text, piece.rows) for piece in pieces if piece.rows]
    assert marked[0] == ("Kenya connected ", (1,))
    assert marked[1] == ("400 villages to solar microgrids", (1, 2))
    assert marked[2] == (". A reader", (2,))
    unsupported = [piece for piece in pieces if not piece.supported]
    assert [piece.text for piece in unsupported] == [
        "Critics warned that recycling capacity is small"
    ]


def _results(path: Path) -> Path:
    other = "A second article about heat pumps outselling gas boilers in Poland."
    records = [
        ResultRecord(
            id="villages", key="k1", reference="r1", source="a.txt",
            card=_card(TEXT, link="javascript:alert(1)"),
            article=RecordArticle(text=TEXT),
        ),
        ResultRecord(
            id="heat-pumps", key="k2", reference="r2", source="b.txt",
            card=SignalCard.model_validate(
                {**card_dict(title='Heat <img src=x onerror="window.__pwned=2"> Pumps'),
                 "signals": [{"signal": "Heat pumps outsell boilers", "change": "Gas to heat",
                              "horizon_10y": "Electric heating", "driving_force": "Prices",
                              "evidence": [_span(other, "heat pumps outselling gas boilers")]}]},
                context={"limits": ANY_COUNT},
            ),
            article=RecordArticle(text=other),
        ),
    ]  # fmt: skip
    path.write_text("".join(record.to_json() + "\n" for record in records), encoding="utf-8")
    return path


def test_the_command_writes_one_page_for_a_results_file_or_a_json_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _results(tmp_path / "results.jsonl")
    assert main(["view", str(results), "-o", str(tmp_path / "cards.html")]) == 0
    assert "wrote 2 cards" in capsys.readouterr().err
    page = (tmp_path / "cards.html").read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "javascript:" not in page and "<link" not in page and "://" not in page
    single = tmp_path / "card.json"
    record = json.loads(results.read_text().splitlines()[0])
    single.write_text(json.dumps({k: v for k, v in record.items() if k != "id"}))
    (viewed,) = load(single)
    assert viewed.text == TEXT and len(viewed.card.signals) == 5
    assert main(["view", str(tmp_path / "missing.json"), "-o", str(tmp_path / "x.html")]) == 2


def test_the_page_in_a_browser(tmp_path: Path) -> None:
    page_path = tmp_path / "cards.html"
    assert main(["view", str(_results(tmp_path / "results.jsonl")), "-o", str(page_path)]) == 0
    with visit(page_path) as seen:
        page = seen.page
        assert page.locator("nav li").count() == 2
        marks = page.locator("#card-1 mark")
        assert marks.count() == 5
        for index in range(marks.count()):
            box = marks.nth(index).bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0
        # Row to passage and back.
        assert page.locator('#c1-r3 a[href="#c1-m4"]').count() == 1
        assert page.locator('#c1-m4 a[href="#c1-r3"]').count() == 1
        page.locator('#c1-r3 a[href="#c1-m4"]').click()
        assert page.evaluate("location.hash") == "#c1-m4"
        page.locator("#c1-r1").hover()
        assert "active" in (page.locator("#c1-m2").get_attribute("class") or "")
        assert page.locator("#card-1 tr.ungrounded").count() == 2
        assert page.locator("#card-1 mark.unsupported").count() == 1
        assert page.get_by_text(HOSTILE).first.is_visible()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator('a[href^="javascript"]').count() == 0
    assert seen.errors == []
    assert seen.offsite == []
