"""What a failed state-store statement means, in one line without SQL or data.

Why: SQLAlchemy's exception text carries the statement and its parameters
(customer names, e-mail addresses, ids), and PostgreSQL adds a ``DETAIL``
line quoting the conflicting row. That text ended up in the run's stored
error and on the terminal. ``describe_db_error`` keeps what tells an admin
what happened (which constraint, "database is locked") and drops the rest.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from state import paths

#: SQLite: "UNIQUE constraint failed: link.entity, link.sevdesk_id"
_SQLITE_CONSTRAINT = re.compile(
    r"(UNIQUE|NOT NULL|FOREIGN KEY|CHECK) constraint failed(?::\s*(.*))?"
)
#: PostgreSQL: 'duplicate key value violates unique constraint "link_entity_sevdesk_id_key"'
_PG_CONSTRAINT = re.compile(r'constraint "([^"]+)"')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
#: SQLite's words for a store it may not write ("attempt to write a readonly database", ...).
_CANNOT_WRITE = re.compile(r"readonly|read-only|unable to open|disk I/O", re.IGNORECASE)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig) if exc.orig is not None else ""
    return text.strip().splitlines()[0] if text.strip() else ""


def _names(text: str) -> str:
    """Only identifiers (table.column lists), never values."""
    return ", ".join(_NAME.findall(text))[:120]


def describe_db_error(exc: BaseException) -> str:
    """One line saying what the state store refused, with no statement and no values.

    Takes any exception raised from inside SQLAlchemy (the CLI's last line of
    defence passes whatever it caught there); what is not a database error
    is named by its type only.
    """
    if isinstance(exc, IntegrityError):
        line = _first_line(exc)
        if match := _SQLITE_CONSTRAINT.search(line):
            kind, where = match.group(1), _names(match.group(2) or "")
        elif match := _PG_CONSTRAINT.search(line):
            kind = "UNIQUE" if "unique" in line.lower() else "integrity"
            where = _names(match.group(1))
        else:
            kind, where = "integrity", ""
        what = {
            "UNIQUE": "it conflicts with a record already stored",
            "NOT NULL": "a required value is missing",
        }.get(kind, "it breaks a rule of the schema")
        on = f" ({kind} on {where})" if where else ""
        return f"the state store refused to save a change: {what}{on}; nothing more was written"
    if isinstance(exc, OperationalError):
        reason = _first_line(exc)[:120] or type(exc.orig).__name__
        problem = paths.opened_problem() if _CANNOT_WRITE.search(reason) else None
        if problem:
            return f"[state] url: {problem} ({reason}); nothing more was written"
        # PostgreSQL's connection errors can name the host and user, not data.
        return f"the state store is not available ({reason}); try again later"
    if isinstance(exc, DBAPIError):
        return f"the state store failed ({type(exc.orig).__name__})"
    return f"the state store failed ({type(exc).__name__})"


def run_error_text(exc: BaseException) -> str:
    """A stored run error for any exception: database errors classed, others as they are."""
    if isinstance(exc, SQLAlchemyError):
        return describe_db_error(exc)
    return f"{type(exc).__name__}: {exc}"
