"""`extractor export`: a batch's results.jsonl as seed-format markdown files or one CSV table.

Usage: `extractor export results.jsonl --to markdown DIR` or `... --to csv FILE`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from extractor.batch.export import ExportSummary, export_csv, export_markdown
from extractor.cli.common import EXIT_OK, Commands, add_debug_flag


def add_parsers(commands: Commands) -> None:
    parser = commands.add_parser(
        "export",
        help="export a batch's results.jsonl as markdown cards or a CSV table",
        description=(
            "Write one seed-format .txt card per article into a folder, or one CSV row per "
            "signal (UTF-8 with BOM, formula cells neutralised). Failed and torn lines are "
            "skipped and counted; for a repeated id the last valid card wins."
        ),
    )
    parser.add_argument("results", type=Path, help="the results.jsonl written by a batch")
    parser.add_argument(
        "--to", required=True, choices=("markdown", "csv"), help="the export format"
    )
    parser.add_argument(
        "destination", type=Path, help="a folder for --to markdown, a .csv file for --to csv"
    )
    add_debug_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # A missing or unreadable results file raises InputError (exit 2) in the library.
    if args.to == "markdown":
        summary = export_markdown(args.results, args.destination)
        what = _count(summary.written, "card")
    else:
        summary = export_csv(args.results, args.destination)
        what = f"{_count(summary.written, 'card')} ({_count(summary.rows, 'row')})"
    print(f"wrote {what} to {args.destination}{_details(summary)}")
    return EXIT_OK


def _details(summary: ExportSummary) -> str:
    parts = []
    if summary.skipped:
        parts.append(f"{_count(summary.skipped, 'line')} skipped: not valid records")
    if summary.duplicates:
        duplicates = _count(summary.duplicates, "repeated id")
        parts.append(f"{duplicates}, the last valid line kept")
    return f" ({'; '.join(parts)})" if parts else ""


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
