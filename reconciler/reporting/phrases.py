"""The planner's English sentences ("why", tasks, reasons) in the reader's language, at render time.

Why translate when rendering, not when planning: the plan, ``sync --json``
and the run history are an API and stay English, and a report of last
month's run is rendered again from its stored dict. So the sentences the
rules and the planner write (``rules/policies.py``, ``rules/match_parking.py``,
``sync/plan_*.py``, ``invoices/mapping.py``) are recognised here by their
English pattern, and said again from the catalogue, with their parts
translated too:

* times (``2026-11-24 10:00 UTC``) in the configured time zone, German form;
* a record named by its internal id (``sevDesk customer 100002``) by its
  customer number and name, looked up in the facts the report holds;
* field names (``postal code``) as the admin knows them.

A sentence no pattern knows is shown as it is (English beats nothing);
``tests/i18n`` renders real runs and fails when one of their sentences is
left English, so a reworded producer is noticed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from reconciler.domain.i18n import N_, _, format_datetime, format_number, ngettext
from reconciler.domain.labels import FIELDS, entity_label, entity_word, field_label, side_label
from reconciler.domain.problems import PROBLEMS
from reconciler.reporting.invoice_phrases import INVOICE_PATTERNS
from reconciler.reporting.words import label

__all__ = ["Phrases"]

#: English sentence pattern -> which of its parameters are sentences themselves (translated
#: again), records, times or field names. The German (and English) wording is the catalogue's.
_PATTERNS: tuple[str, ...] = (
    # rules/diff.py, rules/policies.py: a conflict's "why"
    N_("no common base yet (first link)"),
    N_("changed differently on both sides"),
    N_("needs a manual decision"),
    N_("%(side)s is authoritative for this field"),
    N_("%(side)s changed it later (%(later)s vs %(earlier)s)"),
    N_("both changed it at the same time (%(when)s)"),
    N_("%(side)s wins by default as the operational system"),
    N_("%(sides)s has no modification time"),
    N_("%(sides)s have no modification time"),
    # rules/match_parking.py: why a record is parked
    N_("%(who)s is a possible match (so is %(others)s): %(summary)s"),
    N_("%(who)s is a possible match: %(summary)s"),
    N_("%(who)s looks like the same customer, but is itself parked"),
    N_("%(who)s looks like the same customer, but so does %(others)s"),
    N_("%(who)s looks like the same customer, but so do %(others)s"),
    N_("%(who)s looks like the same customer, but %(veto)s"),
    N_(
        "%(who)s has the same customer number %(number)s, but the rest says different "
        "customers: %(summary)s"
    ),
    N_("%(count)s %(side)s customers look alike (%(ids)s); the closest: %(summary)s"),
    N_("looks like %(who)s, which is already linked with %(partner)s: %(summary)s"),
    N_("customer number %(number)s is also used by %(others)s"),
    N_("another %(side)s customer that is already linked"),
    N_("%(count)s %(side)s customers have the customer number %(number)s"),
    N_("customer number %(number)s is already used in %(side)s by another customer"),
    N_("their VAT ids differ (%(pair)s)"),
    N_("not linked: %(veto)s"),
    # sync/plan_*.py: a change's reason, a task, a quarantined record
    N_("changed in %(side)s"),
    N_("new in %(side)s"),
    N_("customer number assigned by %(side)s"),
    N_("renamed in sevDesk"),
    N_("deleted in sevDesk"),
    N_("deleted in KleanApp (on_kleanapp_unit_delete = recreate)"),
    N_("archived in KleanApp (on_kleanapp_archive = delete)"),
    N_("unit missing in %(side)s"),
    N_("create unit '%(name)s' in sevDesk: Einstellungen → System → Einheiten"),
    N_("customer %(key)s was deleted in sevDesk; KleanApp keeps it (on_sevdesk_delete = ignore)"),
    N_("customer %(key)s was archived in KleanApp; its sevDesk contact was left as it is"),
    N_("a real run would stop: %(brake)s"),
    N_("customer %(key)s: %(field)s not written to %(side)s: %(problem)s"),
    N_("customer %(key)s not created in %(side)s: %(field)s: %(problem)s"),
    N_("fix it in %(side)s"),
    N_("%(side)s refused the %(op)s of %(entity)s %(key)s: %(problem)s"),
    N_(
        "%(count)s record refused by a service earlier still waits for a fix at the source "
        "(not sent again until changed; see 'kleansync status')"
    ),
    N_(
        "%(count)s records refused by a service earlier still wait for a fix at the source "
        "(not sent again until changed; see 'kleansync status')"
    ),
    N_("%(count)s record quarantined earlier, for the same reason, is still set aside"),
    N_("%(count)s records quarantined earlier, for the same reason, are still set aside"),
    N_("contact has no name (neither name nor surename/familyname)"),
    N_("a company customer needs a company name"),
    N_("a person customer needs a first or last name"),
    # invoices/mapping.py: why an invoice is held, and what to do
    N_("unit %(units)s does not exist in sevDesk"),
    N_("correct the tax rate in KleanApp, or book this invoice in sevDesk by hand"),
    N_("book this 0 % invoice in sevDesk by hand with the right tax rule"),
    N_("correct the delivery date in KleanApp"),
    N_("the invoice has no positions"),
    *INVOICE_PATTERNS,
    # domain/problems.py: an error or skipped entry stored before it carried its code
    *PROBLEMS.values(),
)

#: Parameters that are sentences (or lists of records) themselves.
_NESTED = {"summary", "veto", "problem", "others", "who", "partner", "brake"}
_FIELDS = {"field"}
_TIMES = {"later", "earlier", "when"}
#: The matcher's evidence decisions (rules/match_parking.py, rules/match_score.py).
_DECISIONS = {
    "possible match": N_("possible match"),
    "looks like the same customer": N_("looks like the same customer"),
    "different customers": N_("different customers"),
    "linked": N_("linked"),
}
_VERDICTS = {"=": N_("same"), "≈": N_("similar"), "≠": N_("different")}

#: "email: is not a valid address": a service's message about one canonical field.
_NAMED_FIELD = re.compile(r"^(?P<field>[a-z_]+): (?P<rest>.+)$", re.DOTALL)
_UTC_TIME = re.compile(
    r"^(?:(?P<date>\d{4}-\d{2}-\d{2}) )?(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) UTC$"
)
_RECORD = re.compile(r"^(?P<side>KleanApp|sevDesk) customers? (?P<ids>[^,\s]+(?:, [^,\s]+)*)$")
_SUMMARY = re.compile(
    r"^(?P<fields>.*?)(?: \((?P<missing>[^()]*) missing on one side\))?(?:; (?P<veto>.*))?"
    r" → (?P<decision>.+) \(score (?P<score>-?[\d.]+)\)$"
)
_EVIDENCE = re.compile(
    r"^(?P<field>[A-Za-z][A-Za-z -]*?) (?P<verdict>[=≈≠-]|\d+\.\d+)(?: \((?P<detail>.*)\))?$"
)


def _compile(pattern: str) -> re.Pattern[str]:
    """A pattern as a regex; only sentence parameters may hold a "; " (parts are split there)."""
    parts = re.split(r"%\((\w+)\)s", pattern)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{'.+?' if part in _NESTED else '[^;]+?'})"
        for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$", re.DOTALL)


_COMPILED = tuple((p, _compile(p)) for p in _PATTERNS)


#: What ``rules.match_score`` appends to a customer-number detail of two numbering schemes.
_SCHEMES = ", different numbering schemes"


class Phrases:
    """Translates one report's stored sentences; knows its records' numbers and names.

    ``records`` maps ``(side label, internal id)`` to how a person knows the
    record ("K-2 Doppelt AG"), from the parked records' facts and evidence.
    """

    def __init__(
        self, records: Mapping[tuple[str, str], str] | None = None, tz: str = "UTC"
    ) -> None:
        self.records = dict(records or {})
        self.tz = tz
        #: The date of the last time read: "10:00 UTC vs 09:00 UTC" names it once.
        self._last_date: str | None = None

    @classmethod
    def for_view(cls, view: Mapping[str, Any], tz: str = "UTC") -> Phrases:
        records: dict[tuple[str, str], str] = {}
        for change in view.get("changes") or []:
            if change.get("target_id") and change.get("entity") == "customer":
                number = str(change.get("key") or "")
                facts = {
                    "name": change.get("label"),
                    "customer_number": None if ":" in number else number,
                }
                if facts["name"] or facts["customer_number"]:
                    records[side_label(change.get("side")), str(change["target_id"])] = known_as(
                        facts
                    )
        for parked in view.get("parked") or []:
            for facts in [parked.get("details") or {}, *(parked.get("evidence") or [])]:
                if facts.get("id") is not None:
                    records[side_label(facts.get("side")), str(facts["id"])] = known_as(facts)
        return cls(records, tz)

    def __call__(self, text: Any) -> str:
        return self.sentence(str(text or ""))

    def said(self, item: Mapping[str, Any], key: str = "error") -> str:
        """A run's error or skipped entry (``domain/problems.py``) for people.

        Its code's sentence from the catalogue, the parts in the reader's
        words; an entry without a (known) code, stored before codes existed,
        is its stored English text, translated where recognised.
        """
        code, params = item.get("code"), item.get("params")
        if code in PROBLEMS and isinstance(params, Mapping):
            shown = {name: self._part(name, str(value)) for name, value in params.items()}
            with contextlib.suppress(KeyError, ValueError, TypeError):
                return _(PROBLEMS[str(code)], **shown)
        return self.sentence(str(item.get(key) or ""))

    def _part(self, name: str, value: str) -> str:
        """One part of a problem's sentence: a record, an operation, a nested sentence."""
        if name in ("detail", "reason", "problem"):
            return self.sentence(value)
        if name == "op":
            return label(value, "op")
        if name == "entity":
            return entity_word(value)
        if name == "status":
            return label(value, "invoice_status")
        return value

    def sentence(self, text: str) -> str:
        """``text`` in the current language; unknown parts stay as they are."""
        text = text.strip()
        if not text:
            return ""
        whole = self._pattern(text)
        if whole is not None:
            return whole
        parts = text.split("; ")
        for i in range(1, len(parts)):
            head = "; ".join(parts[:i])
            translated = self._pattern(head)
            if translated is not None:
                return translated + "; " + self.sentence("; ".join(parts[i:]))
        named = _NAMED_FIELD.match(text)
        if named and named["field"] in FIELDS:
            return f"{field_label(named['field'])}: {self.sentence(named['rest'])}"
        return self.record(text) or self.summary(text) or text

    def _pattern(self, text: str) -> str | None:
        for pattern, regex in _COMPILED:
            match = regex.match(text)
            if match is None:
                continue
            found = match.groupdict()
            params = {name: self._param(name, value) for name, value in found.items()}
            if "ids" in found and "side" in found:
                params["ids"] = self.ids(found["side"], found["ids"])
            return _(pattern, **params) if params else _(pattern)
        return None

    def _param(self, name: str, value: str) -> str:
        if name in _TIMES:
            return self.time(value)
        if name in _FIELDS:
            return field_label(value)
        if name == "pair":
            return value.replace(" vs ", " / ")
        if name == "op":
            return label(value, "op")
        if name == "entity":
            return entity_label(value)
        if name in _NESTED:
            return self.sentence(value)
        if name == "sides":
            return (
                _("%(one)s and %(other)s", one="KleanApp", other="sevDesk")
                if " and " in value
                else value
            )
        return value

    def record(self, text: str) -> str | None:
        """``sevDesk customer 100002`` -> ``sevDesk-Kunde K-2 „Doppelt AG“`` (or None)."""
        match = _RECORD.match(text)
        if match is None:
            return None
        side = match["side"]
        ids = match["ids"].split(", ")
        names = [self.records.get((side, rid)) for rid in ids]
        if not all(names):
            # Not in this report: named by its internal number, the only handle there is.
            return ngettext(
                "%(side)s customer with internal no. %(ids)s",
                "%(side)s customers with internal nos. %(ids)s",
                len(ids),
                side=side,
                ids=match["ids"],
            )
        shown = ", ".join(str(n) for n in names)
        return ngettext(
            "%(side)s customer %(records)s",
            "%(side)s customers %(records)s",
            len(names),
            side=side,
            records=shown,
        )

    def ids(self, side: str, ids: str) -> str:
        """``2, 3`` (internal ids of ``side``) -> ``K-2 „Doppelt AG“, K-4 „Doppelt AG“``."""
        names = [self.records.get((side, rid.strip())) for rid in ids.split(",")]
        return ", ".join(str(n) for n in names) if all(names) else ids

    def summary(self, text: str) -> str | None:
        """``name 1.00, e-mail = (street missing on one side) → possible match (score 6.6)``."""
        match = _SUMMARY.match(text)
        if match is None:
            return None
        fields = [self.evidence(item) for item in match["fields"].split(", ") if item]
        out = ", ".join(fields) or _("nothing to compare")
        if match["missing"]:
            missing = ", ".join(field_label(m) for m in match["missing"].split(", "))
            out += " " + _("(%(fields)s missing on one side)", fields=missing)
        if match["veto"]:
            out += "; " + self.sentence(match["veto"])
        decision = self.sentence(match["decision"])
        if match["decision"] in _DECISIONS:
            decision = _(_DECISIONS[match["decision"]])
        score = format_number(float(match["score"]), decimals=1)
        return out + " → " + _("%(decision)s (score %(score)s)", decision=decision, score=score)

    def evidence(self, item: str) -> str:
        """One compared field: ``street ≠ (A vs B)`` -> ``Straße verschieden (A / B)``."""
        if item == "customer numbers of different schemes":
            return _("customer numbers of different schemes")
        if item == "e-mail domain =":
            return _("same e-mail domain")
        match = _EVIDENCE.match(item)
        if match is None:
            return item
        verdict = match["verdict"]
        shown = (
            _(_VERDICTS[verdict])
            if verdict in _VERDICTS
            else format_number(float(verdict), decimals=2)
        )
        out = f"{field_label(match['field'])} {shown}"
        if match["detail"]:
            out += f" ({match['detail'].replace(' vs ', ' / ')})"
        return out

    def fields(self, candidate: Mapping[str, Any]) -> list[str]:
        """A candidate's per-field evidence, one line each (from the stored structure)."""
        lines, missing = [], []
        for item in candidate.get("fields") or []:
            name, verdict = item.get("field", ""), item.get("verdict", "")
            detail = str(item.get("detail") or "")
            if verdict == "-":
                missing.append(field_label(name))
                continue
            word = _(_VERDICTS[verdict]) if verdict in _VERDICTS else str(verdict)
            if re.fullmatch(r"-?\d+\.\d+", detail):
                detail = _("similarity %(value)s", value=format_number(float(detail), decimals=2))
            if detail.endswith(_SCHEMES):  # the matcher's English note (rules.match_score)
                detail = detail.removesuffix(_SCHEMES) + ", " + _("different numbering schemes")
            line = f"{field_label(name)}: {word}"
            lines.append(f"{line} ({detail.replace(' vs ', ' / ')})" if detail else line)
        if missing:
            lines.append(_("missing on one side: %(fields)s", fields=", ".join(missing)))
        return lines

    def verdict(self, candidate: Mapping[str, Any]) -> str:
        """``mögliche Zuordnung (Punktzahl 6,6)``, and the veto when there is one."""
        raw = str(candidate.get("decision") or "")
        decision = _(_DECISIONS[raw]) if raw in _DECISIONS else self.sentence(raw)
        score = candidate.get("score")
        text = (
            decision
            if score is None
            else _(
                "%(decision)s (score %(score)s)",
                decision=decision,
                score=format_number(float(score), decimals=1),
            )
        )
        if candidate.get("veto"):
            text += "; " + self.sentence(str(candidate["veto"]))
        return text

    def time(self, value: str) -> str:
        """``2026-11-24 10:00 UTC`` -> ``24.11.2026 11:00`` in the report's time zone.

        The second of two times (``10:00 UTC vs 09:00 UTC``) names no date: it
        is the date of the first, and shown as a time alone, as it was written.
        """
        match = _UTC_TIME.match(value.strip())
        if match is None:
            return value
        date = match["date"] or self._last_date
        if date is None:
            return value
        self._last_date = date
        clock = match["time"]
        stamp = dt.datetime.fromisoformat(f"{date}T{clock}").replace(tzinfo=dt.UTC)
        return format_datetime(
            stamp,
            self.tz,
            seconds=len(clock) > 5,
            fraction="." in clock and stamp.microsecond != 0,
            date=match["date"] is not None,
        )


def known_as(facts: Mapping[str, Any]) -> str:
    """How a person knows a record: customer number and name, never the internal id."""
    number = facts.get("customer_number")
    if number and not facts.get("name"):
        return str(number)
    name = facts.get("name") or _("(no name)")
    if number:
        return _("%(number)s „%(name)s“", number=number, name=name)
    return _("„%(name)s“ (no customer number)", name=name)
