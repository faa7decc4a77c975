#!/usr/bin/env bash
# The quick start. Each command sets up .venv on first use (including the embedded model,
# whose llama-cpp-python build takes about 5 minutes once), then:
#   ./run.sh example [ARTICLE]   print a signal card for an example article, offline
#   ./run.sh test                run linters, type checks, the layer contract, a clean-venv
#                                install of the wheel, and the tests
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

# The report test opens report.html in Chromium as a user would; Debian's package is the only
# browser this machine type can install (no test tool may download its own).
browser() {
    if ! command -v chromium >/dev/null; then
        echo "installing Chromium for the report test ..." >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq >&2
        $sudo apt-get install -y -qq --no-install-recommends chromium >&2
    fi
}

# The wheel, installed non-editable into a clean venv and run outside the source tree, must
# bring its templates and every dependency with it.
packaged() {
    local tmp
    tmp="$(mktemp -d)"
    "$VENV/bin/python" -m pip wheel -q --no-deps -w "$tmp" . >&2
    python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install -q "$tmp"/*.whl >&2
    (cd "$tmp" && "$tmp/venv/bin/python" -c '
from extractor import SignalCard, load_article
from extractor.pipeline.prompting import Prompts, prompts_dir
from extractor.evaluate.report import write_reports
assert "site-packages" in str(prompts_dir()), prompts_dir()
assert (prompts_dir() / "judge" / "faithfulness.j2").is_file()
assert (prompts_dir() / "trends" / "label.j2").is_file()
assert (prompts_dir() / "row_examples.json").is_file()
assert (prompts_dir() / "drivers.json").is_file()
assert (prompts_dir() / "document" / "summary.j2").is_file()
import pathlib, extractor.trends.report as radar
assert (pathlib.Path(radar.__file__).parent / "templates" / "radar.html.j2").is_file()
print("packaged wheel ok: prompts", Prompts().version, "from", prompts_dir())
')
    "$tmp/venv/bin/extractor" --help >/dev/null
    # Ray is an extra: a plain install must not bring it.
    if "$tmp/venv/bin/python" -c 'import ray' 2>/dev/null; then
        echo "a plain install brought Ray" >&2
        exit 1
    fi
    # Without the semantic extra, evals fall back to the lexical scorer and still report.
    "$tmp/venv/bin/extractor" eval --gold "$PWD/seeds" --pred "$PWD/seeds" --out "$tmp/eval" \
        >/dev/null 2>&1
    grep -q "lexical fallback" "$tmp/eval/report.html"
    rm -rf "$tmp"
}

case "${1:-}" in
    example)
        setup
        "$VENV/bin/extractor" extract "${2:-examples/heat-pumps-europe.txt}"
        ;;
    test)
        setup
        "$VENV/bin/ruff" check extractor tests benchmarks
        "$VENV/bin/mypy"
        "$VENV/bin/lint-imports"
        packaged
        browser
        # In its own process, like every native call in the tests: it loads no model.
        "$VENV/bin/python" -c 'from extractor.backends.embedded import system_info
print("llama.cpp on this CPU:", system_info())'
        "$VENV/bin/pytest"
        ;;
    *)
        echo "usage: ./run.sh example [ARTICLE] | ./run.sh test" >&2
        exit 2
        ;;
esac
