"""Flags and exit codes shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from extractor.backends.config import MODES
from extractor.pipeline.extract import STRATEGIES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_endpoint_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name (default: EXTRACTOR_MODEL, else per endpoint)")
    parser.add_argument(
        "--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL, else embedded)"
    )
    parser.add_argument("--mode", choices=MODES, help="how the endpoint is asked for JSON")
    parser.add_argument("--strategy", choices=STRATEGIES, help="one request, or one per section")


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and every attempt")
