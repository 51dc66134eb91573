"""The reports speak German by default and English on request; JSON stays English.

The run is ``scenario.py``'s (3 conflicts, 2 matches held back, 1 unreadable
record, an invoice task). The HTML's visible text is read as a browser shows
it (``test_report_browser.py`` does the same in Chromium).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from typer.testing import CliRunner

from reconciler.cli.app import app
from reconciler.domain import i18n
from reconciler.reporting.mail import subject
from reconciler.reporting.render import render, render_mail_text

from .scenario import (  # noqa: F401 - scenario_world is the fixture "scenario"
    assert_german_content,
    assert_speaks_like_the_office,
    scenario_view,
    scenario_world,
)

TZ = "Europe/Berlin"


class _Visible(HTMLParser):
    """The text a reader sees: the body without styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_body |= tag == "body"
        self._hidden += tag in ("style", "script", "title")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script", "title")

    def handle_data(self, data: str) -> None:
        if self._in_body and not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


async def test_html_report_is_german_by_default(scenario, monkeypatch):
    monkeypatch.delenv("KLEANSYNC_LANG")
    view = await scenario_view(scenario)
    html = render(view, "html", tz=TZ)
    assert '<html lang="de">' in html
    text = visible(html)
    assert_speaks_like_the_office(text, view)
    assert_german_content(text)
    assert "zur Prüfung zurückgestellt" in text and "nicht lesbar, zurückgehalten" in text
    assert "Kunde K-1" in text and "E-Mail" in text and "Notiz" in text and "Ort" in text
    assert "Zeiten in Europe/Berlin" in text


async def test_markdown_and_mail_are_german_too(scenario, monkeypatch):
    monkeypatch.delenv("KLEANSYNC_LANG")
    view = await scenario_view(scenario)
    for text in (render(view, "md", tz=TZ), render_mail_text(view, tz=TZ)):
        assert_speaks_like_the_office(text, view)
        assert "Zur Prüfung zurückgestellte Zuordnungen" in text
        assert "Einheit „Std.“ in sevDesk anlegen" in text
    mail = render_mail_text(view, tz=TZ)
    assert 'Kunde K-1, E-Mail: KleanApp "buero@kleanapp-seite.de"' in mail
    assert subject(view).startswith(f"[kleansync] Lauf {view['run']['run_id']}: ")
    assert "1 Konflikt zu entscheiden, 2 Zuordnungen zu prüfen, 1 Aufgabe" in subject(view)


async def test_english_on_request_and_json_stays_english(scenario):
    view = await scenario_view(scenario)
    html = render(view, "html", tz=TZ, lang="en")
    assert '<html lang="en">' in html
    text = visible(html)
    assert "Matches held back for checking" in text and "Unreadable records, held back" in text
    assert 'K-2 "Doppelt AG"' in text and "Customer number" in text
    assert "sevdesk:" not in text and "customer_number" not in text and "UTC" not in text
    assert re.search(r"sevDesk changed it later \(\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text) or (
        re.search(r"in KleanApp|KleanApp changed it later \(\d{4}-\d{2}-\d{2}", text)
    )
    # The JSON report is an API: English, canonical names, whatever the language.
    data = json.loads(render(view, "json", lang="de"))
    assert data["summary"]["headline"].startswith("kleansync made")
    assert {c["field"] for c in data["conflicts"]} == {"email", "city", "note"}
    assert render(view, "csv", lang="de").startswith("section,entity,key,side,op,field")


async def test_report_command_speaks_german_and_english_with_lang(world, monkeypatch):
    """``kleansync report`` through the real command line: German, ``--lang en``, a bad --lang."""
    monkeypatch.delenv("KLEANSYNC_LANG")
    await world.sync()
    runner = CliRunner()
    config = ["--config", str(world.config_path)]
    try:
        german = runner.invoke(app, ["report", "latest", *config])
        assert german.exit_code == 0, german.output
        assert "## Zur Prüfung zurückgestellte Zuordnungen" in german.stdout
        english = runner.invoke(app, ["--lang", "en", "report", "latest", *config])
        assert english.exit_code == 0, english.output
        assert "## Matches held back for checking" in english.stdout
        monkeypatch.setenv("KLEANSYNC_LANG", "en")
        assert "## Konflikte" in runner.invoke(app, ["--lang", "de", "report", *config]).stdout
        bad = runner.invoke(app, ["--lang", "fr", "report", "latest", *config])
        assert bad.exit_code == 2 and "unknown language 'fr' (known: de, en)" in bad.output
    finally:
        i18n.set_language(None)
