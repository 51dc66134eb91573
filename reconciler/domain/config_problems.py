"""A config file's first problem, as one line in the reader's language: ``[section] key: what``.

Why its own module: pydantic words its complaints in English ("Input should
be greater than 0"), and an admin reading the config's error in German
should not get half of the line in English. The kinds of complaint a
``config.toml`` can earn are few (a number out of range, a word that is not
one of the choices, a wrong type), so each is said again from the catalogue
with pydantic's own details (``ctx``); our validators' messages are already
translated where they are raised (``reconciler.config``). A kind not listed
keeps pydantic's English (better than nothing).
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from reconciler.domain.errors import ConfigError
from reconciler.domain.i18n import N_, _, format_number
from reconciler.domain.i18n import configure as configure_language

__all__ = [
    "check_cron",
    "check_http_url",
    "check_zone",
    "complaint",
    "early_language",
    "first_problem",
    "read_config_file",
]

#: pydantic error type -> the sentence, with pydantic's ``ctx`` values as parameters.
_TYPES: dict[str, str] = {
    "greater_than": N_("must be greater than %(gt)s"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "less_than": N_("must be less than %(lt)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "int_parsing": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "float_type": N_("must be a number"),
    "bool_parsing": N_("must be true or false"),
    "bool_type": N_("must be true or false"),
    "string_type": N_("must be text (in quotes)"),
    "list_type": N_("must be a list ([...])"),
    "dict_type": N_("must be a table"),
    "literal_error": N_("must be one of %(expected)s"),
}


def first_problem(exc: ValidationError) -> str:
    """One line: ``[section] key: what is wrong``."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "missing" and len(loc) == 1:
        return _("[%(section)s] section is missing", section=loc[0])
    if error["type"] == "model_type" and len(loc) == 1:
        return _("[%(section)s] must be a table", section=loc[0])
    section, key = (loc[0], ".".join(loc[1:])) if loc else ("", "")
    where = f"[{section}] {key}".strip() if key else f"[{section}]" if section else _("top level")
    if error["type"] == "extra_forbidden":
        if key:
            return _("%(where)s: unknown key", where=where)
        return _("unknown section [%(section)s]", section=section)
    message = complaint(error)
    if error["type"] == "missing":
        message = _("is required")
    elif "input" in error and not loc[-1].endswith("_env"):  # never echo what may be a secret
        message = _("%(message)s (got %(value)r)", message=message, value=error["input"])
    return f"{where}: {message}"


def complaint(error: Any) -> str:
    """pydantic's complaint about one value (an ``errors()`` item), in the reader's words."""
    sentence = _TYPES.get(error["type"])
    if sentence is None:
        return str(error["msg"]).removeprefix("Value error, ")
    ctx = {
        k: format_number(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)
        for k, v in (error.get("ctx") or {}).items()
    }
    try:
        return _(sentence, **ctx) if "%(" in sentence else _(sentence)
    except KeyError:
        return str(error["msg"])


def early_language(data: dict[str, Any]) -> None:
    """``[report] language`` before the rest is checked: the config's own errors speak it too."""
    report = data.get("report")
    with contextlib.suppress(ValueError, AttributeError):
        configure_language(report.get("language") if isinstance(report, dict) else None)


def check_cron(value: str) -> str:
    """``[schedule] cron``, checked the way the scheduler reads it, field by field.

    Why at load time: five fields that the scheduler then refuses ("0 25 * * *")
    passed ``doctor`` and made ``status`` and ``serve`` crash later.
    """
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(_("must have five fields: minute hour day month weekday"))
    # Imported here: APScheduler is only needed once a config names a schedule.
    from apscheduler.triggers.cron import CronTrigger

    names = ("minute", "hour", "day", "month", "day_of_week")
    labels = (_("minute"), _("hour"), _("day"), _("month"), _("weekday"))
    for name, label, field in zip(names, labels, fields, strict=True):
        try:
            CronTrigger(**{name: field}, timezone="UTC")
        except ValueError as exc:
            why = re.sub(r"^Error validating expression '[^']*': ", "", str(exc))
            raise ValueError(
                _(
                    "the %(label)s field %(field)r is not valid: %(why)s",
                    label=label,
                    field=field,
                    why=_cron_why(why),
                )
            ) from None
    return value


_OUT_OF_RANGE = re.compile(
    r"the (?:first|last) value \((\d+)\) is (?:lower|higher) than the "
    r"(minimum|maximum) value \((\d+)\)"
)


def _cron_why(why: str) -> str:
    """APScheduler's reason, said again for the usual case (a value out of range)."""
    match = _OUT_OF_RANGE.fullmatch(why)
    if match is None:
        return why
    value, bound, limit = match.groups()
    if bound == "minimum":
        return _("%(value)s is below the lowest allowed value %(limit)s", value=value, limit=limit)
    return _("%(value)s is above the highest allowed value %(limit)s", value=value, limit=limit)


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML of ``path``; a missing, unreadable or broken file is one ``ConfigError`` line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            _(
                "%(path)s: no such config file (create one with 'kleansync init' or pass --config)",
                path=path,
            )
        ) from None
    except OSError as exc:
        raise ConfigError(
            _("%(path)s: cannot read (%(cause)s)", path=path, cause=exc.strerror)
        ) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(_("%(path)s: not UTF-8 text", path=path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_("%(path)s: not valid TOML: %(error)s", path=path, error=exc)) from None


def check_zone(value: str) -> str:
    """A time zone the standard library knows (``Europe/Berlin``)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(_("unknown time zone %(zone)r", zone=value)) from None
    return value


def check_http_url(value: str) -> str:
    """An http(s) URL, without its trailing slash."""
    if not value.startswith(("http://", "https://")):
        raise ValueError(_("must start with http:// or https://"))
    return value.rstrip("/")
