"""Whether a mail is due: what is *new* since the last one, or a reminder.

The same conflict stays open for days while the office decides; mailing the
same report after every run (the service runs every hour, webhooks more
often) teaches people to ignore kleansync's mail, and then they miss the
one that matters. So a mail goes out when

* something is **new** since the last mail of its channel: a conflict, a
  parked match, an admin task (invoice tasks included), an error, a failed
  run; the mail says which items are new. An item not seen open for
  ``KEEP_UNSEEN`` is forgotten and new again if it comes back;
* or, while items stay open and nothing is new, as a **reminder** once the
  configured interval has passed since the last mail (``[report]
  email_remind_hours``, default 24; 0: no reminders), listing what is open.

What is open comes from the store (conflicts, parked matches, held
invoices: ``store_items``) and from the run itself (its tasks, errors and
outcome: ``view_items``).

``decide`` is the one decision, pure (items and memory in, verdict out), so
every kind of mail (the run report, a once-only warning such as a rejected
API key) asks the same question; ``news_for``/``remember_sent`` keep the
memory in the state store (``state.mail_tables``).

Items are ``fingerprint -> one-line description``; ``view_items`` makes them
from a run's report view. Fingerprints hash what makes an item the same
item (a conflict: record, field and both values), never run ids or times.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.domain.i18n import _
from reconciler.domain.labels import entity_word, field_label
from reconciler.reporting.phrases import Phrases
from state import Store
from state.invoice_tables import InvoiceLedger
from state.mail_tables import MailMemory, mail_memory, save_mail_memory

#: ``[report] email_remind_hours`` when the config does not say.
DEFAULT_REMIND_HOURS = 24.0
#: An item not seen open for this long is forgotten (new again if it comes back).
KEEP_UNSEEN = dt.timedelta(days=7)
#: Items whose absence is certain (a run that completed ends "the run failed"):
#: forgotten at once when not open, not kept for ``KEEP_UNSEEN``.
EXACT = ("run:",)
NEW, REMINDER, NOTHING_NEW, NOTHING_OPEN = "new", "reminder", "nothing new", "nothing open"


@dataclass(frozen=True)
class MailNews:
    """The verdict for one mail: send it or not, and why."""

    send: bool
    reason: str  # NEW | REMINDER | NOTHING_NEW | NOTHING_OPEN
    channel: str = "report"
    #: Descriptions of the items not mailed before (in the order given).
    new: tuple[str, ...] = ()
    #: A reminder: descriptions of every item still open.
    still_open: tuple[str, ...] = ()
    #: How many items are open (new ones included).
    open: int = 0
    #: When the channel last mailed (None: never).
    last_sent: dt.datetime | None = None
    #: The memory to keep (fingerprint -> last seen open) once this mail went out.
    items: dict[str, str] = field(default_factory=dict)


def _fingerprint(kind: str, *parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return f"{kind}:{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def _get(item: Any, name: str) -> Any:
    """A field of a view dict or of a stored row alike."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def conflict_item(c: Any) -> tuple[str, str]:
    """A conflict (view dict or ``ConflictRow``): the same record, field and values."""
    what = [_get(c, n) for n in ("entity", "key", "field", "kleanapp", "sevdesk")]
    entity, key, name = what[:3]
    text = _(
        "Conflict %(entity)s %(key)s, field %(field)s",
        entity=entity_word(entity),
        key=key,
        field=field_label(name),
    )
    return _fingerprint("conflict", *what), text


def parked_item(p: Any) -> tuple[str, str]:
    """A parked match (view dict or ``Parked`` row): the same record of the same side."""
    what = [_get(p, n) for n in ("entity", "side", "record_id")]
    text = _(
        "Match to check: %(entity)s %(key)s: %(why)s",
        entity=entity_word(_get(p, "entity")),
        key=_get(p, "key"),
        why=Phrases()(_get(p, "reason")),
    )
    return _fingerprint("parked", *what), text


def task_item(t: Any) -> tuple[str, str]:
    """An admin task: the same kind, record and message (invoice tasks by their message).

    An invoice task (it lists its ``invoices``) is the same task whether the
    export run's report or the ledger's held invoices name it.
    """
    if _get(t, "invoices") is not None:
        what = ["invoice", _get(t, "message")]
    else:
        what = [_get(t, n) for n in ("kind", "entity", "key", "message")]
    return _fingerprint("task", *what), _("Task: %(task)s", task=Phrases()(_get(t, "message")))


def view_items(view: dict[str, Any]) -> dict[str, str]:
    """What a run's report shows for an admin, as ``fingerprint -> description``.

    The same sections that make a run worth a mail (``view.needs_attention``).
    """
    items: dict[str, str] = {}
    run = view["run"]
    if run["outcome"] in ("failed", "interrupted"):
        error = run.get("error") or ""
        text = (
            _("Run failed: %(error)s", error=error)
            if run["outcome"] == "failed"
            else _("Run interrupted: %(error)s", error=error)
        )
        items[_fingerprint("run", run["outcome"], error)] = text.strip()
    for make, section in ((conflict_item, "conflicts"), (parked_item, "parked")):
        items.update(make(x) for x in view[section])
    items.update(task_item(t) for t in view["tasks"])
    for e in view["errors"]:
        what = (e.get("entity"), e.get("key"), e.get("side"), e.get("op"), e.get("error"))
        where = " ".join(
            str(entity_word(e[n]) if n == "entity" else e[n]) for n in ("entity", "key") if e.get(n)
        )
        said = Phrases().said(e, "error")  # the fingerprint keeps the stored English
        items[_fingerprint("error", *what)] = (
            _("Error %(where)s: %(error)s", where=where, error=said)
            if where
            else _("Error: %(error)s", error=said)
        )
    return items


def store_items(store: Store) -> dict[str, str]:
    """What stays open in the store whatever the last run read.

    An incremental run reads only what changed, so its report may not show a
    conflict that is still waiting; counting only the run's own items would
    take it for closed and mail it as new when the next full run shows it.
    """
    items = dict(conflict_item(c) for c in store.open_conflicts())
    items.update(parked_item(p) for p in store.open_parked())
    items.update(task_item(t) for t in InvoiceLedger(store).open_tasks())
    return items


def decide(
    items: Mapping[str, str],
    memory: MailMemory | None,
    *,
    now: dt.datetime,
    remind_every: dt.timedelta | None,
    channel: str = "report",
    keep_unseen: dt.timedelta = KEEP_UNSEEN,
) -> MailNews:
    """Send a mail for the open ``items`` now? See the module docstring.

    The memory keeps, per item, when it was last seen open; an item not seen
    for ``keep_unseen`` is forgotten (an error or task that recurs only on
    full reads is not news each time it shows again). A failed run is over
    the moment a run completes: the same failure after that is news again.
    """
    known = dict(memory.items) if memory is not None else {}
    last = memory.sent_at if memory is not None else None
    stamp = now.astimezone(dt.UTC).isoformat()
    recent = {
        fp: seen
        for fp, seen in known.items()
        if now - dt.datetime.fromisoformat(seen) < keep_unseen
        and not (fp.startswith(EXACT) and fp not in items)
    }
    new = tuple(text for fp, text in items.items() if fp not in recent)
    kept = {**recent, **dict.fromkeys(items, stamp)}
    if new:
        reason, send = NEW, True
    elif not items:
        reason, send = NOTHING_OPEN, False
    elif remind_every is not None and (last is None or now - last >= remind_every):
        reason, send = REMINDER, True
    else:
        reason, send = NOTHING_NEW, False
    return MailNews(
        send,
        reason,
        channel=channel,
        new=new,
        still_open=tuple(items.values()) if reason == REMINDER else (),
        open=len(items),
        last_sent=last,
        items=kept,
    )


def remind_every(report_cfg: Any) -> dt.timedelta | None:
    """``[report] email_remind_hours`` as an interval (None: no reminders)."""
    hours = getattr(report_cfg, "email_remind_hours", DEFAULT_REMIND_HOURS)
    hours = DEFAULT_REMIND_HOURS if hours is None else float(hours)
    return dt.timedelta(hours=hours) if hours > 0 else None


def news_for(
    store: Store,
    channel: str,
    items: Mapping[str, str],
    *,
    now: dt.datetime | None = None,
    remind: dt.timedelta | None = dt.timedelta(hours=DEFAULT_REMIND_HOURS),
) -> MailNews:
    """``decide`` against what ``channel`` mailed before (kept in ``store``).

    When no mail is due, the memory forgets the items that are closed now,
    right away; when one is due, call ``remember_sent`` once it went out
    (a mail that failed leaves its items new for the next run).
    """
    now = now or dt.datetime.now(dt.UTC)
    memory = mail_memory(store, channel)
    news = decide(items, memory, now=now, remind_every=remind, channel=channel)
    if not news.send and memory is not None and news.items != memory.items:
        save_mail_memory(store, channel, news.items, None)
    return news


def remember_sent(store: Store, news: MailNews, *, now: dt.datetime | None = None) -> None:
    """The mail of ``news`` went out: its items are known, the reminder clock restarts."""
    save_mail_memory(store, news.channel, news.items, now or dt.datetime.now(dt.UTC))
