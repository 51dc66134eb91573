"""The webhook receiver: signed deliveries only, each acted on once, in the background.

KleanApp's emulator delivers to the service's app in-process (see conftest),
signing with the secret the service registered; forged and repeated
deliveries are posted straight to the receiver, as an attacker or a
retrying KleanApp would.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest

from reconciler.domain.errors import ConfigError
from reconciler.service.runner import Service, ServiceSettings, serve
from reconciler.service.webhooks import sign
from state.invoice_tables import InvoiceLedger, InvoiceRun
from state.service_tables import DeliveryLog
from tests.service.conftest import PUBLIC_URL, SECRET, World, eventually

# English: this file is about what the messages say (German: tests/i18n, tests/cli).
pytestmark = pytest.mark.usefixtures("english")

RECEIVER = "/webhooks/kleanapp"


def _event(name: str, record_id: int, data: dict | None = None) -> bytes:
    """A KleanApp event that just happened (inside the receiver's freshness window)."""
    occurred = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {
        "event": name,
        "id": record_id,
        "occurred_at": occurred,
        "data": data or {"id": record_id},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _headers(body: bytes, *, secret: str = SECRET, delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-KleanApp-Signature": sign(secret, body),
        "X-KleanApp-Delivery": delivery or uuid.uuid4().hex,
    }


def _runs(world: World, trigger: str) -> list[InvoiceRun]:
    return [r for r in InvoiceLedger(world.store).runs(100) if r.trigger == trigger]


async def test_serve_registers_its_webhook_once(world: World) -> None:
    await world.start()
    hooks = await world.ka.list_webhooks()
    assert [(h["url"], sorted(h["events"])) for h in hooks] == [
        (
            f"{PUBLIC_URL}/webhooks/kleanapp",
            ["customer.archived", "customer.saved", "invoice.saved", "unit.saved"],
        )
    ]
    assert world.service.registration.state == "registered"
    # A restart finds it and registers nothing new.
    assert await world.service.registration.ensure() == "present"
    assert len(await world.ka.list_webhooks()) == 1


async def test_a_rotated_secret_replaces_the_old_registration(world: World) -> None:
    await world.ka.register_webhook(
        f"{PUBLIC_URL}/webhooks/kleanapp", ["invoice.saved"], "an-old-secret-0123456789"
    )
    await world.start()
    hooks = await world.ka.list_webhooks()
    assert len(hooks) == 1 and hooks[0]["secret"] == SECRET and len(hooks[0]["events"]) == 4


async def test_a_saved_invoice_reaches_sevdesk_through_the_webhook(synced: World) -> None:
    world = synced
    await world.start()
    invoice = await world.save_invoice()

    (sev,) = await eventually(
        lambda: world.sev_invoices_for(invoice["id"]), what="the invoice in sevDesk"
    )
    linked = await eventually(
        lambda: _linked(world, invoice["id"]), what="the KleanApp invoice linked"
    )
    assert linked.sevdesk_id == str(sev["id"])
    # Linking fires invoice.saved once more; that export finds it done and sends nothing.
    deliveries = await world.deliveries()
    assert [(d["event"], d["state"], d["last_status"]) for d in deliveries] == [
        ("invoice.saved", "delivered", 202)
    ] * 2
    await eventually(lambda: _idle(world), what="the second export")
    assert len(await world.sev_invoices_for(invoice["id"])) == 1


async def _idle(world: World) -> bool:
    jobs = world.service.jobs
    return jobs._exports.empty() and not jobs._work and not jobs._export_waiters


async def _linked(world: World, invoice_id: int):
    row = InvoiceLedger(world.store).get(str(invoice_id))
    return row if row is not None and row.state == "linked" else None


async def _unannounced_invoice(world: World) -> tuple[dict, bytes]:
    """A started service, an invoice KleanApp saved without a webhook, and its event's body."""
    await world.start()
    await world.ka_ctl.post("/webhooks", json={"enabled": False})
    invoice = await world.save_invoice()  # KleanApp sends nothing: the test posts the event
    return invoice, _event("invoice.saved", invoice["id"], invoice)


async def test_a_forged_signature_gets_401_and_nothing_is_exported(synced: World) -> None:
    world = synced
    invoice, body = await _unannounced_invoice(world)  # only the forger sends it
    async with world.receiver() as client:
        forged = await client.post(RECEIVER, content=body, headers=_headers(body, secret="x" * 32))
        unsigned = await client.post(RECEIVER, content=body)
        tampered_body = _event("invoice.saved", invoice["id"] + 1)
        tampered = await client.post(RECEIVER, content=tampered_body, headers=_headers(body))

    assert (forged.status_code, unsigned.status_code, tampered.status_code) == (401, 401, 401)
    assert await _idle(world)  # refused before anything was queued
    assert await world.sev_invoices_for(invoice["id"]) == []
    assert InvoiceLedger(world.store).get(str(invoice["id"])) is None
    assert _runs(world, "webhook") == []
    assert world.service.metrics.webhooks.labels("rejected")._value.get() == 3


async def test_the_inbox_retry_leaves_an_export_in_flight_alone(synced: World) -> None:
    # The inbox hands its pending events to their jobs again (at start, then every retry
    # interval). An event whose export is running is that export's to settle: handed over
    # again, it was exported a second time (a second run, seen in CI on a busy machine).
    world = synced
    invoice, body = await _unannounced_invoice(world)
    jobs = world.service.jobs

    async def running() -> bool:
        return jobs._exporting is not None

    async with jobs._writer:  # the export starts and waits, as it does behind a sync
        async with world.receiver() as client:
            sent = await client.post(RECEIVER, content=body, headers=_headers(body))
        assert sent.status_code == 202
        await eventually(running, what="the export to start")
        assert world.service.inbox_worker.dispatch_pending() == 1  # pending until it ran

    await eventually(lambda: _linked(world, invoice["id"]), what="the export")
    await eventually(lambda: _idle(world), what="the exports to end")
    assert len(_runs(world, "webhook")) == 1
    assert len(await world.sev_invoices_for(invoice["id"])) == 1


async def test_the_same_delivery_twice_exports_once(synced: World) -> None:
    world = synced
    invoice, body = await _unannounced_invoice(world)
    headers = _headers(body, delivery="delivery-0001")
    async with world.receiver() as client:
        first = await client.post(RECEIVER, content=body, headers=headers)
        again = await client.post(RECEIVER, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"status": "duplicate"}

    await eventually(lambda: _linked(world, invoice["id"]), what="the export")
    assert len(await world.sev_invoices_for(invoice["id"])) == 1
    assert len(_runs(world, "webhook")) == 1  # the repeat never reached the exporter
    assert world.service.metrics.webhooks.labels("duplicate")._value.get() == 1
    assert DeliveryLog(world.store).seen("delivery-0001")


async def test_webhook_and_poll_seeing_one_invoice_export_it_once(synced: World) -> None:
    world = synced
    await world.start()
    invoice = await world.save_invoice()  # the webhook path
    await world.service.jobs.poll()  # and the poll path, queued behind it
    await eventually(lambda: _linked(world, invoice["id"]), what="the export")
    await world.service.jobs.poll()
    assert len(await world.sev_invoices_for(invoice["id"])) == 1


async def test_with_webhooks_off_the_poll_exports_within_one_interval(synced: World) -> None:
    world = synced
    await world.ka_ctl.post("/webhooks", json={"enabled": False})
    await world.start(poll_interval_seconds=0.2)
    invoice = await world.save_invoice()
    assert await world.deliveries() == []

    await eventually(lambda: world.sev_invoices_for(invoice["id"]), what="the polled export")
    await eventually(lambda: _linked(world, invoice["id"]), what="the link")
    assert _runs(world, "poll")
    assert _runs(world, "webhook") == []


async def test_invoices_from_before_the_first_start_are_not_exported_by_surprise(
    synced: World,
) -> None:
    """The poll starts at the first start; history is exported on purpose, by hand."""
    world = synced
    await world.ka_ctl.post("/webhooks", json={"enabled": False})
    old = await world.save_invoice()
    # Saved an hour before the service was first started.
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    world.ka_app.store.invoices[old["id"]].updated_at = an_hour_ago
    await world.start()
    new = await world.save_invoice(number="K-00002")
    await world.service.jobs.poll()
    assert len(await world.sev_invoices_for(new["id"])) == 1
    assert await world.sev_invoices_for(old["id"]) == []


async def test_a_burst_of_customer_events_makes_one_sync_run(synced: World) -> None:
    world = synced
    await world.start(debounce_seconds=1.0)
    ids = world.customer_ids
    for n, number in enumerate(("K-00001", "K-00002", "K-00001")):
        response = await world.ka.http.request(
            "PATCH", f"customers/{ids[number]}", json={"phone": f"0221 5550{n}"}
        )
        assert response.status_code == 200, response.text
    assert len(await world.deliveries()) == 3

    run = await eventually(lambda: _finished_run(world, "webhook"), what="the webhook run")
    assert run.counts == {"customer.sevdesk.update": 2}
    assert not world.service.jobs._reconcile_wanted.is_set()  # nothing else pending
    assert [r.trigger for r in world.store.runs() if r.trigger == "webhook"] == ["webhook"]


async def _finished_run(world: World, trigger: str):
    runs = [r for r in world.store.runs() if r.trigger == trigger and r.outcome != "running"]
    return runs[0] if runs else None


async def test_an_invoice_for_a_customer_not_yet_in_sevdesk_takes_the_customer_along(
    world: World,
) -> None:
    """New customer and first invoice saved together: both go out on the first try (issue 19)."""
    await world.start(debounce_seconds=0.1)
    invoice = await world.save_invoice()  # no sync has run: K-00001 is not in sevDesk
    await eventually(lambda: world.sev_invoices_for(invoice["id"]), what="the export")
    await eventually(lambda: _linked(world, invoice["id"]), what="the link")
    carried = [r for r in world.store.runs() if r.trigger == "invoice"]
    assert [r.counts for r in carried] == [{"customer.sevdesk.create": 1}]  # that customer only
    first_try = _runs(world, "webhook")[-1]
    assert first_try.counts["held"] == 0 and first_try.counts["exported"] == 1


async def test_while_stopping_a_delivery_is_refused_so_kleanapp_retries_it(world: World) -> None:
    await world.start()
    world.service.request_stop()
    body = _event("invoice.saved", 1)
    async with world.receiver() as client:
        response = await client.post(RECEIVER, content=body, headers=_headers(body, delivery="d-1"))
    assert response.status_code == 503
    assert not DeliveryLog(world.store).seen("d-1")  # a retry after the restart is accepted


def test_settings_come_from_the_webhooks_section(monkeypatch) -> None:
    hooks = SimpleNamespace(
        public_url="https://sync.example.de/",
        secret_env="KLEANSYNC_TEST_WEBHOOK_SECRET",
        listen_host="0.0.0.0",
        listen_port=9000,
        debounce_seconds=2,
    )
    config = SimpleNamespace(webhooks=hooks)
    monkeypatch.setenv("KLEANSYNC_TEST_WEBHOOK_SECRET", SECRET)
    settings = ServiceSettings.from_config(config)
    assert settings.receiver_url == "https://sync.example.de/webhooks/kleanapp"
    assert (settings.secret, settings.listen_host, settings.listen_port) == (
        SECRET,
        "0.0.0.0",
        9000,
    )
    assert settings.debounce_seconds == 2.0

    monkeypatch.setenv("KLEANSYNC_TEST_WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        ServiceSettings.from_config(config)
    monkeypatch.delenv("KLEANSYNC_TEST_WEBHOOK_SECRET")
    with pytest.raises(ConfigError, match="KLEANSYNC_TEST_WEBHOOK_SECRET is not set"):
        ServiceSettings.from_config(config)
    # Without the section (or the secret): no receiver, no registration.
    plain = ServiceSettings.from_config(SimpleNamespace())
    assert (plain.secret, plain.receiver_url, plain.listen_port) == (None, None, 8800)


async def test_without_a_secret_the_receiver_refuses_everything(world: World) -> None:
    await world.start(secret=None, public_url=None)
    assert world.service.registration.state == "disabled"
    assert await world.ka.list_webhooks() == []
    body = _event("invoice.saved", 1)
    async with world.receiver() as client:
        response = await client.post(RECEIVER, content=body, headers=_headers(body))
    assert response.status_code == 503


async def test_serve_refuses_a_port_in_use(world: World) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = Service(
            world.config,
            settings=world.settings(listen_port=port),
            connectors=world.connectors,
            store=world.store,
        )
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve(world.config, service=service, handle_signals=False)


async def test_a_payment_booked_in_sevdesk_is_shown_in_kleanapp_after_one_poll(
    synced: World,
) -> None:
    """Issue 19: serve's poll brings payment status back (sevDesk has no webhooks)."""
    world = synced
    await world.start()
    invoice = await world.save_invoice()
    await eventually(lambda: _linked(world, invoice["id"]), what="the export")
    [sev] = await world.sev_invoices_for(invoice["id"])
    booked = await world.sev_http.put(
        f"/Invoice/{sev['id']}/sendBy", json={"sendType": "VPR", "sendDraft": False}
    )
    assert booked.status_code == 200, booked.text
    body = {
        "amount": sev["sumGross"],
        "date": "09.03.2026",
        "type": "FULL_PAYMENT",
        "checkAccount": {"id": "600001", "objectName": "CheckAccount"},
    }
    paid = await world.sev_http.put(f"/Invoice/{sev['id']}/bookAmount", json=body)
    assert paid.status_code == 200, paid.text

    await world.service.jobs.poll()

    export = (await world.ka.get_invoice(str(invoice["id"]))).record
    assert export.accounting_status == "paid"
    assert export.paid_amount == Decimal(sev["sumGross"])
