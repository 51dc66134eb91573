"""``kleansync sync`` without a terminal: a progress line every 10 % on stderr (issue 17 §2).

Cron and ``serve``'s journal have no terminal, so no bar is drawn there; before,
a long first sync was silent until it ended. Now both the read phase (each
service's list, page by page) and the writes print ``PHASE: done/total · rate
· noch m:ss (NN %)`` lines. ``kleansync sync`` runs as a process, its stderr a
pipe, against both emulators on loopback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import (
    LOOPBACK_KLEAN_ENV,
    LOOPBACK_KLEAN_TOKEN,
    LOOPBACK_SEV_ENV,
    LOOPBACK_SEV_TOKEN,
    Sandbox,
    loopback_cli,
)

LINE = re.compile(
    r"^(?P<phase>.+?): (?P<done>[\d.]+)/(?P<total>[\d.]+)"
    r"(?: · (?P<rate>\d[\d.]*,\d)/s(?: · noch (?P<left>\d+:\d\d))?)? \((?P<pct>\d+) %\)$"
)


def sync(
    config: Path, *args: str, before: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``kleansync [before] sync [args]`` as a process; stderr is a pipe, so not a terminal."""
    env = {**os.environ, LOOPBACK_SEV_ENV: LOOPBACK_SEV_TOKEN}
    env[LOOPBACK_KLEAN_ENV] = LOOPBACK_KLEAN_TOKEN
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler.cli.app",
            *before,
            "sync",
            "--config",
            str(config),
            *args,
        ],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def progress(stderr: str) -> list[re.Match[str]]:
    return [m for line in stderr.splitlines() if (m := LINE.match(line))]


def customers(n: int) -> list[dict[str, str]]:
    return [
        {"customer_number": f"K-{i:05d}", "kind": "company", "company_name": f"Firma {i}"}
        for i in range(1, n + 1)
    ]


def test_reading_pages_prints_a_line_per_10_percent_step(served: Sandbox, tmp_path: Path) -> None:
    served.reset()
    served.bulk(served.kleanapp, {"customers": customers(1001)})  # 3 pages of 500
    config = loopback_cli(served, tmp_path).config

    done = sync(config, "--dry-run", "--json")

    assert done.returncode == 0, done.stderr[-2000:]
    reading = [m for m in progress(done.stderr) if m["phase"] == "KleanApp: Kunden lesen"]
    assert [(m["done"], m["total"], m["pct"]) for m in reading] == [
        ("500", "1.001", "40"),
        ("1.000", "1.001", "90"),
        ("1.001", "1.001", "100"),
    ]
    assert reading[1]["rate"] is not None  # measured from the first page on
    assert not [m for m in progress(done.stderr) if m["phase"] == "Änderungen schreiben"]

    quiet = sync(config, "--dry-run", "--json", before=("-q",))  # only warnings and errors
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert progress(quiet.stderr) == []


def test_writes_print_counts_rate_and_time_left_every_10_percent(
    served: Sandbox, tmp_path: Path
) -> None:
    served.reset()
    served.bulk(served.kleanapp, {"customers": customers(30)})
    config = loopback_cli(served, tmp_path).config

    done = sync(config)

    assert done.returncode == 0, done.stderr[-2000:]
    writes = [m for m in progress(done.stderr) if m["phase"] == "Änderungen schreiben"]
    assert [int(m["pct"]) for m in writes] == list(range(10, 101, 10))
    total = int(writes[0]["total"])
    assert total >= 30 and all(int(m["total"]) == total for m in writes)
    assert [int(m["done"]) for m in writes] == [-(-total * k // 10) for k in range(1, 11)]
    assert all(m["rate"] for m in writes[1:])
    assert all(m["left"] for m in writes[1:-1]) and writes[-1]["left"] is None
    assert [m["pct"] for m in progress(done.stderr) if m["phase"] == "KleanApp: Kunden lesen"] == [
        "100"
    ]
