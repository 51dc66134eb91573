"""Fixtures shared across test directories: the real `kleansync` process, started as a user would.

``sandbox_server`` runs ``python -m reconciler.cli.app sandbox`` once per test
session on free loopback ports with made-up but distinctive tokens (so a
test can grep every output for them). ``launch_sandbox`` starts further ones
(signal tests). ``kleansync`` runs one CLI command as a subprocess and
returns its exit code and output. Both always clean up:
a process that outlives its test is killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from sandbox.serve import free_port

# Hypothesis keeps its example database and caches in the user's cache folder, not in
# ``./.hypothesis``: a test run writes nothing into the checkout (HYPOTHESIS_STORAGE_DIRECTORY
# still overrides, as Hypothesis documents).
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    _cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    set_hypothesis_home_dir(_cache / "kleansync" / "hypothesis")

# Hypothesis profiles: ``ci`` is derandomized (the same examples on every run, so CI
# is red only for a real regression) and explores more; ``dev`` is random, to find
# new cases locally. ``.ci/run`` selects ``ci``; HYPOTHESIS_PROFILE overrides.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the adversarial and stateful suites at full length (minutes, not seconds)",
    )


@pytest.fixture(scope="session")
def long_run(request: pytest.FixtureRequest) -> bool:
    """True under ``pytest --long``: adversarial/stateful tests scale their sizes up."""
    return bool(request.config.getoption("--long"))


#: Look like real keys (sevDesk: 32 hex) and appear nowhere else.
SEVDESK_TOKEN = "5e7d0c4b9a1f3e2d8c6b0a9f7e5d3c1b"
KLEANAPP_TOKEN = "ka-live-Zq81XwPv3rT6yUe2Lm9N"
CLI = [sys.executable, "-m", "reconciler.cli"]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class SandboxServer:
    """A `kleansync sandbox` process and how to reach it."""

    process: subprocess.Popen
    sevdesk_port: int
    kleanapp_port: int
    sevdesk_token: str = SEVDESK_TOKEN
    kleanapp_token: str = KLEANAPP_TOKEN

    @property
    def sevdesk_url(self) -> str:
        return f"http://127.0.0.1:{self.sevdesk_port}/api/v1"

    @property
    def kleanapp_url(self) -> str:
        return f"http://127.0.0.1:{self.kleanapp_port}/api/v1"

    def reset(self) -> None:
        """Empty both emulators (this also clears faults and KleanApp's rate window)."""
        for port in (self.sevdesk_port, self.kleanapp_port):
            httpx.post(f"http://127.0.0.1:{port}/_sandbox/reset", timeout=5).raise_for_status()

    def config(self, directory: Path, *, sevdesk_url: str | None = None, extra: str = "") -> Path:
        """A sandbox/sandbox.toml-like config for these ports; ``extra`` is more TOML."""
        path = directory / "config.toml"
        path.write_text(
            f'[sevdesk]\nbase_url = "{sevdesk_url or self.sevdesk_url}"\n'
            'token_env = "SEVDESK_TOKEN"\nrequests_per_second = 50\n'  # the emulator has no limit
            f'[kleanapp]\nbase_url = "{self.kleanapp_url}"\ntoken_env = "KLEANAPP_TOKEN"\n'
            f'[state]\nurl = "sqlite:///state.db"\n{extra}',
            encoding="utf-8",
        )
        return path


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_sandbox(sevdesk_port: int, kleanapp_port: int, log: Path) -> subprocess.Popen:
    """Start `kleansync sandbox` and return once both ports accept connections."""
    args = ["sandbox", "--sevdesk-port", str(sevdesk_port), "--sevdesk-token", SEVDESK_TOKEN]
    args += ["--kleanapp-port", str(kleanapp_port), "--kleanapp-token", KLEANAPP_TOKEN]
    with log.open("w") as sink:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen([*CLI, *args], stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not (listening(sevdesk_port) and listening(kleanapp_port)):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"kleansync sandbox did not start:\n{log.read_text()}")
        time.sleep(0.02)
    return process


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 5) -> int | None:
    """Send ``sig``; kill if it has not exited within ``timeout``. The exit code, None if killed."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            return None
    return process.returncode


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    ports = free_port(), free_port()
    process = start_sandbox(*ports, log)
    try:
        yield SandboxServer(process, *ports)
    finally:
        stop(process)


@pytest.fixture
def launch_sandbox(tmp_path: Path) -> Iterator[Callable[[int, int], subprocess.Popen]]:
    """``launch(sevdesk_port, kleanapp_port)`` starts another sandbox; all are stopped after."""
    started: list[subprocess.Popen] = []

    def launch(sevdesk_port: int, kleanapp_port: int) -> subprocess.Popen:
        started.append(start_sandbox(sevdesk_port, kleanapp_port, tmp_path / f"{len(started)}.log"))
        return started[-1]

    yield launch
    for process in started:
        stop(process)


@pytest.fixture
def kleansync(tmp_path: Path) -> Callable[..., CliResult]:
    """Run ``kleansync *args`` in ``tmp_path``; ``env`` entries are added to the environment."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> CliResult:
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        done = subprocess.run(
            [*CLI, *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run
