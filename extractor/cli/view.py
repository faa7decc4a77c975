"""`extractor view`: cards beside their highlighted articles, as one self-contained page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from extractor.cli.common import EXIT_OK, Commands, add_debug_flag
from extractor.view.page import write_view


def add_parsers(commands: Commands) -> None:
    parser = commands.add_parser(
        "view",
        help="write an HTML page showing each card beside its article, evidence highlighted",
    )
    parser.add_argument(
        "source", type=Path, help="results .jsonl, or the JSON of `extractor extract --format json`"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .html to write")
    add_debug_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    shown = write_view(args.source, args.output)
    print(f"wrote {shown} card{'' if shown == 1 else 's'} to {args.output}", file=sys.stderr)
    return EXIT_OK
