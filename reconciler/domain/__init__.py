"""The records, errors and secret registry every other package speaks in.

models (Customer, Unit, Invoice, Remote, Listing), errors (the error tree and
exit codes), bounds (how much of a record is quoted), secrets (``redact``),
i18n (the message catalogue: ``_``, ``ngettext``, German formats) and labels
(field names as the admin knows them).
May import: nothing else of ours (pydantic, Babel and the standard library only).
"""
