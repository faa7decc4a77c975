"""`extractor trends` clusters the signals of results files into trends and writes
trends.json, trends.md and radar.html; `extractor digest` writes a newsletter issue: one
seed-format card per article and an index.md by theme and by trend."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from extractor.backends.config import resolve
from extractor.backends.embeddings import Embedder, EndpointEmbedder
from extractor.batch.closest import DEFAULT_FLOOR, DEFAULT_K
from extractor.cli.common import EXIT_OK, Commands, add_debug_flag
from extractor.core.errors import ConfigError
from extractor.trends.clustering import DEFAULT_SIMILARITY
from extractor.trends.digest import INDEX, write_digest
from extractor.trends.labels import LABEL_MODES
from extractor.trends.periods import DEFAULT_PERIOD, PERIODS
from extractor.trends.report import write_trends
from extractor.trends.run import DEFAULT_LLM_LABELS, DEFAULT_MIN_ARTICLES, trends


def add_parsers(commands: Commands) -> None:
    parser = commands.add_parser(
        "trends",
        help="cluster the signals of results files into trends over time",
        description=(
            "Embed every signal row of one or many results.jsonl files, cluster them into "
            "trends, count each trend's articles per period and rank the trends by "
            "emergence. Writes DIR/trends.json, DIR/trends.md and DIR/radar.html."
        ),
    )
    parser.add_argument("results", type=Path, nargs="+", help="results.jsonl files of batch runs")
    parser.add_argument("--out", type=Path, required=True, help="folder for the three files")
    parser.add_argument(
        "--period", choices=PERIODS, default=DEFAULT_PERIOD, help="what articles are counted per"
    )
    parser.add_argument("--since", help="leave out articles dated before this day (YYYY-MM-DD)")
    parser.add_argument(
        "--recent", type=int, help="periods in the recent window (default: a quarter of them)"
    )
    parser.add_argument(
        "--min-articles",
        type=int,
        default=DEFAULT_MIN_ARTICLES,
        help=f"articles a cluster needs to be a trend (default {DEFAULT_MIN_ARTICLES})",
    )
    _add_shared_flags(parser)
    parser.set_defaults(run=run_trends)

    digest = commands.add_parser(
        "digest",
        help="write a newsletter issue: one seed-format card per article and an index",
        description=(
            "Write one seed-format card per article of a results.jsonl into DIR, each with "
            "the source clause 'from ([LABEL](URL).)' and a Closest section, and "
            f"DIR/{INDEX} grouping the cards by theme and by trend."
        ),
    )
    digest.add_argument("results", type=Path, help="the results.jsonl of the issue's articles")
    digest.add_argument("--issue", required=True, help="the issue's label, e.g. 20241124")
    digest.add_argument("--issue-url", help=f"the issue's URL (default: the issue's own {INDEX})")
    digest.add_argument("-o", "--out", type=Path, required=True, help="folder for the issue")
    digest.add_argument(
        "--closest",
        type=int,
        default=DEFAULT_K,
        help=f"related cards listed on a card that has none (default {DEFAULT_K})",
    )
    digest.add_argument(
        "--closest-floor",
        type=float,
        default=DEFAULT_FLOOR,
        help=f"minimum similarity to be listed (default {DEFAULT_FLOOR})",
    )
    _add_shared_flags(digest)
    digest.set_defaults(run=run_digest)


def _add_shared_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--similarity",
        type=float,
        default=DEFAULT_SIMILARITY,
        help=f"mean cosine at which signal groups join (default {DEFAULT_SIMILARITY}, MiniLM)",
    )
    parser.add_argument(
        "--labels",
        choices=LABEL_MODES,
        default="auto",
        help="trend names: an LLM when an endpoint is configured (auto), never, or required",
    )
    parser.add_argument(
        "--llm-labels",
        type=int,
        default=DEFAULT_LLM_LABELS,
        help=f"how many of the most emerging trends the LLM names (default {DEFAULT_LLM_LABELS})",
    )
    parser.add_argument("--model", help="model that names trends (default: EXTRACTOR_MODEL)")
    parser.add_argument(
        "--base-url", help="OpenAI-compatible endpoint that names trends (default: OPENAI_BASE_URL)"
    )
    parser.add_argument("--embeddings-model", help="model for an embeddings endpoint")
    parser.add_argument(
        "--embeddings-base-url", help="OpenAI-compatible /v1 URL for embeddings (default: MiniLM)"
    )
    add_debug_flag(parser)


@contextmanager
def _embedder(args: argparse.Namespace) -> Iterator[Embedder | None]:
    """An embeddings endpoint when one is named, else None (MiniLM)."""
    if not args.embeddings_base_url and not args.embeddings_model:
        yield None
        return
    if not args.embeddings_base_url or not args.embeddings_model:
        raise ConfigError(
            "an embeddings endpoint needs --embeddings-base-url and --embeddings-model"
        )
    endpoint = resolve(model=args.embeddings_model, base_url=args.embeddings_base_url)
    embedder = EndpointEmbedder(endpoint)
    try:
        yield embedder
    finally:
        embedder.close()


@contextmanager
def _progress() -> Iterator[Callable[[int], None] | None]:
    """A bar of rows embedded on a terminal; nothing when stderr is a file or a pipe."""
    if not sys.stderr.isatty():
        yield None
        return
    with tqdm(desc="embedding signals", unit=" rows", file=sys.stderr) as bar:
        yield bar.update


def run_trends(args: argparse.Namespace) -> int:
    with _embedder(args) as embedder, _progress() as progress:
        report = trends(
            args.results,
            period=args.period,
            since=args.since,
            recent=args.recent,
            similarity=args.similarity,
            min_articles=args.min_articles,
            embedder=embedder,
            labels=args.labels,
            model=args.model,
            base_url=args.base_url,
            llm_labels=args.llm_labels,
            progress=progress,
        )
    write_trends(report, args.out)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    undated = f", {report.undated} undated: counted, not placed in time" if report.undated else ""
    print(
        f"{len(report.trends)} trends from {report.articles} articles{undated}; wrote "
        f"{args.out / 'trends.json'}, trends.md and radar.html"
    )
    return EXIT_OK


def run_digest(args: argparse.Namespace) -> int:
    with _embedder(args) as embedder:
        summary = write_digest(
            args.results,
            args.out,
            args.issue,
            args.issue_url,
            embedder=embedder,
            labels=args.labels,
            model=args.model,
            base_url=args.base_url,
            similarity=args.similarity,
            llm_labels=args.llm_labels,
            k=args.closest,
            floor=args.closest_floor,
        )
    copies = summary.left_out.copies
    left = f" ({copies} duplicate copies left out)" if copies else ""
    print(
        f"wrote {summary.cards} cards{left} and {summary.folder / INDEX}: "
        f"{summary.themes} themes, {summary.trends} trends; Closest filled on {summary.linked}, "
        f"kept on {summary.kept_closest}"
    )
    return EXIT_OK
