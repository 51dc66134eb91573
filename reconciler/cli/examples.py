"""An example or two at the end of every command's ``--help`` (what each does: ``N_``).

Kept in one table rather than beside each command: ``reconciler.cli.group``
adds them to whatever command it hands out, and a test checks that every
command has some, so a new command cannot be registered without them.
"""

from __future__ import annotations

from reconciler.domain.i18n import N_, _

#: Command path ("conflicts resolve") -> (command line, what it does), in order.
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "sandbox": (("kleansync sandbox", N_("both emulators on ports 8801 and 8802")),),
    "demo": (("kleansync demo", N_("a whole run against the built-in emulators")),),
    "doctor": (
        ("kleansync doctor", N_("is everything ready for the first sync?")),
        ("kleansync doctor --json -c /etc/kleansync/config.toml", N_("for monitoring")),
    ),
    "sync": (
        ("kleansync sync --dry-run", N_("show what would change, write nothing")),
        ("kleansync sync --plan-out plan.json", N_("save the plan for review (writes nothing)")),
        ("kleansync sync --apply-plan plan.json", N_("apply exactly that reviewed plan")),
        ("kleansync sync -v", N_("a real run, with every request in the log")),
    ),
    "init": (
        ("kleansync init", N_("asks for the values in a terminal")),
        ("kleansync init --kleanapp-url https://firma.kleanapp.de/api/v1", N_("without questions")),
    ),
    "report": (
        ("kleansync report", N_("the latest run as Markdown")),
        ("kleansync report 3f2a --open", N_("run 3f2a… as HTML in the browser")),
    ),
    "status": (
        ("kleansync status", N_("last runs, open items, next scheduled run")),
        ("kleansync status --json", N_("the same for scripts")),
    ),
    "resync": (
        ("kleansync resync --dry-run", N_("what would be linked after a lost state store")),
        ("kleansync resync", N_("rebuild the links")),
    ),
    "serve": (
        ("kleansync serve", N_("scheduled sync, webhooks, /healthz and /metrics")),
        ("kleansync serve --port 8080", N_("listen on another port")),
    ),
    "conflicts list": (
        ("kleansync conflicts list", N_("what waits for an admin")),
        ("kleansync conflicts list --all", N_("also what was decided already")),
    ),
    "conflicts show": (("kleansync conflicts show C12", N_("everything about conflict C12")),),
    "conflicts resolve": (
        ("kleansync conflicts resolve C12 --take sevdesk", N_("keep sevDesk's value")),
        ("kleansync conflicts resolve C12 --value 10115", N_("use this value on both sides")),
    ),
    "conflicts link": (
        ("kleansync conflicts link P3 --with P4", N_("the two parked records are one customer")),
        ("kleansync conflicts link P3 --create-new", N_("it has no counterpart yet")),
    ),
    "invoices export": (
        ("kleansync invoices export --since-last", N_("everything new since the last export")),
        (
            "kleansync invoices export --from 2026-10-01 --to 2026-12-31 --status open,paid",
            N_("one quarter"),
        ),
    ),
    "invoices status": (("kleansync invoices status", N_("exported invoices and their state")),),
    "admin add-user": (
        ("kleansync admin add-user anna", N_("an account for the console; asks for the password")),
    ),
    "admin password": (
        ("kleansync admin password anna", N_("a new password; anna's open sessions end")),
    ),
    "tenants add": (
        (
            "kleansync tenants add glanz --kleanapp-url https://glanz.kleanapp.de/api/v1",
            N_("a company; tokens in KLEANAPP_TOKEN_GLANZ and SEVDESK_TOKEN_GLANZ"),
        ),
    ),
    "tenants list": (("kleansync tenants list", N_("every company of the fleet")),),
    "tenants show": (
        ("kleansync tenants show glanz", N_("its services, token variables and schedule")),
    ),
    "tenants disable": (("kleansync tenants disable glanz", N_("no more runs; state kept")),),
    "worker": (
        ("kleansync worker", N_("one worker of the fleet: every queue, 4 jobs at once")),
        (
            "kleansync worker --queues exports,sync --secrets-dir /run/secrets",
            N_("no backfills here; tokens from mounted files"),
        ),
        ("kleansync worker --check", N_("which tenants can run (their secrets found)")),
    ),
}


def epilog(path: str) -> str | None:
    """The ``--help`` epilog for the command at ``path`` (current language), or None."""
    examples = EXAMPLES.get(path)
    if not examples:
        return None
    width = max(len(line) for line, _what in examples)
    lines = [f"  {line:<{width}}   # " + _(what) for line, what in examples]
    return _("Examples:") + "\n" + "\n".join(lines)
