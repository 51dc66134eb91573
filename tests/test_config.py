"""Config loading: good files load, bad ones give one line naming key and problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.config import load_config
from reconciler.domain.errors import ConfigError

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = '[kleanapp]\nbase_url = "http://127.0.0.1:8802/api/v1"\n'


def test_the_shipped_example_config_is_valid():
    config = load_config(REPO / "config.toml")
    assert config.sevdesk.base_url == "https://my.sevdesk.de/api/v1"
    assert config.sevdesk.token_env == "SEVDESK_TOKEN"
    assert config.rules.default == "last-write-wins"
    assert config.schedule.timezone == "Europe/Berlin"


def test_minimal_config_gets_safe_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.sync.customers == "both"
    assert config.sevdesk.create_units is False
    assert config.kleanapp.token_env == "KLEANAPP_TOKEN"
    # A relative SQLite path is anchored at the config file, not the cwd.
    assert config.state.url == f"sqlite:///{tmp_path.resolve()}/kleansync.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "[sevdesk]\nrequests_per_second = 0\n", "[sevdesk] requests_per_second"),
        (MINIMAL + "[sevdesk]\nrequests_per_second = 'fast'\n", "[sevdesk] requests_per_second"),
        (MINIMAL + "[sevdesk]\nbase_ulr = 'x'\n", "[sevdesk] base_ulr: unknown key"),
        (MINIMAL + "[sevdesk]\nbase_url = 'my.sevdesk.de'\n", "[sevdesk] base_url: must start"),
        (MINIMAL + "[rules]\ndefault = 'newest'\n", "[rules] default"),
        (MINIMAL + "[rules.fields]\nemial = 'manual'\n", "unknown customer field 'emial'"),
        (MINIMAL + "[schedule]\ntimezone = 'Mars/Olympus'\n", "unknown time zone"),
        (MINIMAL + "[sync]\ncustomers = 'sideways'\n", "[sync] customers"),
        ("[sevdesk]\ntoken_env = 'SEVDESK_TOKEN'\n", "[kleanapp] section is missing"),
        (MINIMAL + "[bogus]\nx = 1\n", "unknown section [bogus]"),
        (MINIMAL + "[matching]\nlnk_threshold = 9\n", "[matching] lnk_threshold: unknown key"),
        (MINIMAL + "[matching.weights]\nnmae = 1\n", "unknown weight 'nmae'"),
        (MINIMAL + "[matching]\npark_threshold = 20\n", "park_threshold must not be above"),
        ("[kleanapp\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key_and_the_problem(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith(str(tmp_path))


def test_a_token_pasted_into_token_env_is_refused_without_echoing_it(tmp_path):
    token = "b7794de0085f5cd00560f160f290af38"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL + f"[sevdesk]\ntoken_env = '{token}'\n"))
    assert "name of an environment variable" in str(info.value)
    assert token not in str(info.value)


def test_missing_token_variable_is_named_never_its_value(tmp_path, monkeypatch):
    config = load_config(write(tmp_path, MINIMAL))
    monkeypatch.delenv("KLEANAPP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="KLEANAPP_TOKEN is not set"):
        config.kleanapp.token("kleanapp")
    monkeypatch.setenv("KLEANAPP_TOKEN", "  secret-value-123  ")
    assert config.kleanapp.token("kleanapp") == "secret-value-123"


def test_cli_reports_a_bad_config_in_one_line_with_exit_code_2(tmp_path):
    path = write(tmp_path, MINIMAL + "[sevdesk]\nrequests_per_second = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "doctor", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "[sevdesk] requests_per_second" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_missing_config_file_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "doctor", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no such config file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
