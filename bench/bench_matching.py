"""Labelled benchmark of first-sync matching: precision, recall, parked share, time.

A generator with a fixed seed builds two customer lists of a cleaning company
as two systems would hold them after years of independent typing:

* **true pairs** (``--pairs``, default 7,000): one customer, typed again on
  the other side: umlauts written out, upper case, "Str." for "Straße", legal
  forms spelt differently or left out, a typo in the name or the street, the
  house number written elsewhere ("5 a", "Hauptstr.5", "5 Hauptstraße"),
  e-mail case, phones with +49, fields missing on one side (e-mail, phone,
  street, postal code, VAT id), another e-mail or phone, sevDesk's own
  numbering scheme ("1042") instead of KleanApp's ("K-00042"), now and then a
  person filed as a company;
* **look-alike non-pairs** (``--lookalikes``, default 600), each a record on
  one side and a *different* customer on the other that resembles it: the
  same name in the same postal code (other street, e-mail, phone); a chain's
  branches (same name, e-mail domain and VAT id, other address) with some
  branches on both sides; family members at one address (same landline,
  often the same e-mail); one company's several sites sharing e-mail and
  phone;
* **one-sided customers** filling each side up to ``--size`` (default 10,000).

It prints precision of the automatic links, their recall over the true
pairs, the share of records parked for an admin, and the matcher's time.
Goals (issue 13): precision >= 99.9 %, recall >= 95 %, parked <= 3 %,
10,000 x 10,000 in under 10 s. Not part of CI (tests/rules/test_matching.py
runs the generator at a small size)::

    .venv/bin/python bench/bench_matching.py [--size 10000] [--seed 13] [--show 10]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.domain.models import Customer, Remote  # noqa: E402
from rules.matching import MatchResult, match_customers  # noqa: E402

Record = dict[str, Any]


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(sep))


SURNAMES = _words(
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
    "Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler "
    "Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn "
    "Schubert Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann "
    "Franke Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt "
    "Stein Jäger Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich "
    "Ziegler Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff "
    "Pfeiffer Quastenberg Achterkamp Brinkhaus Dörnberg Eilers Feldhaus Gerdes Hülsmann "
    "Imhoff Jaspers Kettler Lübbers Mertens Nieland Oltmanns Plöger Rademacher Steenken "
    "Thiele Uhlenbrock Vahrenholt"
)
#: Zipf-like: the first surnames (Müller, Schmidt, ...) are far more common.
SURNAME_WEIGHTS = [1 / (i + 1) ** 0.8 for i in range(len(SURNAMES))]
FIRST_NAMES = _words(
    "Anna Jürgen Sören Bärbel Lukas Marie Jörg Sophie Paul Özlem Ben Lea Finn Käthe Jonas Mia "
    "Thomas Andreas Michael Stefan Sabine Petra Monika Ursula Klaus Wolfgang Helga Renate "
    "Frank Claudia Susanne Markus Katrin Tobias Julia Hannah Leon Emma Felix Laura Günter "
    "Hans-Peter Karl-Heinz Maximilian Charlotte Friederike Torsten Dörte Mehmet Ayşe Zoran "
    "Małgorzata"
)
TRADES = _words(
    "Hausverwaltung Immobilien Praxis Kanzlei Bäckerei Autohaus Zahnarztpraxis "
    "Architekturbüro Steuerberatung Physiotherapie Gastronomie Logistik Elektrotechnik "
    "Fitnessstudio Gebäudeservice Metzgerei Apotheke Kindertagesstätte Augenoptik "
    "Versicherungsbüro Ingenieurbüro Tischlerei Druckerei Reisebüro Fahrschule Friseursalon "
    "Tierarztpraxis Getränkehandel Blumenhaus Malerbetrieb"
)
FANCY = _words(
    "Adler Sonne Krone Linde Post Stern Löwen Hirsch Rose Eiche Anker Falken Schwan Mühle "
    "Rathaus Bergblick Seeblick Waldesruh Lindenhof Brunnenhof"
)
FORMS = ("GmbH", "GmbH & Co. KG", "UG (haftungsbeschränkt)", "e.K.", "AG", "KG", "GbR", "OHG")
STREETS = _words(
    "Hauptstraße | Bahnhofstraße | Gartenweg | Lindenallee | Am Markt | Kirchplatz | "
    "Schulstraße | Dorfstraße | Bergstraße | Birkenweg | Goethestraße | Schillerstraße | "
    "Mozartstraße | Ringstraße | Wiesenweg | Feldstraße | Mühlenweg | Rosenstraße | "
    "Kastanienallee | Poststraße | Friedhofstraße | Am Bahnhof | Industriestraße | "
    "Buchenweg | Eichendorffstraße | Max-Planck-Straße | Lessingstraße | Uhlandstraße | "
    "Kirchstraße | Talstraße | Waldstraße | Sonnenstraße | Blumenstraße | Parkstraße | "
    "Marktplatz | Heinrich-Heine-Straße | Friedrich-Ebert-Straße | Karlstraße | Jahnstraße | "
    "Luisenstraße",
    "|",
)
CITIES = (
    ("Berlin", "030", 10115),
    ("Hamburg", "040", 20095),
    ("München", "089", 80331),
    ("Köln", "0221", 50667),
    ("Leipzig", "0341", 4109),
    ("Dresden", "0351", 1067),
    ("Hannover", "0511", 30159),
    ("Nürnberg", "0911", 90402),
)
POSTAL_PER_CITY = 40  # about 30 customers per postal code and side: a dense service area
FREE_MAIL = ("web.de", "gmx.de", "t-online.de", "gmail.com", "outlook.de")


def _ascii(text: str) -> str:
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("Ä", "Ae"), ("Ö", "Oe")):
        text = text.replace(a, b)
    return text.replace("Ü", "Ue")


def _slug(text: str) -> str:
    return "".join(c for c in _ascii(text).lower() if c.isalnum())


@dataclass
class Bench:
    kleanapp: list[Record]
    sevdesk: list[Record]
    #: kleanapp index -> sevdesk index of the true pairs
    truth: dict[int, int]
    #: (kleanapp index, sevdesk index, kind) of the look-alike non-pairs
    lookalikes: list[tuple[int, int, str]]


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.k_serial = 0
        self.s_serial = 1000
        self.vats: set[str] = set()
        self.phones: set[str] = set()

    # -- one customer as KleanApp holds it -----------------------------------
    def k_number(self) -> str:
        self.k_serial += 1
        return f"K-{self.k_serial:05d}"

    def s_number(self) -> str:
        self.s_serial += 1
        return str(self.s_serial)

    def place(self) -> tuple[str, str, str]:
        city, area, base = self.rng.choice(CITIES)
        return f"{base + self.rng.randrange(POSTAL_PER_CITY) * 2:05d}", city, area

    def street(self) -> str:
        r = self.rng
        house = str(r.randrange(1, 180)) + (r.choice("abc") if r.random() < 0.1 else "")
        return f"{r.choice(STREETS)} {house}"

    def phone(self, area: str) -> str:
        while True:
            p = f"{area} {self.rng.randrange(200_000, 9_999_999)}"
            if p not in self.phones:
                self.phones.add(p)
                return p

    def mobile(self) -> str:
        return self.phone(self.rng.choice(("0151", "0160", "0171", "0176")))

    def vat(self) -> str:
        while True:
            v = f"DE{self.rng.randrange(100_000_000, 999_999_999)}"
            if v not in self.vats:
                self.vats.add(v)
                return v

    def surname(self) -> str:
        return self.rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]

    def company_name(self) -> str:
        r = self.rng
        roll = r.random()
        if roll < 0.55:
            name = f"{r.choice(TRADES)} {self.surname()}"
        elif roll < 0.8:
            name = f"{self.surname()} {r.choice(TRADES)}"
        elif roll < 0.9:
            name = f"{r.choice(('Hotel', 'Gasthof', 'Café', 'Restaurant'))} {r.choice(FANCY)}"
        else:
            name = f"{self.surname()} & {self.surname()}"
        if r.random() < 0.6:
            name += " " + r.choice(FORMS)
        return name

    def customer(self, *, person: bool | None = None) -> Record:
        r = self.rng
        postal, city, area = self.place()
        if person is None:
            person = r.random() < 0.4
        rec: Record = {
            "customer_number": self.k_number(),
            "kind": "person" if person else "company",
            "street": self.street(),
            "postal_code": postal,
            "city": city,
            "country": "DE",
            "archived": False,
        }
        if person:
            first, last = r.choice(FIRST_NAMES), self.surname()
            rec.update(first_name=first, last_name=last)
            rec["email"] = (
                f"{_slug(first)}.{_slug(last)}{r.randrange(100)}@{r.choice(FREE_MAIL)}"
                if r.random() < 0.8
                else None
            )
            rec["phone"] = self.phone(area) if r.random() < 0.5 else None
            rec["mobile"] = self.mobile() if r.random() < 0.7 else None
        else:
            name = self.company_name()
            rec["company_name"] = name
            domain = f"{_slug(name.split(' GmbH')[0])[:20]}{r.randrange(1000)}.de"
            rec["email"] = f"{r.choice(('info', 'kontakt', 'buero', 'verwaltung'))}@{domain}"
            rec["phone"] = self.phone(area)
            rec["vat_id"] = self.vat() if r.random() < 0.5 else None
        return rec

    # -- the same customer typed in sevDesk -----------------------------------
    def _typo(self, word: str) -> str:
        r = self.rng
        if len(word) < 5:
            return word
        i = r.randrange(1, len(word) - 1)
        op = r.randrange(3)
        if op == 0:  # swap two letters
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if op == 1:  # drop one
            return word[:i] + word[i + 1 :]
        return word[:i] + r.choice("aeinrst") + word[i + 1 :]

    def _retype_name(self, name: str) -> str:
        r = self.rng
        if r.random() < 0.35:
            name = _ascii(name)
        if r.random() < 0.05:
            name = name.upper()
        if r.random() < 0.15:
            for form in FORMS:
                name = name.replace(" " + form, "")
        elif r.random() < 0.3:
            name = (
                name.replace("GmbH & Co. KG", "GmbH & Co KG")
                .replace("e.K.", "e. K.")
                .replace("UG (haftungsbeschränkt)", "UG")
            )
        if r.random() < 0.2:
            name = name.replace(" & ", " und ")
        if r.random() < 0.08:
            words = name.split()
            j = max(range(len(words)), key=lambda n: len(words[n]))
            words[j] = self._typo(words[j])
            name = " ".join(words)
        return name

    def _retype_street(self, street: str) -> str:
        r = self.rng
        name, house = street.rsplit(" ", 1)
        if r.random() < 0.4:
            name = name.replace("straße", "str.").replace("Straße", "Str.")
        elif r.random() < 0.2:
            name = name.replace("ß", "ss")
        if r.random() < 0.05:
            name = self._typo(name)
        roll = r.random()
        if roll < 0.04:
            return f"{house} {name}"
        if roll < 0.08:
            return f"{name}{house}" if name.endswith(".") else f"{name} {house}"
        if roll < 0.12 and house[-1].isalpha():
            return f"{name} {house[:-1]} {house[-1].upper()}"
        return f"{name} {house}"

    def twin(self, k: Record) -> Record:
        """The same customer as a sevDesk user typed it, with the usual drift."""
        r = self.rng
        s = {key: v for key, v in k.items() if key != "archived"}
        if s["kind"] == "person":
            s["first_name"] = self._retype_name(s["first_name"])
            s["last_name"] = self._retype_name(s["last_name"])
            if r.random() < 0.03:  # filed as a company under the person's name
                s.update(kind="company", company_name=f"{s['first_name']} {s['last_name']}")
                s["first_name"] = s["last_name"] = None
        else:
            s["company_name"] = self._retype_name(s["company_name"])
        s["street"] = self._retype_street(s["street"])
        if s.get("email"):
            s["email"] = s["email"].upper() if r.random() < 0.1 else s["email"].title()
        for key in ("phone", "mobile"):
            if s.get(key) and r.random() < 0.5:
                area, rest = s[key].split(" ", 1)
                s[key] = f"+49 {area[1:]} {rest}" if r.random() < 0.5 else f"{area}/{rest}"
        # the number: sevDesk's own scheme for most, KleanApp's copied for some
        s["customer_number"] = k["customer_number"] if r.random() < 0.35 else self.s_number()
        # drift: other or missing values on one side
        if s.get("email") and r.random() < 0.15:
            s["email"] = None
        elif s.get("email") and r.random() < 0.05:
            local = "buchhaltung" if s["kind"] == "company" else _slug(k.get("first_name") or "x")
            s["email"] = f"{local}@{s['email'].split('@')[1]}"
        if s.get("phone") and r.random() < 0.2:
            s["phone"] = None
        elif s.get("phone") and r.random() < 0.08:
            s["phone"] = self.phone(s["phone"][:3] if s["phone"][0] == "0" else "030")
        if s.get("mobile") and r.random() < 0.2:
            s["mobile"] = None
        if s.get("vat_id") and r.random() < 0.3:
            s["vat_id"] = None
        if r.random() < 0.05:
            s["street"] = None
        if r.random() < 0.03:
            s["postal_code"] = None
        elif r.random() < 0.01:
            s["postal_code"] = s["postal_code"][:-1] + str((int(s["postal_code"][-1]) + 1) % 10)
        if r.random() < 0.02:  # moved; only one system knows
            s["street"] = self.street()
            s["postal_code"], s["city"], _ = self.place()
        return s

    # -- look-alikes -------------------------------------------------------------
    def namesake(self, k: Record) -> Record:
        """Another customer of the same name in the same postal code."""
        other = self.customer(person=k["kind"] == "person")
        for key in ("company_name", "first_name", "last_name", "postal_code", "city"):
            if k.get(key):
                other[key] = k[key]
        return self.twin(other) if self.rng.random() < 0.5 else other

    def branches(self, n: int) -> list[Record]:
        """A chain: one name, e-mail domain and VAT id; each branch its own address."""
        r = self.rng
        base = self.customer(person=False)
        base["company_name"] = (
            f"{r.choice(TRADES)} {r.choice(FANCY)} {self.surname()} {r.choice(FORMS)}"
        )
        domain = base["email"].split("@")[1]
        shared_mail = r.random() < 0.5
        out = []
        for i in range(n):
            b = dict(base)
            b["customer_number"] = self.k_number()
            b["postal_code"], b["city"], area = self.place()
            b["street"] = self.street()
            b["phone"] = self.phone(area)
            b["email"] = f"buchhaltung@{domain}" if shared_mail else f"filiale{i + 1}@{domain}"
            out.append(b)
        return out

    def family(self, k: Record) -> Record:
        """A family member at the same address, same landline, often the same e-mail."""
        r = self.rng
        other = dict(k)
        other["customer_number"] = self.k_number()
        other["first_name"] = r.choice([f for f in FIRST_NAMES if f != k["first_name"]])
        other["mobile"] = self.mobile() if r.random() < 0.7 else None
        if r.random() < 0.5:
            other["email"] = f"familie.{_slug(k['last_name'])}@{r.choice(FREE_MAIL)}"
            k["email"] = other["email"]
        return other

    def sites(self, n: int) -> list[Record]:
        """One company's several sites: one e-mail and phone, each site its own street."""
        base = self.customer(person=False)
        out = []
        for _ in range(n):
            site = dict(base)
            site["customer_number"] = self.k_number()
            site["street"] = self.street()
            out.append(site)
        return out


def generate(
    size: int = 10_000, pairs: int = 7_000, lookalikes: int = 600, *, seed: int = 13
) -> Bench:
    """Both sides' records and the truth; deterministic for a given seed."""
    g = _Gen(seed)
    r = g.rng
    k_side: list[tuple[Record, str]] = []
    s_side: list[tuple[Record, str]] = []
    look: list[tuple[str, str, str]] = []
    n_pair = 0

    def pair(k: Record, tag: str) -> None:
        nonlocal n_pair
        k_side.append((k, tag))
        s_side.append((g.twin(k), tag))
        n_pair += 1

    kinds = ("namesake", "chain", "family", "sites")
    made = 0
    while made < lookalikes:
        kind = kinds[made % 4]
        if kind == "namesake":
            k = g.customer()
            pair(k, f"p{n_pair}") if r.random() < 0.5 else None
            k_only = g.customer(person=k["kind"] == "person")
            for key in ("company_name", "first_name", "last_name", "postal_code", "city"):
                if k.get(key):
                    k_only[key] = k[key]
            s_only = g.namesake(k)
            a, b = f"n{made}k", f"n{made}s"
            k_side.append((k_only, a))
            s_side.append((s_only, b))
            look.append((a, b, kind))
        elif kind == "chain":
            branches = g.branches(r.randrange(4, 8))
            for b in branches[:-2]:
                pair(b, f"p{n_pair}")
            a, b = f"c{made}k", f"c{made}s"
            k_side.append((branches[-2], a))
            s_side.append((g.twin(branches[-1]) | {"customer_number": g.s_number()}, b))
            look.append((a, b, kind))
        elif kind == "family":
            k = g.customer(person=True)
            k["phone"] = k["phone"] or g.phone("030")
            other = g.family(k)
            a, b = f"f{made}k", f"f{made}s"
            k_side.append((k, a))
            s_side.append((g.twin(other) | {"customer_number": g.s_number()}, b))
            look.append((a, b, kind))
        else:
            sites = g.sites(r.randrange(3, 6))
            for site in sites[:-2]:
                pair(site, f"p{n_pair}")
            a, b = f"s{made}k", f"s{made}s"
            k_side.append((sites[-2], a))
            s_side.append((g.twin(sites[-1]) | {"customer_number": g.s_number()}, b))
            look.append((a, b, kind))
        made += 1
    while n_pair < pairs:
        k = g.customer()
        if r.random() < 0.03:
            k["archived"] = True
        pair(k, f"p{n_pair}")
    for side, target in (("k", k_side), ("s", s_side)):
        j = 0
        while len(target) < size:
            rec = g.customer()
            if side == "s":
                rec = g.twin(rec) | {"customer_number": g.s_number()}
            target.append((rec, f"o{side}{j}"))
            j += 1
    r.shuffle(k_side)
    r.shuffle(s_side)
    k_index = {tag: i for i, (_, tag) in enumerate(k_side)}
    s_index = {tag: i for i, (_, tag) in enumerate(s_side)}
    truth = {k_index[t]: s_index[t] for t in k_index if t.startswith("p")}
    return Bench(
        kleanapp=[rec for rec, _ in k_side],
        sevdesk=[rec for rec, _ in s_side],
        truth=truth,
        lookalikes=[(k_index[a], s_index[b], kind) for a, b, kind in look],
    )


def remotes(bench: Bench) -> tuple[list[Remote[Customer]], list[Remote[Customer]]]:
    ks = [
        Remote(side="kleanapp", id=f"k{i}", record=Customer.model_validate(rec))
        for i, rec in enumerate(bench.kleanapp)
    ]
    ss = [
        Remote(side="sevdesk", id=f"s{i}", record=Customer.model_validate(rec))
        for i, rec in enumerate(bench.sevdesk)
    ]
    return ks, ss


@dataclass
class Figures:
    links: int
    correct: int
    true_pairs: int
    parked_records: int
    records: int
    parked_true_pairs: int
    lookalikes_linked: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.correct / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.true_pairs if self.true_pairs else 1.0

    @property
    def parked_share(self) -> float:
        return self.parked_records / self.records if self.records else 0.0


def evaluate(bench: Bench, result: MatchResult, seconds: float) -> Figures:
    links = [(int(m.kleanapp.id[1:]), int(m.sevdesk.id[1:])) for m in result.matches]
    correct = sum(1 for k, s in links if bench.truth.get(k) == s)
    look = {(k, s) for k, s, _ in bench.lookalikes}
    parked = {(p.side, int(p.record.id[1:])) for p in result.parked}
    return Figures(
        links=len(links),
        correct=correct,
        true_pairs=len(bench.truth),
        parked_records=len(parked),
        records=len(bench.kleanapp) + len(bench.sevdesk),
        parked_true_pairs=sum(1 for k in bench.truth if ("kleanapp", k) in parked),
        lookalikes_linked=sum(1 for pair in links if pair in look),
        seconds=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="records per side")
    parser.add_argument("--pairs", type=int, default=7_000, help="true pairs")
    parser.add_argument("--lookalikes", type=int, default=600, help="look-alike non-pairs")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--show", type=int, default=0, help="print N wrong links and misses")
    args = parser.parse_args()
    bench = generate(args.size, args.pairs, args.lookalikes, seed=args.seed)
    ks, ss = remotes(bench)
    started = time.perf_counter()
    result = match_customers(ks, ss)
    seconds = time.perf_counter() - started
    f = evaluate(bench, result, seconds)
    print(
        f"{len(ks)} x {len(ss)} records, {f.true_pairs} true pairs, "
        f"{len(bench.lookalikes)} look-alike non-pairs (seed {args.seed})"
    )
    print(f"auto-links: {f.links}, correct {f.correct}, false {f.links - f.correct}")
    print(f"precision: {f.precision:.4%}   (goal >= 99.9 %)")
    print(f"recall:    {f.recall:.4%}   (goal >= 95 %)")
    print(
        f"parked:    {f.parked_share:.3%} of records ({f.parked_records}), "
        f"{f.parked_true_pairs} true pairs among them   (goal <= 3 %)"
    )
    print(f"look-alikes linked: {f.lookalikes_linked}")
    print(f"time:      {seconds:.2f} s   (goal < 10 s)")
    if args.show:
        by_k = {int(m.kleanapp.id[1:]): m for m in result.matches}
        wrong = [m for k, m in by_k.items() if bench.truth.get(k) != int(m.sevdesk.id[1:])]
        for m in wrong[: args.show]:
            print("FALSE LINK", m.kleanapp.record, "\n   ", m.sevdesk.record, "\n   ", m.summary)
        missed = [k for k in bench.truth if k not in by_k]
        parked = {p.record.id: p for p in result.parked}
        for k in missed[: args.show]:
            s = bench.truth[k]
            p = parked.get(f"k{k}")
            print("MISSED", bench.kleanapp[k], "\n   ", bench.sevdesk[s])
            print("    ", p.reason if p else "not parked (created)")


if __name__ == "__main__":
    main()
