"""``kleansync doctor``: is this installation ready to sync?

Runs the checks an admin would run by hand before switching the sync on,
each independently, so one failure does not hide the next: the config
loads, each token variable is set, each service answers, each key is
accepted, and what each side holds. Messages are single lines meant for a
person, and never contain a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.config import Config
from reconciler.errors import KleansyncError
from reconciler.models import Customer, Unit


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorResult:
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        out = [f"{'ok ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        out.append("ready to sync" if self.ok else "not ready: fix the lines marked FAIL")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [vars(c) for c in self.checks],
            "counts": self.counts,
        }


async def run_doctor(config: Config) -> DoctorResult:
    """Check both services with the keys from the environment."""
    from reconciler.connectors import from_config

    result = DoctorResult(checks=[Check("config", True, "loaded and valid")])
    try:
        kleanapp, sevdesk = from_config(config)
    except KleansyncError as exc:
        result.checks.append(Check("tokens", False, str(exc)))
        return result
    async with kleanapp, sevdesk:
        for connector in (kleanapp, sevdesk):
            try:
                await connector.check_auth()
            except KleansyncError as exc:
                result.checks.append(Check(connector.label, False, str(exc)))
                continue
            customers = await connector.list(Customer)
            units = await connector.list(Unit)
            active = sum(1 for r in customers.records if not r.record.archived)
            result.counts[connector.side] = {
                "customers": active,
                "units": len(units.records),
                "quarantined": len(customers.quarantined) + len(units.quarantined),
            }
            result.checks.append(
                Check(
                    connector.label,
                    True,
                    f"reachable, key accepted; {active} customers, {len(units.records)} units",
                )
            )
    return result
