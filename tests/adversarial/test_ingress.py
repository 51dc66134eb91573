"""Issue 14, what comes in: creates repeated after a crash, hostile webhooks, echoed secrets.

Each test drives the real ``kleansync`` process (or the service's real
receiver) against the emulators and counts what both sides hold through
their public APIs afterwards.

* A ``sync`` SIGKILLed right after KleanApp answered a create for a sevDesk
  contact without a customer number (KleanApp assigns one the killed process
  never recorded): the next run repeats the create with the journal entry's
  ``Idempotency-Key``, gets the first customer back, and links it; exactly
  one customer on each side afterwards.
* ``serve`` SIGKILLed after it acknowledged 22 customer edits (webhooks
  answered 202, the debounced sync not yet run): the next start processes
  them from the durable inbox, without anyone starting a run.
* a 300 MB body POSTed to the running ``serve`` over a real socket: 413 long
  before the sender is done, the process's peak memory (VmHWM) barely moves.
* KleanApp quoting the webhook signing secret in its errors: ``sync`` and
  ``invoices export`` (which never use that secret) mask it in their output,
  reports and the state store like both API tokens.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.log import MASK
from sandbox.serve import free_port
from state import Store
from state.inbox_tables import Inbox
from tests.adversarial.audit import audit
from tests.conftest import (
    LOOPBACK_KLEAN_ENV,
    LOOPBACK_KLEAN_TOKEN,
    LOOPBACK_SEV_ENV,
    LOOPBACK_SEV_TOKEN,
    Cli,
    Sandbox,
    SandboxServer,
    loopback_cli,
)
from tests.service.conftest import invoice_body
from tests.test_secrets import assert_nowhere

NO_NUMBER = {
    "kind": "company",
    "company_name": "Reinigungsbedarf Ohne Nummer GmbH",
    "street": "Lindenallee 7",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
    "email": "info@ohne-nummer.de",
}


# -- item 3: a crash right after KleanApp answered a create ---------------------------------


def test_killed_right_after_kleanapp_answered_a_create_leaves_one_customer_on_each_side(
    served: Sandbox, tmp_path: Path
) -> None:
    served.reset()
    served.bulk(served.sevdesk, {"contacts": [NO_NUMBER]})
    cli = loopback_cli(served, tmp_path)
    (contact,) = served.contacts()
    assert not contact.get("customerNumber")

    killed = cli.run("after_request:customer.kleanapp.create")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (pending,) = [e for e in cli.journal() if e.state == "pending"]
    assert (pending.side, pending.op) == ("kleanapp", "create")
    assert len(served.klean_customers()) == 1  # the create got through before the kill

    recovered = cli.sync()
    assert not recovered["errors"], recovered["errors"]
    assert pending.id in [r["journal_id"] for r in recovered["recovered"]]
    again = cli.sync()
    assert again["counts"] == {} and not again["errors"], again

    customers = served.klean_customers()
    contacts = served.contacts()
    assert [c["company_name"] for c in customers] == [NO_NUMBER["company_name"]]
    assert [c["name"] for c in contacts] == [NO_NUMBER["company_name"]]
    # Both carry the number KleanApp assigned on the first (killed) create.
    assert contacts[0]["customerNumber"] == customers[0]["customer_number"]
    creates = Counter((e.side, e.state) for e in cli.journal() if e.op == "create")
    assert creates == {("kleanapp", "done"): 1}, creates
    expected = {customers[0]["customer_number"]: NO_NUMBER}
    report = audit(
        served.sevdesk.base_url,
        LOOPBACK_SEV_TOKEN,
        served.kleanapp.base_url,
        LOOPBACK_KLEAN_TOKEN,
        expected,
    )
    report.assert_clean()
    assert report.counts["kleanapp"] == report.counts["sevdesk"] == 1, report.counts


# -- item 8: the webhook secret echoed back by KleanApp ---------------------------------------

WEBHOOK_SECRET = "whsec-Hx7Qp2Vt9Lm4Rz8Kc3Nd"
SECRET_ENV = "KLEANSYNC_INGRESS_WEBHOOK_SECRET"
HOOKS = f'[webhooks]\nsecret_env = "{SECRET_ENV}"\npublic_url = "https://sync.example.de"\n'


def _post(port: int, path: str, body: Any) -> Any:
    response = httpx.post(f"http://127.0.0.1:{port}/_sandbox/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def _echo_secret(port: int, *, kind: str, method: str, path: str | None = None) -> None:
    rule = {"kind": kind, "method": method, "times": None, "path": path}
    rule["message"] = f"webhook secret {WEBHOOK_SECRET} does not match the registration"
    _post(port, "faults", rule)


@pytest.fixture
def echoing(sandbox_server: SandboxServer, kleansync: Any, tmp_path: Path) -> Any:
    """Both emulators seeded, a config whose [webhooks] names the secret; returns a runner."""
    sandbox_server.reset()
    klean = {"customer_number": "K-00001", "company_name": "Klean GmbH", "email": "a@klean.de"}
    sev = {"customer_number": "S-1", "kind": "person", "last_name": "Sev", "city": "Bonn"}
    ids = _post(sandbox_server.kleanapp_port, "bulk", {"customers": [klean]})["customers"]
    _post(sandbox_server.sevdesk_port, "bulk", {"contacts": [sev]})
    config = sandbox_server.config(tmp_path, extra=HOOKS)
    env = {
        "SEVDESK_TOKEN": sandbox_server.sevdesk_token,
        "KLEANAPP_TOKEN": sandbox_server.kleanapp_token,
        SECRET_ENV: WEBHOOK_SECRET,
    }

    def run(*args: str) -> Any:
        return kleansync("-v", *args, "--json", "-c", str(config), env=env, timeout=60)

    run.customer_id = ids[0]  # type: ignore[attr-defined]
    return run


def test_the_webhook_secret_echoed_by_kleanapp_is_masked_in_sync_output_reports_and_store(
    echoing: Any, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    _echo_secret(sandbox_server.kleanapp_port, kind="status", method="POST")  # every create
    result = echoing("sync")

    assert result.code == 1, result.stderr
    report = json.loads(result.stdout)
    assert MASK in json.dumps(report["errors"])  # the error says what KleanApp said, masked
    assert list(tmp_path.glob("reports/*.html")) and (tmp_path / "state.db").exists()
    assert_nowhere([WEBHOOK_SECRET], result.stdout, result.stderr, files=tmp_path)


def test_the_webhook_secret_echoed_by_kleanapp_is_masked_in_invoices_export(
    echoing: Any, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    assert echoing("sync").code == 0  # K-00001 is in sevDesk now: its invoice can go out
    _post(sandbox_server.kleanapp_port, "invoices", invoice_body(echoing.customer_id))
    # Linking the exported invoice in KleanApp fails, quoting the secret.
    _echo_secret(sandbox_server.kleanapp_port, kind="status", method="PUT", path="/export$")
    result = echoing("invoices", "export", "--from", "2026-01-01")

    assert result.code == 1, result.stderr
    exported = json.loads(result.stdout)
    assert MASK in json.dumps(exported["errors"]), exported
    assert_nowhere([WEBHOOK_SECRET], result.stdout, result.stderr, files=tmp_path)


# -- item 5: acknowledged webhook edits survive a kill of `serve` -----------------------------

EDITED = 22


def _serve_config(cli: Cli, port: int, *, debounce: float) -> None:
    """``cli``'s config plus a [webhooks] section KleanApp can reach on ``port``."""
    text = cli.config.read_text(encoding="utf-8").split("\n[webhooks]")[0]
    text += (
        f'\n[webhooks]\nsecret_env = "{SECRET_ENV}"\npublic_url = "http://127.0.0.1:{port}"\n'
        f"listen_port = {port}\ndebounce_seconds = {debounce}\ninbox_retry_seconds = 1\n"
        '\n[schedule]\ncron = "0 3 1 1 *"\n'  # no scheduled run during the test
    )
    cli.config.write_text(text, encoding="utf-8")


def _start_serve(cli: Cli) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "KLEANSYNC_CRASH_AT"}
    env.update(
        {
            LOOPBACK_SEV_ENV: LOOPBACK_SEV_TOKEN,
            LOOPBACK_KLEAN_ENV: LOOPBACK_KLEAN_TOKEN,
            SECRET_ENV: WEBHOOK_SECRET,
        }
    )
    log = (cli.config.parent / f"serve-{time.monotonic_ns()}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler.cli", "serve", "--config", str(cli.config)],
        cwd=cli.config.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def _inbox(cli: Cli) -> dict[str, int]:
    store = Store(cli.state_url)
    try:
        return Inbox(store).counts()
    finally:
        store.close()


def _delivered(sandbox: Sandbox) -> int:
    root = sandbox.root(sandbox.kleanapp)
    log = httpx.get(f"{root}/_sandbox/deliveries", timeout=10).json()["data"]
    return sum(1 for d in log if d["state"] == "delivered" and d["event"] == "customer.saved")


def test_edits_acknowledged_before_serve_was_killed_are_synced_on_its_next_start(
    served: Sandbox, tmp_path: Path
) -> None:
    served.reset()
    numbers = [f"K-4{i:04d}" for i in range(EDITED)]
    customers = [
        {"customer_number": n, "company_name": f"Objekt {n} GmbH", "city": "Köln"} for n in numbers
    ]
    served.bulk(served.kleanapp, {"customers": customers})
    cli = loopback_cli(served, tmp_path)
    assert cli.sync()["counts"] == {"customer.sevdesk.create": EDITED}
    port = free_port()
    _serve_config(cli, port, debounce=300)  # the first service never gets to run the sync
    first = _start_serve(cli)
    try:
        _wait(lambda: served.klean.get("webhooks").json()["data"], "the webhook registration")
        for row in served.klean_customers():
            served.klean.patch(
                f"customers/{row['id']}",
                json={"email": f"rechnung@{row['customer_number'].lower()}.de"},
                headers={"If-Match": str(row["version"])},
            ).raise_for_status()
        _wait(lambda: _delivered(served) >= EDITED, "every edit delivered and answered 2xx")
    finally:
        first.kill()
        first.wait(30)
    assert _inbox(cli) == {"pending": EDITED}  # acknowledged, not yet acted on

    _serve_config(cli, port, debounce=0.2)
    second = _start_serve(cli)
    try:
        _wait(lambda: _inbox(cli) == {"done": EDITED}, "the inbox processed after the restart")
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    finally:
        if second.poll() is None:
            second.kill()
    expected = {n: {"email": f"rechnung@{n.lower()}.de", "city": "Köln"} for n in numbers}
    report = audit(
        served.sevdesk.base_url,
        LOOPBACK_SEV_TOKEN,
        served.kleanapp.base_url,
        LOOPBACK_KLEAN_TOKEN,
        expected,
    )
    report.assert_clean()
    assert report.counts["kleanapp"] == report.counts["sevdesk"] == EDITED
    store = Store(cli.state_url)
    try:  # no manual run: the only runs are the activation and the restarted service's
        assert sorted(r.trigger for r in store.runs(100)) == ["manual", "webhook"]
    finally:
        store.close()


def _post_huge(port: int, total: int, headers: dict[str, str]) -> tuple[bytes, int]:
    """POST ``total`` bytes (chunked) to the receiver until it answers; (answer, bytes sent)."""
    chunk = b" " * (256 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /webhooks/kleanapp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n{head}\r\n"
    ).encode()
    sent, answer = 0, b""
    deadline = time.monotonic() + 60
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.setblocking(False)
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 1)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
                if b"\r\n\r\n" in answer:
                    break
            elif writable:
                try:
                    sent += sock.send(frame)
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
    return answer, sent


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # the process's peak resident memory
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def test_a_300_mb_body_to_the_running_service_is_refused_without_being_buffered(
    served: Sandbox, tmp_path: Path
) -> None:
    served.reset()
    cli = loopback_cli(served, tmp_path)
    port = free_port()
    _serve_config(cli, port, debounce=0.2)
    service = _start_serve(cli)
    try:
        _wait(lambda: _healthz(port), "the service to listen")
        baseline = _peak_rss_mb(service.pid)
        answer, sent = _post_huge(
            port, 300 * 1024 * 1024, {"X-KleanApp-Signature": "sha256=" + "0" * 64}
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 300 * 1024 * 1024  # refused long before the sender was done
        assert _peak_rss_mb(service.pid) - baseline < 50, (baseline, _peak_rss_mb(service.pid))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'kleansync_webhook_deliveries_total{result="too_large"} 1.0' in metrics
        service.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0
    finally:
        if service.poll() is None:
            service.kill()


def _healthz(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
