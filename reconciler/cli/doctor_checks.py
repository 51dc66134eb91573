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
from reconciler.domain.i18n import N_, _
from state.paths import sqlite_file, write_problem

#: The bookkeeping system kleansync is made for.
BOOKKEEPING_NEEDED = "2.0"


@dataclass
class Check:
    #: A message id (``N_``): ``--json`` shows it as it is, the terminal translated.
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
        return Check(N_("state store"), False, _("[state] url: %(problem)s", problem=problem))
    if path.exists():
        return Check(N_("state store"), True, _("%(path)s (writable)", path=path))
    return Check(
        N_("state store"), True, _("%(path)s will be created on the first sync", path=path)
    )


def bookkeeping_line(version: str | None) -> tuple[bool, str]:
    """What the account's bookkeeping system version means for the user, in one line."""
    if version == BOOKKEEPING_NEEDED:
        return True, _("bookkeeping system version 2.0 (sevdesk-Update 2.0)")
    if version == "1.0":
        return False, _(
            "the account still runs bookkeeping system version 1.0, not 2.0: sevDesk will refuse "
            "the invoices kleansync exports (they use the tax rules of sevdesk-Update 2.0), "
            "customers and units would sync; ask sevDesk to move the account to version 2.0"
        )
    return False, _(
        "the account reports bookkeeping system version %(version)s; kleansync is made for "
        "version 2.0 (sevdesk-Update 2.0)",
        version=repr(version),
    )


async def sevdesk_account_checks(sevdesk: SevdeskConnector, account: dict[str, Any]) -> list[Check]:
    """Bookkeeping version, units, the stable-id contact field; ``account`` gets the facts."""
    checks: list[Check] = []
    try:
        version = await sevdesk.bookkeeping_version()
    except KleansyncError as exc:
        detail = _("cannot tell the bookkeeping version: %(error)s", error=exc)
        checks.append(Check(N_("sevDesk bookkeeping"), False, detail))
    else:
        account["bookkeeping_version"] = version
        checks.append(Check(N_("sevDesk bookkeeping"), *bookkeeping_line(version)))

    try:
        units = await sevdesk.units.list_changed(None)
    except KleansyncError as exc:
        checks.append(
            Check(N_("sevDesk units"), False, _("units cannot be read: %(error)s", error=exc))
        )
    else:
        account["units"] = len(units.records)
        readable, unreadable = len(units.records), len(units.quarantined)
        detail = (
            _(
                "%(readable)s readable, %(unreadable)s unreadable",
                readable=readable,
                unreadable=unreadable,
            )
            if unreadable
            else _("%(readable)s readable", readable=readable)
        )
        checks.append(Check(N_("sevDesk units"), True, detail))

    field = repr(FIELD_NAME)
    try:
        setting = await sevdesk.stable_ids.setting_id()
    except KleansyncError as exc:
        detail = _(
            "contact fields cannot be read: %(error)s; kleansync keeps each customer's KleanApp "
            "id in %(field)s",
            error=exc,
            field=field,
        )
        checks.append(Check(N_("sevDesk contact field"), False, detail))
    else:
        account["contact_field"] = "exists" if setting else "absent"
        detail = (
            _("%(field)s exists (it keeps each customer's KleanApp id)", field=field)
            if setting
            else _(
                "%(field)s will be created on the first sync (it keeps each customer's KleanApp "
                "id)",
                field=field,
            )
        )
        checks.append(Check(N_("sevDesk contact field"), True, detail))
    return checks
