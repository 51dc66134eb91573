"""The records, errors and secret registry every other package speaks in.

models (Customer, Unit, Invoice, Remote, Listing), errors (the error tree and
exit codes), bounds (how much of a record is quoted), secrets (``redact``).
May import: nothing else of ours (pydantic and the standard library only).
"""
