"""The world the stateful test drives: both emulators in-process, the engine, a SQLite store.

Everything a "person" does here goes through the services' public APIs (the
connectors' calls, or plain HTTP for what a connector never does, such as
deleting one sevDesk address); the engine runs exactly as ``kleansync sync``
does, in this process. Two test-only hooks let the machine act *inside* a run:

* ``SandboxControl.after_response`` (sandbox/common.py): edits between two
  pages of a listing, as a person editing while a sync reads;
* ``reconciler.sync.apply.CRASH_HOOK``: a ``SimulatedCrash`` at a journal point,
  where ``KLEANSYNC_CRASH_AT`` would SIGKILL a real process. Unlike a kill,
  the run's ``finally`` blocks still run (the lock is released and the run is
  marked failed); the journal is left exactly as a kill leaves it.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx

from reconciler.config import parse_config
from reconciler.connectors.kleanapp.connector import KleanappConnector
from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.domain.models import Customer, Remote
from reconciler.sync.apply import CRASH_HOOK
from reconciler.sync.engine import SyncOptions, run_sync
from reconciler.sync.report import RunResult
from sandbox import kleanapp as kleanapp_sandbox
from sandbox import sevdesk as sevdesk_sandbox
from state import Store
from tests.adversarial.audit import AuditReport, audit_async

K_URL = "http://kleanapp.test/api/v1"
S_URL = "http://sevdesk.test/api/v1"
K_TOKEN = "stateful-kleanapp-token"
S_TOKEN = "stateful-sevdesk-token-0123456789"
T = TypeVar("T")
#: Listing paths a concurrent edit can wait for (customer listings of each side).
LISTING = {"kleanapp": "/api/v1/customers", "sevdesk": "/api/v1/Contact"}


class SimulatedCrash(BaseException):  # noqa: N818 - it is not an error the engine may catch
    """Raised by the crash hook at a journal point: the run stops there, as if killed."""


class World:
    """One sequence's services, engine and store (see module docstring)."""

    def __init__(self, rules: dict[str, Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="kleansync-stateful-"))
        self.k_app = kleanapp_sandbox.create_app(K_TOKEN, rate_limit_rps=None)
        self.s_app = sevdesk_sandbox.create_app(S_TOKEN)
        self.k = KleanappConnector(
            K_URL, K_TOKEN, requests_per_second=1e6, transport=httpx.ASGITransport(self.k_app)
        )
        self.s = SevdeskConnector(
            S_URL, S_TOKEN, requests_per_second=1e6, transport=httpx.ASGITransport(self.s_app)
        )
        self.conn = {"kleanapp": self.k, "sevdesk": self.s}
        self.store = Store(f"sqlite:///{self.tmp / 'state.db'}")
        self.config = parse_config(
            {
                "kleanapp": {"base_url": K_URL},
                "sevdesk": {"base_url": S_URL},
                "state": {"url": self.store.url},
                "report": {"dir": str(self.tmp / "reports")},
                "rules": rules,
                # Few customers: one archive is more than 10 %; the brake has its own tests.
                "sync": {"max_delete_fraction": 1.0, "units": "off"},
            }
        )
        self.s_http = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.s_app),
            base_url=S_URL + "/",
            headers={"Authorization": S_TOKEN},
        )
        self.k_http = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.k_app),
            base_url=K_URL + "/",
            headers={"Authorization": f"Bearer {K_TOKEN}"},
        )

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        async def shut() -> None:
            for client in (self.k, self.s, self.s_http, self.k_http):
                await client.aclose()

        self.run(shut())
        self.store.close()
        self.loop.close()

    # -- the engine ----------------------------------------------------------------
    async def sync(self, *, full: bool = False) -> RunResult:
        return await run_sync(
            self.config, SyncOptions(full=full), connectors=self.conn, store=self.store
        )

    async def sync_crashing_at(self, point: str, nth: int) -> bool:
        """One run that crashes the ``nth`` time it reaches ``point``; True if it crashed."""
        seen = 0

        def hook(name: str) -> None:
            nonlocal seen
            if name == point:
                seen += 1
                if seen == nth:
                    raise SimulatedCrash(point)

        token = CRASH_HOOK.set(hook)
        try:
            await self.sync()
        except SimulatedCrash:
            return True
        finally:
            CRASH_HOOK.reset(token)
        return False

    async def sync_with_edits_between_pages(
        self,
        side: str,
        after_page: int,
        edits: Callable[[], Coroutine[Any, Any, None]],
        *,
        full: bool = False,
    ) -> RunResult:
        """One run during which ``edits`` runs right after page ``after_page`` of ``side``'s
        customer listing was answered (or not at all if the listing is shorter)."""
        app = self.k_app if side == "kleanapp" else self.s_app
        pages = 0
        busy = False

        async def between(method: str, path: str, status: int) -> None:
            nonlocal pages, busy
            if busy or method != "GET" or path != LISTING[side]:
                return
            pages += 1
            if pages == after_page:
                busy = True  # the edits' own requests must not fire it again
                await edits()

        app.after_response.append(between)
        try:
            return await self.sync(full=full)
        finally:
            app.after_response.remove(between)

    # -- reading, independently ---------------------------------------------------------
    async def audit(self, expected: dict[str, Any] | None = None) -> AuditReport:
        return await audit_async(
            S_URL,
            S_TOKEN,
            K_URL,
            K_TOKEN,
            expected,
            sevdesk_transport=httpx.ASGITransport(self.s_app),
            kleanapp_transport=httpx.ASGITransport(self.k_app),
        )

    async def ids_by_number(self, side: str) -> dict[str, str]:
        """Customer number -> id on one side (KleanApp: archived ones too)."""
        listing = await self.conn[side].customers.list_changed()
        return {r.record.customer_number: r.id for r in listing.records if r.record.customer_number}

    async def get(self, side: str, id_: str) -> Remote[Customer]:
        return await self.conn[side].customers.get(id_)

    # -- what a person does -------------------------------------------------------------
    async def create(self, side: str, customer: Customer) -> Remote[Customer]:
        return await self.conn[side].customers.create(customer)

    async def update(self, side: str, id_: str, fields: dict[str, Any]) -> Remote[Customer]:
        return await self.conn[side].customers.update(id_, fields)

    async def archive(self, id_: str) -> None:
        await self.k.customers.delete(id_)

    async def restore(self, id_: str) -> None:
        response = await self.k_http.post(f"customers/{id_}/restore")
        assert response.status_code == 200, response.text

    async def sevdesk_ways(self, contact_id: str) -> list[dict[str, Any]]:
        """The contact's communication ways as sevDesk lists them."""
        params = {"contact[id]": contact_id, "contact[objectName]": "Contact"}
        return (await self.s_http.get("CommunicationWay", params=params)).json()["objects"]

    async def add_sevdesk_way(self, contact_id: str, kind: str, value: str) -> None:
        """One more communication way of ``kind``, not marked main (sevDesk's UI allows it);
        nothing if the contact already has this one."""
        rows = await self.sevdesk_ways(contact_id)
        if any(r.get("type") == kind and r.get("value") == value for r in rows):
            return
        body = {
            "type": kind,
            "value": value,
            "main": False,
            "contact": {"id": int(contact_id), "objectName": "Contact"},
            "key": {"id": 2, "objectName": "CommunicationWayKey"},
        }
        response = await self.s_http.post("CommunicationWay", json=body)
        assert response.status_code == 201, response.text

    async def set_sevdesk_number(self, contact_id: str, number: str) -> None:
        """Type a customer number into sevDesk, which does not check that it is free."""
        response = await self.s_http.put(f"Contact/{contact_id}", json={"customerNumber": number})
        assert response.status_code == 200, response.text

    async def fail_next(self, side: str, fault: dict[str, Any]) -> None:
        """The next request matching ``fault`` fails (``/_sandbox/faults``, sandbox/common.py)."""
        client = self.s_http if side == "sevdesk" else self.k_http
        root = (S_URL if side == "sevdesk" else K_URL).removesuffix("/api/v1")
        response = await client.post(f"{root}/_sandbox/faults", json={**fault, "times": 1})
        assert response.status_code == 201, response.text

    async def clear_faults(self) -> None:
        for client, base in ((self.s_http, S_URL), (self.k_http, K_URL)):
            await client.delete(f"{base.removesuffix('/api/v1')}/_sandbox/faults")

    async def delete_sevdesk_part(self, contact_id: str, part: str) -> dict[str, Any] | None:
        """Delete the contact's address ("address") or its way of type EMAIL/PHONE/MOBILE,
        as a bookkeeper does in sevDesk's UI; returns the row deleted (None: it has none)."""
        path = "ContactAddress" if part == "address" else "CommunicationWay"
        params = {"contact[id]": contact_id, "contact[objectName]": "Contact"}
        rows = (await self.s_http.get(path, params=params)).json()["objects"]
        rows = [r for r in rows if part == "address" or r.get("type") == part]
        if not rows:
            return None
        row = min(rows, key=lambda r: int(r["id"]))
        response = await self.s_http.delete(f"{path}/{row['id']}")
        assert response.status_code == 200, response.text
        return row
