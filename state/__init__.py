"""kleansync's memory between runs: links, agreed bases, cursors, runs, journal.

The tables live in ``state.tables`` (sync), ``state.admin_tables`` (the
resolution queue), ``state.invoice_tables`` (invoice export) and
``state.service_tables`` (webhook deliveries), ``state.inbox_tables`` (the
webhook inbox), ``state.alert_tables`` (standing problems, mailed once),
``state.console_tables`` (the browser console's accounts and sessions),
``state.tenant_tables`` (a fleet's tenant registry; each tenant's schema: ``state.tenancy``),
``state.rate_bucket`` (a fleet's request budgets per API token);
``state.store`` and this package import them all so the schema is always
complete. May import: reconciler.domain only.
"""

from state import (
    console_tables,  # noqa: F401  (the console's accounts and sessions)
    inbox_tables,  # noqa: F401  (the webhook inbox's table)
    rate_bucket,  # noqa: F401  (the fleet's request budgets per API token)
    tenant_tables,  # noqa: F401  (the fleet's tenant registry)
)
from state.store import Store

__all__ = ["Store"]
