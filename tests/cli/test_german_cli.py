"""The real ``kleansync`` process speaks German by default, English with ``--lang en``.

Issue 17, "Must show": the demo, ``doctor``, an error line and the help
pages, each run as a process (``python -m reconciler.cli``) the way an
admin starts it. German is what nobody has to ask for; ``--lang en`` and
``KLEANSYNC_LANG=en`` switch to English; ``--json`` stays English whatever
the language (it is an API). What the German must not contain is checked
too: the English sentence the same line would say otherwise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import CLI, CliResult, SandboxServer

#: Nobody asked for a language: not the environment, not a config.
NO_LANGUAGE = {"KLEANSYNC_LANG": ""}


@pytest.fixture
def server(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    return sandbox_server


def _keys(server: SandboxServer) -> dict[str, str]:
    return {"SEVDESK_TOKEN": server.sevdesk_token, "KLEANAPP_TOKEN": server.kleanapp_token}


def _demo(workdir: Path, *args: str, env: dict[str, str]) -> CliResult:
    done = subprocess.run(
        [*CLI, *args, "demo", "--workdir", str(workdir)],
        cwd=workdir.parent,
        env={**os.environ, "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_the_demo_tells_its_story_in_german_and_in_english_on_request(tmp_path: Path) -> None:
    """Three demos at once (each with its own emulators): default, --lang en, KLEANSYNC_LANG."""
    runs = {
        "default": ((), NO_LANGUAGE),
        "flag": (("--lang", "en"), NO_LANGUAGE),
        "env": ((), {"KLEANSYNC_LANG": "en"}),
    }
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {
            name: pool.submit(_demo, tmp_path / name, *args, env=env)
            for name, (args, env) in runs.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    for name, result in results.items():
        assert result.code == 0, (name, result.output[-3000:])

    german = results["default"].stdout
    for line in (
        "== 1. erster Sync (Aktivierung), Probelauf",
        "== alltägliche Änderungen über die öffentlichen APIs",
        "Konflikt: K-10004 Ort in KleanApp auf Potsdam gesetzt, danach in sevDesk auf Cottbus",
        "== 3. noch einmal: nichts darf sich ändern",
        "  nichts zu ändern",
        "Bericht des letzten Laufs: ",
    ):
        assert line in german, line
    assert "  Konflikt Kunde K-10004 Ort: KleanApp 'Potsdam' / sevDesk 'Cottbus'" in german
    assert "Aufgabe: Einheit „Einsatz“ in sevDesk anlegen" in german
    assert german.rstrip().splitlines()[-3].startswith("Demo fertig nach ")
    for english in ("first sync", "everyday edits", "nothing to change", "demo finished", "run "):
        assert english not in german, english
    # Every duration reads the German way ("3,3 s"), the invoice that arrives by itself too.
    assert re.search(r"kam nach \d+,\d s von selbst an", german), german[-2000:]
    assert not re.findall(r"\b\d+\.\d s\b", german)

    for name in ("flag", "env"):
        english = results[name].stdout
        assert "== 1. first sync (activation), dry-run" in english, name
        assert (
            "conflict: K-10004 city set to Potsdam in KleanApp, then Cottbus in sevDesk" in english
        )
        assert (
            "  conflict customer K-10004 City: KleanApp 'Potsdam' vs sevDesk 'Cottbus'" in english
        )
        assert "demo finished in " in english and "Probelauf" not in english, name
    # The reports the demo wrote speak the same language as its story.
    report = sorted((tmp_path / "default" / "reports").glob("*.html"))[-1].read_text("utf-8")
    assert '<html lang="de"' in report
    report = sorted((tmp_path / "flag" / "reports").glob("*.html"))[-1].read_text("utf-8")
    assert '<html lang="en"' in report


def test_a_bad_config_is_one_line_in_german_and_in_english(
    kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    (tmp_path / "config.toml").write_text(
        '[kleanapp]\nbase_url = "http://127.0.0.1:1/api/v1"\n[sevdesk]\nrequests_per_second = 0\n',
        encoding="utf-8",
    )
    german = kleansync("sync", env=NO_LANGUAGE)
    assert german.code == 2 and german.stdout == ""
    assert german.stderr == (
        "kleansync: config.toml: [sevdesk] requests_per_second: muss größer als 0 sein "
        "(angegeben: 0)\n"
    )
    english = kleansync("--lang", "en", "sync", env=NO_LANGUAGE)
    assert english.code == 2
    assert english.stderr == (
        "kleansync: config.toml: [sevdesk] requests_per_second: must be greater than 0 (got 0)\n"
    )
    # The environment chooses too, and the config's own language counts for its errors.
    assert "must be greater" in kleansync("sync", env={"KLEANSYNC_LANG": "en"}).stderr
    (tmp_path / "config.toml").write_text(
        '[report]\nlanguage = "en"\n[kleanapp]\nbase_url = "x"\n', encoding="utf-8"
    )
    assert "[kleanapp] base_url: must start with http" in kleansync("sync", env=NO_LANGUAGE).stderr
    missing = kleansync("status", "-c", "nowhere.toml", env=NO_LANGUAGE)
    assert missing.code == 2
    assert missing.stderr == (
        "kleansync: nowhere.toml: keine solche Konfigurationsdatei (mit 'kleansync init' "
        "anlegen oder mit --config angeben)\n"
    )


def test_doctor_against_the_emulators_speaks_german(
    server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    server.config(tmp_path)
    german = kleansync("doctor", env={**_keys(server), **NO_LANGUAGE})
    assert german.code == 0, german.output
    lines = german.stdout.splitlines()
    assert "ok  Konfiguration: geladen und gültig" in lines
    assert "ok  KleanApp: erreichbar, Schlüssel angenommen" in lines
    assert "ok  sevDesk-Buchhaltung: Buchhaltungsversion 2.0 (sevdesk-Update 2.0)" in lines
    assert any(line.startswith("ok  nächster Sync: würde 0 Kunden zuordnen") for line in lines)
    assert lines[-1] == "bereit zum Sync"
    assert "ready" not in german.stdout and "customers" not in german.stdout

    wrong = kleansync("doctor", env={**_keys(server), "SEVDESK_TOKEN": "0" * 32, **NO_LANGUAGE})
    assert wrong.code == 1
    [line] = [line for line in wrong.stdout.splitlines() if line.startswith("FEHLER sevDesk:")]
    assert line.startswith("FEHLER sevDesk: sevDesk hat den API-Schlüssel abgelehnt (HTTP 401)")
    assert wrong.stdout.rstrip().endswith(
        "nicht bereit: bitte die mit FEHLER markierten Zeilen beheben"
    )

    english = kleansync("--lang", "en", "doctor", env={**_keys(server), **NO_LANGUAGE})
    assert (
        english.stdout.rstrip().endswith("ready to sync") and "ok  config: loaded" in english.stdout
    )
    # --json is an API: English names and details whatever the language.
    data = json.loads(kleansync("doctor", "--json", env={**_keys(server), **NO_LANGUAGE}).stdout)
    assert {"name": "config", "ok": True, "detail": "loaded and valid"} in data["checks"]


def _flat(text: str) -> str:
    """A help page as one line: rich's boxes and line breaks gone."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_help_follows_the_language_wherever_lang_stands(
    kleansync: Callable[..., CliResult],
) -> None:
    calls = {
        "german": (("--help",), NO_LANGUAGE),
        "flag first": (("--lang", "en", "--help"), NO_LANGUAGE),
        "flag after": (("--help", "--lang", "en"), NO_LANGUAGE),
        "env": (("--help",), {"KLEANSYNC_LANG": "en"}),
        "sync de": (("sync", "--help"), NO_LANGUAGE),
        "sync en": (("--lang", "en", "sync", "--help"), NO_LANGUAGE),
        "nested": (("conflicts", "resolve", "--help"), NO_LANGUAGE),
        "usage": (("sync", "--bogus"), NO_LANGUAGE),
    }
    with ThreadPoolExecutor(4) as pool:  # eight process starts, a few seconds each
        futures = {name: pool.submit(kleansync, *a, env=e) for name, (a, e) in calls.items()}
        done = {name: future.result() for name, future in futures.items()}
    page = {name: _flat(result.stdout) for name, result in done.items()}

    german = page["german"]
    assert done["german"].code == 0
    for text in ("Aufruf: kleansync [OPTIONEN] BEFEHL [ARGUMENTE]...", "Befehle", "Optionen"):
        assert text in german, text
    assert "Kunden und Einheiten zwischen KleanApp und sevDesk einmal abgleichen." in german
    assert "Diese Hilfe anzeigen und beenden." in german
    assert "[report] language" in german  # config syntax survives rich's markup
    for english in ("Usage", "Commands", "Show this message", "Reconcile customers"):
        assert english not in german, english

    for name in ("flag first", "flag after", "env"):
        assert "Usage: kleansync [OPTIONS] COMMAND [ARGS]..." in page[name], name
        assert "Reconcile customers and units between KleanApp and sevDesk once." in page[name]
        assert "Aufruf" not in page[name] and "Befehle" not in page[name], name

    sync = page["sync de"]
    assert "Beispiele:" in sync and "# zeigen, was sich ändern würde, nichts schreiben" in sync
    assert "Schalter" in sync and "bedeutet --dry-run" in sync
    sync = page["sync en"]
    assert "Examples:" in sync and "implies --dry-run" in sync and "flag" in sync
    nested = page["nested"]
    assert "Einen offenen Konflikt entscheiden" in nested and "Den Wert dieser Seite" in nested

    usage = done["usage"]
    assert usage.code == 2
    assert usage.stderr == (
        "kleansync: sync: unbekannte Option --bogus (meinten Sie --verbose?) "
        "(Hilfe: kleansync sync --help)\n"
    )


def test_usage_errors_are_one_line_in_german_and_in_english(
    kleansync: Callable[..., CliResult],
) -> None:
    """click's own complaints (an unknown option, a missing value, a bad number) are ours now.

    They used to be click's English ("No such option", "Missing argument",
    "Invalid value for", "Try ... for help.") under a German usage line.
    """
    calls = {
        "unknown option": (("sync", "--nope"), NO_LANGUAGE),
        "unknown option en": (("--lang", "en", "sync", "--nope"), NO_LANGUAGE),
        "env en": (("sync", "--nope"), {"KLEANSYNC_LANG": "en"}),
        "close to one": (("sync", "--dry"), NO_LANGUAGE),
        "no value": (("invoices", "export", "--from"), NO_LANGUAGE),
        "no argument": (("conflicts", "resolve"), NO_LANGUAGE),
        "no argument en": (("--lang", "en", "conflicts", "resolve"), NO_LANGUAGE),
        "bad number": (("sandbox", "--sevdesk-port", "abc"), NO_LANGUAGE),
        "bad number en": (("--lang", "en", "sandbox", "--sevdesk-port", "abc"), NO_LANGUAGE),
        "unknown command": (("nocmd",), NO_LANGUAGE),
        "flag with a value": (("sync", "--dry-run=yes"), NO_LANGUAGE),
        "extra argument": (("status", "extra"), NO_LANGUAGE),
        "program option": (("--nope",), NO_LANGUAGE),
    }
    with ThreadPoolExecutor(4) as pool:  # 13 process starts, a second or more each
        futures = {
            name: pool.submit(kleansync, *a, env=e, timeout=120) for name, (a, e) in calls.items()
        }
        done = {name: future.result() for name, future in futures.items()}
    expected = {
        "unknown option": "sync: unbekannte Option --nope (Hilfe: kleansync sync --help)",
        "unknown option en": "sync: no such option --nope (help: kleansync sync --help)",
        "env en": "sync: no such option --nope (help: kleansync sync --help)",
        "close to one": "sync: unbekannte Option --dry (meinten Sie --dry-run?) "
        "(Hilfe: kleansync sync --help)",
        "no value": "invoices export: --from braucht einen Wert "
        "(Hilfe: kleansync invoices export --help)",
        "no argument": "conflicts resolve: die Angabe ID fehlt "
        "(Hilfe: kleansync conflicts resolve --help)",
        "no argument en": "conflicts resolve: the argument ID is missing "
        "(help: kleansync conflicts resolve --help)",
        "bad number": "sandbox: --sevdesk-port: muss eine ganze Zahl sein (angegeben: 'abc') "
        "(Hilfe: kleansync sandbox --help)",
        "bad number en": "sandbox: --sevdesk-port: must be a whole number (got 'abc') "
        "(help: kleansync sandbox --help)",
        "unknown command": "unbekannter Befehl 'nocmd' (Hilfe: kleansync --help)",
        "flag with a value": "sync: --dry-run nimmt keinen Wert (es ist ein Schalter) "
        "(Hilfe: kleansync sync --help)",
        "extra argument": "status: unerwartete Angabe(n): extra (Hilfe: kleansync status --help)",
        "program option": "unbekannte Option --nope (Hilfe: kleansync --help)",
    }
    for name, line in expected.items():
        result = done[name]
        assert (result.code, result.stdout) == (2, ""), (name, result.output)
        assert result.stderr == f"kleansync: {line}\n", name
    for result in done.values():
        for english in ("No such option", "Missing argument", "Invalid value", "Try '", "Usage"):
            assert english not in result.stderr


def test_dates_in_german_form_and_date_errors(kleansync: Callable[..., CliResult]) -> None:
    from reconciler.cli.invoices import parse_date

    assert str(parse_date("01.11.2026", "--from")) == "2026-11-01"
    assert str(parse_date("1.3.2026", "--from")) == "2026-03-01"
    assert str(parse_date("2026-11-01", "--from")) == "2026-11-01"
    after = kleansync("invoices", "export", "--from", "01.12.2026", "--to", "01.11.2026")
    assert after.code == 2
    assert after.stderr == "kleansync: --from 01.12.2026 liegt nach --to 01.11.2026\n"
    wrong = kleansync("--lang", "en", "invoices", "export", "--from", "31.02.2026")
    assert wrong.stderr == (
        "kleansync: --from: '31.02.2026' is not a date like 31.03.2026 or 2026-03-31\n"
    )


def test_the_flag_beats_the_environment_which_beats_the_config(
    kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    """``--lang`` > ``KLEANSYNC_LANG`` > ``[report] language``, each through a real ``status``."""
    (tmp_path / "config.toml").write_text(
        '[sevdesk]\nbase_url = "http://127.0.0.1:1/api/v1"\ntoken_env = "SEVDESK_TOKEN"\n'
        '[kleanapp]\nbase_url = "http://127.0.0.1:1/api/v1"\ntoken_env = "KLEANAPP_TOKEN"\n'
        '[state]\nurl = "sqlite:///state.db"\n[report]\nlanguage = "en"\n',
        encoding="utf-8",
    )
    calls = {
        "config": ((), NO_LANGUAGE),  # only the config speaks: English
        "env over config": ((), {"KLEANSYNC_LANG": "de"}),
        "flag over env": (("--lang", "en"), {"KLEANSYNC_LANG": "de"}),
        "flag over both": (("--lang", "de"), {"KLEANSYNC_LANG": "en"}),
    }
    # One after the other: the first creates the state store.
    first = {
        name: kleansync(*args, "status", env=env, timeout=120)
        for name, (args, env) in calls.items()
    }
    for name, result in first.items():
        assert result.code == 0, (name, result.output)
    english, german = "Open conflicts: 0", "Offene Konflikte: 0"
    assert english in first["config"].stdout
    assert german in first["env over config"].stdout
    assert english in first["flag over env"].stdout
    assert german in first["flag over both"].stdout
    # And --lang's help says so in one sentence, in both languages.
    help_de = _flat(kleansync("--help", env=NO_LANGUAGE, timeout=120).stdout)
    assert "--lang gilt vor KLEANSYNC_LANG, KLEANSYNC_LANG vor [report] language." in help_de
    help_en = _flat(kleansync("--lang", "en", "--help", env=NO_LANGUAGE, timeout=120).stdout)
    assert "--lang wins over KLEANSYNC_LANG, which wins over [report] language." in help_en


def _one_invoice(server: SandboxServer, net: str) -> None:
    """A customer both sides know by number and one open KleanApp invoice for it (19 % VAT)."""
    customer = {"customer_number": "K-00001", "kind": "company", "company_name": "Hotel Adler"}
    sev_root = server.sevdesk_url.removesuffix("/api/v1")
    ka_root = server.kleanapp_url.removesuffix("/api/v1")
    httpx.post(f"{sev_root}/_sandbox/bulk", json={"contacts": [customer]}, timeout=10)
    made = httpx.post(f"{ka_root}/_sandbox/bulk", json={"customers": [customer]}, timeout=10)
    position = {"product_name": "Grundreinigung", "quantity": 1, "unit_name": "pauschal"}
    body = {"customer_id": made.json()["customers"][0], "invoice_date": "2026-03-02"}
    body["positions"] = [position | {"unit_price_net": net, "tax_rate": 19}]
    assert httpx.post(f"{ka_root}/_sandbox/invoices", json=body, timeout=10).status_code == 201


def test_the_export_says_money_and_its_format_as_the_office_does(
    server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    """``464,10 €`` and "als Rechnung (final)" in German, ``€464.10`` / "final invoice" in English.

    The terminal used to say ``(464.10 EUR)`` and "als final" in either language;
    the report of the export run named its fields ``total_gross`` and ``invoice_date``.
    """

    def kleansync_(*args: str, env: dict[str, str]) -> CliResult:
        return kleansync(*args, env=env, timeout=120)  # an export: a few requests each

    server.config(tmp_path)
    _one_invoice(server, "390.00")  # 390,00 € net + 19 % = 464,10 € gross
    env = {**_keys(server), **NO_LANGUAGE}
    english = kleansync_(
        "--lang", "en", "invoices", "export", "--dry-run", "--format", "final", env=env
    )
    assert english.code == 0, english.output
    assert "dry run: would export 1 invoice to sevDesk as final invoice" in english.stdout
    assert "RE-2026-00001 (€464.10)" in english.stdout

    german = kleansync_("invoices", "export", "--format", "final", env=env)
    assert german.code == 0, german.output
    head = german.stdout.splitlines()[0]
    assert head.startswith("Lauf ") and head.endswith(
        ": 1 Rechnung als Rechnung (final) nach sevDesk exportiert"
    )
    assert "RE-2026-00001 (464,10\xa0€)" in german.stdout
    assert " EUR" not in german.stdout and "final)" in german.stdout

    status = kleansync_("invoices", "status", env=env)
    assert status.code == 0, status.output
    [line] = [line for line in status.stdout.splitlines() if line.startswith("RE-2026-00001")]
    assert line.rstrip().endswith(" offen; KleanApp zeigt: offen"), line
    assert (
        kleansync_("--lang", "en", "invoices", "status", env=env).stdout.rstrip().endswith(" open")
    )

    run_id = head.split()[1].rstrip(":")
    report = kleansync_("report", run_id, env=env)
    assert report.code == 0, report.output
    assert "Gesamtbetrag (brutto)=464,10\xa0€" in report.stdout
    assert "Rechnungsdatum=02.03.2026" in report.stdout
    for canonical in ("total_gross", "invoice_date", "464.10"):
        assert canonical not in report.stdout, canonical
    assert "| angelegt: Rechnung | RE-2026-00001 |" in report.stdout
    report_en = kleansync_("--lang", "en", "report", run_id, env=env).stdout
    assert "Total (gross)=€464.10" in report_en and "Invoice date=2026-03-02" in report_en


def test_a_refused_record_is_said_in_german_and_coded_in_the_json(
    server: SandboxServer, kleansync: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A per-record error: German in ``sync``, ``status`` and the report; a code in ``--json``.

    ``sync`` used to print kleansync's own English sentence ("KleanApp refused
    the create of customer K-00002: company_name: …") in the German frame.
    """
    server.config(tmp_path, extra='[sync]\nunits = "off"\n')
    contacts = [
        {"customer_number": "K-00001", "kind": "company", "company_name": "Hotel Adler"},
        {"customer_number": "K-00002", "kind": "company", "company_name": "Praxis " + "X" * 300},
    ]
    sev_root = server.sevdesk_url.removesuffix("/api/v1")
    httpx.post(f"{sev_root}/_sandbox/bulk", json={"contacts": contacts}, timeout=10)
    env = {**_keys(server), **NO_LANGUAGE}

    german = kleansync("sync", env=env, timeout=120)
    assert german.code == 1, german.output
    assert (
        "  abgelehnt: KleanApp hat abgelehnt (Neuanlage, Kunde K-00002): Firma: "
        "must be at most 200 characters"
    ) in german.stdout.splitlines()
    assert "refused the" not in german.stdout and "company_name" not in german.stdout

    report = kleansync("report", "latest", env=env, timeout=120).stdout
    assert "KleanApp hat abgelehnt (Neuanlage, Kunde K-00002): Firma:" in report
    english = kleansync("--lang", "en", "report", "latest", env=env, timeout=120).stdout
    assert "KleanApp refused the create of customer K-00002: Company:" in english

    # --json (the same run, kept in the history): English text, and a code to go by.
    data = json.loads(kleansync("status", "--json", env=env, timeout=120).stdout)
    assert data["runs"][0]["errors"] == 1
    history = json.loads(
        kleansync("report", "latest", "--format", "json", env=env, timeout=120).stdout
    )
    [error] = history["errors"]
    assert error["code"] == "refused"
    assert error["error"] == (
        "KleanApp refused the create of customer K-00002: company_name: must be at most "
        "200 characters"
    )
    assert error["params"]["key"] == "K-00002" and error["params"]["op"] == "create"
