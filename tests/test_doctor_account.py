"""`kleansync doctor` knows the sevDesk account and the state store; a refused key says what to do.

All through the real CLI as a process, against `kleansync sandbox` processes:
the shared one (``sandbox_server``, bookkeeping system 2.0) and one started
as an old account (``--sevdesk-bookkeeping-version 1.0``). The read-only
state folder is real: a read-only bind mount in a private mount namespace
(``unshare``) when the tests run as root, whom file modes do not stop, and a
folder without write permission otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.serve import free_port
from state import Store
from tests.conftest import CLI, KLEANAPP_TOKEN, SEVDESK_TOKEN, CliResult, listening, stop

HINT = "sevDesk issues a new API key whenever the user is saved in sevDesk"
WRONG_SEVDESK = "0badc0de0badc0de0badc0de0badc0de"
KEYS = {"SEVDESK_TOKEN": SEVDESK_TOKEN, "KLEANAPP_TOKEN": KLEANAPP_TOKEN}


def run(*args: str, cwd: Path, env: dict[str, str], prefix: list[str] | None = None) -> CliResult:
    done = subprocess.run(
        [*(prefix or []), *CLI, *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def lines_with(result: CliResult, text: str) -> list[str]:
    return [line for line in result.output.splitlines() if text in line]


@pytest.fixture
def server(sandbox_server):
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def old_account(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """`kleansync sandbox` serving a sevDesk account still on bookkeeping system 1.0."""
    ports = free_port(), free_port()
    args = ["sandbox", "--sevdesk-port", str(ports[0]), "--kleanapp-port", str(ports[1])]
    args += ["--sevdesk-token", SEVDESK_TOKEN, "--kleanapp-token", KLEANAPP_TOKEN]
    log = tmp_path / "sandbox.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*CLI, *args, "--sevdesk-bookkeeping-version", "1.0"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while not (listening(ports[0]) and listening(ports[1])):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        yield ports
    finally:
        stop(process)


def test_doctor_names_an_account_on_bookkeeping_version_1_in_one_line(
    server, old_account, tmp_path: Path
) -> None:
    sev_port, klean_port = old_account
    old = tmp_path / "old"
    old.mkdir()
    server.config(old, sevdesk_url=f"http://127.0.0.1:{sev_port}/api/v1")
    text = (old / "config.toml").read_text().replace(str(server.kleanapp_port), str(klean_port))
    (old / "config.toml").write_text(text)
    result = run("doctor", "-c", "config.toml", cwd=old, env=KEYS)
    assert result.code == 1, result.output
    [line] = lines_with(result, "bookkeeping")
    assert line.startswith("FAIL sevDesk bookkeeping: ")
    assert "version 1.0, not 2.0" in line and "invoices" in line
    assert "ready to sync" not in result.stdout and "not ready" in result.stdout
    # The other checks still ran: one failing does not hide the next.
    assert lines_with(result, "ok  sevDesk units: 9 readable")
    as_json = json.loads(run("doctor", "-c", "config.toml", "--json", cwd=old, env=KEYS).stdout)
    assert as_json["sevdesk_account"]["bookkeeping_version"] == "1.0"
    [check] = [c for c in as_json["checks"] if c["name"] == "sevDesk bookkeeping"]
    assert check["ok"] is False

    # The same installation against an account on 2.0 is ready, and doctor created nothing.
    new = tmp_path / "new"
    new.mkdir()
    server.config(new)
    ready = run("doctor", "-c", "config.toml", cwd=new, env=KEYS)
    assert ready.code == 0, ready.output
    assert lines_with(ready, "ok  sevDesk bookkeeping: bookkeeping system version 2.0")
    [field] = lines_with(ready, "sevDesk contact field")
    assert field.startswith("ok  ") and "'KleanApp-ID' will be created on the first sync" in field
    [store] = lines_with(ready, "state store")
    assert store.startswith("ok  ") and "will be created on the first sync" in store
    assert ready.stdout.rstrip().endswith("ready to sync")
    settings = httpx.get(
        f"{server.sevdesk_url}/ContactCustomFieldSetting",
        headers={"Authorization": SEVDESK_TOKEN},
        timeout=10,
    )
    assert settings.json()["objects"] == []  # doctor only reads
    assert not (new / "state.db").exists()
    for each in (result, ready):
        assert SEVDESK_TOKEN not in each.output and KLEANAPP_TOKEN not in each.output


def test_a_refused_sevdesk_key_says_where_the_new_one_goes_in_sync_and_doctor(
    server, tmp_path: Path
) -> None:
    # The hint names the variable this installation reads the key from.
    server.config(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(config.read_text().replace('"SEVDESK_TOKEN"', '"BUERO_SEVDESK_KEY"'))
    env = {"BUERO_SEVDESK_KEY": WRONG_SEVDESK, "KLEANAPP_TOKEN": KLEANAPP_TOKEN}

    sync = run("-q", "sync", "-c", str(config), cwd=tmp_path, env=env)
    assert sync.code == 1 and sync.stdout == ""
    [line] = sync.stderr.strip().splitlines()
    assert line.startswith(f"kleansync: sevDesk rejected the API key (HTTP 401); {HINT}")
    assert "environment variable BUERO_SEVDESK_KEY ([sevdesk] token_env)" in line

    doctor = run("doctor", "-c", str(config), cwd=tmp_path, env=env)
    assert doctor.code == 1
    [line] = lines_with(doctor, "rejected the API key")
    assert line.startswith("FAIL sevDesk: sevDesk rejected the API key (HTTP 401); " + HINT)
    assert "BUERO_SEVDESK_KEY" in line
    assert not lines_with(doctor, "KleanApp rejected")
    for result in (sync, doctor):
        assert WRONG_SEVDESK not in result.output and "Traceback" not in result.output


def _read_only_prefix(directory: Path) -> list[str]:
    """A command prefix under which ``directory`` cannot be written (restored by the caller)."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        return []
    if not shutil.which("unshare"):
        pytest.skip("running as root without unshare: no way to make a folder read-only")
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(directory)]
    probe = subprocess.run([*prefix, "touch", str(directory / "probe")], capture_output=True)
    if probe.returncode == 0 or (directory / "probe").exists():
        pytest.skip(f"could not mount {directory} read-only: {probe.stderr!r}")
    return prefix


def test_a_read_only_state_folder_fails_doctor_and_every_command_names_it(
    server, tmp_path: Path
) -> None:
    folder = tmp_path / "data"  # not "state": `python -m` would import it as our package
    folder.mkdir()
    server.config(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(config.read_text().replace("sqlite:///state.db", "sqlite:///data/state.db"))
    prefix = _read_only_prefix(folder)
    try:
        doctor = run("doctor", "-c", str(config), cwd=tmp_path, env=KEYS, prefix=prefix)
        sync = run("-q", "sync", "-c", str(config), cwd=tmp_path, env=KEYS, prefix=prefix)
        if os.geteuid() != 0:
            folder.chmod(0o755)
        Store(f"sqlite:///{folder / 'state.db'}").close()  # a store from earlier runs
        if os.geteuid() != 0:
            folder.chmod(0o555)
        status = run("status", "-c", str(config), cwd=tmp_path, env=KEYS, prefix=prefix)
    finally:
        folder.chmod(0o755)

    assert doctor.code == 1, doctor.output + repr(prefix)
    [line] = lines_with(doctor, "state store")
    assert line.startswith(f"FAIL state store: [state] url: the folder {folder} is read-only")
    assert "ready to sync" not in doctor.stdout and "not ready" in doctor.stdout
    assert lines_with(doctor, "ok  sevDesk: reachable, key accepted")  # the others still ran
    for result in (sync, status):
        assert result.code == 2, result.output
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"kleansync: [state] url: the folder {folder} is read-only")
        assert "Traceback" not in result.output


def test_doctor_sees_the_contact_field_a_sync_made_and_each_check_stands_alone(
    server, tmp_path: Path
) -> None:
    server.config(tmp_path)
    httpx.post(
        f"http://127.0.0.1:{server.kleanapp_port}/_sandbox/bulk",
        json={"customers": [{"customer_number": "K-1", "company_name": "Glanz GmbH"}]},
        timeout=10,
    ).raise_for_status()
    assert run("-q", "sync", "-c", "config.toml", cwd=tmp_path, env=KEYS).code == 0
    after = run("doctor", "-c", "config.toml", cwd=tmp_path, env=KEYS)
    assert after.code == 0, after.output
    [field] = lines_with(after, "sevDesk contact field")
    assert field.startswith("ok  ") and "'KleanApp-ID' exists" in field
    [store] = lines_with(after, "state store")
    assert store == f"ok  state store: {tmp_path / 'state.db'} (writable)"

    # A user without the right to read contact fields: that check fails, the others stand.
    fault = {"kind": "status", "status": 403, "path": "ContactCustomFieldSetting", "times": None}
    httpx.post(
        f"http://127.0.0.1:{server.sevdesk_port}/_sandbox/faults", json=fault, timeout=10
    ).raise_for_status()
    refused = run("doctor", "-c", "config.toml", cwd=tmp_path, env=KEYS)
    assert refused.code == 1
    [field] = lines_with(refused, "sevDesk contact field")
    assert field.startswith("FAIL sevDesk contact field: contact fields cannot be read: ")
    assert "'KleanApp-ID'" in field
    assert lines_with(refused, "ok  sevDesk bookkeeping: bookkeeping system version 2.0")
    assert lines_with(refused, "ok  sevDesk units: ")
    assert "Traceback" not in refused.output
