"""A trend report on disk: trends.json (everything, for programs), trends.md (a table to
read) and radar.html, one self-contained page (inline CSS and SVG, no script, nothing
fetched) with the radar, the timeline, each trend's members and the articles they link to.

Signals, titles and labels come from articles and models, so they reach the page only
through jinja2's autoescape and the markdown only through `markdown.inline`; Python computes
the numbers, positions and classes. An article's URL becomes a link only when it is http(s).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from extractor.core.errors import InputError
from extractor.store.files import atomic_write
from extractor.trends.markdown import inline
from extractor.trends.run import Trend, TrendReport
from extractor.trends.steep import CATEGORIES

_TEMPLATES = Path(__file__).parent / "templates"
_BLOCKS = "▁▂▃▄▅▆▇█"
_MD_SIGNALS = 5
_MD_MEMBERS = 20
# Radar geometry, in SVG user units: rings from the centre are rising, steady, fading.
_RADAR_SIZE, _RADAR_R = 600, 230
_RINGS = ("rising", "steady", "fading")
RADAR_TRENDS = 60
# Timeline and sparkline geometry.
_BAR_WIDTH, _BARS_HEIGHT, _SPARK_WIDTH, _SPARK_HEIGHT = 720, 120, 180, 30


def write_trends(report: TrendReport, out: Path) -> None:
    """Write out/trends.json, out/trends.md and out/radar.html, each replaced atomically."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "trends.json": json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n",
        "trends.md": markdown(report),
        "radar.html": html(report),
    }
    for name, text in files.items():
        with atomic_write(out / name) as handle:
            handle.write(text.encode("utf-8"))


def describe(report: TrendReport) -> str:
    """One paragraph on what the report covers, the undated articles included."""
    parts = [f"{report.articles} articles ({report.articles - report.undated} dated"]
    if report.undated:
        parts[0] += f", {report.undated} without a date: counted, not placed in time"
    parts[0] += f"), {report.rows} signal rows"
    if report.periods:
        parts.append(
            f"by {report.period} from {report.periods[0]} to {report.periods[-1]}, recent "
            f"window {report.recent[0]} to {report.recent[-1]}"
        )
    if report.since:
        parts.append(f"since {report.since.isoformat()}")
    parts.append(
        f"{len(report.trends)} trends of at least {report.min_articles} articles, "
        f"{report.unassigned_rows} rows in smaller clusters"
    )
    return "; ".join(parts) + "."


def sparkline(counts: list[int]) -> str:
    top = max(counts, default=0)
    if top == 0:
        return _BLOCKS[0] * len(counts)
    return "".join(_BLOCKS[math.ceil(c / top * (len(_BLOCKS) - 1))] for c in counts)


# --- trends.md ---


def markdown(report: TrendReport) -> str:
    lines = ["# Trends", "", inline(describe(report)), ""]
    lines += [f"> **Note:** {inline(warning)}" for warning in report.warnings]
    if report.warnings:
        lines.append("")
    lines += [
        "| # | Trend | STEEP | Status | Direction | Emergence | Articles | Recent | Timeline |",
        "|---:|---|---|---|---|---:|---:|---:|---|",
    ]
    for rank, trend in enumerate(report.trends, start=1):
        cells = [
            str(rank),
            inline(trend.label),
            trend.steep,
            trend.status,
            trend.direction,
            f"{trend.emergence:+.2f}",
            _articles(trend),
            str(trend.recent),
            sparkline(list(trend.counts.values())),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for rank, trend in enumerate(report.trends, start=1):
        lines += [f"## {rank}. {inline(trend.label)}", ""]
        lines.append(
            f"{trend.steep} ({trend.steep_source}), {trend.status}, {trend.direction}; "
            f"emergence {trend.emergence:+.2f}, growth {trend.growth:+.2f}; "
            f"{_articles(trend)} articles, {trend.recent} recent; label: {trend.label_source}"
        )
        lines += ["", "Most central signals:", ""]
        lines += [f"* {inline(signal)}" for signal in trend.central[:_MD_SIGNALS]]
        ids = list(dict.fromkeys(member.id for member in trend.members))
        shown = ", ".join(f"`{inline(ident).replace('`', '')}`" for ident in ids[:_MD_MEMBERS])
        more = f" and {len(ids) - _MD_MEMBERS} more (trends.json)" if len(ids) > _MD_MEMBERS else ""
        lines += ["", f"Articles: {shown}{more}", ""]
    return "\n".join(lines)


def _articles(trend: Trend) -> str:
    return f"{trend.articles} ({trend.undated} undated)" if trend.undated else str(trend.articles)


# --- radar.html ---


def html(report: TrendReport) -> str:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    anchors = _card_anchors(report)
    return env.get_template("radar.html.j2").render(
        summary=describe(report),
        meta=_meta(report),
        warnings=report.warnings,
        radar=_radar(report),
        timeline=_timeline(report),
        trends=[_trend(rank, trend, report, anchors) for rank, trend in _ranked(report)],
        cards=_cards(report, anchors),
    )


def _ranked(report: TrendReport) -> list[tuple[int, Trend]]:
    return list(enumerate(report.trends, start=1))


def _meta(report: TrendReport) -> list[tuple[str, str]]:
    left = report.left_out
    meta = [
        ("Articles", f"{report.articles} ({report.undated} undated)"),
        ("Signal rows", f"{report.rows} ({report.unassigned_rows} in no trend)"),
        ("Period", report.period),
        ("Recent window", ", ".join(report.recent) or "none"),
        ("Embeddings", report.embedder),
        ("Similarity floor", f"{report.similarity:g}"),
        ("Labels", f"LLM {report.labeller}" if report.labeller else "most central signal"),
        (
            "Left out",
            f"{left.replaced} superseded lines, {left.copies} duplicate copies, "
            f"{left.before_since} before --since",
        ),
    ]
    if report.since:
        meta.insert(3, ("Since", report.since.isoformat()))
    return meta


def _card_anchors(report: TrendReport) -> dict[int, str]:
    """Page anchors of the articles that belong to a trend, in file order."""
    members = sorted({card for trend in report.trends for card in trend.cards})
    return {card: f"card-{index}" for index, card in enumerate(members, start=1)}


def _cards(report: TrendReport, anchors: dict[int, str]) -> list[dict[str, Any]]:
    back: dict[int, list[int]] = {}
    for rank, trend in _ranked(report):
        for card in trend.cards:
            back.setdefault(card, []).append(rank)
    rows = []
    for card, anchor in anchors.items():
        info = report.cards[card]
        url = info.url or ""
        rows.append(
            {
                "anchor": anchor,
                "id": info.id,
                "title": info.title,
                "day": info.day.isoformat() if info.day else None,
                "url": url,
                "href": url if urlsplit(url).scheme in ("http", "https") else None,
                "trends": back[card],
            }
        )
    return rows


def _trend(rank: int, trend: Trend, report: TrendReport, anchors: dict[int, str]) -> dict[str, Any]:
    return {
        "rank": rank,
        "anchor": f"trend-{rank}",
        "label": trend.label,
        "label_source": trend.label_source,
        "steep": trend.steep,
        "steep_source": trend.steep_source,
        "status": trend.status,
        "direction": trend.direction,
        "emergence": f"{trend.emergence:+.2f}",
        "growth": f"{trend.growth:+.2f}",
        "articles": trend.articles,
        "undated": trend.undated,
        "recent": trend.recent,
        "central": trend.central[:_MD_SIGNALS],
        "spark": _spark(trend, report),
        "members": [
            {"id": member.id, "signal": member.signal, "anchor": anchors[member.card]}
            for member in trend.members
        ],
    }


def _radar(report: TrendReport) -> dict[str, Any]:
    centre = _RADAR_SIZE / 2
    ring = _RADAR_R / len(_RINGS)
    sector = 2 * math.pi / len(CATEGORIES)

    def point(angle: float, radius: float) -> tuple[float, float]:
        return (
            round(centre + radius * math.cos(angle), 1),
            round(centre + radius * math.sin(angle), 1),
        )

    start = -math.pi / 2
    sectors = []
    for index, name in enumerate(CATEGORIES):
        edge = point(start + index * sector, _RADAR_R)
        label = point(start + (index + 0.5) * sector, _RADAR_R + 26)
        sectors.append({"name": name, "x1": edge[0], "y1": edge[1], "lx": label[0], "ly": label[1]})
    shown = _ranked(report)[:RADAR_TRENDS]
    buckets: dict[tuple[str, str], list[tuple[int, Trend]]] = {}
    for rank, trend in shown:
        buckets.setdefault((trend.steep, trend.direction), []).append((rank, trend))
    dots = []
    for (steep, direction), members in buckets.items():
        first = start + CATEGORIES.index(steep) * sector
        inner = _RINGS.index(direction) * ring
        for k, (rank, trend) in enumerate(members):
            angle = first + sector * (0.12 + 0.76 * (k + 0.5) / len(members))
            radius = inner + ring * (0.3 + 0.4 * (k % 3) / 2)
            x, y = point(angle, radius)
            dots.append(
                {
                    "rank": rank,
                    "x": x,
                    "y": y,
                    "r": round(min(4 + 1.5 * math.sqrt(trend.articles), 14), 1),
                    "status": trend.status,
                    "title": (
                        f"#{rank} {trend.label}: {trend.steep}, {trend.status}, "
                        f"{trend.direction}, emergence {trend.emergence:+.2f}, "
                        f"{trend.articles} articles"
                    ),
                }
            )
    return {
        "size": _RADAR_SIZE,
        "centre": centre,
        "rings": [
            {"name": name, "r": round(ring * (i + 1), 1), "ly": round(centre - ring * i - 8, 1)}
            for i, name in enumerate(_RINGS)
        ],
        "sectors": sectors,
        "dots": dots,
        "hidden": max(0, len(report.trends) - RADAR_TRENDS),
    }


def _timeline(report: TrendReport) -> dict[str, Any]:
    counts = list(report.totals.values())
    top = max(counts, default=0) or 1
    width = _BAR_WIDTH / max(1, len(counts))
    bars = []
    for index, (label, count) in enumerate(report.totals.items()):
        height = round(_BARS_HEIGHT * count / top, 1)
        bars.append(
            {
                "x": round(index * width + 1, 1),
                "y": round(_BARS_HEIGHT - height + 16, 1),
                "w": round(max(width - 2, 1), 1),
                "h": height,
                "recent": label in report.recent,
                "title": f"{label}: {count} articles",
            }
        )
    ticks = [
        {"x": round((index + 0.5) * width, 1), "label": label}
        for index, label in enumerate(report.periods)
        if index in (0, len(report.periods) - 1) or len(report.periods) <= 12
    ]
    return {
        "width": _BAR_WIDTH,
        "height": _BARS_HEIGHT + 40,
        "bars": bars,
        "ticks": ticks,
        "base": _BARS_HEIGHT + 16,
    }


def _spark(trend: Trend, report: TrendReport) -> dict[str, Any] | None:
    counts = list(trend.counts.values())
    if not counts:
        return None
    top = max(counts) or 1
    heights = [round(_SPARK_HEIGHT - 2 - (_SPARK_HEIGHT - 4) * c / top, 1) for c in counts]
    if len(counts) == 1:
        points, recent_x = f"0,{heights[0]} {_SPARK_WIDTH},{heights[0]}", 0.0
    else:
        step = _SPARK_WIDTH / (len(counts) - 1)
        points = " ".join(f"{round(i * step, 1)},{h}" for i, h in enumerate(heights))
        recent_x = round(max(0.0, (len(counts) - len(report.recent) - 0.5) * step), 1)
    return {
        "width": _SPARK_WIDTH,
        "height": _SPARK_HEIGHT,
        "points": points,
        "recent_x": recent_x,
        "title": ", ".join(f"{label}: {count}" for label, count in trend.counts.items()),
    }
