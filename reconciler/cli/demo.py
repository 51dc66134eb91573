"""``kleansync demo``: the whole product on a fresh machine, with no keys.

Starts both emulators on free loopback ports, seeds a cleaning company whose
customers were typed independently in both systems, and runs the engine
exactly as in production (real HTTP, real state store):

1. the first sync as a dry-run, then for real (activation: links, creates);
2. everyday edits on both sides, through the public APIs, including edits of
   different fields of one customer and one same-field conflict, plus a unit
   KleanApp has and sevDesk lacks;
3. the dry-run plan of those edits, then the sync;
4. one more sync, which must change nothing.

Everything it writes (config, state store, reports) stays in ``workdir``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from reconciler.cli.demo_invoices import InvoiceChapter
from reconciler.config import load_config
from reconciler.domain.i18n import _, format_number
from reconciler.sync.engine import SyncOptions, sync_from_config
from reconciler.sync.report import RunResult
from sandbox.client import polite_client
from sandbox.seed import cleaning_company
from sandbox.serve import SandboxThread, endpoints

Echo = Callable[[str], None]


class DemoFailed(RuntimeError):
    """The demo's run did not do what it promises (its message is for the person watching)."""


def _config_text(sevdesk_url: str, kleanapp_url: str) -> str:
    return f"""# written by `kleansync demo`: both services are the local emulators
[sevdesk]
base_url = "{sevdesk_url}"
token_env = "KLEANSYNC_DEMO_SEVDESK_TOKEN"
requests_per_second = 40

[kleanapp]
base_url = "{kleanapp_url}"
token_env = "KLEANSYNC_DEMO_KLEANAPP_TOKEN"
requests_per_second = 9

[state]
url = "sqlite:///kleansync-demo.db"

[rules]
default = "last-write-wins"

[report]
dir = "reports"
"""


class Demo:
    def __init__(self, workdir: Path, echo: Echo) -> None:
        self.workdir = workdir
        self.echo = echo
        self.tokens = {"sevdesk": secrets.token_hex(16), "kleanapp": secrets.token_hex(16)}

    def run(self) -> int:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in self.workdir.glob("kleansync-demo.db*"):
            stale.unlink()
        eps = endpoints(
            sevdesk_port=0,
            kleanapp_port=0,
            sevdesk_token=self.tokens["sevdesk"],
            kleanapp_token=self.tokens["kleanapp"],
        )
        with SandboxThread(eps):
            sev, klean = eps
            self.echo(_("sevDesk emulator:  %(url)s", url=sev.base_url))
            self.echo(_("KleanApp emulator: %(url)s", url=klean.base_url))
            config_path = self.workdir / "config.toml"
            config_path.write_text(_config_text(sev.base_url, klean.base_url), encoding="utf-8")
            os.environ["KLEANSYNC_DEMO_SEVDESK_TOKEN"] = self.tokens["sevdesk"]
            os.environ["KLEANSYNC_DEMO_KLEANAPP_TOKEN"] = self.tokens["kleanapp"]
            self.config = load_config(config_path)
            self.sev = polite_client(sev.base_url, self.tokens["sevdesk"])
            self.klean = polite_client(klean.base_url, f"Bearer {self.tokens['kleanapp']}")
            root = lambda url: url.removesuffix("/api/v1")  # noqa: E731
            self.sev_root, self.klean_root = root(sev.base_url), root(klean.base_url)
            with self.sev, self.klean:
                self._seed()
                self._step(_("1. first sync (activation), dry-run"), dry_run=True)
                self._step(_("1. first sync (activation)"))
                self._edit()
                plan = self._step(_("2. after everyday edits, dry-run"), dry_run=True)
                done = self._step(_("2. after everyday edits"))
                if done.counts != plan.counts:
                    raise DemoFailed(
                        _(
                            "the run did %(done)s, the dry-run said %(planned)s",
                            done=done.counts,
                            planned=plan.counts,
                        )
                    )
                again = self._step(_("3. once more: nothing may change"))
                if again.counts:
                    raise DemoFailed(
                        _("the second run still changed %(counts)s", counts=again.counts)
                    )
                InvoiceChapter(self).run()  # 4. and 5.: invoices (reconciler.cli.demo_invoices)
        took = format_number(time.monotonic() - started, decimals=1)
        self.echo("\n" + _("demo finished in %(seconds)s s", seconds=took))
        self.echo(_("report of the last run: %(path)s", path=self.last_report))
        reports = self.workdir.resolve() / "reports"
        self.echo(_("all reports (HTML, JSON, CSV): %(path)s", path=reports))
        return 0

    # -- steps -----------------------------------------------------------------
    def _seed(self) -> None:
        data = cleaning_company()
        r = httpx.post(f"{self.klean_root}/_sandbox/bulk", json={"customers": data.kleanapp})
        r.raise_for_status()
        r = httpx.post(f"{self.sev_root}/_sandbox/bulk", json={"contacts": data.sevdesk})
        r.raise_for_status()
        self.echo(
            _(
                "seeded %(kleanapp)s KleanApp customers and %(sevdesk)s sevDesk contacts, 150 "
                "of them the same customers typed independently",
                kleanapp=len(data.kleanapp),
                sevdesk=len(data.sevdesk),
            )
        )

    def _step(self, title: str, *, dry_run: bool = False) -> RunResult:
        self.echo(f"\n== {title}")
        started = time.monotonic()
        result = asyncio.run(
            sync_from_config(self.config, SyncOptions(dry_run=dry_run, trigger="demo"))
        )
        for line in result.summary_lines(self.config.schedule.timezone):
            self.echo(line)
        took = format_number(time.monotonic() - started, decimals=1)
        self.echo("  " + _("(%(seconds)s s; report %(path)s)", seconds=took, path=result.report))
        self.last_report = result.report
        if result.errors:
            raise DemoFailed(
                _(
                    "run %(run)s had errors: %(error)s",
                    run=result.run_id,
                    error=result.errors[0]["error"],
                )
            )
        return result

    def _contact(self, number: str) -> dict[str, Any]:
        rows = self.sev.get("Contact", params={"customerNumber": number, "depth": 1}).json()
        return next(r for r in rows["objects"] if r["customerNumber"] == number)

    def _klean_customer(self, number: str) -> dict[str, Any]:
        page = self.klean.get("customers", params={"per_page": 500}).json()
        return next(c for c in page["data"] if c["customer_number"] == number)

    def _edit(self) -> None:
        self.echo("\n== " + _("everyday edits through the public APIs"))
        c = self._klean_customer("K-10001")
        self.klean.patch(
            f"customers/{c['id']}",
            json={"email": "buero@neue-adresse.de"},
            headers={"If-Match": str(c["version"])},
        ).raise_for_status()
        self.echo(_("KleanApp: K-10001 gets a new e-mail address"))
        contact = self._contact("K-10002")
        self.sev.put(
            f"Contact/{contact['id']}", json={"description": "Rechnung bitte per Post"}
        ).raise_for_status()
        self.echo(_("sevDesk:  K-10002 gets a note"))
        c = self._klean_customer("K-10003")
        self.klean.patch(
            f"customers/{c['id']}",
            json={"mobile": "0171 5550123"},
            headers={"If-Match": str(c["version"])},
        ).raise_for_status()
        contact = self._contact("K-10003")
        addresses = self.sev.get(
            "ContactAddress",
            params={"contact[id]": contact["id"], "contact[objectName]": "Contact"},
        ).json()["objects"]
        self.sev.put(
            f"ContactAddress/{addresses[0]['id']}", json={"street": "Neue Straße 5"}
        ).raise_for_status()
        self.echo(_("both:     K-10003 mobile changed in KleanApp, street in sevDesk"))
        c = self._klean_customer("K-10004")
        self.klean.patch(
            f"customers/{c['id']}",
            json={"city": "Potsdam"},
            headers={"If-Match": str(c["version"])},
        ).raise_for_status()
        time.sleep(1.1)  # sevDesk stamps whole seconds: make "later" unambiguous
        contact = self._contact("K-10004")
        addresses = self.sev.get(
            "ContactAddress",
            params={"contact[id]": contact["id"], "contact[objectName]": "Contact"},
        ).json()["objects"]
        self.sev.put(
            f"ContactAddress/{addresses[0]['id']}", json={"city": "Cottbus"}
        ).raise_for_status()
        self.echo(_("conflict: K-10004 city set to Potsdam in KleanApp, then Cottbus in sevDesk"))
        self.klean.post(
            "customers",
            json={
                "kind": "company",
                "company_name": "Glasreinigung Sonnenschein GmbH",
                "email": "kontakt@sonnenschein.de",
                "city": "Berlin",
                "postal_code": "10115",
                "street": "Torstraße 1",
                "country": "DE",
            },
        ).raise_for_status()
        self.echo(_("KleanApp: a new customer, Glasreinigung Sonnenschein GmbH"))
        self.klean.post("units", json={"name": "Einsatz"}).raise_for_status()
        self.echo(_("KleanApp: a new unit 'Einsatz', which sevDesk does not have"))


def run_demo(workdir: Path, echo: Echo) -> int:
    return Demo(workdir, echo).run()
