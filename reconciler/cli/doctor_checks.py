"""What ``kleansync doctor`` checks beyond "the key is accepted": sevDesk account, state store.

A key sevDesk accepts is not yet an account kleansync can work with. The
account must run bookkeeping system 2.0 (sevdesk-Update 2.0: the invoice
export writes its tax rules, which a 1.0 account refuses), its units must be
readable (invoice positions name one), and its contact fields must be
readable, since each customer's KleanApp id is kept in one
(``reconciler.connectors.sevdesk.stable_ids``). The state store's folder must
be writable, or the first sync stops before it starts.

Each check is independent (one failing never hides the next) and only
reads: a missing contact field is reported as "will be created on the first
sync", never created here. Each result is one line without a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.connectors.sevdesk.stable_ids import FIELD_NAME
from reconciler.domain.errors import KleansyncError
from state.paths import sqlite_file, write_problem

#: The bookkeeping system kleansync is made for.
BOOKKEEPING_NEEDED = "2.0"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def state_check(url: str) -> Check | None:
    """Can the first sync write its state store? None for stores that are not a file."""
    path = sqlite_file(url)
    if path is None:
        return None
    problem = write_problem(url)
    if problem:
        return Check("state store", False, f"[state] url: {problem}")
    if path.exists():
        return Check("state store", True, f"{path} (writable)")
    return Check("state store", True, f"{path} will be created on the first sync")


def bookkeeping_line(version: str | None) -> tuple[bool, str]:
    """What the account's bookkeeping system version means for the user, in one line."""
    if version == BOOKKEEPING_NEEDED:
        return True, "bookkeeping system version 2.0 (sevdesk-Update 2.0)"
    if version == "1.0":
        return False, (
            "the account still runs bookkeeping system version 1.0, not 2.0: sevDesk will refuse "
            "the invoices kleansync exports (they use the tax rules of sevdesk-Update 2.0), "
            "customers and units would sync; ask sevDesk to move the account to version 2.0"
        )
    return False, (
        f"the account reports bookkeeping system version {version!r}; kleansync is made for "
        "version 2.0 (sevdesk-Update 2.0)"
    )


async def sevdesk_account_checks(sevdesk: SevdeskConnector, account: dict[str, Any]) -> list[Check]:
    """Bookkeeping version, units, the stable-id contact field; ``account`` gets the facts."""
    checks: list[Check] = []
    try:
        version = await sevdesk.bookkeeping_version()
    except KleansyncError as exc:
        checks.append(
            Check("sevDesk bookkeeping", False, f"cannot tell the bookkeeping version: {exc}")
        )
    else:
        account["bookkeeping_version"] = version
        checks.append(Check("sevDesk bookkeeping", *bookkeeping_line(version)))

    try:
        units = await sevdesk.units.list_changed(None)
    except KleansyncError as exc:
        checks.append(Check("sevDesk units", False, f"units cannot be read: {exc}"))
    else:
        account["units"] = len(units.records)
        unreadable = f", {len(units.quarantined)} unreadable" if units.quarantined else ""
        checks.append(Check("sevDesk units", True, f"{len(units.records)} readable{unreadable}"))

    purpose = "it keeps each customer's KleanApp id"
    try:
        setting = await sevdesk.stable_ids.setting_id()
    except KleansyncError as exc:
        detail = f"contact fields cannot be read: {exc}; kleansync keeps each customer's KleanApp"
        checks.append(Check("sevDesk contact field", False, f"{detail} id in {FIELD_NAME!r}"))
    else:
        account["contact_field"] = "exists" if setting else "absent"
        state = "exists" if setting else "will be created on the first sync"
        checks.append(Check("sevDesk contact field", True, f"{FIELD_NAME!r} {state} ({purpose})"))
    return checks
