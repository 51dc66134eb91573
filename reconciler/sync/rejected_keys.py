"""A service that refuses kleansync's API key: said once, mailed once, shown until fixed.

Why: sevDesk issues a new API key whenever the user is saved in sevDesk, so
a key that worked last night is refused today, and every run after that
fails the same way until someone enters the new key. Every one of those runs
would mail its failed-run report; the admin would get the same e-mail every
night (and after every webhook-triggered run in between). So the refusal is
kept as an alert in the state store (``state.alert_tables``): the first failed
run mails its report, later ones with the key still refused do not, and
``serve``'s ``/healthz`` shows the refusal. The first run that completes (it
read both sides, so both keys were accepted) clears it, and a later refusal
is mailed again.

Never raises: a store that cannot keep the alert must not hide the run's own
error (the worst outcome is one mail too many).
"""

from __future__ import annotations

from loguru import logger

from reconciler.domain.errors import AuthError
from state import Store
from state.alert_tables import Alert, Alerts

PREFIX = "rejected_key:"


def key_of(service: str) -> str:
    return f"{PREFIX}{service}"


def note_failure(store: Store, exc: BaseException) -> str | None:
    """Keep a rejected key as an alert; its alert key (None if ``exc`` is no rejected key)."""
    if not isinstance(exc, AuthError) or not exc.service:
        return None
    key = key_of(exc.service)
    try:
        Alerts(store).raise_(key, exc.message)
    except Exception as err:  # noqa: BLE001 - the run's own error is the one to report
        logger.warning("could not keep the rejected-key alert: {}", type(err).__name__)
        return None
    return key


def note_completed(store: Store) -> None:
    """A run read both sides: neither key is refused (any more)."""
    try:
        cleared = Alerts(store).clear(PREFIX)
    except Exception as err:  # noqa: BLE001 - only the alert is lost
        logger.warning("could not clear the rejected-key alert: {}", type(err).__name__)
        return
    if cleared:
        logger.info("the API key is accepted again")


def already_mailed(store: Store, key: str) -> bool:
    try:
        return any(a.key == key and a.mailed_at is not None for a in Alerts(store).open(key))
    except Exception:  # noqa: BLE001 - when in doubt, mail
        return False


def mark_mailed(store: Store, key: str) -> None:
    try:
        Alerts(store).mark_mailed(key)
    except Exception as err:  # noqa: BLE001 - the next run mails again: one too many, not none
        logger.warning("could not note the rejected-key e-mail: {}", type(err).__name__)


def rejected(store: Store) -> list[Alert]:
    """The keys refused now, one alert per service (for ``/healthz``)."""
    return Alerts(store).open(PREFIX)
