"""The `extractor` command. Exit codes: 0 success, 1 extraction failed, 2 bad usage or input.

argparse is enough for a handful of flags and keeps the install small; errors print as one
line, with the traceback only under --debug.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from extractor.backends.config import MODES
from extractor.core.errors import ConfigError, ExtractionError, InputError
from extractor.pipeline.extract import STRATEGIES, Extractor
from extractor.pipeline.load import load_article

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extractor", description="Turn news articles into foresight signal cards."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    extract = commands.add_parser("extract", help="extract one signal card from an article")
    extract.add_argument("source", help="a .txt, .md or .html file, an http(s) URL, or - for stdin")
    extract.add_argument("--format", choices=("markdown", "json"), default="markdown")
    extract.add_argument("-o", "--output", type=Path, help="write the card here instead of stdout")
    extract.add_argument("--model", help="model name (default: EXTRACTOR_MODEL, else per endpoint)")
    extract.add_argument(
        "--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL, else embedded)"
    )
    extract.add_argument("--mode", choices=MODES, help="how the endpoint is asked for JSON")
    extract.add_argument("--strategy", choices=STRATEGIES, help="one request, or one per section")
    extract.add_argument("--debug", action="store_true", help="show tracebacks and every attempt")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _extract(args)
    except (InputError, ConfigError) as err:
        return _fail(args, EXIT_USAGE, str(err))
    except ExtractionError as err:
        if args.debug:
            for number, attempt in enumerate(err.attempts, start=1):
                print(
                    f"attempt {number} [{attempt.section}]: {attempt.error or 'ok'}",
                    file=sys.stderr,
                )
                print(f"  raw: {attempt.raw!r}", file=sys.stderr)
        return _fail(args, EXIT_FAILED, f"extraction failed: {err}")
    except KeyboardInterrupt:
        return _fail(args, EXIT_FAILED, "interrupted")
    except Exception as err:
        return _fail(args, EXIT_FAILED, f"unexpected {type(err).__name__}: {err}")


def _extract(args: argparse.Namespace) -> int:
    extractor = Extractor(
        model=args.model, base_url=args.base_url, mode=args.mode, strategy=args.strategy
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


def _fail(args: argparse.Namespace, code: int, message: str) -> int:
    if args.debug:
        traceback.print_exc()
    print(f"extractor: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
