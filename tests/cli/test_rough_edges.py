"""The CLI's rough edges of issue 17, each driven through a real ``kleansync`` process.

Options where people type them (``-v`` after the command), ``--version`` and
shell completion, a closed pipe (``status | head``), an impossible cron
schedule, base URLs that point to the wrong place, and ``--status`` lists with
holes. Each used to be an "internal error", a refusal of a valid option or a
misleading message; each is now one line naming what is wrong and where.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from tests.conftest import CLI, CliResult, SandboxServer

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def server(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    return sandbox_server


def tokens(server: SandboxServer) -> dict[str, str]:
    return {"SEVDESK_TOKEN": server.sevdesk_token, "KLEANAPP_TOKEN": server.kleanapp_token}


def one_line(result: CliResult) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- -v/-q before or after the command -------------------------------------------------
def test_verbose_and_quiet_are_taken_before_and_after_the_command(
    server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    server.config(tmp_path, extra='[sync]\nunits = "off"\n')
    after = kleansync("sync", "--dry-run", "-v", env=tokens(server))
    assert after.code == 0, after.stderr
    assert "DEBUG" in after.stderr  # every request logged, as -v before the command does
    quiet = kleansync("sync", "--dry-run", "-q", env=tokens(server))
    assert quiet.code == 0, quiet.stderr
    assert "INFO" not in quiet.stderr and "DEBUG" not in quiet.stderr
    nested = kleansync("-v", "conflicts", "-v", "list", "-v")  # in a group: everywhere
    assert nested.code == 0, nested.stderr
    assert nested.stdout.strip() == "Nothing waits for an admin."


# -- --version, completion, help ---------------------------------------------------------
def test_version_and_shell_completion(kleansync: Callable[..., CliResult]) -> None:
    shown = kleansync("--version")
    assert (shown.code, shown.stdout) == (0, f"kleansync {version('kleansync')}\n")

    complete = {"_KLEANSYNC_COMPLETE": "complete_bash", "COMP_CWORD": "2"}
    words = kleansync(env={**complete, "COMP_WORDS": "kleansync conflicts re"})
    assert words.stdout.split() == ["resolve"]
    options = kleansync(env={**complete, "COMP_WORDS": "kleansync sync --dry"})
    assert options.stdout.split() == ["--dry-run"]
    script = kleansync("--show-completion", "bash")
    assert script.code == 0 and "_KLEANSYNC_COMPLETE=complete_bash" in script.stdout


def test_a_commands_help_ends_with_examples_and_labels_flags_as_flags(
    kleansync: Callable[..., CliResult],
) -> None:
    result = kleansync("invoices", "export", "--help", env={"COLUMNS": "200"})
    assert result.code == 0, result.stderr
    text = result.stdout
    assert "Examples:" in text and "kleansync invoices export --since-last" in text
    rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ --")}
    for flag in ("--dry-run", "--json", "--since-last", "--verbose", "--quiet", "--help"):
        assert " flag " in rows[flag], rows[flag]
        assert "<bool>" not in rows[flag] and "[default:" not in rows[flag]


# -- status | head ------------------------------------------------------------------------
def test_status_into_a_closed_pipe_ends_quietly_like_coreutils(
    tmp_path: Path, server: SandboxServer
) -> None:
    server.config(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (head) is gone before the first line
    try:
        done = subprocess.run(
            [*CLI, "status"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141  # what a shell reports for `yes | head -1`


# -- cron -----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["doctor", "status", "serve"])
def test_an_impossible_cron_is_one_line_at_config_load(
    command: str, server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    server.config(tmp_path, extra='[schedule]\ncron = "0 25 * * *"\n')
    result = kleansync(command, env=tokens(server))
    assert result.code == 2
    assert one_line(result) == (
        "kleansync: config.toml: [schedule] cron: the hour field '25' is not valid: 25 is above "
        "the highest allowed value 23 (got '0 25 * * *')"
    )


# -- base URLs ------------------------------------------------------------------------------
def test_a_kleanapp_url_without_its_path_or_sevdesks_url_in_its_place_is_named(
    server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = server.config(tmp_path)
    good = path.read_text()
    root = server.kleanapp_url.removesuffix("/api/v1")
    path.write_text(good.replace(server.kleanapp_url, root))
    missing = kleansync("sync", env=tokens(server))
    assert missing.code == 2
    assert one_line(missing) == (
        f"kleansync: KleanApp answered 404 Not Found for {root}/customers; "
        "check [kleanapp] base_url: the URL usually ends in /api/v1"
    )

    path.write_text(good.replace(server.kleanapp_url, server.sevdesk_url))
    swapped = kleansync("sync", env=tokens(server))
    assert swapped.code == 2
    assert one_line(swapped) == (
        f"kleansync: {server.sevdesk_url} is sevDesk, not KleanApp: check [kleanapp] base_url"
    )
    assert "API key" not in swapped.stderr


# -- --status lists ---------------------------------------------------------------------------
def test_invoice_status_list_is_case_blind_and_refuses_empty_items(
    server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    server.config(tmp_path)
    customer = {"customer_number": "K-00001", "kind": "company", "company_name": "Hotel Adler"}
    sev_root = server.sevdesk_url.removesuffix("/api/v1")
    ka_root = server.kleanapp_url.removesuffix("/api/v1")
    httpx.post(f"{sev_root}/_sandbox/bulk", json={"contacts": [customer]}, timeout=10)
    made = httpx.post(f"{ka_root}/_sandbox/bulk", json={"customers": [customer]}, timeout=10)
    position = {"product_name": "Grundreinigung", "quantity": 1, "unit_name": "pauschal"}
    body = {"customer_id": made.json()["customers"][0], "invoice_date": "2026-03-02"}
    body["positions"] = [position | {"unit_price_net": "100.00", "tax_rate": 19}]
    invoice = httpx.post(f"{ka_root}/_sandbox/invoices", json=body, timeout=10).json()
    assert invoice["status"] == "open"

    holes = kleansync("invoices", "export", "--status", "open,,paid", env=tokens(server))
    assert holes.code == 2
    assert one_line(holes) == (
        "kleansync: --status 'open,,paid': an empty item between commas; use a "
        "comma-separated list of draft, open, paid, cancelled"
    )
    upper = kleansync("invoices", "export", "--dry-run", "--status", "OPEN", env=tokens(server))
    assert upper.code == 0, upper.stderr
    assert "would export 1 invoice to sevDesk" in upper.stdout
    other = kleansync("invoices", "export", "--dry-run", "--status", "PAID", env=tokens(server))
    assert "would export 0 invoices to sevDesk" in other.stdout


def test_running_the_module_names_itself_kleansync() -> None:
    """``python -m reconciler.cli`` is the same program as ``kleansync`` (usage, completion)."""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "sync", "--bogus"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("kleansync: sync: no such option --bogus")
    assert done.stderr.endswith("(help: kleansync sync --help)\n")


def test_every_command_has_examples_and_every_example_a_command() -> None:
    """The examples table (reconciler/cli/examples.py) and the commands stay in step."""
    import typer

    from reconciler.cli.app import app
    from reconciler.cli.examples import EXAMPLES

    def leaves(command: object, path: str) -> list[str]:
        subs = getattr(command, "commands", None)
        if subs is None:
            return [path]
        return [leaf for name, sub in subs.items() for leaf in leaves(sub, f"{path} {name}")]

    root = typer.main.get_command(app)
    commands = sorted(leaf.strip() for leaf in leaves(root, ""))
    assert commands == sorted(EXAMPLES)
    for path, examples in EXAMPLES.items():
        assert all(line.startswith(f"kleansync {path}") for line, _what in examples), path
