"""An example or two at the end of every command's ``--help``.

Kept in one table rather than beside each command: ``reconciler.cli.group``
adds them to whatever command it hands out, and a test checks that every
command has some, so a new command cannot be registered without them.
"""

from __future__ import annotations

#: Command path ("conflicts resolve") -> (command line, what it does), in order.
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "sandbox": (("kleansync sandbox", "both emulators on ports 8801 and 8802"),),
    "demo": (("kleansync demo", "a whole run against the built-in emulators"),),
    "doctor": (
        ("kleansync doctor", "is everything ready for the first sync?"),
        ("kleansync doctor --json -c /etc/kleansync/config.toml", "for monitoring"),
    ),
    "sync": (
        ("kleansync sync --dry-run", "show what would change, write nothing"),
        ("kleansync sync --plan-out plan.json", "save the plan for review (writes nothing)"),
        ("kleansync sync --apply-plan plan.json", "apply exactly that reviewed plan"),
        ("kleansync sync -v", "a real run, with every request in the log"),
    ),
    "init": (
        ("kleansync init", "asks for the values in a terminal"),
        ("kleansync init --kleanapp-url https://firma.kleanapp.de/api/v1", "without questions"),
    ),
    "report": (
        ("kleansync report", "the latest run as Markdown"),
        ("kleansync report 3f2a --open", "run 3f2a… as HTML in the browser"),
    ),
    "status": (
        ("kleansync status", "last runs, open items, next scheduled run"),
        ("kleansync status --json", "the same for scripts"),
    ),
    "resync": (
        ("kleansync resync --dry-run", "what would be linked after a lost state store"),
        ("kleansync resync", "rebuild the links"),
    ),
    "serve": (
        ("kleansync serve", "scheduled sync, webhooks, /healthz and /metrics"),
        ("kleansync serve --port 8080", "listen on another port"),
    ),
    "conflicts list": (
        ("kleansync conflicts list", "what waits for an admin"),
        ("kleansync conflicts list --all", "also what was decided already"),
    ),
    "conflicts show": (("kleansync conflicts show C12", "everything about conflict C12"),),
    "conflicts resolve": (
        ("kleansync conflicts resolve C12 --take sevdesk", "keep sevDesk's value"),
        ("kleansync conflicts resolve C12 --value 10115", "use this value on both sides"),
    ),
    "conflicts link": (
        ("kleansync conflicts link P3 --with P4", "the two parked records are one customer"),
        ("kleansync conflicts link P3 --create-new", "it has no counterpart yet"),
    ),
    "invoices export": (
        ("kleansync invoices export --since-last", "everything new since the last export"),
        (
            "kleansync invoices export --from 2026-10-01 --to 2026-12-31 --status open,paid",
            "one quarter",
        ),
    ),
    "invoices status": (("kleansync invoices status", "exported invoices and their state"),),
}


def epilog(path: str) -> str | None:
    """The ``--help`` epilog for the command at ``path``, or None if it has no examples."""
    examples = EXAMPLES.get(path)
    if not examples:
        return None
    width = max(len(line) for line, _what in examples)
    lines = [f"  {line:<{width}}   # {what}" for line, what in examples]
    return "Examples:\n" + "\n".join(lines)
