"""`extractor extract`: one article in, one card out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from extractor.cli.common import (
    EXIT_OK,
    Commands,
    add_debug_flag,
    add_endpoint_flags,
    add_url_flag,
    apply_url_flag,
)
from extractor.pipeline.extract import Extractor
from extractor.pipeline.load import load_article


def add_parsers(commands: Commands) -> None:
    parser = commands.add_parser("extract", help="extract one signal card from an article")
    parser.add_argument("source", help="a .txt, .md or .html file, an http(s) URL, or - for stdin")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument("-o", "--output", type=Path, help="write the card here instead of stdout")
    add_endpoint_flags(parser)
    add_url_flag(parser)
    add_debug_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_url_flag(args)
    extractor = Extractor(
        model=args.model,
        base_url=args.base_url,
        mode=args.mode,
        strategy=args.strategy,
        ungrounded=args.ungrounded,
    )
    article = load_article(args.source)
    try:
        result = extractor.extract(article)
    finally:
        extractor.close()
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
