"""Deterministic demo data: realistic B2B accounts and contacts for an empty database.

``load_demo(session)`` writes 2,000 accounts and 20,000 contacts (by default) in seconds:
the ids are reserved up front and the rows go in with multi-row INSERTs in chunks, not
through the per-record services. Every value still passes the normalization functions the
services use, and each record gets field provenance and one ``create`` audit event per set
field, as :func:`pivotal_core.accounts.services.create_account` and
:func:`pivotal_core.contacts.services.create_contact` would write them.

The data is a pure function of the seed, the sizes and ``reference_time``: names, streets
and company surnames come from one seeded Faker instance, every other choice from one
``random.Random(seed)``, and every timestamp (records, provenance, audit events) lies in the
two years before ``reference_time`` (2026-01-01T00:00:00Z unless given). The same inputs
give identical rows, as long as the installed Faker version does not change.

What is generated:

* accounts in the US, GB, DE, FR and NL: a company name in the local style (brand names,
  surname firms, acronyms, plus foreign subsidiaries named after their group), a unique
  registrable domain derived from the name (some accounts also own a secondary domain),
  industry, size, revenue, a real city with its region, a plausible postal code and a
  valid local phone number, technologies, tags; about 15 % belong to a parent account that
  was created earlier (so there are no cycles);
* contacts spread unevenly over the accounts (the biggest accounts hold the most), with
  local names, ``first.last@<account domain>`` e-mail addresses (made unique with a digit),
  E.164 phone and mobile numbers valid for the country, a title with its seniority and
  department, the country's time zone, tags, sometimes a LinkedIn URL; about 1 % are
  soft-deleted (with a ``delete`` audit event).

The function does not commit: the caller owns the transaction.
"""

from __future__ import annotations

import itertools
import random
import sys
import time
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import phonenumbers
from faker import Faker
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from pivotal_core.accounts.models import Account
from pivotal_core.audit.services import Actor, AuditBuffer
from pivotal_core.contacts.models import SENIORITIES, Contact
from pivotal_core.normalize import (
    NormalizationError,
    company_match_key,
    email_domain,
    normalize_company_name,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_name,
    normalize_phone,
    normalize_tags,
    normalize_text,
)
from pivotal_core.records import LIST_FIELDS, provenance_entry

__all__ = [
    "DEMO_SOURCE",
    "HISTORY",
    "REFERENCE_TIME",
    "DemoDataError",
    "DemoSummary",
    "load_demo",
]

DEMO_SOURCE = "demo"
REFERENCE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = timedelta(days=730)
CHUNK_SIZE = 2_000
NAME_POOL_SIZE = 1_000
MAX_ATTEMPTS = 50

Progress = Callable[[int, int], None]


class DemoDataError(Exception):
    """Demo data cannot be loaded (database not empty, bad sizes, generator exhausted)."""


@dataclass(frozen=True)
class DemoSummary:
    accounts: int
    contacts: int
    audit_events: int
    seconds: float


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _City:
    name: str
    region: str
    # Templates: "#" a digit, "N" a digit 2-9, "L" a letter of the country's postal alphabet.
    postal_codes: tuple[str, ...]
    phones: tuple[str, ...]
    timezone: str | None = None  # when it differs from the country's


@dataclass(frozen=True)
class _Country:
    code: str
    locale: str
    weight: int
    timezone: str
    tlds: tuple[tuple[str, int], ...]  # (tld, weight)
    legal_forms: tuple[str, ...]
    branch_word: str  # "Acme Deutschland GmbH"
    mobiles: tuple[str, ...]
    postal_letters: str
    street_number_first: bool
    cities: tuple[_City, ...]
    # Whether a valid number may still belong to another region with the same calling code.
    check_region: bool = False


# fmt: off
_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        code="US", locale="en_US", weight=40, timezone="America/New_York",
        tlds=(("com", 85), ("io", 7), ("co", 4), ("net", 4)),
        legal_forms=("Inc.", "Inc.", "LLC", "Corp.", ""),
        branch_word="US", mobiles=(), postal_letters="", street_number_first=True,
        cities=(
            _City("New York", "New York", ("100##", "101##"), ("(212) N##-####", "(646) N##-####")),
            _City("Boston", "Massachusetts", ("021##",), ("(617) N##-####", "(857) N##-####")),
            _City("Atlanta", "Georgia", ("303##",), ("(404) N##-####", "(470) N##-####")),
            _City("Miami", "Florida", ("331##",), ("(305) N##-####", "(786) N##-####")),
            _City("Raleigh", "North Carolina", ("276##",), ("(919) N##-####",)),
            _City("Chicago", "Illinois", ("606##",), ("(312) N##-####", "(773) N##-####"),
                  "America/Chicago"),
            _City("Austin", "Texas", ("787##",), ("(512) N##-####", "(737) N##-####"),
                  "America/Chicago"),
            _City("Dallas", "Texas", ("752##",), ("(214) N##-####", "(469) N##-####"),
                  "America/Chicago"),
            _City("Minneapolis", "Minnesota", ("554##",), ("(612) N##-####",),
                  "America/Chicago"),
            _City("Denver", "Colorado", ("802##",), ("(303) N##-####", "(720) N##-####"),
                  "America/Denver"),
            _City("Phoenix", "Arizona", ("850##",), ("(602) N##-####",), "America/Phoenix"),
            _City("San Francisco", "California", ("941##",), ("(415) N##-####", "(628) N##-####"),
                  "America/Los_Angeles"),
            _City("Los Angeles", "California", ("900##",), ("(213) N##-####", "(310) N##-####"),
                  "America/Los_Angeles"),
            _City("Seattle", "Washington", ("981##",), ("(206) N##-####",),
                  "America/Los_Angeles"),
        ),
    ),
    _Country(
        code="GB", locale="en_GB", weight=18, timezone="Europe/London",
        tlds=(("co.uk", 60), ("com", 35), ("io", 5)),
        legal_forms=("Ltd", "Ltd", "Limited", "plc", ""),
        branch_word="UK",
        mobiles=("074## ######", "075## ######", "077## ######", "078## ######", "079## ######"),
        postal_letters="ABDEFGHJLNPQRSTUWXYZ", street_number_first=True,
        # +44 mobile ranges include Guernsey's, Jersey's and the Isle of Man's.
        check_region=True,
        cities=(
            _City("London", "England", ("EC1V #LL", "EC2A #LL", "EC4N #LL", "WC2H #LL",
                                        "W1D #LL", "SE1 #LL", "E14 #LL", "N1 #LL"),
                  ("020 7### ####", "020 3### ####")),
            _City("Manchester", "England", ("M1 #LL", "M2 #LL", "M3 #LL", "M15 #LL"),
                  ("0161 N## ####",)),
            _City("Birmingham", "England", ("B1 #LL", "B2 #LL", "B3 #LL"), ("0121 N## ####",)),
            _City("Leeds", "England", ("LS1 #LL", "LS2 #LL", "LS11 #LL"), ("0113 N## ####",)),
            _City("Bristol", "England", ("BS1 #LL", "BS2 #LL", "BS8 #LL"), ("0117 N## ####",)),
            _City("Reading", "England", ("RG1 #LL", "RG2 #LL"), ("0118 N## ####",)),
            _City("Cambridge", "England", ("CB1 #LL", "CB2 #LL", "CB4 #LL"), ("01223 N#####",)),
            _City("Edinburgh", "Scotland", ("EH1 #LL", "EH2 #LL", "EH3 #LL"), ("0131 N## ####",)),
            _City("Glasgow", "Scotland", ("G1 #LL", "G2 #LL", "G3 #LL"), ("0141 N## ####",)),
            _City("Cardiff", "Wales", ("CF10 #LL", "CF11 #LL"), ("029 20## ####",)),
            _City("Belfast", "Northern Ireland", ("BT1 #LL", "BT2 #LL"), ("028 90## ####",)),
        ),
    ),
    _Country(
        code="DE", locale="de_DE", weight=18, timezone="Europe/Berlin",
        tlds=(("de", 75), ("com", 22), ("io", 3)),
        legal_forms=("GmbH", "GmbH", "GmbH", "AG", "SE", "GmbH & Co. KG"),
        branch_word="Deutschland",
        mobiles=("0151 ########", "0152 ########", "0160 #######", "0170 #######",
                 "0171 #######", "0172 #######", "0176 ########", "0179 #######"),
        postal_letters="", street_number_first=False,
        cities=(
            _City("Berlin", "Berlin", ("101##", "104##", "107##", "109##", "120##"),
                  ("030 N#######",)),
            _City("Hamburg", "Hamburg", ("200##", "201##", "221##", "227##"), ("040 N#######",)),
            _City("München", "Bayern", ("803##", "804##", "806##", "809##", "816##"),
                  ("089 N#######",)),
            _City("Frankfurt am Main", "Hessen", ("603##", "604##", "605##"),
                  ("069 N#######",)),
            _City("Köln", "Nordrhein-Westfalen", ("506##", "507##", "508##"),
                  ("0221 N######",)),
            _City("Düsseldorf", "Nordrhein-Westfalen", ("402##", "404##", "405##"),
                  ("0211 N######",)),
            _City("Stuttgart", "Baden-Württemberg", ("701##", "703##", "705##"),
                  ("0711 N######",)),
            _City("Karlsruhe", "Baden-Württemberg", ("761##", "762##"), ("0721 N######",)),
            _City("Leipzig", "Sachsen", ("041##", "042##"), ("0341 N######",)),
            _City("Dresden", "Sachsen", ("010##", "011##"), ("0351 N######",)),
        ),
    ),
    _Country(
        code="FR", locale="fr_FR", weight=12, timezone="Europe/Paris",
        tlds=(("fr", 65), ("com", 33), ("io", 2)),
        legal_forms=("SAS", "SAS", "SA", "SARL"),
        branch_word="France",
        mobiles=("06 ## ## ## ##", "07 5# ## ## ##", "07 6# ## ## ##", "07 8# ## ## ##"),
        postal_letters="", street_number_first=True,
        cities=(
            _City("Paris", "Île-de-France", ("7500N", "7501#"),
                  ("01 4# ## ## ##", "01 5# ## ## ##")),
            _City("Lyon", "Auvergne-Rhône-Alpes", ("6900N",), ("04 72 ## ## ##", "04 78 ## ## ##")),
            _City("Marseille", "Provence-Alpes-Côte d'Azur", ("1300N", "1301#"),
                  ("04 91 ## ## ##",)),
            _City("Nice", "Provence-Alpes-Côte d'Azur", ("06000", "06100", "06200", "06300"),
                  ("04 93 ## ## ##",)),
            _City("Toulouse", "Occitanie", ("31000", "31100", "31200", "31300", "31400"),
                  ("05 61 ## ## ##",)),
            _City("Montpellier", "Occitanie", ("34000", "34070", "34080", "34090"),
                  ("04 67 ## ## ##",)),
            _City("Bordeaux", "Nouvelle-Aquitaine", ("33000", "33100", "33200", "33300"),
                  ("05 56 ## ## ##",)),
            _City("Lille", "Hauts-de-France", ("59000", "59160", "59260", "59800"),
                  ("03 20 ## ## ##",)),
            _City("Nantes", "Pays de la Loire", ("44000", "44100", "44200", "44300"),
                  ("02 40 ## ## ##",)),
            _City("Rennes", "Bretagne", ("35000", "35200", "35700"), ("02 99 ## ## ##",)),
            _City("Strasbourg", "Grand Est", ("67000", "67100", "67200"), ("03 88 ## ## ##",)),
        ),
    ),
    _Country(
        code="NL", locale="nl_NL", weight=12, timezone="Europe/Amsterdam",
        tlds=(("nl", 70), ("com", 27), ("io", 3)),
        legal_forms=("B.V.", "B.V.", "B.V.", "N.V."),
        branch_word="Nederland",
        mobiles=("06 1### ####", "06 2### ####", "06 3### ####", "06 4### ####", "06 5### ####"),
        postal_letters="ABCEGHJKLMNPRTVWXZ", street_number_first=False,
        cities=(
            _City("Amsterdam", "Noord-Holland", ("10N# LL",), ("020 N## ####",)),
            _City("Haarlem", "Noord-Holland", ("201# LL", "202# LL"), ("023 N## ####",)),
            _City("Rotterdam", "Zuid-Holland", ("30N# LL",), ("010 N## ####",)),
            _City("Den Haag", "Zuid-Holland", ("25N# LL",), ("070 N## ####",)),
            _City("Leiden", "Zuid-Holland", ("231# LL", "232# LL"), ("071 N## ####",)),
            _City("Delft", "Zuid-Holland", ("261# LL", "262# LL"), ("015 N## ####",)),
            _City("Utrecht", "Utrecht", ("35N# LL",), ("030 N## ####",)),
            _City("Eindhoven", "Noord-Brabant", ("56N# LL",), ("040 N## ####",)),
            _City("Arnhem", "Gelderland", ("68N# LL",), ("026 N## ####",)),
            _City("Groningen", "Groningen", ("97N# LL",), ("050 N## ####",)),
        ),
    ),
)

# (industry, words for company names, revenue per employee in thousands)
_INDUSTRIES: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("Software", ("Software", "Labs", "Technologies", "Systems"), 250),
    ("IT Services", ("IT", "Digital", "Solutions", "Consulting"), 150),
    ("Cybersecurity", ("Security", "Cyber", "Secure"), 280),
    ("Financial Services", ("Capital", "Finance", "Advisors"), 400),
    ("Banking", ("Bank", "Banking"), 500),
    ("Insurance", ("Insurance", "Assurance", "Underwriting"), 450),
    ("Healthcare", ("Health", "Care", "Medical"), 120),
    ("Pharmaceuticals", ("Pharma", "Therapeutics"), 450),
    ("Biotechnology", ("Bio", "Biosciences", "Genomics"), 300),
    ("Medical Devices", ("Medical", "MedTech", "Devices"), 280),
    ("Manufacturing", ("Manufacturing", "Industries", "Engineering"), 220),
    ("Industrial Machinery", ("Machinery", "Robotics", "Automation"), 250),
    ("Automotive", ("Automotive", "Motors", "Mobility"), 350),
    ("Aerospace & Defense", ("Aerospace", "Aviation", "Dynamics"), 330),
    ("Chemicals", ("Chemicals", "Materials", "Polymers"), 400),
    ("Energy & Utilities", ("Energy", "Power", "Renewables"), 500),
    ("Logistics & Supply Chain", ("Logistics", "Freight", "Transport"), 180),
    ("Retail", ("Retail", "Stores", "Brands"), 150),
    ("E-commerce", ("Commerce", "Shop", "Marketplace"), 300),
    ("Food & Beverage", ("Foods", "Beverages", "Kitchen"), 200),
    ("Telecommunications", ("Telecom", "Networks", "Communications"), 400),
    ("Media & Publishing", ("Media", "Publishing", "Studios"), 180),
    ("Marketing & Advertising", ("Marketing", "Creative", "Agency"), 150),
    ("Management Consulting", ("Consulting", "Advisory", "Partners"), 200),
    ("Legal Services", ("Legal", "Law"), 250),
    ("Real Estate", ("Properties", "Real Estate", "Estates"), 350),
    ("Construction", ("Construction", "Builders", "Building"), 200),
)
_TECH_HEAVY = frozenset({"Software", "IT Services", "Cybersecurity", "E-commerce",
                         "Telecommunications", "Financial Services"})

_TECHNOLOGIES: tuple[str, ...] = (
    "Salesforce", "HubSpot", "Pipedrive", "Marketo", "Mailchimp", "Intercom", "Zendesk",
    "Freshdesk", "ServiceNow", "Slack", "Microsoft Teams", "Zoom", "Jira", "Confluence",
    "Asana", "monday.com", "Notion", "Figma", "GitHub", "GitLab", "AWS", "Microsoft Azure",
    "Google Cloud", "Snowflake", "Databricks", "Tableau", "Looker", "Power BI", "Segment",
    "Mixpanel", "Datadog", "Okta", "Workday", "SAP S/4HANA", "NetSuite", "Stripe", "Shopify",
    "DocuSign", "Dropbox", "Twilio",
)
_SUITES = ("Google Workspace", "Microsoft 365")

_BRAND_PREFIXES = (
    "North", "Blue", "Bright", "Clear", "Silver", "Iron", "Red", "Green", "High", "Swift",
    "True", "Open", "Deep", "Nova", "Sun", "Star", "Core", "Prime", "Vertex", "Quantum",
    "Apex", "Omni", "Terra", "Aero", "Polar", "Crystal", "Maple", "Cedar", "Granite",
    "Harbor", "River", "Summit", "Atlas", "Lumen", "Vector", "Signal", "Beacon", "Falcon",
)
_BRAND_STEMS = (
    "wave", "point", "field", "stone", "bridge", "line", "path", "gate", "works", "forge",
    "light", "leaf", "mark", "base", "scale", "shift", "stack", "loop", "flow", "grid",
    "sight", "cloud", "ridge", "port", "wise", "ware", "logic", "hub", "spring", "craft",
)
_ACRONYM_LETTERS = "ABCDEFGHIJKLMNOPRSTVW"

_DEPARTMENTS: tuple[tuple[str, int], ...] = (
    ("Engineering", 16), ("Sales", 16), ("Marketing", 12), ("IT", 10), ("Operations", 9),
    ("Finance", 8), ("Customer Success", 8), ("Product", 7), ("Human Resources", 5),
    ("Data & Analytics", 4), ("Procurement", 3), ("Legal", 2),
)
_SENIORITY_WEIGHTS: dict[str, int] = {
    "c_level": 4, "vp": 7, "director": 12, "manager": 22, "senior": 25, "entry": 25, "other": 5,
}
_C_LEVEL: tuple[tuple[str, str], ...] = (
    ("Chief Executive Officer", "Executive"),
    ("Chief Technology Officer", "Engineering"),
    ("Chief Financial Officer", "Finance"),
    ("Chief Marketing Officer", "Marketing"),
    ("Chief Operating Officer", "Operations"),
    ("Chief Revenue Officer", "Sales"),
    ("Chief Information Officer", "IT"),
    ("Chief Information Security Officer", "IT"),
    ("Chief People Officer", "Human Resources"),
    ("Chief Product Officer", "Product"),
    ("Chief Data Officer", "Data & Analytics"),
)
_OTHER_TITLES: tuple[tuple[str, str], ...] = (
    ("Executive Assistant", "Executive"),
    ("Board Member", "Executive"),
    ("Office Manager", "Operations"),
    ("Freelance Consultant", "Operations"),
    ("Working Student", "Engineering"),
    ("Marketing Intern", "Marketing"),
)
# department -> seniority -> titles (vp, director, manager, senior, entry)
_TITLES: dict[str, dict[str, tuple[str, ...]]] = {
    "Engineering": {
        "vp": ("VP of Engineering",),
        "director": ("Director of Engineering", "Head of Engineering"),
        "manager": ("Engineering Manager", "QA Manager"),
        "senior": ("Senior Software Engineer", "Staff Engineer", "Principal Engineer"),
        "entry": ("Software Engineer", "Junior Developer", "QA Engineer"),
    },
    "Sales": {
        "vp": ("VP of Sales",),
        "director": ("Sales Director", "Head of Sales"),
        "manager": ("Sales Manager", "Regional Sales Manager"),
        "senior": ("Senior Account Executive", "Key Account Manager"),
        "entry": ("Sales Development Representative", "Account Executive"),
    },
    "Marketing": {
        "vp": ("VP of Marketing",),
        "director": ("Marketing Director", "Head of Demand Generation"),
        "manager": ("Marketing Manager", "Product Marketing Manager"),
        "senior": ("Senior Marketing Specialist", "Senior Content Strategist"),
        "entry": ("Marketing Coordinator", "Marketing Associate"),
    },
    "IT": {
        "vp": ("VP of IT",),
        "director": ("IT Director", "Head of IT"),
        "manager": ("IT Manager", "Infrastructure Manager"),
        "senior": ("Senior Systems Administrator", "Senior Cloud Architect"),
        "entry": ("IT Support Specialist", "Systems Administrator"),
    },
    "Operations": {
        "vp": ("VP of Operations",),
        "director": ("Director of Operations", "Head of Operations"),
        "manager": ("Operations Manager", "Project Manager"),
        "senior": ("Senior Business Analyst", "Senior Program Manager"),
        "entry": ("Operations Associate", "Business Analyst"),
    },
    "Finance": {
        "vp": ("VP of Finance",),
        "director": ("Finance Director", "Financial Controller"),
        "manager": ("Finance Manager", "Accounting Manager"),
        "senior": ("Senior Financial Analyst", "Senior Accountant"),
        "entry": ("Financial Analyst", "Accountant"),
    },
    "Customer Success": {
        "vp": ("VP of Customer Success",),
        "director": ("Director of Customer Success", "Head of Support"),
        "manager": ("Customer Success Manager", "Support Manager"),
        "senior": ("Senior Customer Success Manager", "Senior Support Engineer"),
        "entry": ("Customer Support Specialist", "Onboarding Specialist"),
    },
    "Product": {
        "vp": ("VP of Product",),
        "director": ("Director of Product Management", "Head of Design"),
        "manager": ("Product Manager", "Design Manager"),
        "senior": ("Senior Product Manager", "Senior Product Designer"),
        "entry": ("Associate Product Manager", "Product Designer"),
    },
    "Human Resources": {
        "vp": ("VP of People",),
        "director": ("HR Director", "Head of Talent Acquisition"),
        "manager": ("HR Manager", "Recruiting Manager"),
        "senior": ("Senior HR Business Partner", "Senior Recruiter"),
        "entry": ("HR Coordinator", "Recruiter"),
    },
    "Data & Analytics": {
        "vp": ("VP of Data",),
        "director": ("Director of Analytics", "Head of Data"),
        "manager": ("Analytics Manager", "Data Engineering Manager"),
        "senior": ("Senior Data Scientist", "Senior Data Engineer"),
        "entry": ("Data Analyst", "Data Engineer"),
    },
    "Procurement": {
        "vp": ("VP of Procurement",),
        "director": ("Procurement Director", "Head of Purchasing"),
        "manager": ("Procurement Manager", "Purchasing Manager"),
        "senior": ("Senior Buyer", "Senior Category Manager"),
        "entry": ("Buyer", "Purchasing Assistant"),
    },
    "Legal": {
        "vp": ("VP of Legal",),
        "director": ("Director of Legal Affairs", "Head of Legal"),
        "manager": ("Legal Manager", "Compliance Manager"),
        "senior": ("Senior Legal Counsel", "Senior Compliance Officer"),
        "entry": ("Legal Counsel", "Paralegal"),
    },
}
_TECHNICAL_DEPARTMENTS = frozenset({"Engineering", "IT", "Data & Analytics"})
_BUDGET_DEPARTMENTS = frozenset({"Finance", "Procurement", "Executive"})

# Lower-case surname particles Faker's Dutch, German and French names start with.
_NAME_PARTICLES = frozenset(
    {"van", "von", "de", "der", "den", "da", "du", "le", "la", "ter", "ten"}
)
# Letters NFKD does not reduce to ASCII, and German umlauts spelled the way addresses use them.
_TRANSLITERATION = str.maketrans({
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "å": "a",
    "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i",
})

# Columns every generated row carries (bulk INSERT needs the same keys in every row).
_ACCOUNT_FIELDS = (
    "name", "domain", "secondary_domains", "parent_id", "industry", "employee_count",
    "annual_revenue", "phone", "linkedin_url", "description", "street", "city", "region",
    "postal_code", "country", "technologies", "tags",
)
_CONTACT_FIELDS = (
    "account_id", "first_name", "last_name", "email", "email_domain", "phone", "mobile",
    "title", "seniority", "department", "linkedin_url", "city", "region", "postal_code",
    "country", "timezone", "tags",
)
# fmt: on

assert set(_SENIORITY_WEIGHTS) == set(SENIORITIES), "a seniority the model does not know"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _slug(text: str, separator: str = "") -> str:
    """ASCII form of a name: "Müller & Söhne" -> "muellersoehne" or "mueller-soehne"."""
    text = unicodedata.normalize("NFC", text.lower()).translate(_TRANSLITERATION)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words: list[str] = []
    for raw in text.replace("-", " ").split():
        word = "".join(char for char in raw if char.isalnum())
        if word:
            words.append(word)
    return separator.join(words)


def _round_significant(value: float, digits: int = 2) -> int:
    """``12_345`` -> ``12_000``: headcounts and revenues as data providers report them."""
    value = int(value)
    if value < 100:
        return value
    scale = 10 ** (len(str(value)) - digits)
    return int(round(value / scale) * scale)


def _is_normal(normalize: Callable[[str], str | None], value: str) -> bool:
    """Whether ``value`` is already in the form ``normalize`` gives it."""
    try:
        return normalize(value) == value
    except NormalizationError:
        return False


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _PlannedAccount:
    index: int
    country: _Country
    city: _City
    brand: str  # the name without legal form
    label: str  # first label of the domain
    domain: str
    employees: int
    created_at: datetime
    parent_index: int | None
    values: dict[str, Any]
    group: _PlannedAccount | None = None  # whose brand a subsidiary carries
    id: int = 0  # reserved before the accounts are inserted


@dataclass
class _ContactSlot:
    account: _PlannedAccount
    created_at: datetime
    deleted_at: datetime | None


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


class _Generator:
    """All randomness of one demo load: one seeded Faker plus one ``random.Random``."""

    def __init__(self, seed: int, reference_time: datetime) -> None:
        self.rng = random.Random(seed)
        self.faker = Faker([country.locale for country in _COUNTRIES])
        self.faker.seed_instance(seed)
        self.reference_time = reference_time
        self.used_domains: set[str] = set()
        self.used_linkedin: set[str] = set()
        self.used_emails: set[str] = set()
        self.c_level_taken: dict[int, set[str]] = {}
        # Faker's weighted name lookups are slow (en_US especially): draw a pool per locale
        # once and pick from it, which keeps Faker's name frequencies.
        self.first_names: dict[str, list[str]] = {}
        self.last_names: dict[str, list[str]] = {}
        for country in _COUNTRIES:
            locale = self.faker[country.locale]
            self.first_names[country.locale] = self._name_pool(locale.first_name)
            self.last_names[country.locale] = self._name_pool(locale.last_name)
        self.country_cum = list(accumulate(c.weight for c in _COUNTRIES))
        self.department_names = [name for name, _ in _DEPARTMENTS]
        self.department_cum = list(accumulate(weight for _, weight in _DEPARTMENTS))
        self.seniorities = list(_SENIORITY_WEIGHTS)
        self.seniority_cum = list(accumulate(_SENIORITY_WEIGHTS.values()))

    @staticmethod
    def _name_pool(draw: Callable[[], str]) -> list[str]:
        pool: list[str] = []
        while len(pool) < NAME_POOL_SIZE:
            name = normalize_name(draw())
            # Skip Faker oddities such as "Hans D." or "auch Schlauchin"; keep "van der Berg".
            if (
                name
                and "." not in name
                and (name[0].isupper() or name.split()[0] in _NAME_PARTICLES)
            ):
                pool.append(name)
        return pool

    # -- small pieces -------------------------------------------------------

    def _weighted(self, items: Sequence[Any], cum: Sequence[int]) -> Any:
        return items[bisect_right(cum, self.rng.random() * cum[-1])]

    def _fill(self, template: str, letters: str = "") -> str:
        rng = self.rng
        out: list[str] = []
        for char in template:
            if char == "#":
                out.append(str(rng.randrange(10)))
            elif char == "N":
                out.append(str(rng.randrange(2, 10)))
            elif char == "L":
                out.append(letters[rng.randrange(len(letters))])
            else:
                out.append(char)
        return "".join(out)

    def _phone(self, templates: Sequence[str], country: _Country) -> str:
        """A number valid for ``country`` in E.164; invalid draws are retried."""
        for _ in range(MAX_ATTEMPTS):
            raw = self._fill(self.rng.choice(templates))
            try:
                phone = normalize_phone(raw, country.code)
            except NormalizationError:
                continue
            if phone and (
                not country.check_region
                or phonenumbers.is_valid_number_for_region(phonenumbers.parse(phone), country.code)
            ):
                return phone
        raise DemoDataError(f"no valid {country.code} phone number from {templates}")

    @staticmethod
    def _numbered(*labels: str) -> Iterator[str]:
        """``labels``, then the first one with ``-2``, ``-3``, ... appended."""
        yield from labels
        for counter in itertools.count(2):
            yield f"{labels[0]}-{counter}"

    def _timestamp_between(self, start: datetime, end: datetime) -> datetime:
        seconds = int((end - start).total_seconds())
        return start + timedelta(seconds=self.rng.randrange(max(seconds, 1)))

    def _claim_domain(self, labels: Sequence[str], tld: str) -> tuple[str, str]:
        """The first free ``label.tld`` of ``labels``, else ``<first label><n>.tld``."""
        candidates = [label[:40].strip("-") for label in labels]
        candidates = [label for label in candidates if label] or ["company"]
        base = candidates[0]
        counter = 2
        while True:
            for label in candidates:
                domain = f"{label}.{tld}"
                if domain not in self.used_domains and _is_normal(normalize_domain, domain):
                    self.used_domains.add(domain)
                    return label, domain
            candidates = [f"{base}{counter}"]
            counter += 1

    def _linkedin(self, kind: str, slugs: Iterable[str]) -> str:
        """``https://www.linkedin.com/<kind>/<slug>`` for the first unused slug of ``slugs``."""
        for slug in slugs:
            url = f"https://www.linkedin.com/{kind}/{slug}"
            if url not in self.used_linkedin and _is_normal(normalize_linkedin_url, url):
                self.used_linkedin.add(url)
                return url
        raise DemoDataError(f"ran out of LinkedIn {kind} URLs to try")

    # -- accounts -------------------------------------------------------------

    def accounts(self, count: int) -> list[_PlannedAccount]:
        """``count`` accounts in creation order; a parent is always an earlier account."""
        rng = self.rng
        start = self.reference_time - HISTORY
        end = self.reference_time - timedelta(days=7)
        created = sorted(self._timestamp_between(start, end) for _ in range(count))
        planned: list[_PlannedAccount] = []
        for index, created_at in enumerate(created):
            parent: _PlannedAccount | None = None
            if index >= 5 and rng.random() < 0.15:
                # Groups own subsidiaries: the biggest of three earlier accounts.
                candidates = [planned[rng.randrange(index)] for _ in range(3)]
                parent = max(candidates, key=lambda a: (a.employees, -a.index))
            planned.append(self._account(index, created_at, parent))
        return planned

    def _account(
        self, index: int, created_at: datetime, parent: _PlannedAccount | None
    ) -> _PlannedAccount:
        rng = self.rng
        industry, words, revenue_per_head = _INDUSTRIES[rng.randrange(len(_INDUSTRIES))]
        branch = parent is not None and rng.random() < 0.5
        group: _PlannedAccount | None = None
        if branch and parent is not None:
            # A foreign subsidiary named after its group: "Brightwave Deutschland GmbH".
            group = parent.group or parent
            home = {group.country.code, parent.country.code}
            abroad = [c for c in _COUNTRIES if c.code not in home]
            country = self._weighted(abroad, list(accumulate(c.weight for c in abroad)))
            industry = group.values["industry"] or industry
            brand = f"{group.brand} {country.branch_word}"
            legal = country.legal_forms[0]
            code = country.code.lower()
            labels = [group.label, f"{group.label}-{code}", f"{group.label}{code}"]
            tld = country.tlds[0][0]
            employees = max(5, int(parent.employees * (0.02 + 0.2 * rng.random())))
        else:
            country = self._weighted(_COUNTRIES, self.country_cum)
            brand, labels = self._brand(country, words)
            legal = rng.choice(country.legal_forms)
            tld = rng.choices([t for t, _ in country.tlds], [w for _, w in country.tlds])[0]
            # Log-normal headcount: median about 125, one in eight above 1,000.
            employees = int(10 ** min(5.4, max(0.5, rng.gauss(2.1, 0.8))))
        employees = _round_significant(employees)
        label, domain = self._claim_domain(labels, tld)
        name = normalize_company_name(f"{brand} {legal}" if legal else brand)
        assert name is not None

        city = rng.choice(country.cities)
        secondary: list[str] = []
        if rng.random() < 0.1:
            alternative = "com" if tld != "com" else rng.choice(("net", "io"))
            extra = f"{label}.{alternative}"
            if extra not in self.used_domains and _is_normal(normalize_domain, extra):
                self.used_domains.add(extra)
                secondary.append(extra)

        faker = self.faker[country.locale]
        street: str | None = None
        postal_code: str | None = None
        if rng.random() < 0.8:
            number = rng.randint(1, 250)
            street_name = faker.street_name()
            if country.street_number_first:
                separator = ", " if country.code == "FR" else " "
                street = normalize_text(f"{number}{separator}{street_name}", 200)
            else:
                street = normalize_text(f"{street_name} {number}", 200)
            postal_code = self._fill(rng.choice(city.postal_codes), country.postal_letters)

        revenue: int | None = None
        if rng.random() < 0.8:
            revenue = _round_significant(
                employees * revenue_per_head * 1000 * (0.6 + 0.9 * rng.random())
            )
        kind = " ".join(word if word.isupper() else word.lower() for word in industry.split())
        article = "an" if kind[0] in "aeiouAEIOU" else "a"
        description = (
            f"{name} is {article} {kind} company headquartered in {city.name}"
            f" with about {employees:,} employees."
            if rng.random() < 0.6
            else None
        )
        values: dict[str, Any] = {
            "name": name,
            "domain": domain,
            "secondary_domains": secondary,
            "parent_id": None,  # set once the parent's id is known
            "industry": industry if rng.random() < 0.95 else None,
            "employee_count": employees if rng.random() < 0.9 else None,
            "annual_revenue": revenue,
            "phone": self._phone(city.phones, country) if rng.random() < 0.85 else None,
            "linkedin_url": (
                self._linkedin("company", self._numbered(label, f"{label}-{country.code.lower()}"))
                if rng.random() < 0.7
                else None
            ),
            "description": description,
            "street": street,
            "city": city.name,
            "region": city.region,
            "postal_code": postal_code,
            "country": normalize_country(country.code),
            "technologies": self._technologies(industry),
            "tags": self._account_tags(employees),
        }
        return _PlannedAccount(
            index=index,
            country=country,
            city=city,
            brand=brand,
            label=label,
            domain=domain,
            employees=employees,
            created_at=created_at,
            parent_index=parent.index if parent is not None else None,
            values=values,
            group=group,
        )

    def _brand(self, country: _Country, words: tuple[str, ...]) -> tuple[str, list[str]]:
        """A company name without legal form, and domain labels to try, best first."""
        rng = self.rng
        style = rng.random()
        descriptor: str | None = None
        if style < 0.5:  # "Brightwave Analytics"
            brand = rng.choice(_BRAND_PREFIXES) + rng.choice(_BRAND_STEMS)
            if rng.random() < 0.6:
                descriptor = rng.choice(words)
        elif style < 0.85:  # "Hoffmann Logistics", "Dekker & Jansen"
            surnames = self.last_names[country.locale]
            brand = rng.choice(surnames)
            if rng.random() < 0.3:
                brand = f"{brand} & {rng.choice(surnames)}"
            elif rng.random() < 0.7:
                descriptor = rng.choice(words)
        else:  # "KTS Systems"
            brand = "".join(rng.choice(_ACRONYM_LETTERS) for _ in range(rng.randint(2, 4)))
            descriptor = rng.choice(words)
        joined, hyphenated = _slug(brand), _slug(brand, "-")
        labels = [] if descriptor and len(joined) < 4 else [joined]
        if descriptor:
            extra = _slug(descriptor)
            labels += [joined + extra, f"{hyphenated}-{_slug(descriptor, '-')}"]
            brand = f"{brand} {descriptor}"
        if hyphenated != joined:
            labels.append(hyphenated)
        labels += [f"{joined}group", f"{joined}-{country.code.lower()}"]
        return brand, labels

    def _technologies(self, industry: str) -> list[str]:
        rng = self.rng
        count = rng.choices(range(8), (8, 10, 15, 18, 17, 14, 10, 8))[0]
        if industry in _TECH_HEAVY:
            count += 2
        chosen = rng.sample(_TECHNOLOGIES, count)
        if rng.random() < 0.85:
            chosen.append(rng.choice(_SUITES))
        return sorted(chosen, key=str.lower)

    def _account_tags(self, employees: int) -> list[str]:
        rng = self.rng
        tags: list[str] = []
        stage = rng.random()
        if stage < 0.25:
            tags.append("customer")
        elif stage < 0.70:
            tags.append("prospect")
        elif stage < 0.78:
            tags.append("partner")
        elif stage < 0.85:
            tags.append("churned")
        if rng.random() < 0.7:
            tags.append(
                "enterprise" if employees >= 1000 else "mid-market" if employees >= 200 else "smb"
            )
        if rng.random() < 0.2:
            tags.append(
                rng.choice(("strategic", "target-account", "reference", "renewal-due", "expansion"))
            )
        return normalize_tags(tags)

    # -- contacts -------------------------------------------------------------

    def contact_slots(self, accounts: Sequence[_PlannedAccount], count: int) -> list[_ContactSlot]:
        """Who works where and when they were added, oldest first.

        Contacts per account follow a power law over the accounts ranked by headcount, so a
        few big accounts hold many contacts and many small ones a handful or none.
        """
        rng = self.rng
        ranked = sorted(accounts, key=lambda a: (-a.employees, a.index))
        cum = list(accumulate((rank + 1) ** -0.85 for rank in range(len(ranked))))
        slots: list[tuple[datetime, int, _ContactSlot]] = []
        for draw in range(count):
            account = ranked[bisect_right(cum, rng.random() * cum[-1])]
            created_at = self._timestamp_between(account.created_at, self.reference_time)
            deleted_at = (
                self._timestamp_between(created_at, self.reference_time)
                if rng.random() < 0.01
                else None
            )
            slots.append((created_at, draw, _ContactSlot(account, created_at, deleted_at)))
        slots.sort(key=lambda item: (item[0], item[1]))
        return [slot for _, _, slot in slots]

    def contact(self, slot: _ContactSlot) -> dict[str, Any]:
        rng = self.rng
        account = slot.account
        country = account.country
        first_name = rng.choice(self.first_names[country.locale])
        last_name = rng.choice(self.last_names[country.locale])
        first_slug = _slug(first_name, "-")[:30] or "contact"
        last_slug = _slug(last_name)[:30] or "contact"
        email = self._email(f"{first_slug}.{last_slug}", account.domain)
        city = account.city if rng.random() < 0.75 else rng.choice(country.cities)
        title, seniority, department = self._position(account)
        linkedin = None
        if rng.random() < 0.3:
            slug = f"{first_slug}-{_slug(last_name, '-')[:40]}"
            # Most profile URLs carry LinkedIn's random suffix ("jane-doe-4a7b21b3").
            plain = [slug] if rng.random() < 0.3 else []
            suffixed = (f"{slug}-{rng.getrandbits(32):08x}" for _ in range(MAX_ATTEMPTS))
            linkedin = self._linkedin("in", itertools.chain(plain, suffixed))
        return {
            "account_id": account.id,
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "email_domain": email_domain(email),
            "phone": self._phone(city.phones, country) if rng.random() < 0.8 else None,
            "mobile": (
                self._phone(country.mobiles or city.phones, country) if rng.random() < 0.4 else None
            ),
            "title": title,
            "seniority": seniority,
            "department": department,
            "linkedin_url": linkedin,
            "city": city.name,
            "region": city.region,
            "postal_code": (
                self._fill(rng.choice(city.postal_codes), country.postal_letters)
                if rng.random() < 0.3
                else None
            ),
            "country": normalize_country(country.code),
            "timezone": city.timezone or country.timezone,
            "tags": self._contact_tags(seniority, department),
        }

    def _email(self, local: str, domain: str) -> str:
        """``first.last@domain``, or ``first.last2@domain`` ... when taken."""
        counter = 1
        while True:
            candidate = f"{local}{counter if counter > 1 else ''}@{domain}"
            email = normalize_email(candidate)
            if email is None:
                raise DemoDataError(f"generated an invalid e-mail address: {candidate!r}")
            if email not in self.used_emails:
                self.used_emails.add(email)
                return email
            counter += 1

    def _position(self, account: _PlannedAccount) -> tuple[str, str, str]:
        """(title, seniority, department); each C-level title at most once per account."""
        rng = self.rng
        seniority = self._weighted(self.seniorities, self.seniority_cum)
        if seniority == "c_level":
            taken = self.c_level_taken.setdefault(account.index, set())
            free = [item for item in _C_LEVEL if item[0] not in taken]
            if free:
                title, department = rng.choice(free)
                taken.add(title)
                return title, seniority, department
            seniority = "vp"
        if seniority == "other":
            title, department = rng.choice(_OTHER_TITLES)
            return title, seniority, department
        department = self._weighted(self.department_names, self.department_cum)
        return rng.choice(_TITLES[department][seniority]), seniority, department

    def _contact_tags(self, seniority: str, department: str) -> list[str]:
        rng = self.rng
        tags: list[str] = []
        senior = seniority in ("c_level", "vp")
        if (senior and rng.random() < 0.7) or (seniority == "director" and rng.random() < 0.3):
            tags.append("decision-maker")
        if department in _BUDGET_DEPARTMENTS and seniority in ("c_level", "vp", "director"):
            if rng.random() < 0.5:
                tags.append("budget-holder")
        if department in _TECHNICAL_DEPARTMENTS and rng.random() < 0.3:
            tags.append("technical")
        if rng.random() < 0.04:
            tags.append("champion")
        if rng.random() < 0.25:
            tags.append("newsletter")
        if rng.random() < 0.08:
            tags.append("webinar-attendee")
        if rng.random() < 0.06:
            tags.append(f"event-{self.reference_time.year - 1}")
        return normalize_tags(tags)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _ensure_empty(session: Session) -> None:
    for model, entity in ((Account, "accounts"), (Contact, "contacts")):
        stmt = select(model.id).limit(1).execution_options(include_deleted=True)
        if session.scalar(stmt) is not None:
            raise DemoDataError(
                f"the database already holds {entity}; demo data is only loaded into an "
                "empty database"
            )


def _reserve_ids(session: Session, model: type[Account] | type[Contact], count: int) -> list[int]:
    """``count`` new primary keys, taken the way the database hands them out.

    Known ids let the rows go in with plain executemany INSERTs (no RETURNING) and let
    subsidiaries, contacts and audit events refer to them. PostgreSQL draws them from the identity
    sequence, so later inserts continue after them; SQLite gives ``max(id) + 1`` next anyway.
    """
    if not count:
        return []
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        stmt = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return sorted(session.scalars(stmt, {"table": table.name, "n": count}))
    first = (session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(first, first + count))


def _set_fields(values: dict[str, Any], names: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """``{field: (old, new)}`` for the fields a create sets, as the services audit them."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name in names:
        value = values[name]
        if value is None or value == []:
            continue
        changes[name] = ([] if name in LIST_FIELDS else None, value)
    return changes


def _row(
    record_id: int,
    values: dict[str, Any],
    changes: dict[str, tuple[Any, Any]],
    entry: dict[str, Any],
    created_at: datetime,
    deleted_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": record_id,
        **values,
        "custom_fields": {},
        "field_provenance": dict.fromkeys(changes, entry),
        "created_at": created_at,
        "updated_at": created_at,
        "deleted_at": deleted_at,
    }


def load_demo(
    session: Session,
    *,
    accounts: int = 2000,
    contacts: int = 20000,
    seed: int = 1,
    progress: Progress | None = None,
    reference_time: datetime = REFERENCE_TIME,
) -> DemoSummary:
    """Fill an empty database with demo accounts and contacts; the caller commits.

    ``progress(done, total)`` is called after each inserted chunk, counting accounts plus
    contacts. Timestamps fall in the two years before ``reference_time`` (timezone-aware).
    Raises :class:`DemoDataError` when accounts or contacts (even soft-deleted ones) exist.
    """
    started = time.perf_counter()
    if accounts < 0 or contacts < 0:
        raise DemoDataError("accounts and contacts must not be negative")
    if contacts and not accounts:
        raise DemoDataError("contacts need at least one account")
    if reference_time.tzinfo is None:
        raise DemoDataError("reference_time must be timezone-aware")
    reference_time = reference_time.astimezone(UTC)
    _ensure_empty(session)

    actor = Actor.system(DEMO_SOURCE)
    # Flushed by the loader once per chunk.
    buffer = AuditBuffer(session, actor, batch_size=sys.maxsize)
    generator = _Generator(seed, reference_time)
    total = accounts + contacts
    done = 0

    # Core INSERTs: the ORM's bulk INSERT leaves out None values, which splits the rows
    # into many small statements.
    planned = generator.accounts(accounts)
    for account, account_id in zip(planned, _reserve_ids(session, Account, accounts), strict=True):
        account.id = account_id
    for chunk in _chunks(planned, CHUNK_SIZE):
        rows: list[dict[str, Any]] = []
        for account in chunk:
            if account.parent_index is not None:
                account.values["parent_id"] = planned[account.parent_index].id
            changes = _set_fields(account.values, _ACCOUNT_FIELDS)
            entry = provenance_entry(actor, account.created_at)
            row = _row(account.id, account.values, changes, entry, account.created_at)
            row["name_key"] = company_match_key(account.values["name"]) or ""
            rows.append(row)
            buffer.add("account", account.id, "create", changes, at=account.created_at)
        # A parent precedes its subsidiaries in ``planned`` and so in the INSERTs.
        session.execute(insert(Account.__table__), rows)
        buffer.flush()
        done += len(chunk)
        if progress is not None:
            progress(done, total)

    slots = generator.contact_slots(planned, contacts)
    contact_ids = _reserve_ids(session, Contact, contacts)
    for pairs in _chunks(list(zip(slots, contact_ids, strict=True)), CHUNK_SIZE):
        rows = []
        for slot, contact_id in pairs:
            values = generator.contact(slot)
            changes = _set_fields(values, _CONTACT_FIELDS)
            entry = provenance_entry(actor, slot.created_at)
            rows.append(_row(contact_id, values, changes, entry, slot.created_at, slot.deleted_at))
            buffer.add("contact", contact_id, "create", changes, at=slot.created_at)
            if slot.deleted_at is not None:
                deletion = {"deleted_at": (None, slot.deleted_at)}
                buffer.add("contact", contact_id, "delete", deletion, at=slot.deleted_at)
        session.execute(insert(Contact.__table__), rows)
        buffer.flush()
        done += len(rows)
        if progress is not None:
            progress(done, total)

    return DemoSummary(
        accounts=accounts,
        contacts=contacts,
        audit_events=buffer.written,
        seconds=time.perf_counter() - started,
    )
