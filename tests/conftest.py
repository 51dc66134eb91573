"""Fixtures shared across test directories: the real `kleansync` process, started as a user would.

``sandbox_server`` runs ``python -m reconciler.cli.app sandbox`` once per test
session on free loopback ports with made-up but distinctive tokens (so a
test can grep every output for them). ``launch_sandbox`` starts further ones
(signal tests). ``kleansync`` runs one CLI command as a subprocess and
returns its exit code and output. Both always clean up:
a process that outlives its test is killed.

``served`` (both emulators on loopback, per module) and ``loopback_cli`` (a
config for them, ``kleansync sync`` as a subprocess that may be told where to
SIGKILL itself) are the harness of the crash and ingress tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from reconciler.domain.models import Customer
from sandbox.client import polite_client
from sandbox.serve import Endpoint, SandboxThread, endpoints, free_port
from state import Store
from tests.state_backend import POSTGRES, PgServer, pg_server, sqlite_url

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL (``KLEANSYNC_TEST_STATE=postgres``) only the tests with a state store run.

    A test that takes no ``state_url`` runs exactly as in the SQLite pass; running it again
    would only cost CI time.
    """
    if not POSTGRES:
        return
    keep = [item for item in items if _STORE_FIXTURES & set(getattr(item, "fixturenames", ()))]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


_STORE_FIXTURES = {"state_url", "state_urls"}


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[PgServer | None]:
    """The PostgreSQL server of the PostgreSQL pass (tests/state_backend.py); None on SQLite."""
    if not POSTGRES:
        yield None
        return
    server = pg_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def state_urls(tmp_path: Path, pg_admin: PgServer | None) -> Iterator[Callable[..., str]]:
    """``make(name="state.db", fresh=False)``: the URL of another state store for this test.

    SQLite: the file ``name`` in ``tmp_path``. PostgreSQL: a database of its own, dropped
    after the test; ``fresh`` gives an empty one (as a new install meets it), otherwise it
    already holds the schema (as any store does once kleansync opened it).
    """
    made: list[str] = []

    def make(name: str = "state.db", *, fresh: bool = False) -> str:
        if pg_admin is None:
            return sqlite_url(tmp_path, name)
        made.append(pg_admin.create() if fresh else pg_admin.migrated())
        return made[-1]

    yield make
    for url in made:
        assert pg_admin is not None
        pg_admin.drop(url)


@pytest.fixture
def state_url(state_urls: Callable[..., str]) -> str:
    """The URL of this test's state store (``state_urls``' first)."""
    return state_urls()


@pytest.fixture(scope="session")
def long_run(request: pytest.FixtureRequest) -> bool:
    """True under ``pytest --long``: adversarial/stateful tests scale their sizes up."""
    return bool(request.config.getoption("--long"))


#: One company and one person with every field both services keep, for the connector
#: tests: each must come back from either service exactly as it was written.
COMPANY = Customer(
    customer_number="K-10001",
    kind="company",
    company_name="Glanz & Gloria GmbH",
    email="buero@glanz-gloria.de",
    phone="+49301234567",
    mobile="+491701234567",
    street="Hauptstraße 5",
    postal_code="10115",
    city="Berlin",
    country="DE",
    vat_id="DE123456789",
    note="Treppenhaus montags\nSchlüssel beim Hausmeister",
)
PERSON = Customer(
    customer_number="K-10002",
    kind="person",
    first_name="Erika",
    last_name="Müller",
    email="erika.mueller@example.org",
    phone="+4319876543",
    mobile="+436601112223",
    street="Ringstraße 1",
    postal_code="1010",
    city="Wien",
    country="AT",
    vat_id="ATU12345678",
    note="Nur vormittags",
)

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


def start_sandbox(
    sevdesk_port: int, kleanapp_port: int, log: Path, *, timeout: float = 15
) -> subprocess.Popen:
    """Start `kleansync sandbox` and return once both ports accept connections."""
    args = ["sandbox", "--sevdesk-port", str(sevdesk_port), "--sevdesk-token", SEVDESK_TOKEN]
    args += ["--kleanapp-port", str(kleanapp_port), "--kleanapp-token", KLEANAPP_TOKEN]
    with log.open("w") as sink:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen([*CLI, *args], stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
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
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Messages in English, in this process and in the CLI processes it starts.

    For tests about *what* a message says (the key it names, the cause it
    gives), where the English id reads clearest; German, the default, has its
    own tests (tests/i18n, tests/cli/test_german_cli.py).
    """
    from reconciler.domain import i18n

    monkeypatch.setenv(i18n.ENV_VAR, "en")
    i18n.set_language(None)
    i18n.configure(None)
    yield
    i18n.set_language(None)
    i18n.configure(None)


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


# -- both emulators on loopback in this process, `kleansync sync` as a subprocess ------------
# The harness of the crash tests (tests/engine/test_crash_recovery.py) and of the ingress
# tests that kill `kleansync serve` (tests/adversarial/test_ingress.py). A real process is
# needed to SIGKILL it (KLEANSYNC_CRASH_AT) and start it again on the same state store.

LOOPBACK_SEV_TOKEN = "crash-test-sevdesk-token"
LOOPBACK_KLEAN_TOKEN = "crash-test-kleanapp-token"
#: The environment variables the harness's config names for the two tokens.
LOOPBACK_SEV_ENV = "KLEANSYNC_CRASH_TEST_SEVDESK_TOKEN"
LOOPBACK_KLEAN_ENV = "KLEANSYNC_CRASH_TEST_KLEANAPP_TOKEN"
CRASH_ENV = "KLEANSYNC_CRASH_AT"
#: KleanApp's emulator allows 10 requests per second per token.
KLEAN_RPS = 9


@dataclass
class Sandbox:
    """Both emulators on loopback (threads of this process) and raw clients to read them."""

    sevdesk: Endpoint
    kleanapp: Endpoint
    sev: httpx.Client
    klean: httpx.Client

    @staticmethod
    def root(endpoint: Endpoint) -> str:
        return endpoint.base_url.removesuffix("/api/v1")

    def reset(self) -> None:
        for ep in (self.sevdesk, self.kleanapp):
            httpx.post(f"{self.root(ep)}/_sandbox/reset").raise_for_status()

    def bulk(self, endpoint: Endpoint, body: dict[str, Any]) -> None:
        httpx.post(f"{self.root(endpoint)}/_sandbox/bulk", json=body).raise_for_status()

    def fault(self, endpoint: Endpoint, rule: dict[str, Any]) -> None:
        httpx.post(f"{self.root(endpoint)}/_sandbox/faults", json=rule).raise_for_status()

    # -- raw reads (every row, duplicates included) ----------------------------
    def contacts(self) -> list[dict[str, Any]]:
        rows = self.sev.get("Contact", params={"depth": 1, "limit": 1000}).json()["objects"]
        return [r for r in rows if str((r.get("category") or {}).get("id")) == "3"]

    def contact(self, number: str) -> dict[str, Any]:
        (row,) = [c for c in self.contacts() if c.get("customerNumber") == number]
        return row

    def parts(self, kind: str, contact_id: str) -> list[dict[str, Any]]:
        params = {"contact[id]": contact_id, "contact[objectName]": "Contact"}
        return self.sev.get(kind, params=params).json()["objects"]

    def klean_customers(self) -> list[dict[str, Any]]:
        params = {"per_page": 500, "include_archived": "true"}
        return self.klean.get("customers", params=params).json()["data"]

    def klean_customer(self, number: str) -> dict[str, Any]:
        (row,) = [c for c in self.klean_customers() if c["customer_number"] == number]
        return row


@pytest.fixture(scope="module")
def served() -> Iterator[Sandbox]:
    """The emulators for one test module; each test resets and seeds them itself."""
    eps = endpoints(
        sevdesk_port=0,
        kleanapp_port=0,
        sevdesk_token=LOOPBACK_SEV_TOKEN,
        kleanapp_token=LOOPBACK_KLEAN_TOKEN,
    )
    sev_ep, klean_ep = eps
    with (
        SandboxThread(eps),
        polite_client(sev_ep.base_url, LOOPBACK_SEV_TOKEN, timeout=30) as sev,
        polite_client(klean_ep.base_url, f"Bearer {LOOPBACK_KLEAN_TOKEN}", timeout=30) as klean,
    ):
        yield Sandbox(sev_ep, klean_ep, sev, klean)


@dataclass
class Cli:
    """``kleansync sync --json`` on one config, as a subprocess (``crash_at``: where it dies)."""

    config: Path
    state_url: str

    def run(self, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
        env.update({LOOPBACK_SEV_ENV: LOOPBACK_SEV_TOKEN, LOOPBACK_KLEAN_ENV: LOOPBACK_KLEAN_TOKEN})
        if crash_at:
            env[CRASH_ENV] = crash_at
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler.cli.app",
                "sync",
                "--config",
                str(self.config),
                "--json",
            ],
            cwd=self.config.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def sync(self) -> dict[str, Any]:
        """A run that must succeed; its ``--json`` object."""
        proc = self.run()
        assert proc.returncode == 0, f"sync failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        return json.loads(proc.stdout)

    def journal(self) -> list[Any]:
        store = Store(self.state_url)
        try:
            return store.journal()
        finally:
            store.close()


def loopback_cli(sandbox: Sandbox, directory: Path, state_url: str | None = None) -> Cli:
    """A config for ``sandbox`` in ``directory`` (reports beside it), as a ``Cli``.

    ``state_url``: the test's store (the ``state_url`` fixture); by default ``state.db``
    in ``directory``.

    Units are off: the crash points are on customers, and the emulators'
    default units would only make every first run slower.
    """
    state_url = state_url or sqlite_url(directory)
    config = directory / "config.toml"
    config.write_text(
        f"""
[sevdesk]
base_url = "{sandbox.sevdesk.base_url}"
token_env = "{LOOPBACK_SEV_ENV}"
requests_per_second = 100

[kleanapp]
base_url = "{sandbox.kleanapp.base_url}"
token_env = "{LOOPBACK_KLEAN_ENV}"
requests_per_second = {KLEAN_RPS}

[state]
url = "{state_url}"

[sync]
units = "off"

[report]
dir = "reports"
""",
        encoding="utf-8",
    )
    return Cli(config, state_url)
