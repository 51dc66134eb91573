"""The invoice export's newer English sentences, as ``reporting.phrases`` recognises them.

Kept beside ``phrases`` so that module stays readable: the sentences of
issue 19 (totals checked before a write, customers carried along, e-invoice
checks). ``phrases`` appends them to its patterns; the German is the
catalogue's. Where two patterns could both match, the more specific one
comes first (patterns are tried in order).
"""

from __future__ import annotations

from reconciler.domain.i18n import N_

INVOICE_PATTERNS: tuple[str, ...] = (
    N_(
        "KleanApp's totals (net %(net)s, gross %(gross)s) are not what sevDesk computes from "
        "the positions (net %(sev_net)s, gross %(sev_gross)s)"
    ),
    N_(
        "check the positions and totals of KleanApp invoice %(number)s: it is exported once "
        "they agree"
    ),
    N_("sevDesk computed other totals (%(problem)s); its draft was deleted again"),
    N_("book KleanApp invoice %(number)s in sevDesk by hand: its totals differ there by rounding"),
    # invoices/einvoice.py: what an e-invoice lacks (the more specific patterns first)
    N_("it cannot be an e-invoice yet: data is missing (see its tasks)"),
    N_("customer %(customer)s: e-mail address missing"),
    N_(
        "customer %(customer)s: Leitweg-ID (buyerReference) missing in sevDesk, which a public "
        "body needs"
    ),
    N_("customer %(customer)s: %(field)s missing"),
    N_(
        "payment method '%(name)s' does not exist in sevDesk: create it there or set [invoices] "
        "payment_method"
    ),
    N_(
        "unit '%(unit)s' has no UNECE code in sevDesk: set one there "
        "(Einstellungen → System → Einheiten)"
    ),
    N_(
        "unit '%(unit)s' has no UNECE code in sevDesk: set %(code)s there "
        "(Einstellungen → System → Einheiten)"
    ),
    N_("tax rule %(rule)s (OSS) is not allowed on e-invoices"),
    N_("company data in sevDesk: IBAN missing (Einstellungen → Unternehmen)"),
    N_("company data in sevDesk: BIC missing (Einstellungen → Unternehmen)"),
    N_("company data in sevDesk: tax number missing (Einstellungen → Unternehmen)"),
    N_("company data in sevDesk: e-mail address missing (Einstellungen → Unternehmen)"),
    N_("company data in sevDesk: phone number missing (Einstellungen → Unternehmen)"),
    N_("company data in sevDesk: street missing (Einstellungen → Unternehmen)"),
    N_("company data in sevDesk: postal code missing (Einstellungen → Unternehmen)"),
    N_("company data in sevDesk: city missing (Einstellungen → Unternehmen)"),
    N_("sevDesk refuses the e-invoice: %(item)s missing"),
    N_("sevDesk's e-invoice XML is not usable: %(problem)s; the invoice was not linked"),
    # invoices/lookups.py: a customer carried over with its invoice, but parked
    N_("customer %(customer)s looks like another customer and is parked for an admin's decision"),
    N_(
        "settle parked customer %(customer)s with %(decision)s: "
        "its invoices follow with the next export"
    ),
)
