#!/usr/bin/env bash
# The quick start. Each command sets up .venv on first use (including the embedded model,
# whose llama-cpp-python build takes about 5 minutes once), then:
#   ./run.sh example [ARTICLE]   print a signal card for an example article, offline
#   ./run.sh test                run linters, type checks, the layer contract and the tests
set -euo pipefail
cd "$(dirname "$0")"
VENV="${VENV:-.venv}"

setup() {
    if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
        echo "setting up $VENV (first run only) ..." >&2
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip >&2
        "$VENV/bin/python" -m pip install -q -e ".[dev]" >&2
        touch "$VENV/.installed"
    fi
}

case "${1:-}" in
    example)
        setup
        "$VENV/bin/extractor" extract "${2:-examples/heat-pumps-europe.txt}"
        ;;
    test)
        setup
        "$VENV/bin/ruff" check extractor tests
        "$VENV/bin/mypy"
        "$VENV/bin/lint-imports"
        "$VENV/bin/pytest"
        ;;
    *)
        echo "usage: ./run.sh example [ARTICLE] | ./run.sh test" >&2
        exit 2
        ;;
esac
