"""Every browser test starts Chromium through ``tests/browser.py``: one place knows where Debian's
chromium is, which flags CI needs and when a missing browser skips or fails, so the report's and
the console's browser tests cannot drift apart (they had two copies of it)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_only_the_shared_helper_finds_and_launches_chromium():
    own = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == "browser.py" and path.parent == TESTS:
            continue
        text = path.read_text(encoding="utf-8")
        if path == Path(__file__).resolve():
            continue
        if re.search(r"executable_path|--no-sandbox|shutil\.which\(\"chromium\"\)", text):
            own.append(str(path.relative_to(TESTS)))
        for launch in re.findall(r"chromium\.launch\(([^)]*)\)", text):
            if launch.strip() != "**LAUNCH":
                own.append(f"{path.relative_to(TESTS)}: chromium.launch({launch})")
    assert not own, f"Chromium started outside tests/browser.py: {own}"
