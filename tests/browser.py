"""Headless Chromium for the browser tests (the report's and the console's): one place that finds
Debian's chromium, drives it through the playwright package (no browser download of its own),
and says where screenshots go.

Outside CI a browser test is skipped when the package or the browser is missing; in CI
(``CI=true``) it must run, so a missing piece fails it. ``--no-sandbox``: CI runs as root,
where Chromium's own sandbox refuses to start. Screenshots go to ``$KLEANSYNC_SCREENSHOT_DIR``
when set, else to a temporary folder: never into the checkout (CI wants a clean
``git status``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import pytest

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Keyword arguments for ``playwright.chromium.launch`` (sync or async alike).
LAUNCH: dict[str, Any] = {"executable_path": str(CHROMIUM), "args": ["--no-sandbox"]}
#: The widths every screenshot is taken at: a laptop and a phone.
WIDTHS = (1280, 390)


def playwright(api: Literal["sync", "async"]) -> Any:
    """``sync_playwright`` or ``async_playwright``, or a skip (a failure in CI) saying what is
    missing."""
    problem = None
    entry: Any = None
    try:
        if api == "sync":
            from playwright.sync_api import sync_playwright as entry
        else:
            from playwright.async_api import async_playwright as entry
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"Debian's chromium is not installed ({CHROMIUM}; apt-get install chromium)"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"CI must run the browser test: {problem}")
        pytest.skip(problem)
    return entry


def screenshot_dir(name: str) -> Path:
    """``$KLEANSYNC_SCREENSHOT_DIR/name`` or a temp folder ``kleansync-name`` (made, returned)."""
    root = os.environ.get("KLEANSYNC_SCREENSHOT_DIR")
    folder = Path(root) / name if root else Path(tempfile.gettempdir()) / f"kleansync-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


#: innerWidth-overflowing elements' first 60 characters (nothing may be wider than a phone).
WIDER_THAN_SCREEN = """[...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
    .map(e => e.tagName + ': ' + (e.innerText || '').slice(0, 60))"""

__all__ = [
    "CHROMIUM",
    "IN_CI",
    "LAUNCH",
    "WIDER_THAN_SCREEN",
    "WIDTHS",
    "playwright",
    "screenshot_dir",
]
