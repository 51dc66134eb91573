"""Stopping the service mid-run: the write in flight finishes, nothing after it starts.

In-process: a stop requested while the first write of a run is on the wire
(the transport asks for it as the request goes out) lets that write finish
and be journaled, applies nothing more, and leaves the cursors where they
were, so the next run (a restarted service) does the rest, creating nothing
twice.
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.connectors.sevdesk.connector import SevdeskConnector
from reconciler.service.runner import Service
from reconciler.sync.apply import STOPPED_REASON
from tests.service.conftest import SEV_API, SEV_TOKEN, World


class StopOnFirstWrite(httpx.AsyncBaseTransport):
    """Passes requests on; asks ``service`` to stop as the first write goes out."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.service: Service | None = None
        self.writes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            self.writes += 1
            if self.writes == 1 and self.service is not None:
                self.service.request_stop()
        return await self.inner.handle_async_request(request)


async def _contacts(sev: SevdeskConnector) -> list[str]:
    listing = await sev.customers.list_changed()
    return sorted(r.record.customer_number for r in listing.records)


async def test_a_stop_finishes_the_write_in_flight_and_the_next_start_resumes(
    world: World,
) -> None:
    transport = StopOnFirstWrite(httpx.ASGITransport(app=world.sev_app))
    async with SevdeskConnector(
        SEV_API, SEV_TOKEN, requests_per_second=10_000, transport=transport
    ) as sev:
        connectors: dict[str, Any] = {"kleanapp": world.ka, "sevdesk": sev}
        service = Service(
            world.config, settings=world.settings(), connectors=connectors, store=world.store
        )
        transport.service = service
        result = await service.jobs.sync("schedule")

        assert result.counts == {"customer.sevdesk.create": 1}
        assert [s["reason"] for s in result.skipped] == [STOPPED_REASON]
        assert not world.store.pending_journal()  # the write in flight was journaled done
        customers = [j for j in world.store.journal(result.run_id) if j.entity == "customer"]
        assert [j.state for j in customers] == ["done"]  # (plus its stable id, also done)
        assert world.store.cursor("kleanapp", "customer") is None  # not advanced past it
        assert await _contacts(sev) == ["K-00001"]
        assert await service.jobs.sync("schedule") is None  # a stopping service starts nothing
        await service.stop()

        restarted = Service(
            world.config, settings=world.settings(), connectors=connectors, store=world.store
        )
        again = await restarted.jobs.sync("schedule")
        assert again.counts == {"customer.sevdesk.create": 1} and not again.skipped
        assert await _contacts(sev) == ["K-00001", "K-00002"]
        assert len(world.store.links("customer")) == 2
        await restarted.stop()
