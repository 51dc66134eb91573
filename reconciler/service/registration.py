"""The receiver's registration with KleanApp: is ``POST /webhooks/kleanapp`` subscribed?

KleanApp only delivers to receivers registered through its API. The service
registers its own on start (``kleansync serve`` with ``[webhooks] public_url``
and a secret) and, should that fail (KleanApp down, say), again on every
invoice poll until it worked. ``state`` is what ``/healthz`` reports:

* ``disabled``: no secret, so no receiver at all;
* ``manual``: a secret but no public URL: an admin registers the receiver by hand;
* ``pending``: due, or the last attempt failed (the next poll tries again);
* ``registered`` (by this start) or ``present`` (registered before).
"""

from __future__ import annotations

from typing import Any, Protocol

from loguru import logger

from reconciler.domain.errors import KleansyncError
from reconciler.service.settings import ServiceSettings
from reconciler.service.webhooks import EVENTS


class WebhookApi(Protocol):
    """The part of KleanApp's connector that manages webhook receivers."""

    async def list_webhooks(self) -> list[dict[str, Any]]: ...

    async def register_webhook(self, url: str, events: list[str], secret: str) -> Any: ...

    async def delete_webhook(self, webhook_id: str) -> None: ...


class WebhookRegistration:
    """Keeps the receiver registered with KleanApp; ``state`` says how it stands."""

    def __init__(self, settings: ServiceSettings, kleanapp: WebhookApi) -> None:
        self.settings = settings
        self.kleanapp = kleanapp
        self.state = (
            "disabled" if not settings.secret else "pending" if settings.receiver_url else "manual"
        )

    @property
    def due(self) -> bool:
        """Registering is still to be done (or to be tried again)."""
        return self.state == "pending"

    async def ensure(self) -> str:
        """Register the receiver with KleanApp unless it already is; the new ``state``.

        ``present``, ``registered``, or ``pending`` after a failure (retried by
        the next poll); without public_url and secret nothing is done. A registration
        under our URL with another secret or fewer events is replaced.
        """
        url, secret = self.settings.receiver_url, self.settings.secret
        if not url or not secret:
            return self.state
        kleanapp = self.kleanapp
        try:
            hooks = await kleanapp.list_webhooks()
            mine = [h for h in hooks if h.get("url") == url]
            good = [
                h
                for h in mine
                if set(EVENTS) <= set(h.get("events") or ()) and h.get("secret") in (None, secret)
            ]
            if not good:
                await kleanapp.register_webhook(url, list(EVENTS), secret)
                logger.info("registered the webhook receiver {} with KleanApp", url)
            for stale in [h for h in mine if h not in good[:1]]:
                await kleanapp.delete_webhook(str(stale["id"]))
            self.state = "present" if good else "registered"
        except KleansyncError as exc:
            logger.warning("could not register the webhook with KleanApp (retrying): {}", exc)
            self.state = "pending"
        return self.state
