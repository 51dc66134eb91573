"""``GET /healthz`` of ``kleansync serve``: is this installation keeping the two in agreement?

For an outside monitor: 503 when the state store does not answer, the last
run failed, no run completed for too long, an accepted webhook event has
waited over an hour to be acted on, or a service refuses kleansync's API key
(``api_keys``: which one; the problem line says where the new key goes).
"Too long" is two cron periods plus an hour unless
``ServiceSettings.health_max_age_seconds`` says otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconciler.service.jobs import COMPLETED
from reconciler.service.registration import WebhookRegistration
from reconciler.service.schedule import WallClockCron
from reconciler.service.settings import ServiceSettings
from reconciler.sync import rejected_keys
from state import Store
from state.inbox_tables import Inbox

#: /healthz turns 503 when an accepted webhook event has waited this long to be acted on.
INBOX_STUCK = dt.timedelta(hours=1)


class Health:
    """The ``/healthz`` verdict, from the run history, the inbox and the registration."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        store: Store,
        inbox: Inbox,
        registration: WebhookRegistration,
        trigger: WallClockCron,
        started_at: dt.datetime,
    ) -> None:
        self.settings = settings
        self.store = store
        self.inbox = inbox
        self.registration = registration
        self.trigger = trigger
        self.started_at = started_at

    def check(self, now: dt.datetime | None = None) -> tuple[dict[str, Any], bool]:
        """The ``/healthz`` body and verdict.

        Healthy: the state store answers, the last finished run did not fail
        (or get killed), and a run completed (``ok`` or ``errors``: both read
        both sides and applied what they could) within the max age, two cron
        periods plus an hour by default; before the first run ever, the
        service counts as healthy for that long after its start.
        """
        now = now or dt.datetime.now(dt.UTC)
        max_age = self._max_age(now)
        problems: list[str] = []
        body: dict[str, Any] = {
            "store": "ok",
            "webhook": self.registration.state,
            "last_run": None,
            "last_success_at": None,
            "last_success_age_seconds": None,
            "max_age_seconds": max_age.total_seconds(),
        }
        try:
            runs = self.store.runs(50, dry_run=False)
        except Exception as exc:  # noqa: BLE001 - that is the finding
            body["store"] = f"unreachable: {type(exc).__name__}"
            problems.append("the state store does not answer")
            runs = []
        if body["store"] == "ok":
            problems += self._inbox_health(body, now)
            problems += self._key_health(body)
        finished = [r for r in runs if r.outcome != "running"]
        if finished:
            last = finished[0]
            body["last_run"] = {
                "id": last.id,
                "trigger": last.trigger,
                "outcome": last.outcome,
                "started_at": last.started_at.isoformat(),
                "finished_at": last.finished_at.isoformat() if last.finished_at else None,
                "error": last.error,
            }
            if last.outcome not in COMPLETED:
                problems.append(f"the last run ended {last.outcome}")
        success = next((r for r in finished if r.outcome in COMPLETED), None)
        if success is not None:
            at = success.finished_at or success.started_at
            age = now - at
            body["last_success_at"] = at.isoformat()
            body["last_success_age_seconds"] = round(age.total_seconds(), 3)
            if age > max_age:
                problems.append(f"no completed run for {_human(age)}")
        elif body["store"] == "ok" and now - self.started_at > max_age:
            problems.append(
                f"no completed run since the service started {_human(now - self.started_at)} ago"
            )
        body["status"] = "unhealthy" if problems else "ok"
        body["problems"] = problems
        return body, not problems

    def _inbox_health(self, body: dict[str, Any], now: dt.datetime) -> list[str]:
        """``body["inbox"]``: accepted webhook events not done yet; a problem if one waits long."""
        try:
            pending = self.inbox.pending()
        except Exception:  # noqa: BLE001 - the store check above reports the store itself
            return []
        oldest = min((r.received_at for r in pending), default=None)
        if oldest is None:
            body["inbox"] = {"pending": len(pending), "oldest_pending_age_seconds": None}
            return []
        waited = now - oldest
        body["inbox"] = {
            "pending": len(pending),
            "oldest_pending_age_seconds": waited.total_seconds(),
        }
        if waited > INBOX_STUCK:
            return [f"{len(pending)} accepted webhook event(s) waiting for {_human(waited)}"]
        return []

    def _key_health(self, body: dict[str, Any]) -> list[str]:
        """``body["api_keys"]``: "rejected" for a service that refuses its key; a problem each.

        The problem is the refusal's own line (for sevDesk: where the new key goes).
        """
        try:
            refused = rejected_keys.rejected(self.store)
        except Exception:  # noqa: BLE001 - the store check above reports the store itself
            return []
        body["api_keys"] = {"kleanapp": "ok", "sevdesk": "ok"}
        for alert in refused:
            body["api_keys"][alert.key.removeprefix(rejected_keys.PREFIX).lower()] = "rejected"
        return [alert.message for alert in refused]

    def _max_age(self, now: dt.datetime) -> dt.timedelta:
        if self.settings.health_max_age_seconds is not None:
            return dt.timedelta(seconds=self.settings.health_max_age_seconds)
        first = self.trigger.get_next_fire_time(None, now)
        second = self.trigger.get_next_fire_time(first, first) if first else None
        period = (second - first) if first and second else dt.timedelta(days=1)
        return 2 * period + dt.timedelta(hours=1)


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"
