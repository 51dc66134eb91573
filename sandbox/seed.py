"""Realistic seed data for a cleaning company, for the demo, tests and benchmarks.

The same customer is typed independently in KleanApp and in sevDesk, so the
copies differ the way real data does (phone formats, e-mail case, spacing)
while meaning the same thing. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

FIRST = [
    "Anna",
    "Jonas",
    "Lena",
    "Lukas",
    "Marie",
    "Felix",
    "Sophie",
    "Paul",
    "Emma",
    "Leon",
    "Mia",
    "Elias",
    "Hannah",
    "Noah",
    "Lea",
    "Ben",
    "Clara",
    "Finn",
    "Ida",
    "Karl",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
]
BUSINESS = [
    "Zahnarztpraxis",
    "Kanzlei",
    "Physiotherapie",
    "Bäckerei",
    "Autohaus",
    "Kita",
    "Architekturbüro",
    "Steuerberatung",
    "Hausverwaltung",
    "Fitnessstudio",
    "Hotel",
    "Arztpraxis",
    "Immobilien",
    "Versicherungsbüro",
    "Café",
]
FORMS = ["GmbH", "GmbH & Co. KG", "e.K.", "UG", "AG", "", ""]
STREETS = [
    "Hauptstraße",
    "Bahnhofstraße",
    "Gartenweg",
    "Lindenallee",
    "Schulstraße",
    "Kirchplatz",
    "Am Markt",
    "Bergstraße",
    "Friedrichstraße",
    "Mühlenweg",
]
CITIES = [
    ("10115", "Berlin", "030"),
    ("20095", "Hamburg", "040"),
    ("80331", "München", "089"),
    ("50667", "Köln", "0221"),
    ("60311", "Frankfurt am Main", "069"),
    ("70173", "Stuttgart", "0711"),
    ("04109", "Leipzig", "0341"),
    ("28195", "Bremen", "0421"),
]


def _phone(rng: random.Random, area: str) -> str:
    return f"{area} {rng.randint(1000000, 9999999)}"


def _mobile(rng: random.Random) -> str:
    return f"0151 {rng.randint(10000000, 99999999)}"


def customer(rng: random.Random, number: str) -> dict[str, Any]:
    """One customer as canonical-ish JSON (both emulators' bulk loads take it)."""
    plz, city, area = rng.choice(CITIES)
    street = f"{rng.choice(STREETS)} {rng.randint(1, 180)}"
    if rng.random() < 0.6:
        name = f"{rng.choice(BUSINESS)} {rng.choice(LAST)} {rng.choice(FORMS)}".strip()
        slug = name.split()[1].lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
        return {
            "customer_number": number,
            "kind": "company",
            "company_name": name,
            "email": f"info@{slug}-{number[-5:]}.de",
            "phone": _phone(rng, area),
            "street": street,
            "postal_code": plz,
            "city": city,
            "country": "DE",
            "vat_id": f"DE{rng.randint(100000000, 999999999)}" if rng.random() < 0.5 else None,
        }
    first, last = rng.choice(FIRST), rng.choice(LAST)
    mail_last = last.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
    return {
        "customer_number": number,
        "kind": "person",
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}.{mail_last}{number[-3:]}@example.de",
        "phone": _phone(rng, area) if rng.random() < 0.5 else None,
        "mobile": _mobile(rng),
        "street": street,
        "postal_code": plz,
        "city": city,
        "country": "DE",
    }


def retyped(rng: random.Random, data: dict[str, Any]) -> dict[str, Any]:
    """The same customer as someone else would type it (same meaning)."""
    out = dict(data)
    if out.get("email") and rng.random() < 0.3:
        out["email"] = out["email"].upper() if rng.random() < 0.5 else out["email"].title()
    for key in ("phone", "mobile"):
        if out.get(key) and rng.random() < 0.5:
            area, rest = out[key].split(" ", 1)
            out[key] = f"+49 {area[1:]} {rest}" if rng.random() < 0.5 else f"{area}/{rest}"
    if out.get("company_name") and rng.random() < 0.2:
        out["company_name"] = out["company_name"] + " "
    return out


@dataclass
class CompanyData:
    kleanapp: list[dict[str, Any]] = field(default_factory=list)
    sevdesk: list[dict[str, Any]] = field(default_factory=list)


def cleaning_company(
    *, shared: int = 150, kleanapp_only: int = 40, sevdesk_only: int = 30, seed: int = 7
) -> CompanyData:
    """Customers of a cleaning company as both systems hold them before activation."""
    rng = random.Random(seed)
    data = CompanyData()
    for i in range(shared):
        record = customer(rng, f"K-{10001 + i:05d}")
        data.kleanapp.append(record)
        data.sevdesk.append(retyped(rng, record))
    for i in range(kleanapp_only):
        data.kleanapp.append(customer(rng, f"K-{20001 + i:05d}"))
    for i in range(sevdesk_only):
        data.sevdesk.append(customer(rng, f"K-{30001 + i:05d}"))
    return data
