"""`extractor extract`: one article in, one card out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from extractor.backends.embeddings import minilm, minilm_available
from extractor.batch.cache import CardCache, default_path
from extractor.cli.common import (
    EXIT_OK,
    Commands,
    add_debug_flag,
    add_endpoint_flags,
    add_url_flag,
    apply_url_flag,
)
from extractor.core.card import DEFAULT_LIMITS, CardLimits
from extractor.core.errors import ConfigError
from extractor.pipeline.chunking import Chunk
from extractor.pipeline.document import DocumentReader
from extractor.pipeline.extract import Extractor
from extractor.pipeline.load import load_article


def add_parsers(commands: Commands) -> None:
    parser = commands.add_parser("extract", help="extract one signal card from an article")
    parser.add_argument(
        "source", help="a .txt, .md, .html or .pdf file, an http(s) URL, or - for stdin"
    )
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument("-o", "--output", type=Path, help="write the card here instead of stdout")
    parser.add_argument(
        "--chunk-tokens", type=int, help="tokens per part of a long document (default: budget)"
    )
    parser.add_argument("--max-chunks", type=int, help="read at most this many parts")
    parser.add_argument("--concurrency", type=int, default=4, help="parts in flight (4)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the parts, requests, estimated tokens and cost, and send nothing",
    )
    for field, default in (("signals", "8, up to 24"), ("keywords", "15, up to 30"),
                           ("themes", "6, up to 10")):  # fmt: skip
        parser.add_argument(
            f"--max-{field}",
            type=int,
            metavar="N",
            help=f"at most N {field} on the card (default {default} as a long document's "
            "parts add up)",
        )
    parser.add_argument("--no-cache", action="store_true", help="no per-part cache")
    parser.add_argument("--cache", type=Path, help="per-part cache file (default: user cache)")
    add_endpoint_flags(parser)
    add_url_flag(parser)
    add_debug_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_url_flag(args)
    limits = _limits(args)
    extractor = Extractor(
        model=args.model,
        base_url=args.base_url,
        mode=args.mode,
        strategy=args.strategy,
        ungrounded=args.ungrounded,
        limits=limits or DEFAULT_LIMITS,
    )
    article = load_article(args.source)
    reader = DocumentReader(
        extractor,
        chunk_tokens=args.chunk_tokens,
        max_chunks=args.max_chunks,
        concurrency=args.concurrency,
        limits=limits,
    )
    plan = reader.plan(article)
    if args.dry_run:
        extractor.close()
        for chunk in plan.chunks:
            print(f"part {chunk.index + 1}: characters {chunk.start:,}-{chunk.end:,}, "
                  f"{chunk.tokens:,} tokens")  # fmt: skip
        cost = f"about ${plan.cost:.4f}" if plan.cost is not None else "cost unknown"
        print(
            f"{len(plan.chunks)} parts ({plan.skipped} left unread), {plan.requests} requests, "
            f"about {plan.prompt_tokens:,} prompt and {plan.completion_tokens:,} completion "
            f"tokens, {cost}"
        )
        return EXIT_OK
    cache = None
    if len(plan.chunks) > 1:
        # Same-meaning rows of different parts merge by MiniLM when it is installed.
        reader.embedder = minilm() if minilm_available() else None
        cache = None if args.no_cache else CardCache(args.cache or default_path())
    try:
        result = reader.read(article, cache=cache, progress=_progress)
    finally:
        extractor.close()
        if cache is not None:
            cache.close()
    if args.format == "json":
        text = json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n"
    else:
        text = result.card.to_markdown()
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _limits(args: argparse.Namespace) -> CardLimits | None:
    """The card's item counts when a --max-* flag caps one (the lower bound follows it)."""
    caps = {f: getattr(args, f"max_{f}") for f in ("signals", "keywords", "themes")}
    if all(cap is None for cap in caps.values()):
        return None
    bounds = {}
    for field, cap in caps.items():
        low, high = DEFAULT_LIMITS.bounds(field)
        if cap is not None and cap < 1:
            raise ConfigError(f"--max-{field} must be 1 or more")
        bounds[field] = (low, high) if cap is None else (min(low, cap), cap)
    return CardLimits(**bounds)


def _progress(chunk: Chunk, done: int, total: int, how: str) -> None:
    print(f"part {chunk.index + 1} of {total}: {how} ({done}/{total})", file=sys.stderr)
