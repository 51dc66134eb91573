"""API tokens never show up anywhere a person or a file could see them.

Runs the real ``kleansync -v sync --json`` (DEBUG logging) against the
sandbox process with distinctive tokens, in good and bad weather: a wrong
key, HTTP 500 and an error inside HTTP 200, where the emulator even echoes
the token back in its error message (as a careless server might). After
each run neither token may appear in stdout, stderr, the ``--json`` result,
the state store (its raw SQLite bytes), the run reports or any other file
the run left.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import httpx
import pytest
from loguru import logger

from reconciler.log import MASK, redact, register_secret, setup_logging

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def server(sandbox_server):
    """Both emulators emptied, each holding customers the other lacks."""
    sandbox_server.reset()
    klean = {"customer_number": "K-00001", "company_name": "Klean GmbH", "email": "a@klean.de"}
    sev = {"customer_number": "S-1", "kind": "person", "last_name": "Sev", "city": "Bonn"}
    bulk(sandbox_server.kleanapp_port, {"customers": [klean]})
    bulk(sandbox_server.sevdesk_port, {"contacts": [sev]})
    return sandbox_server


def bulk(port: int, body: dict) -> None:
    httpx.post(f"http://127.0.0.1:{port}/_sandbox/bulk", json=body, timeout=10).raise_for_status()


def fault(port: int, **rule) -> None:
    httpx.post(f"http://127.0.0.1:{port}/_sandbox/faults", json=rule, timeout=10).raise_for_status()


def assert_nowhere(tokens: list[str], *texts: str, files: Path) -> None:
    """None of ``tokens`` in ``texts`` nor in any file under ``files`` (bytes, SQLite too)."""
    for token in tokens:
        for text in texts:
            assert token not in text
        for path in files.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), f"{token[:4]}… in {path.name}"


def sync(kleansync, server, config: Path, *, sevdesk_token: str | None = None):
    env = {
        "SEVDESK_TOKEN": sevdesk_token or server.sevdesk_token,
        "KLEANAPP_TOKEN": server.kleanapp_token,
    }
    return kleansync("-v", "sync", "--json", "-c", str(config), env=env)


def test_a_good_run_at_debug_level_never_prints_or_stores_a_token(
    server, kleansync, tmp_path: Path
) -> None:
    result = sync(kleansync, server, server.config(tmp_path))

    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "ok" and report["counts"]
    assert (tmp_path / "state.db").exists() and list(tmp_path.glob("reports/*.html"))
    tokens = [server.sevdesk_token, server.kleanapp_token]
    assert_nowhere(tokens, result.stdout, result.stderr, files=tmp_path)


def test_a_wrong_key_is_one_line_without_either_token(server, kleansync, tmp_path: Path) -> None:
    wrong = "f00dfeedf00dfeedf00dfeedf00dfeed"
    result = sync(kleansync, server, server.config(tmp_path), sevdesk_token=wrong)

    assert result.code == 1
    assert "sevDesk rejected the API key (HTTP 401)" in result.stderr
    assert "Traceback" not in result.stderr
    tokens = [wrong, server.sevdesk_token, server.kleanapp_token]
    assert_nowhere(tokens, result.stdout, result.stderr, files=tmp_path)


@pytest.mark.parametrize("kind", ["status", "error_in_200"])
def test_failing_writes_whose_errors_echo_the_token_leave_no_trace_of_it(
    kind: str, server, kleansync, tmp_path: Path
) -> None:
    # Every write on both sides fails, and the "server" quotes the key back.
    fault(
        server.sevdesk_port,
        kind=kind,
        method="POST",
        times=None,
        message=f"token {server.sevdesk_token} may not do this",
    )
    fault(
        server.kleanapp_port,
        kind=kind,
        method="POST",
        times=None,
        message=f"Bearer {server.kleanapp_token} refused",
    )
    result = sync(kleansync, server, server.config(tmp_path))

    assert result.code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "errors" and report["errors"]
    tokens = [server.sevdesk_token, server.kleanapp_token]
    assert_nowhere(tokens, result.stdout, result.stderr, files=tmp_path)


# -- the masking itself ------------------------------------------------------------------


@pytest.fixture
def captured_log():
    stream = io.StringIO()
    setup_logging(verbose=1, stream=stream)
    yield stream
    logger.remove()
    logger.add(sys.stderr, level="DEBUG")


def test_registered_secrets_are_masked_in_text_and_in_every_log_line(captured_log) -> None:
    register_secret("kx-secret-token-0001")
    register_secret("kx-secret-token-0001-long")  # overlapping: the longer one goes first
    register_secret("abc")  # too short to be a key: never masked (it would mangle words)
    register_secret(None)

    assert redact("key=kx-secret-token-0001-long, other=kx-secret-token-0001") == (
        f"key={MASK}, other={MASK}"
    )
    assert redact("abc") == "abc"

    logger.debug("GET with Authorization: {}", "kx-secret-token-0001")
    try:
        raise RuntimeError("server said: kx-secret-token-0001-long is invalid")
    except RuntimeError:
        logger.exception("request failed")
    output = captured_log.getvalue()
    assert "kx-secret" not in output
    assert output.count(MASK) >= 2 and "request failed" in output
