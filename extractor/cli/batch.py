"""`extractor batch`: many articles to one results file, concurrently and resumably."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from extractor.batch.inputs import count
from extractor.batch.progress import Progress
from extractor.batch.run import Batch, BatchOptions, BatchSummary
from extractor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    add_debug_flag,
    add_endpoint_flags,
    add_url_flag,
    apply_url_flag,
)
from extractor.pipeline.extract import ExtractorOptions

if TYPE_CHECKING:
    from extractor.ray import RayBatch


def add_parsers(commands: Commands) -> None:
    parser = commands.add_parser(
        "batch",
        help="extract many articles into one results .jsonl, resumably",
        description="Inputs: folders or globs of .txt/.md/.html, JSONL manifests (id plus "
        "text, html or url), files listing URLs, single files or URLs. Rerunning the same "
        "command skips what is done.",
    )
    parser.add_argument("inputs", nargs="+", help="folders, globs, manifests, URL lists, URLs")
    parser.add_argument("-o", "--output", type=Path, required=True, help="results .jsonl")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (8)")
    parser.add_argument("--errors", type=Path, help="failures (default: <output>.errors.jsonl)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor fill the cache")
    parser.add_argument("--cache", type=Path, help="cache file (default: user cache folder)")
    parser.add_argument("--rpm", type=float, help="at most this many requests per minute")
    parser.add_argument("--tpm", type=float, help="at most this many tokens per minute")
    parser.add_argument(
        "--extract-near-duplicates",
        action="store_true",
        help="extract every copy of the same story (default: copy the first one's card)",
    )
    parser.add_argument(
        "--closest", type=int, default=5, help="related articles listed per card (0: none)"
    )
    parser.add_argument("--closest-floor", type=float, help="minimum similarity to be listed")
    parser.add_argument("--library", type=Path, help="earlier results .jsonl to link to as well")
    parser.add_argument(
        "--batch-api", action="store_true", help="send through the OpenAI Batch API (half price)"
    )
    parser.add_argument("--batch-group", type=int, default=1000, help="requests per batch")
    parser.add_argument("--batch-poll", type=float, default=30.0, help="seconds between polls")
    parser.add_argument(
        "--processes",
        type=int,
        help="worker processes that extract, for a fast self-hosted endpoint (0: none; "
        "default: one per 16 articles in flight, up to the core count)",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: one process (default); ray: a Ray actor pool (pip install '.[ray]')",
    )
    parser.add_argument("--ray-address", help="a running Ray cluster (default: start one)")
    parser.add_argument("--ray-actors", type=int, default=2, help="Ray actors (2)")
    parser.add_argument("-q", "--quiet", action="store_true", help="log lines, no progress bar")
    add_endpoint_flags(parser)
    add_url_flag(parser)
    add_debug_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_url_flag(args)
    options = BatchOptions(
        concurrency=args.concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        cache=args.cache,
        use_cache=not args.no_cache,
        errors=args.errors,
        extract_near_duplicates=args.extract_near_duplicates,
        closest=args.closest,
        closest_floor=args.closest_floor,
        library=args.library,
        batch_api=args.batch_api,
        batch_group=args.batch_group,
        batch_poll=args.batch_poll,
        processes=args.processes,
    )
    endpoint: ExtractorOptions = {
        "model": args.model,
        "base_url": args.base_url,
        "mode": args.mode,
        "strategy": args.strategy,
        "ungrounded": args.ungrounded,
    }
    batch: Batch | RayBatch
    if args.engine == "ray":
        from extractor.ray import RayBatch  # Ray is an optional extra: imported only here

        batch = RayBatch(
            args.inputs, args.output, options, address=args.ray_address,
            actors=args.ray_actors, **endpoint,
        )  # fmt: skip
    else:
        batch = Batch(args.inputs, args.output, options, **endpoint)
    progress = Progress(count(args.inputs), batch.summary, quiet=args.quiet)
    try:
        if isinstance(batch, Batch):
            asyncio.run(_drive(batch, progress))
        else:
            for outcome in batch.outcomes():
                progress.update(outcome)
    finally:
        progress.close()
    _print_summary(batch.summary, args.output, batch.errors_path)
    return EXIT_FAILED if batch.summary.counts["failed"] else EXIT_OK


async def _drive(batch: Batch, progress: Progress) -> None:
    async for outcome in batch.outcomes():
        progress.update(outcome)


def _print_summary(summary: BatchSummary, output: Path, errors: Path) -> None:
    counts, usage = summary.counts, summary.usage
    cost = f", about ${summary.cost:.4f}" if summary.cost is not None else ""
    print(
        f"{counts['done']} done, {counts['cached']} cached, {counts['duplicate']} duplicates, "
        f"{counts['skipped']} already done, {counts['failed']} failed in "
        f"{summary.seconds:.1f} s; {usage.total_tokens:,} tokens over {usage.requests} requests"
        f"{cost}; {summary.rate_limit_pauses} rate-limit pauses",
        file=sys.stderr,
    )
    if summary.closest is not None:
        linked = summary.closest
        print(f"closest: {linked.linked} cards linked ({linked.links} links)", file=sys.stderr)
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"results: {output}", file=sys.stderr)
    if counts["failed"]:
        print(f"failures: {errors}", file=sys.stderr)
