"""Flags and exit codes shared by the subcommands."""

from __future__ import annotations

import argparse
import os
from typing import TypeAlias

from extractor.backends.profile import MODES, STRATEGIES, UNGROUNDED, Ungrounded
from extractor.pipeline.load import ALLOW_PRIVATE_URLS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_endpoint_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name (default: EXTRACTOR_MODEL, else per endpoint)")
    parser.add_argument(
        "--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL, else embedded)"
    )
    parser.add_argument("--mode", choices=MODES, help="how the endpoint is asked for JSON")
    parser.add_argument("--strategy", choices=STRATEGIES, help="one request, or one per section")
    parser.add_argument(
        "--ungrounded",
        choices=UNGROUNDED,
        default=Ungrounded.REASK.value,
        help="signal rows the article does not support: keep, flag (a warning), drop, or "
        "reask once then flag (default)",
    )


def add_url_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-private-urls",
        action="store_true",
        help=f"fetch URLs on loopback and private networks too (or set {ALLOW_PRIVATE_URLS}=1)",
    )


def apply_url_flag(args: argparse.Namespace) -> None:
    # The input stage reads the setting from the environment, as URL fetches in threads do.
    if args.allow_private_urls:
        os.environ[ALLOW_PRIVATE_URLS] = "1"


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and every attempt")
