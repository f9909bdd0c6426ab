"""The playground in-process and Chromium driven by Playwright, for tests/test_playground_browser.py.

Chromium is Debian's (/usr/bin/chromium; never a downloaded build). Where it or Playwright is missing
the browser tests skip and say why, except under KOHO_REQUIRE_BROWSER=1 (CI), where that fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KOHO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


def browser_unavailable() -> str | None:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


def require_browser() -> None:
    problem = browser_unavailable()
    if problem:
        if os.environ.get("KOHO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"KOHO_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)


def screenshot(page, name: str) -> None:
    """Save a screenshot of a main screen for the README (docs/images/), when asked to (KOHO_SCREENSHOTS=1)."""
    if os.environ.get("KOHO_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"{name}.png"))
