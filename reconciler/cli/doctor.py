"""``kleansync doctor``: is this installation ready to sync?

Runs the checks an admin would run by hand before switching the sync on,
each independently, so one failure does not hide the next: the config
loads, the state store's folder can be written, each token variable is set,
each service answers, each key is accepted, the sevDesk account offers what
kleansync needs (``doctor_checks``), and what each side holds. Messages are
single lines meant for a person, and never contain a token. Doctor only
reads: it creates no state store and nothing in either service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from reconciler.cli.doctor_checks import Check, sevdesk_account_checks, state_check
from reconciler.config import Config
from reconciler.connectors import from_config
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.errors import KleansyncError
from reconciler.domain.i18n import N_, _, gettext
from reconciler.domain.models import Side
from reconciler.reporting.evidence import evidence_lines
from reconciler.sync.plan import build_plan
from reconciler.sync.snapshot import take_snapshot
from state import Store
from state.database import is_current, make_engine

#: Parked records listed in the terminal output (all are in --json).
PARKED_SHOWN = 20


@dataclass
class DoctorResult:
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    missing_units: list[str] = field(default_factory=list)
    #: What the sevDesk account offers: bookkeeping_version, units, contact_field.
    account: dict[str, Any] = field(default_factory=dict)
    preview: dict[str, Any] = field(default_factory=dict)
    #: The records the next sync would park, each with its candidates and evidence.
    parked: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        """For people, in the reader's language (``--json`` is ``as_dict``, English)."""
        from reconciler.reporting.phrases import Phrases

        why = Phrases.for_view({"parked": self.parked})
        ok, fail = _("ok"), _("FAIL")
        out = [f"{(ok if c.ok else fail):<3} {gettext(c.name)}: {c.detail}" for c in self.checks]
        if self.parked:
            out.append(_("the next sync would park these for an admin (possible matches):"))
            for p in self.parked[:PARKED_SHOWN]:
                out.append(f"- {p['side']}:{p['record_id']}: {why(p['reason'])}")
                out += evidence_lines(p.get("details"), list(p.get("evidence") or []))
            if len(self.parked) > PARKED_SHOWN:
                more = len(self.parked) - PARKED_SHOWN
                out.append("  " + _("... and %(count)s more (doctor --json)", count=more))
        out.append(
            _("ready to sync")
            if self.ok
            else _("not ready: fix the lines marked %(fail)s", fail=fail)
        )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [vars(c) for c in self.checks],
            "counts": self.counts,
            "missing_units": self.missing_units,
            "sevdesk_account": self.account,
            "next_sync": {**self.preview, "parked_matches": self.parked},
        }


async def run_doctor(config: Config) -> DoctorResult:
    """Check both services with the keys from the environment."""
    result = DoctorResult(checks=[Check(N_("config"), True, _("loaded and valid"))])
    state = state_check(config.state.url)
    if state is not None:
        result.checks.append(state)
    try:
        kleanapp, sevdesk = from_config(config)
    except KleansyncError as exc:
        result.checks.append(Check(N_("tokens"), False, str(exc)))
        return result
    async with kleanapp, sevdesk:
        accepted = []
        for connector in (kleanapp, sevdesk):
            try:
                await connector.check_auth()
            except KleansyncError as exc:
                result.checks.append(Check(connector.label, False, str(exc)))
            else:
                detail = _("reachable, key accepted")
                result.checks.append(Check(connector.label, True, detail))
                accepted.append(connector)
        if sevdesk in accepted and isinstance(sevdesk, SevdeskConnector):
            result.checks += await sevdesk_account_checks(sevdesk, result.account)
        if len(accepted) == 2:
            connectors = {"kleanapp": kleanapp, "sevdesk": sevdesk}
            usable = state is None or state.ok
            try:
                await _preview(config, connectors, result, usable_store=usable)
            except KleansyncError as exc:
                result.checks.append(Check(N_("next sync"), False, str(exc)))
    return result


async def _preview(
    config: Config, connectors: dict, result: DoctorResult, *, usable_store: bool
) -> None:
    """What each side holds and what the next sync would do; writes nothing.

    With a state store that cannot be written (reported above) the preview
    starts from an empty store, as a first sync would.
    """
    store = _read_only_store(config.state.url) if usable_store else Store("sqlite://")
    try:
        snapshot = await take_snapshot(connectors, store, full=True)
        plan = build_plan(config, snapshot, {e: store.links(e) for e in ("customer", "unit")})
    finally:
        store.close()
    sides: tuple[tuple[Side, str], ...] = (
        ("kleanapp", N_("KleanApp data")),
        ("sevdesk", N_("sevDesk data")),
    )
    for side, name in sides:
        customers = snapshot.read("customer", side).records.values()
        active = sum(1 for r in customers if not r.record.archived)
        units = len(snapshot.read("unit", side).records)
        result.counts[side] = {"customers": active, "units": units}
        detail = _("%(customers)s customers, %(units)s units", customers=active, units=units)
        result.checks.append(Check(name, True, detail))
    missing = [t.message.split("'")[1] for t in plan.tasks if t.kind == "missing_unit"]
    result.missing_units = missing
    if missing:
        result.checks.append(
            Check(
                N_("units"),
                True,
                _(
                    "KleanApp units missing in sevDesk: %(units)s (create them in sevDesk: "
                    "Einstellungen → System → Einheiten)",
                    units=", ".join(missing),
                ),
            )
        )
    new_links = sum(
        1
        for p in plan.pairs
        if p.link_id is None and p.kleanapp_id and p.sevdesk_id and p.entity == "customer"
    )
    counts = plan.counts()
    result.preview = {
        "links": new_links,
        "creates": {
            side: counts.get(f"customer.{side}.create", 0) for side in ("kleanapp", "sevdesk")
        },
        "updates": {
            side: counts.get(f"customer.{side}.update", 0) for side in ("kleanapp", "sevdesk")
        },
        "conflicts": len(plan.conflicts),
        "parked": len(plan.parked),
        "quarantined": len(plan.quarantined),
    }
    result.parked = [
        p.model_dump(include={"side", "record_id", "key", "reason", "details", "evidence"})
        for p in plan.parked
    ]
    p = result.preview
    result.checks.append(
        Check(
            N_("next sync"),
            True,
            _(
                "would link %(links)s customers, create %(sevdesk)s in sevDesk and %(kleanapp)s "
                "in KleanApp, update %(updates)s, decide %(conflicts)s conflicts, park "
                "%(parked)s, quarantine %(quarantined)s",
                links=p["links"],
                sevdesk=p["creates"]["sevdesk"],
                kleanapp=p["creates"]["kleanapp"],
                updates=sum(p["updates"].values()),
                conflicts=p["conflicts"],
                parked=p["parked"],
                quarantined=p["quarantined"],
            ),
        )
    )


def _read_only_store(url: str) -> Store:
    """The configured store if it exists and is current; an empty in-memory one otherwise.

    ``doctor`` must not create the state database as a side effect, nor migrate one
    (on PostgreSQL, opening an empty database used to create the whole schema): a store
    that is empty or behind is previewed as a first sync would see it.
    """
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return Store("sqlite://")
    engine = make_engine(url)
    try:
        current = is_current(engine)
    except SQLAlchemyError:
        current = True  # unreachable: opening it says why, in one line
    finally:
        engine.dispose()
    return Store(url) if current else Store("sqlite://")
