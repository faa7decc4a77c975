"""The `extractor` command. Exit codes: 0 success, 1 extraction failed or a score regressed,
2 bad usage or input.

argparse is enough for a few subcommands and keeps the install small; errors print as one
line, with the traceback only under --debug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from extractor.cli.common import EXIT_FAILED, EXIT_USAGE
from extractor.core.errors import (
    ConfigError,
    ExtractionError,
    InputError,
    ResultsInUseError,
    ScoringError,
    StorageError,
)
from extractor.core.text import one_line, redact

# Command -> module. Only the chosen command's module is imported, so `extractor extract`
# does not load the evaluation stack (scipy, onnxruntime) nor batch's nor trends'.
COMMANDS = {
    "extract": "extract",
    "batch": "batch",
    "export": "export",
    "eval": "evaluate",
    "calibrate": "evaluate",
    "view": "view",
    "trends": "trends",
    "digest": "trends",
}


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extractor", description="Turn news articles into foresight signal cards."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    names = [COMMANDS[chosen]] if chosen in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in names:
        importlib.import_module(f"extractor.cli.{name}").add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(argv).parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (InputError, ConfigError, ResultsInUseError) as err:
        return _fail(args, EXIT_USAGE, str(err))
    except StorageError as err:
        return _fail(args, EXIT_FAILED, str(err))
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
    # One line whatever the endpoint said, and never the key, even if it echoed it.
    line = redact(one_line(message), os.environ.get("OPENAI_API_KEY"))
    print(f"extractor: error: {line}", file=sys.stderr)
    return code
