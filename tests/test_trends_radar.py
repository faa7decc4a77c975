"""radar.html: self-contained, every article- and model-derived string escaped, every member
link landing on an article of the page, and the charts drawn in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extractor.trends import trends, write_trends
from extractor.trends.report import RADAR_TRENDS
from tests.browser import visit
from tests.trends_synthetic import MINILM, record
from tests.trends_synthetic import write_results as plant

pytestmark = pytest.mark.native("minilm")

SCRIPT_SIGNAL = "<script>window.__pwned = 1</script> robots take over ports"
IMG_TITLE = '<img src="x" onerror="window.__pwned = 2"> title'
BAD_URL = "javascript:window.__pwned = 3"


@pytest.fixture(scope="module")
def radar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("radar")
    results = folder / "results.jsonl"
    plant(results)
    with results.open("a", encoding="utf-8") as out:
        for ident in ("<b>evil-1</b>", "evil-2"):
            url = f"{BAD_URL} // {ident}"  # two articles, so that their signal is a trend
            out.write(record(ident, [SCRIPT_SIGNAL], "2024-12-02", title=IMG_TITLE, url=url))
    write_trends(trends(results, embedder=MINILM, labels="central"), folder / "out")
    page = folder / "out" / "radar.html"
    return page, page.read_text(encoding="utf-8")


def test_strings_are_escaped(radar: tuple[Path, str]) -> None:
    _, html = radar
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; robots" in html
    assert "&lt;img src=&#34;x&#34; onerror=&#34;window.__pwned = 2&#34;&gt; title" in html
    assert "&lt;b&gt;evil-1&lt;/b&gt;" in html
    assert "<script" not in html.lower()  # the page needs no script at all
    assert "<img" not in html.lower() and "<b>" not in html


def test_self_contained_and_every_link_lands(radar: tuple[Path, str]) -> None:
    _, html = radar
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert references
    assert all(ref.startswith(("#", "data:", "https://news.example/")) for ref in references)
    assert "javascript:" not in " ".join(references)
    assert "@import" not in html and "url(" not in html
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    targets = {ref[1:] for ref in references if ref.startswith("#")}
    assert targets <= ids, targets - ids
    assert {t for t in targets if t.startswith("trend-")} == {
        i for i in ids if i.startswith("trend-")
    }
    assert any(t.startswith("card-") for t in targets)


def test_radar_in_a_browser(radar: tuple[Path, str], tmp_path: Path) -> None:
    page_path, html = radar
    trends_count = html.count('<section class="trend"')
    with visit(page_path) as seen:
        page = seen.page

        dots = page.locator("#radar circle.trend")
        assert dots.count() == min(trends_count, RADAR_TRENDS) > 0
        for i in range(dots.count()):
            box = dots.nth(i).bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0
        bars = page.locator("#timeline rect.bar")
        assert bars.count() == 12
        assert all((bars.nth(i).bounding_box() or {}).get("height", 0) > 0 for i in range(12))
        assert page.locator("svg.spark polyline").count() == trends_count

        page.locator("#radar a").first.click()
        assert re.search(r"#trend-\d+$", page.url)
        evil = page.locator("ul.members li", has_text=SCRIPT_SIGNAL).first
        assert not evil.is_visible()  # members are folded until asked for
        page.locator("section.trend", has=evil).locator("details > summary").click()
        assert evil.is_visible()
        assert page.get_by_text(IMG_TITLE).first.is_visible()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        shot = tmp_path / "radar.png"
        page.screenshot(path=str(shot), full_page=True)
    assert seen.errors == []
    assert seen.offsite == []
    assert shot.read_bytes().startswith(b"\x89PNG")
