"""State-store errors are one line naming what was refused, never SQL or customer data."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from state.db_errors import describe_db_error

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")


class _PgUniqueViolation(Exception):
    """What psycopg raises (its text: message, then a DETAIL line quoting the row)."""


def test_postgresql_s_detail_line_with_the_row_is_dropped():
    orig = _PgUniqueViolation(
        'duplicate key value violates unique constraint "link_entity_sevdesk_id_key"\n'
        "DETAIL:  Key (entity, sevdesk_id)=(customer, 100001) already exists."
    )
    error = IntegrityError("INSERT INTO link (...) VALUES (%(entity)s, ...)", {"k": "K-1"}, orig)
    assert describe_db_error(error) == (
        "the state store refused to save a change: it conflicts with a record already stored "
        "(UNIQUE on link_entity_sevdesk_id_key); nothing more was written"
    )


def test_a_not_null_violation_names_the_column_only():
    orig = sqlite3.IntegrityError("NOT NULL constraint failed: journal.key")
    error = IntegrityError("INSERT INTO journal VALUES (?)", ("anna@example.de",), orig)
    message = describe_db_error(error)
    assert message == (
        "the state store refused to save a change: a required value is missing "
        "(NOT NULL on journal.key); nothing more was written"
    )


def test_a_locked_database_says_so_and_to_try_again():
    orig = sqlite3.OperationalError("database is locked")
    error = OperationalError("UPDATE run_lock SET heartbeat=?", ("2026-12-01",), orig)
    assert describe_db_error(error) == (
        "the state store is not available (database is locked); try again later"
    )
