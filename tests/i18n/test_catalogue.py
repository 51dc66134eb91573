"""The message catalogue is complete: every message in the code and templates is in it, in German.

Extraction is Babel's own (the mapping in ``babel.cfg``, the same as
``pybabel extract``), so a message added with ``_()`` but not to the
``.po`` files, or left untranslated, fails here. The templates are also read
for prose outside ``_()``: a sentence typed into a template would reach the
admin in English whatever the language.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from reconciler.domain.i18n import LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "reconciler" / "reporting" / "templates"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> dict[str, str]:
    """msgid -> where it was found, over the code and templates (as ``pybabel extract``)."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def _catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "kleansync.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def test_code_and_templates_have_messages_at_all():
    found = _extracted()
    assert len(found) > 200, "the extractor found (almost) nothing: is babel.cfg right?"
    assert any(where.startswith("reconciler/reporting/templates") for where in found.values())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_in_the_catalogue(lang):
    catalog = _catalog(lang)
    missing = {m: w for m, w in _extracted().items() if catalog.get(m) is None}
    assert not missing, (
        f"{len(missing)} message(s) not in the {lang} catalogue (see reconciler/domain/i18n.py "
        f"for pybabel extract/update): " + "; ".join(f"{m!r} ({w})" for m, w in missing.items())
    )


def test_every_message_is_translated_into_german_with_the_same_placeholders():
    problems = []
    for message in _catalog("de"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"{ids[0]!r}: not translated" + (" (fuzzy)" if message.fuzzy else ""))
            continue
        wanted = set(PLACEHOLDER.findall(ids[-1])) - {"num"}
        for text in strings:
            if set(PLACEHOLDER.findall(text)) - {"num"} != wanted:
                problems.append(f"{ids[0]!r}: placeholders differ in {text!r}")
    assert not problems, "; ".join(problems)


def test_no_message_is_left_over_in_the_catalogue():
    """A reworded message leaves its old entry behind: pybabel update drops it (small files)."""
    found = _extracted()
    for lang in LANGUAGES:
        stale = [
            m.id
            for m in _catalog(lang)
            if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in found
        ]
        assert not stale, f"{lang}: entries no code uses any more: {stale}"


#: Words allowed as they are in a template: product names and the commands an admin types.
_KEEP = {
    "kleansync",
    "KleanApp",
    "sevDesk",
    "ID",
    "conflicts",
    "list",
    "resolve",
    "link",
    "take",
    "kleanapp",
    "sevdesk",
    "with",
    "create",
    "new",
    "value",
    "doctype",
    "html",
}


def _template_prose(source: str) -> list[str]:
    """Words of a template a reader would see that do not come from the catalogue."""
    text = re.sub(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", "", source, flags=re.S)  # Jinja itself
    text = re.sub(r"<style>.*?</style>|<code>.*?</code>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>|&\w+;", " ", text)  # tags and entities
    return [w for w in re.findall(r"[A-Za-zÄÖÜäöüß]{2,}", text) if w not in _KEEP]


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.j2")))
def test_templates_say_nothing_outside_the_catalogue(name):
    words = _template_prose((TEMPLATES / name).read_text(encoding="utf-8"))
    assert not words, f"{name}: text outside _(): {' '.join(words)}"


def test_prose_outside_the_catalogue_is_found():
    """The check itself: an English sentence typed into a template is caught."""
    assert _template_prose("<p>{{ _('Fine') }}</p><td>Parked matches</td>") == ["Parked", "matches"]
    assert _template_prose("<style>td { color:red }</style><code>kleansync x</code>") == []
