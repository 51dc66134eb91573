"""``[state] url_env``: the state store's URL from an environment variable, its password secret.

A PostgreSQL URL carries the database password; ``url_env`` keeps it out of
``config.toml`` (as ``token_env`` keeps the API keys out). The variable is read and
checked when the config is, so a missing one is a one-line error before anything
runs, naming the variable and never its value; the password is masked wherever an
error would quote the URL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import load_config
from reconciler.domain.errors import ConfigError
from reconciler.log import redact

PASSWORD = "Streng-Geheim-4711"
MINIMAL = '[kleanapp]\nbase_url = "http://127.0.0.1:8802/api/v1"\n'


def write(tmp_path: Path, state: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"{MINIMAL}[state]\n{state}\n", encoding="utf-8")
    return path


def test_url_env_reads_the_url_from_the_environment_and_its_password_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://kleansync:{PASSWORD}@db.example:5432/kleansync"
    monkeypatch.setenv("KLEANSYNC_STATE_URL", url)
    config = load_config(write(tmp_path, 'url_env = "KLEANSYNC_STATE_URL"'))
    assert config.state.url == url
    assert PASSWORD not in redact(f"could not reach {url}")


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize(
    ("state", "value", "expected"),
    [
        (
            'url_env = "KLEANSYNC_STATE_URL"',
            None,
            "[state] url_env: environment variable KLEANSYNC_STATE_URL is not set",
        ),
        (
            'url_env = "KLEANSYNC_STATE_URL"',
            f"postgresql://kleansync:{PASSWORD}@db.example:port/kleansync",
            "[state] url_env: environment variable KLEANSYNC_STATE_URL holds no database URL",
        ),
        (
            f'url_env = "postgresql://kleansync:{PASSWORD}@db.example/kleansync"',
            None,
            "[state] url_env: must be the name of an environment variable",
        ),
        (
            'url = "sqlite:///state.db"\nurl_env = "KLEANSYNC_STATE_URL"',
            "sqlite:///other.db",
            "[state]: url and url_env are both set",
        ),
    ],
)
def test_a_bad_url_env_is_one_line_naming_it_and_never_the_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    value: str | None,
    expected: str,
) -> None:
    if value is None:
        monkeypatch.delenv("KLEANSYNC_STATE_URL", raising=False)
    else:
        monkeypatch.setenv("KLEANSYNC_STATE_URL", value)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, state))
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message and PASSWORD not in message


def test_the_cli_says_a_missing_url_env_in_german_with_exit_2(tmp_path: Path, kleansync) -> None:
    write(tmp_path, 'url_env = "KLEANSYNC_STATE_URL"')
    result = kleansync("status", env={"KLEANSYNC_LANG": "de", "KLEANSYNC_STATE_URL": ""})
    assert result.code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert "[state] url_env: Umgebungsvariable KLEANSYNC_STATE_URL ist nicht gesetzt" in line


def test_a_store_that_cannot_be_reached_is_named_without_its_password(
    tmp_path: Path, kleansync
) -> None:
    write(tmp_path, 'url_env = "KLEANSYNC_STATE_URL"')
    unreachable = f"postgresql+psycopg://kleansync:{PASSWORD}@127.0.0.1:1/kleansync"
    result = kleansync("status", env={"KLEANSYNC_LANG": "en", "KLEANSYNC_STATE_URL": unreachable})
    assert result.code == 2, result.output
    assert "[state] url: cannot open the state store" in result.stderr
    assert PASSWORD not in result.output


def test_status_works_with_the_store_named_by_url_env(
    tmp_path: Path, kleansync, state_url: str
) -> None:
    # On both stores (KLEANSYNC_TEST_STATE=postgres: a PostgreSQL database).
    write(tmp_path, 'url_env = "KLEANSYNC_STATE_URL"')
    result = kleansync("status", env={"KLEANSYNC_LANG": "en", "KLEANSYNC_STATE_URL": state_url})
    assert result.code == 0, result.output
