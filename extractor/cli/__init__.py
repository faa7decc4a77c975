"""The `extractor` command. Exit codes: 0 success, 1 extraction failed or a score regressed,
2 bad usage or input.

argparse is enough for a few subcommands and keeps the install small; errors print as one
line, with the traceback only under --debug.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from extractor.cli import batch, evaluate, export, extract
from extractor.cli.common import EXIT_FAILED, EXIT_USAGE
from extractor.core.errors import ConfigError, ExtractionError, InputError, ScoringError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extractor", description="Turn news articles into foresight signal cards."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    extract.add_parser(commands)
    batch.add_parser(commands)
    export.add_parser(commands)
    evaluate.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
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
    except ScoringError as err:
        return _fail(args, EXIT_FAILED, f"scoring failed: {err}")
    except KeyboardInterrupt:
        return _fail(args, EXIT_FAILED, "interrupted")
    except Exception as err:
        return _fail(args, EXIT_FAILED, f"unexpected {type(err).__name__}: {err}")


def _fail(args: argparse.Namespace, code: int, message: str) -> int:
    if args.debug:
        traceback.print_exc()
    print(f"extractor: error: {message}", file=sys.stderr)
    return code

