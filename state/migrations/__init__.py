"""The state store's schema migrations (Alembic), the same steps for SQLite and PostgreSQL.

``state.database`` runs them when a store is opened whose revision is not the newest
(``versions/``, one file per change); a store at the newest revision costs one query to
open. A change to a table (``state/*_tables.py``) needs a migration here:
``tests/state/test_migrations.py`` compares the migrated schema with the tables and fails
on any difference. Write one with
``.venv/bin/alembic -c state/migrations/alembic.ini revision -m "what changed"``.
May import: nothing of kleansync (a migration is frozen: it must not change when the
tables' code changes later).
"""
