"""kleansync's memory between runs: links, agreed bases, cursors, runs, journal.

The tables live in ``state.tables`` (sync), ``state.admin_tables`` (the
resolution queue), ``state.invoice_tables`` (invoice export) and
``state.service_tables`` (webhook deliveries); ``state.store`` imports them
all so the schema is always complete.
"""

from state.store import Store

__all__ = ["Store"]
