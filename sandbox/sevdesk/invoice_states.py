"""sevDesk invoices after the draft: finalised (sendBy / sendViaEmail), cancelled, paid.

``sendBy`` finalises (status 200, number assigned) without e-mailing
anybody; with ``VPDF`` it also enshrines the invoice (no later edit).
Only ``sendViaEmail`` "sends" mail, and those mails are recorded in
``Store.emails_sent``. ``bookAmount`` books a payment on a check account: the
whole open amount makes an open (200) or partially paid (750) invoice paid
(1000), less makes it partially paid (750); anything else is refused with
422. ``cancelInvoice`` creates an ``SR`` invoice whose ``origin`` is the
original, numbered from the regular ``RE`` sequence and dated now, as a real
account answers it (jernoxit/sevdesk-rs tests/fixtures/write_invoice_cancel.json);
refusals the real sevDesk delivers inside HTTP 200 come the same way.
Drafts are made and changed in ``sandbox.sevdesk.invoices``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .invoice_records import CENT, invoice_sums, position_sums
from .invoices import get_invoice, parse_date, positions_of
from .store import SEV_CLIENT, Store, iso, now_ts, ref, render
from .wire import (
    ApiError,
    body,
    decimal,
    error_body,
    existing_ref,
    flag,
    number,
    one,
    require,
    text,
)

SEND_TYPES = ("VPR", "VP", "VM", "VPDF")
#: The send type that enshrines [obs: jernoxit/sevdesk-rs tests/fixtures/invoice_enshrined.json
#: and README "sendBy with VPDF enshrines it and assigns the number"].
ENSHRINING_SEND_TYPE = "VPDF"
#: [obs: jernoxit/sevdesk-rs src/error.rs KnownCode] 421 comes with HTTP 422,
#: 390 inside HTTP 200 (messages as in its tests/documents/lifecycle.rs).
ALREADY_CANCELLED = 421
PARTLY_PAID = 390
#: bookAmount ``type`` values [spec]; FULL_PAYMENT and N are plain payments.
BOOKING_TYPES = ("FULL_PAYMENT", "N", "CB", "CF", "O", "OF", "MTC")
#: Payment-difference reasons that settle the invoice although the amount is lower
#: (discount, currency fluctuation, other, monetary traffic costs) [spec type list].
WRITE_OFF_TYPES = ("CB", "CF", "O", "MTC")
OPEN, PARTIALLY_PAID, PAID = "200", "750", "1000"


def invoice_state_routes(store: Store) -> list[Route]:
    """The routes that finalise, cancel and book invoices, bound to one store."""

    def finalise(invoice: dict[str, Any], send_type: str) -> None:
        ts = now_ts()
        if invoice["status"] == "100":
            invoice["status"] = "200"
        if not invoice.get("invoiceNumber"):
            invoice["invoiceNumber"] = _next_number(store, invoice["invoiceType"])
            invoice["header"] = invoice.get("header") or f"Rechnung {invoice['invoiceNumber']}"
        invoice.update({"sendType": send_type, "sendDate": iso(ts), "_updated": ts})
        if send_type == ENSHRINING_SEND_TYPE and not invoice.get("enshrined"):
            invoice["enshrined"] = iso(ts)

    async def send_by(request: Request) -> JSONResponse:
        invoice = get_invoice(store, request.path_params["invoice_id"])
        data = await body(request)
        if data.get("sendType") not in SEND_TYPES or "sendDraft" not in data:
            raise ApiError(400, "sendType (VPR|VP|VM|VPDF) and sendDraft are required")
        if flag(data["sendDraft"]) == "0":
            finalise(invoice, data["sendType"])
        store.send_log.append(
            {
                "invoice": invoice["id"],
                "invoiceNumber": invoice.get("invoiceNumber"),
                "sendType": data["sendType"],
                "sendDraft": flag(data["sendDraft"]) == "1",
                "emailed": False,  # sendBy only marks as sent; it never mails anyone
            }
        )
        return one(invoice)

    async def send_via_email(request: Request) -> JSONResponse:
        invoice = get_invoice(store, request.path_params["invoice_id"])
        data = await body(request)
        require(data, ("toEmail", "subject", "text"))
        finalise(invoice, "VM")
        ts = now_ts()
        email = {
            "id": str(len(store.emails_sent) + 700_001),
            "objectName": "Email",
            "_created": ts,
            "_updated": ts,
            "object": ref(invoice["id"], "Invoice"),
            "from": store.sev_users[0]["email"],
            "to": str(data["toEmail"]),
            "subject": str(data["subject"]),
            "text": str(data["text"]),
            "sevClient": dict(SEV_CLIENT),
            "cc": text(data.get("ccEmail")),
            "bcc": text(data.get("bccEmail")),
            "arrived": None,
        }
        store.emails_sent.append(render(email) | {"invoiceNumber": invoice["invoiceNumber"]})
        store.send_log.append(
            {"invoice": invoice["id"], "invoiceNumber": invoice["invoiceNumber"], "sendType": "VM"}
            | {"sendDraft": False, "emailed": True}
        )
        return one(email, 201)

    async def cancel_invoice(request: Request) -> JSONResponse:
        invoice = get_invoice(store, request.path_params["invoice_id"])
        if invoice.get("_cancelled"):
            raise ApiError(422, "invoice already canceled", ALREADY_CANCELLED)
        if invoice["status"] == "100":
            raise ApiError(422, "Drafts cannot be cancelled; delete them instead")
        if invoice["invoiceType"] == "SR":
            raise ApiError(422, "A cancellation invoice cannot be cancelled")
        if invoice["status"] in (PARTIALLY_PAID, PAID):
            message = (
                "Partially Paid Invoices can not be deleted at the moment, "
                "book a credit invoice manually"
            )
            return JSONResponse(error_body(200, message, PARTLY_PAID), status_code=200)
        ts = now_ts()
        # As recorded: the next RE number, dated now, status 1000 with paidAmount 0
        # and no payDate, enshrined and "sent" as VPDF, sendDate null.
        storno = dict(invoice) | {
            "id": store.new_id("Invoice"),
            "_created": ts,
            "_updated": ts,
            "_invoice_ts": ts,
            "invoiceDate": iso(ts),
            "invoiceType": "SR",
            "origin": ref(invoice["id"], "Invoice"),
            "status": "1000",
            "invoiceNumber": _next_number(store, "SR"),
            "payDate": None,
            "paidAmount": 0,
            "sendDate": None,
            "sendType": ENSHRINING_SEND_TYPE,
            "enshrined": iso(ts),
        }
        storno["header"] = (
            f"Cancellation Invoice No. {storno['invoiceNumber']} "
            f"to Invoice No. {invoice['invoiceNumber']}"
        )
        copies = []
        for pos in positions_of(store, invoice["id"]):
            copy = dict(pos) | {"id": store.new_id("InvoicePos"), "_created": ts, "_updated": ts}
            copy["invoice"] = ref(storno["id"], "Invoice")
            copy["quantity"] = number(-Decimal(pos["quantity"]))
            position_sums(
                copy, -Decimal(pos["quantity"]), Decimal(pos["priceNet"]), Decimal(pos["taxRate"])
            )
            copies.append(copy)
        store.positions.update({c["id"]: c for c in copies})
        invoice_sums(storno, copies, per_position=store.tax_per_position)
        store.invoices[storno["id"]] = storno
        invoice.update({"_cancelled": True, "status": "1000", "_updated": ts})
        return one(storno, 201)

    async def book_amount(request: Request) -> JSONResponse:
        invoice = get_invoice(store, request.path_params["invoice_id"])
        data = await body(request)
        require(data, ("amount", "date", "type", "checkAccount"))
        if data["type"] not in BOOKING_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(BOOKING_TYPES)}")
        amount = decimal(data["amount"], "amount").quantize(CENT, ROUND_HALF_UP)
        booked_on = parse_date(data["date"], "date")
        account = existing_ref(
            data["checkAccount"], "CheckAccount", "checkAccount", store.check_account
        )
        transaction = data.get("checkAccountTransaction")
        if transaction is not None and (
            not isinstance(transaction, dict)
            or not transaction.get("id")
            or transaction.get("objectName") != "CheckAccountTransaction"
        ):
            raise ApiError(400, "checkAccountTransaction needs an id and objectName")
        if invoice["status"] not in (OPEN, PARTIALLY_PAID):
            state = "a draft" if invoice["status"] == "100" else "not open"
            raise ApiError(422, f"Invoice {invoice['id']} is {state} and cannot be booked")
        if amount <= 0:
            raise ApiError(422, "amount must be greater than 0")
        paid = Decimal(str(invoice["paidAmount"] or 0)) + amount
        settled = paid >= Decimal(invoice["sumGross"]) or data["type"] in WRITE_OFF_TYPES
        ts = now_ts()
        from_status = invoice["status"]
        invoice.update(status=PAID if settled else PARTIALLY_PAID, paidAmount=float(paid))
        invoice["_updated"] = ts
        if settled:
            invoice["payDate"] = iso(int(booked_on.timestamp()))
        log = {
            "id": store.new_id("InvoiceLog"),
            "objectName": "InvoiceLog",
            "additionalInformation": None,
            "_created": ts,
            # [spec] names the invoice reference "creditNote" (objectName "Invoice").
            "creditNote": ref(invoice["id"], "Invoice"),
            "fromStatus": from_status,
            "toStatus": invoice["status"],
            "ammountPayed": number(amount),
            "bookingDate": iso(int(booked_on.timestamp())),
            "sevClient": dict(SEV_CLIENT),
        }
        store.bookings.append(
            render(log)
            | {
                "type": data["type"],
                "checkAccount": account,
                "checkAccountTransaction": transaction,
            }
        )
        return one(log)

    return [
        Route("/Invoice/{invoice_id}/sendBy", send_by, methods=["PUT"]),
        Route("/Invoice/{invoice_id}/sendViaEmail", send_via_email, methods=["POST"]),
        Route("/Invoice/{invoice_id}/cancelInvoice", cancel_invoice, methods=["POST"]),
        Route("/Invoice/{invoice_id}/bookAmount", book_amount, methods=["PUT"]),
    ]


def _next_number(store: Store, kind: str) -> str:
    """The next number of the one regular sequence: invoices and cancellations share it.

    A cancellation takes ``RE-<next>`` like a regular invoice (recorded: RE-1080
    cancels RE-1079), so every later regular number shifts by one.
    """
    store.invoice_numbers["RE"] += 1
    return f"RE-{store.invoice_numbers['RE']}"
