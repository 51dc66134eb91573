"""kleansync's memory between runs: links, agreed bases, cursors, runs, journal."""

import state.invoice_tables  # noqa: F401  (registers the invoice tables for create_all)
import state.service_tables  # noqa: F401  (webhook deliveries of `kleansync serve`)
from state.store import Store

__all__ = ["Store"]
