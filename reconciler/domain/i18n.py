"""The one message catalogue: every sentence a person reads, in German (default) or English.

Why gettext through Babel, and why here: the admins are office staff of German
cleaning companies, so kleansync speaks German unless asked otherwise, and
every face (reports, e-mail, tasks, CLI, service) must use the same words.
This module sits in ``reconciler.domain`` so every layer, down to ``rules``
and ``state``, may use it.

Message ids are the English sentences themselves (gettext's usual way): the
code stays readable, English needs no translating (``en`` falls back to the
id), and a missing German translation shows English, never a bare key. The
catalogues are ``reconciler/locale/{de,en}/LC_MESSAGES/kleansync.po`` in the
repository. They are compiled when first used: a ``kleansync.mo`` beside the
``.po`` that is at least as new is loaded as it is (``pybabel compile`` makes
one), otherwise the ``.po`` is compiled in memory (a few milliseconds), so a
fresh ``pip install -e .`` and CI work with no build step and no ``.mo`` in git.

Using it::

    from reconciler.domain.i18n import _, ngettext, N_

    _("Run %(run)s failed", run=run_id)           # parameters: %(name)s, with them %% is a %
    ngettext("%(num)d change", "%(num)d changes", n)  # num is filled in
    HEADING = N_("Parked matches")  # marks a constant for extraction; translate at use: _(HEADING)

In templates (``jinja2.ext.i18n``, new style): ``{{ _("Conflicts") }}``,
``{{ ngettext("%(num)d error", "%(num)d errors", n) }}``. Write whole sentences
with placeholders (German word order differs), never glue translated pieces;
a module that imports ``_`` must not use ``_`` as a throwaway variable.

Adding or changing a message (from the repository root): write it with ``_()``
in the code or ``{{ _("...") }}`` in a template, then::

    .venv/bin/pybabel -q extract -F babel.cfg --no-location --sort-output --omit-header \
        -w 100 -o /tmp/kleansync.pot .
    .venv/bin/pybabel -q update -i /tmp/kleansync.pot -d reconciler/locale -D kleansync \
        -N --ignore-obsolete --ignore-pot-creation-date -w 100
    # write the German in reconciler/locale/de/LC_MESSAGES/kleansync.po (its msgstr);
    # English needs nothing (an empty msgstr shows the English msgid)
    .venv/bin/pybabel compile -d reconciler/locale -D kleansync   # optional (.mo: git-ignored)

The options keep the ``.po`` files sorted, without line numbers and with a
stable header, so two branches adding messages rarely conflict.

``tests/i18n/test_catalogue.py`` fails if a message in the code or the
templates is missing from the catalogues or has no German translation.

The language: ``--lang`` (``set_language``) before ``KLEANSYNC_LANG`` before
``[report] language`` (``configure``) before ``de``. A flag typed for one
command beats the environment, which beats the config file: the usual order,
so ``kleansync --lang en report latest`` works whatever the config says.
``using(lang)`` switches for one block (rendering one report in one language).

Numbers, money and times are formatted by Babel for the language
(``1.234,56 €``, ``01.12.2026 09:53``), times in the configured time zone.
Machine formats (``--json``, the CSV, stored runs) stay English: they are an API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import os
from collections.abc import Iterator
from contextvars import ContextVar
from decimal import Decimal
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

__all__ = [
    "DEFAULT_LANGUAGE",
    "ENV_VAR",
    "LANGUAGES",
    "N_",
    "_",
    "configure",
    "current_language",
    "format_date",
    "format_datetime",
    "format_money",
    "format_number",
    "gettext",
    "ngettext",
    "resolve_language",
    "set_language",
    "translations",
    "using",
]

LANGUAGES: tuple[str, ...] = ("de", "en")
DEFAULT_LANGUAGE = "de"
ENV_VAR = "KLEANSYNC_LANG"
DOMAIN = "kleansync"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

#: Babel locales for numbers and money (German as in Germany).
_LOCALES = {"de": "de_DE", "en": "en_GB"}
#: Date/time patterns (CLDR): German as the admins write it, English unambiguous (ISO order).
_DATETIME = {"de": "dd.MM.yyyy HH:mm", "en": "yyyy-MM-dd HH:mm"}
_DATE = {"de": "dd.MM.yyyy", "en": "yyyy-MM-dd"}
_DECIMAL_SIGN = {"de": ",", "en": "."}

#: Set by ``--lang`` (the CLI's callback); None when not given.
_explicit: str | None = None
#: Set from ``[report] language`` once the config is loaded; None when not configured.
_configured: str | None = None
#: ``using()`` blocks: the language for this context only.
_override: ContextVar[str | None] = ContextVar("kleansync_language", default=None)


def normalise(lang: str | None) -> str | None:
    """``"DE"``, ``"de_DE"``, ``"de-AT.UTF-8"`` -> ``"de"``; None or empty -> None.

    Raises ``ValueError`` naming the known languages for anything else.
    """
    if lang is None or not str(lang).strip():
        return None
    code = str(lang).strip().replace("-", "_").split(".")[0].split("_")[0].lower()
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (known: {', '.join(LANGUAGES)})")
    return code


def resolve_language(
    flag: str | None = None, env: str | None = None, configured: str | None = None
) -> str:
    """The language by precedence: flag, then environment, then config, then ``de``."""
    for candidate in (flag, env, configured):
        code = normalise(candidate)
        if code:
            return code
    return DEFAULT_LANGUAGE


def set_language(lang: str | None) -> None:
    """The language given on the command line (``--lang``); None forgets it."""
    global _explicit
    _explicit = normalise(lang)


def configure(lang: str | None) -> None:
    """The language of the config file (``[report] language``); None forgets it."""
    global _configured
    _configured = normalise(lang)


def current_language(configured: str | None = None) -> str:
    """The language to speak now (``configured`` stands in for the config's setting)."""
    override = _override.get()
    if override:
        return override
    env = os.environ.get(ENV_VAR)
    try:
        env_code = normalise(env)
    except ValueError:
        env_code = None  # a stray value in the environment must not stop a run
    return resolve_language(_explicit, env_code, configured or _configured)


@contextlib.contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` (or the current language, when None) inside the block."""
    code = normalise(lang) or current_language()
    token = _override.set(code)
    try:
        yield code
    finally:
        _override.reset(token)


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang``: a fresh ``.mo`` if present, else the ``.po`` compiled."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return GNUTranslations(fh)
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return GNUTranslations(buffer)


def gettext(message: str) -> str:
    """``message`` in the current language (no parameters filled in)."""
    return translations(current_language()).gettext(message)


def _(message: str, /, **params: object) -> str:
    """``message`` in the current language, ``%(name)s`` parameters filled in when given."""
    text = gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """The singular or plural form for ``n`` (``%(num)d`` is ``n``), parameters filled in."""
    text = translations(current_language()).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention extractors know
    """Mark ``message`` for the catalogue without translating it now (module constants)."""
    return message


def _locale() -> Locale:
    return Locale.parse(_LOCALES[current_language()])


def format_number(value: int | float | Decimal, *, decimals: int | None = None) -> str:
    """``12.345`` / ``4,9`` in German; ``decimals`` fixes the digits after the comma."""
    pattern = None if decimals is None else "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=_locale())


def format_money(amount: int | float | Decimal | str, currency: str = "EUR") -> str:
    """``1.234,56 €`` in German (a no-break space before the sign), ``€1,234.56`` in English."""
    return format_currency(Decimal(str(amount)), currency, locale=_locale())


def _zone(tz: str | dt.tzinfo | None) -> dt.tzinfo:
    if tz is None:
        return dt.UTC
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def format_datetime(
    value: dt.datetime,
    tz: str | dt.tzinfo | None = None,
    *,
    seconds: bool = False,
    fraction: bool = False,
    date: bool = True,
) -> str:
    """``01.12.2026 09:53`` in the time zone ``tz`` (a naive ``value`` means UTC).

    ``seconds`` adds them (``09:53:07``) where minutes do not tell two times
    apart, ``fraction`` milliseconds where seconds do not (``09:53:07,250``);
    ``date=False`` gives the time alone (the second of two on one day).
    """
    stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    local = stamp.astimezone(_zone(tz))
    pattern = _DATETIME[current_language()] + (":ss" if seconds or fraction else "")
    if fraction:
        pattern += _DECIMAL_SIGN[current_language()] + "SSS"
    if not date:
        pattern = pattern.split(" ", 1)[1]
    return _babel_datetime(local, pattern, locale=_locale())


def format_date(value: dt.date | dt.datetime, tz: str | dt.tzinfo | None = None) -> str:
    """``01.12.2026``; a datetime is first moved into ``tz``."""
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        value = stamp.astimezone(_zone(tz)).date()
    return _babel_date(value, _DATE[current_language()], locale=_locale())
