"""A page opened in the system's headless Chromium, as a reader would open it, recording
console errors and every request it makes. Not a test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium reaches out to Google at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Visit:
    page: Any  # playwright's Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def offsite(self) -> list[str]:
        """Requests for anything but the page's own file: a self-contained page makes none."""
        return [url for url in self.requests if not url.startswith("file:")]


@contextmanager
def visit(path: Path) -> Iterator[Visit]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Chromium to check {path.name} in a browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            seen = Visit(page)
            page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.errors.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            yield seen
        finally:
            browser.close()
