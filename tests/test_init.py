"""`kleansync init`: a commented config that loads, asked for or given as flags, no tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import reconciler.cli.init as init_config
from reconciler.cli.init import register
from reconciler.cli.init_template import InitValues, render_config
from reconciler.config import load_config

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

REPO = Path(__file__).resolve().parents[1]
TOKEN = "0123456789abcdef0123456789abcdef"  # what a sevDesk API key looks like


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    register(app)

    @app.command()
    def other() -> None:  # a second command, so typer keeps "init" as a subcommand
        """Unused."""

    return app


def invoke(app: typer.Typer, *args: str, input: str | None = None):
    return CliRunner().invoke(app, ["init", *args], input=input)


FLAGS = (
    "--sevdesk-url",
    "http://127.0.0.1:8801/api/v1/",
    "--sevdesk-token-env",
    "MY_SEVDESK_KEY",
    "--kleanapp-url",
    "https://kleanapp.putzteufel.de/api/v1",
    "--kleanapp-token-env",
    "MY_KLEANAPP_KEY",
    "--rule",
    "manual",
    "--cron",
    "30 3 * * 1-5",
    "--timezone",
    "Europe/Vienna",
)


def test_the_template_is_the_repositorys_config_toml():
    """`init` writes the documented example, not a second, drifting copy of it."""
    example = InitValues(kleanapp_url="https://app.kleanapp.example/api/v1")
    assert render_config(example) == (REPO / "config.toml").read_text(encoding="utf-8")


def test_flags_write_a_config_that_loads_with_the_given_values(app, tmp_path):
    path = tmp_path / "config.toml"
    result = invoke(app, "--path", str(path), *FLAGS)
    assert result.exit_code == 0, result.output
    assert f"Wrote {path}" in result.output
    assert "MY_SEVDESK_KEY and MY_KLEANAPP_KEY" in result.output

    config = load_config(path)
    assert config.sevdesk.base_url == "http://127.0.0.1:8801/api/v1"
    assert config.sevdesk.token_env == "MY_SEVDESK_KEY"
    assert config.kleanapp.base_url == "https://kleanapp.putzteufel.de/api/v1"
    assert config.kleanapp.token_env == "MY_KLEANAPP_KEY"
    assert config.rules.default == "manual"
    assert config.schedule.cron == "30 3 * * 1-5"
    assert config.schedule.timezone == "Europe/Vienna"
    text = path.read_text(encoding="utf-8")
    assert "# Per-field overrides of the default rule" in text  # the comments come along


def test_without_flags_the_defaults_are_written_but_the_kleanapp_url_is_required(app, tmp_path):
    path = tmp_path / "config.toml"
    result = invoke(app, "--path", str(path))
    assert result.exit_code == 2
    assert "--kleanapp-url is required" in result.output
    assert not path.exists()

    result = invoke(app, "--path", str(path), "--kleanapp-url", "http://127.0.0.1:8802/api/v1")
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert config.sevdesk.base_url == "https://my.sevdesk.de/api/v1"
    assert (config.sevdesk.token_env, config.kleanapp.token_env) == (
        "SEVDESK_TOKEN",
        "KLEANAPP_TOKEN",
    )
    assert config.rules.default == "last-write-wins"


def test_an_existing_file_is_only_overwritten_with_force(app, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("# my carefully edited config\n", encoding="utf-8")

    refused = invoke(app, "--path", str(path), *FLAGS)
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"kleansync: {path} already exists; pass --force to overwrite it"
    ]
    assert path.read_text(encoding="utf-8") == "# my carefully edited config\n"

    forced = invoke(app, "--path", str(path), "--force", *FLAGS)
    assert forced.exit_code == 0, forced.output
    assert load_config(path).rules.default == "manual"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temp file left


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--rule", "newest-wins", "--rule: unknown conflict rule 'newest-wins'; valid rules: "),
        ("--sevdesk-url", "my.sevdesk.de", "--sevdesk-url: must start with http:// or https://"),
        ("--cron", "every night", "--cron: must have five fields"),
        ("--timezone", "Mars/Olympus", "--timezone: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_flag(app, tmp_path, flag, value, expected):
    path = tmp_path / "config.toml"
    result = invoke(app, "--path", str(path), *FLAGS, flag, value)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kleansync: {expected}"), lines
    assert not path.exists()


@pytest.mark.parametrize("flag", ["--sevdesk-token-env", "--kleanapp-token-env"])
@pytest.mark.parametrize("value", [TOKEN, "sk_live_9fKq2LmZx8Hw", "MY TOKEN"])
def test_a_token_instead_of_a_variable_name_is_refused_without_echoing_it(
    app, tmp_path, flag, value
):
    path = tmp_path / "config.toml"
    result = invoke(app, "--path", str(path), *FLAGS, flag, value)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"kleansync: {flag}: must be the name of an environment variable "
        "(like SEVDESK_TOKEN), not the token itself"
    )
    assert value not in result.output
    assert not path.exists()


def test_in_a_terminal_it_asks_and_asks_again_after_a_bad_answer(app, tmp_path, monkeypatch):
    monkeypatch.setattr(init_config, "_stdin_is_terminal", lambda: True)
    path = tmp_path / "config.toml"
    answers = [
        "",  # sevDesk URL: default
        TOKEN,  # a pasted key instead of a variable name: refused, asked again
        "SEVDESK_KEY",
        "http://127.0.0.1:8802/api/v1",
        "",  # KleanApp token variable: default
        "kleanapp-authoritative",
        "",  # cron: default
        "Europe/Zurich",
    ]
    result = invoke(app, "--path", str(path), input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "not the token itself" in result.output
    assert result.output.count("Environment variable that will hold the sevDesk API key") == 2

    config = load_config(path)
    assert config.sevdesk.base_url == "https://my.sevdesk.de/api/v1"
    assert config.sevdesk.token_env == "SEVDESK_KEY"
    assert config.kleanapp.base_url == "http://127.0.0.1:8802/api/v1"
    assert config.kleanapp.token_env == "KLEANAPP_TOKEN"
    assert config.rules.default == "kleanapp-authoritative"
    assert config.schedule.cron == "0 2 * * *"
    assert config.schedule.timezone == "Europe/Zurich"
    assert TOKEN not in path.read_text(encoding="utf-8")


def test_in_a_terminal_flags_are_not_asked_again(app, tmp_path, monkeypatch):
    monkeypatch.setattr(init_config, "_stdin_is_terminal", lambda: True)
    path = tmp_path / "config.toml"
    result = invoke(app, "--path", str(path), *FLAGS[:-2], input="\n")  # only the time zone
    assert result.exit_code == 0, result.output
    assert "sevDesk API base URL" not in result.output
    assert load_config(path).schedule.timezone == "Europe/Berlin"


def test_the_command_works_on_the_real_cli(tmp_path):
    from reconciler.cli.app import app as cli_app

    if not any(c.name == "init" for c in cli_app.registered_commands):
        register(cli_app)
    path = tmp_path / "sub" / "config.toml"
    missing_dir = CliRunner().invoke(cli_app, ["init", "--path", str(path), *FLAGS])
    assert missing_dir.exit_code == 2
    assert "does not exist" in missing_dir.output
    path.parent.mkdir()
    result = CliRunner().invoke(cli_app, ["init", "--path", str(path), *FLAGS])
    assert result.exit_code == 0, result.output
    assert load_config(path).kleanapp.token_env == "MY_KLEANAPP_KEY"


def test_odd_characters_are_quoted_so_the_file_still_loads(tmp_path):
    values = InitValues(kleanapp_url='https://x.example/api/v1?a="b"\\c')
    path = init_config.write_config(tmp_path / "config.toml", values)
    assert load_config(path).kleanapp.base_url == 'https://x.example/api/v1?a="b"\\c'
