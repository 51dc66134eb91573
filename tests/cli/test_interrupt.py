"""Ctrl-C in the middle of ``kleansync sync`` (issue 17): one line, and an honest run history.

``kleansync sync`` runs as a real process against both emulators served on
loopback; sevDesk answers each new contact a little slowly (a latency fault),
and once the eighth contact was created the test sends the process SIGINT, as
Ctrl-C in a terminal does. It used to print nothing and leave "0 changes" in
the run history although contacts had been written. Now it prints one line
("unterbrochen nach N von 24 Änderungen; der nächste Lauf setzt fort"), the run
history says ``interrupted`` with the N changes that were made, and the next
run carries on: every customer exists exactly once in sevDesk afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import (
    LOOPBACK_KLEAN_ENV,
    LOOPBACK_KLEAN_TOKEN,
    LOOPBACK_SEV_ENV,
    LOOPBACK_SEV_TOKEN,
    Sandbox,
    loopback_cli,
)

CUSTOMERS = 24
#: The contact after which Ctrl-C is pressed: well inside the apply step.
INTERRUPT_AFTER = 8
LINE = re.compile(
    r"^kleansync: unterbrochen nach (\d+) von (\d+) Änderungen; der nächste Lauf setzt fort$"
)


def _env() -> dict[str, str]:
    return {
        **os.environ,
        LOOPBACK_SEV_ENV: LOOPBACK_SEV_TOKEN,
        LOOPBACK_KLEAN_ENV: LOOPBACK_KLEAN_TOKEN,
        "NO_COLOR": "1",
    }


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler.cli", *args, "--config", str(config)]


def test_ctrl_c_mid_sync_prints_one_line_records_interrupted_and_the_next_run_resumes(
    served: Sandbox, tmp_path: Path
) -> None:
    served.reset()
    served.bulk(
        served.kleanapp,
        {
            "customers": [
                {"customer_number": f"K-{i:05d}", "kind": "company", "company_name": f"Firma {i}"}
                for i in range(1, CUSTOMERS + 1)
            ]
        },
    )
    # Slow enough that the run is still applying when the signal arrives.
    served.fault(
        served.sevdesk,
        {"kind": "latency", "method": "POST", "path": "/Contact$", "latency_ms": 40, "times": None},
    )
    cli = loopback_cli(served, tmp_path)
    process = subprocess.Popen(
        _cli(cli.config, "sync"),
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal: a shell starting the test suite in the background
        # (`cmd &`) hands on SIGINT ignored, and Python then rightly keeps ignoring it.
        preexec_fn=_sigint_as_in_a_terminal,
    )
    created = 0

    def ctrl_c_after_the_eighth_contact(method: str, path: str, status: int) -> None:
        nonlocal created
        if method == "POST" and path.endswith("/Contact") and status < 400:
            created += 1
            if created == INTERRUPT_AFTER:
                process.send_signal(signal.SIGINT)

    served.sevdesk.app.after_response.append(ctrl_c_after_the_eighth_contact)
    try:
        _out, err = process.communicate(timeout=60)
    finally:
        served.sevdesk.app.after_response.remove(ctrl_c_after_the_eighth_contact)
        if process.poll() is None:
            process.kill()

    assert process.returncode == 130, err
    last = err.strip().splitlines()[-1]
    match = LINE.match(last)
    assert match, err
    done, planned = int(match[1]), int(match[2])
    assert planned == CUSTOMERS
    assert INTERRUPT_AFTER - 1 <= done < CUSTOMERS
    assert "Traceback" not in err and "internal error" not in err
    # What the line says was written is what sevDesk has (the create in flight may
    # have arrived too; the journal holds it for the next run to settle).
    assert len(served.contacts()) in (done, done + 1)

    status = subprocess.run(
        _cli(cli.config, "status", "--json"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert status.returncode == 0, status.stderr
    run = json.loads(status.stdout)["runs"][0]
    assert run["outcome"] == "interrupted"
    assert run["changes"] == done
    assert run["error"] == last.removeprefix("kleansync: ")

    httpx.delete(f"{served.root(served.sevdesk)}/_sandbox/faults").raise_for_status()
    follow = cli.sync()
    assert follow["outcome"] == "ok"
    numbers = [c["customerNumber"] for c in served.contacts()]
    assert sorted(numbers) == [f"K-{i:05d}" for i in range(1, CUSTOMERS + 1)]  # each once
