"""End to end: KleanApp's signed webhook, ``serve --fleet``, a worker, the tenant's sevDesk.

Two processes as an installation runs them: ``kleansync serve --fleet`` (the receiver for
every tenant) and one ``kleansync worker``. Tenant alpha's KleanApp emulator is
subscribed to ``invoice.saved`` at ``/webhooks/kleanapp/alpha`` with alpha's webhook
secret and signs its deliveries itself; an invoice saved in it must end up in alpha's
sevDesk, once, with nobody enqueueing anything by hand: the receiver stores the event in
alpha's inbox and defers alpha's drain job, the worker's drain hands it to an on-save
export. Tenant beta's sevDesk gets nothing.
"""

from __future__ import annotations

import socket

import httpx

from state.inbox_tables import Inbox
from tests.fleet.conftest import (
    CLI,
    FleetWorld,
    kleanapp_client,
    on_postgres,
    save_invoice,
    wait_for,
)
from tests.fleet.test_inbox_drain_export import sev_invoices
from tests.fleet.test_two_tenants_two_workers import customer

SECRET = "alpha-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_receiver(world: FleetWorld, port: int) -> None:
    """``kleansync serve --fleet`` on ``port``; alpha's webhook secret in its environment."""
    import subprocess

    env = {**world.env, "KLEANAPP_WEBHOOK_SECRET_ALPHA": SECRET}
    log = (world.tmp / "serve.log").open("wb")
    args = ["serve", "--fleet", "-c", str(world.config), "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*CLI, *args, "--port", str(port)],
        cwd=world.tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    world.workers.append(proc)  # stopped with the workers when the test ends

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None  # exited: the wait ends, the assertion below says so

    wait_for(healthy, "serve --fleet to answer", timeout=240, world=world)
    assert proc.poll() is None, world.log("serve")


@on_postgres
def test_a_signed_webhook_becomes_the_invoice_in_its_tenants_sevdesk_only(
    fleet: FleetWorld,
) -> None:
    alpha, beta = fleet.tenants["alpha"], fleet.tenants["beta"]
    port = free_port()
    start_receiver(fleet, port)
    fleet.start_worker("w1")
    fleet.wait_workers(1)

    alpha.bulk("kleanapp", {"customers": [customer("K-00001", "Praxis Alpha 1")]})
    klean = kleanapp_client(alpha)
    hook = {
        "url": f"http://127.0.0.1:{port}/webhooks/kleanapp/alpha",
        "events": ["invoice.saved"],
        "secret": SECRET,
    }
    assert klean.post("webhooks", json=hook).status_code == 201
    (ka_customer,) = klean.get("customers").json()["data"]
    invoice_id = save_invoice(alpha, ka_customer["id"])

    note = f"kleanapp:{invoice_id}"
    wait_for(
        lambda: [i for i in sev_invoices(alpha) if i["customerInternalNote"] == note],
        "the invoice in alpha's sevDesk",
        world=fleet,
    )
    sandbox = alpha.root(alpha.kleanapp)

    def deliveries() -> list[dict]:
        return httpx.get(f"{sandbox}/_sandbox/deliveries", timeout=10).json()["data"]

    def settled() -> bool:
        """Exported and locked in KleanApp, every delivery answered, every job and event done.

        Locking the invoice (its export link) is a change KleanApp announces with another
        ``invoice.saved``: that event, too, must be received, drained and settled.
        """
        if not klean.get(f"invoices/{invoice_id}").json().get("locked"):
            return False
        if any(d["state"] == "pending" for d in deliveries()):
            return False
        if [j for j in fleet.jobs() if j["status"] in ("todo", "doing")]:
            return False
        store = fleet.store("alpha")
        try:
            return Inbox(store).pending() == []
        finally:
            store.close()

    wait_for(settled, "the delivery, the drain and the export all settled", world=fleet)
    assert len([i for i in sev_invoices(alpha) if i["customerInternalNote"] == note]) == 1
    answered = deliveries()
    assert answered and {(d["event"], d["state"], d["last_status"]) for d in answered} == {
        ("invoice.saved", "delivered", 202)
    }
    jobs = fleet.jobs()
    assert {(j["task_name"], j["args"]["tenant"]) for j in jobs} == {
        ("kleansync.drain_inbox", "alpha"),
        ("kleansync.export_invoice", "alpha"),
    }
    assert {j["status"] for j in jobs} == {"succeeded"}
    assert sev_invoices(beta) == []
    assert beta.contacts() == []
