"""The fleet's webhook receiver (``kleansync serve --fleet``): every tenant's KleanApp events.

One public URL per tenant, ``POST /webhooks/kleanapp/{tenant}``, served by one process
for the whole fleet (any number of them behind a load balancer: a delivery is stored in
the database, nothing is held in the process). For each delivery:

1. the tenant's registry row (``state.tenant_tables``): an unknown or disabled tenant is
   404, the same for both, so the answer does not tell which names exist; German text for
   a person's browser, JSON for KleanApp and other machines;
2. the tenant's webhook secret, named by the row (``webhook_secret_name``: by convention
   ``KLEANAPP_WEBHOOK_SECRET_<NAME>``), from the environment or the secrets directory;
   none: 503 (KleanApp retries; the log names the missing variable, never a value);
3. the checks of every receiver (``reconciler.service.admission``: signature while the
   body streams, size cap, freshness, duplicates), against that secret only, so one
   tenant's secret can never sign for another;
4. the event stored in *that tenant's* durable inbox (its schema), before the 2xx;
5. ``on_delivery(tenant)``: the fleet's hook to have the tenant's inbox drained (the
   worker defers its drain job there). It is called after the event is on disk, so a
   hook that fails loses nothing: the answer is still 202 and the inbox still holds the
   event for the next drain.

Why a process of its own (``--fleet``) and not the single-company ``serve``: a fleet's
receiver runs no syncs (the workers do), reads no ``[kleanapp]``/``[sevdesk]`` of its
config, and has no tenant of its own; the config only names the fleet's database
(``[state]``) and where to listen (``[webhooks]``), as for ``kleansync tenants``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reconciler.domain.i18n import _
from reconciler.domain.secrets import register_secret
from reconciler.domain.tenant_secrets import Secrets
from reconciler.service.admission import admit
from reconciler.service.settings import ServiceSettings
from reconciler.service.webhooks import RECEIVER_PATH
from state import Store
from state.inbox_tables import Inbox
from state.tenancy import TENANT_NAME
from state.tenant_tables import Tenant, webhook_secret_name

#: Where KleanApp delivers one tenant's events in fleet mode.
FLEET_RECEIVER_PATH = RECEIVER_PATH + "/{tenant}"

#: Called with the tenant's name once its event is in its inbox (sync or async).
OnDelivery = Callable[[str], None | Awaitable[None]]
#: A secret's value by its name (None: not set): ``Secrets(directory).get``.
SecretSource = Callable[[str], str | None]


def log_delivery(tenant: str) -> None:
    """The default ``on_delivery``: nobody to tell (no worker wired), so only a log line."""
    logger.debug("webhook event stored in tenant {}'s inbox (no worker to tell)", tenant)


class FleetReceiver:
    """The Starlette ``app`` receiving every tenant's webhooks (see the module).

    ``fleet``: the unscoped store of the fleet's database (the registry); each tenant's
    inbox shares its connections (``Store.sharing``).
    """

    def __init__(
        self,
        fleet: Store,
        settings: ServiceSettings,
        *,
        secrets: SecretSource | None = None,
        on_delivery: OnDelivery = log_delivery,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self.secrets = secrets or Secrets().get
        self.on_delivery = on_delivery
        self.stop = stop or asyncio.Event()
        self._inboxes: dict[str, Inbox] = {}
        #: Deliveries by outcome, for /healthz (and the tests).
        self.counts: dict[str, int] = {}
        self.app = Starlette(
            routes=[
                Route(FLEET_RECEIVER_PATH, self.receive, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
            ]
        )

    def _tenant(self, name: str) -> Tenant | None:
        """The enabled tenant called ``name``, or None (unknown, disabled, not a name)."""
        if not TENANT_NAME.fullmatch(name):
            return None
        with self.fleet.session() as s:
            row = s.get(Tenant, name)
        return row if row is not None and row.enabled else None

    def inbox(self, tenant: str) -> Inbox:
        inbox = self._inboxes.get(tenant)
        if inbox is None:
            inbox = self._inboxes[tenant] = Inbox(Store.sharing(self.fleet, tenant))
        return inbox

    async def receive(self, request: Request) -> Response:
        name = request.path_params["tenant"]
        if self.stop.is_set():
            # Not remembered: KleanApp retries it, and the restarted receiver takes it.
            return JSONResponse({"error": "stopping"}, status_code=503)
        tenant = self._tenant(name)
        if tenant is None:
            return self._no_tenant(request, name)
        secret_name = webhook_secret_name(tenant)
        secret = self.secrets(secret_name)
        if not secret:
            self._count("unconfigured")
            logger.warning(
                "webhook for tenant {} refused (503): {} is not set (its webhook secret)",
                name,
                secret_name,
            )
            return JSONResponse(
                {"error": "webhooks are not configured for this tenant", "tenant": name},
                status_code=503,
            )
        register_secret(secret)  # masked wherever kleansync prints text from now on
        verdict = await admit(
            request, secret=secret, settings=self.settings, inbox=self.inbox(name)
        )
        self._count(verdict.result)
        if verdict.result == "accepted":
            await self._tell(name)
        elif verdict.result != "duplicate":
            logger.warning(
                "webhook for tenant {} refused ({}): {}", name, verdict.status, verdict.why
            )
        return JSONResponse({**verdict.body, "tenant": name}, status_code=verdict.status)

    async def _tell(self, tenant: str) -> None:
        try:
            told = self.on_delivery(tenant)
            if inspect.isawaitable(told):
                await told
        except Exception as exc:  # noqa: BLE001 - the event is stored; the next drain takes it
            logger.warning(
                "webhook for tenant {} stored, but telling the workers failed ({}: {}); the "
                "next drain of its inbox takes it",
                tenant,
                type(exc).__name__,
                exc,
            )

    def _no_tenant(self, request: Request, name: str) -> Response:
        self._count("unknown_tenant")
        logger.info("webhook for unknown or disabled tenant {!r} refused (404)", name[:60])
        accept = request.headers.get("accept", "")
        if "text/html" in accept or ("text/plain" in accept and "json" not in accept):
            return PlainTextResponse(
                _(
                    "There is no enabled tenant %(name)s on this kleansync installation.",
                    name=name[:60],
                ),
                status_code=404,
            )
        return JSONResponse({"error": "unknown or disabled tenant", "tenant": name[:60]}, 404)

    def _count(self, result: str) -> None:
        self.counts[result] = self.counts.get(result, 0) + 1

    async def healthz(self, request: Request) -> Response:
        """200 while the registry answers (the receiver's one dependency), else 503."""
        try:
            with self.fleet.session() as s:
                s.get(Tenant, "_")
        except Exception as exc:  # noqa: BLE001 - the answer is the verdict
            return JSONResponse({"status": "failing", "problem": type(exc).__name__}, 503)
        return JSONResponse({"status": "ok", "webhooks": self.counts})


async def serve_fleet(receiver: FleetReceiver, *, handle_signals: bool = True) -> int:
    """Serve ``receiver`` on ``[webhooks] listen_host:listen_port`` until SIGTERM/SIGINT."""
    import signal

    import uvicorn

    from reconciler.service.runner import QuietServer, listening_socket

    settings = receiver.settings
    sock = listening_socket(settings)
    server = QuietServer(
        uvicorn.Config(
            receiver.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        receiver.stop.set()  # new deliveries: 503, so KleanApp retries them elsewhere
        server.should_exit = True

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
    try:
        logger.info(
            "kleansync serve --fleet: listening on http://{}:{} (webhooks at {})",
            settings.listen_host,
            sock.getsockname()[1],
            FLEET_RECEIVER_PATH,
        )
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return 0
