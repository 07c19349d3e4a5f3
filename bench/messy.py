"""Messy contact CSV files, the shape people import, for the import and re-import benchmarks.

    python -m bench.messy --rows 1000000 --out var/bench/contacts_messy.csv --seed 7
    python -m bench.messy --reimport --rows 1000000 --out var/bench/contacts_reimport.csv \\
        --seed 7

Every row stands for a *person*: the clean values the CRM should hold once the row is
normalized. A person stream depends only on the seed, so the re-import file can replay the
people of a base file without reading it. The mess (case, whitespace, URL-style websites,
phone formats, country spellings, duplicates, a few invalid values) is drawn from a second
random stream and always normalizes back to the person's clean values, except the invalid
e-mails and phones, which no normalizer can repair. Files are streamed: memory stays
constant whatever the number of rows.

E-mails never collide with those of ``bench.generate``: company domains here are
hyphenated (``blue-river.com``) and free-mail local parts read ``johnsmith.123``, whereas
the generator writes ``blueriver.com`` and ``john.smith123``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import vocab

HEADER: tuple[str, ...] = (
    "First Name",
    "Last Name",
    "Email",
    "Company",
    "Website",
    "Phone",
    "Mobile",
    "Job Title",
    "Department",
    "City",
    "State",
    "Country",
    "LinkedIn",
    "Tags",
)

# Columns a re-import may change. Each maps to exactly one contact column and nothing the
# importer derives depends on it (a changed title stays within its department and seniority
# bucket), so one changed cell is one changed field, hence one audit row.
CHANGEABLE_COLUMNS: tuple[str, ...] = (
    "First Name",
    "Last Name",
    "Phone",
    "Mobile",
    "Job Title",
    "Department",
    "LinkedIn",
)

# People work for one of this many companies, whatever the number of rows, so the person
# stream does not depend on the file size. Block b of the company sequence holds companies
# b * POOL .. (b + 1) * POOL - 1: base files use block 0, the new people of a re-import
# block 1, so their domains are disjoint.
COMPANY_POOL = 100_000
BASE_BLOCK, NEW_PEOPLE_BLOCK = 0, 1
# Free-mail local parts carry block * FREEMAIL_STRIDE + person index.
FREEMAIL_STRIDE = 1_000_000_000
DUPLICATE_WINDOW = 5_000
NBSP = "\u00a0"

Random = Callable[[], float]


@dataclass(slots=True)
class Person:
    """One person as the CRM should hold them after normalization."""

    index: int
    first_name: str
    last_name: str
    email: str
    company: vocab.Company | None
    company_name: str | None
    # Whether the person's row shows the company's website.
    shows_website: bool
    city: vocab.City
    phone: str | None
    mobile: str | None
    title: str | None
    # (department, seniority) the title was drawn from; the Department cell may be empty.
    title_bucket: tuple[str, str]
    department: str | None
    linkedin: str | None
    tags: tuple[str, ...]
    # Values no normalizer can repair, written instead of the clean e-mail or phone.
    invalid_email: str | None = None
    invalid_phone: str | None = None

    @property
    def is_clean(self) -> bool:
        return self.invalid_email is None and self.invalid_phone is None


def people(seed: int, block: int = BASE_BLOCK) -> Iterator[Person]:
    """The endless, deterministic stream of people for ``seed`` and company ``block``.

    E-mails are unique without remembering them: the n-th person of a company gets the
    first name at ``(n + offset) % len(FIRST_NAMES)`` (plus a lap number from the second
    lap on), and free-mail addresses carry the person's index.
    """
    rng = random.Random(seed * 7_919 + block)
    r = rng.random
    n_first, n_last = len(vocab.FIRST_NAMES), len(vocab.LAST_NAMES)
    cities, city_table = vocab.CITIES, vocab.CITY_TABLE
    departments, seniority_table = vocab.DEPARTMENTS, vocab.SENIORITY_TABLE
    slots = [0] * COMPANY_POOL
    index = 0
    while True:
        company: vocab.Company | None = None
        company_name = None
        lap_suffix = ""
        if r() < 0.9:
            x = r()
            pool_index = int(COMPANY_POOL * x * x)
            company = vocab.company_for_index(block * COMPANY_POOL + pool_index, seed, "-")
            company_name = company.name(pool_index, comma=pool_index % 5 == 0)
            slot = slots[pool_index]
            slots[pool_index] = slot + 1
            first_index = (slot + pool_index * 7) % n_first
            if slot >= n_first:
                lap_suffix = str(slot // n_first)
        else:
            first_index = int(r() * n_first)
        last_index = int(r() * n_last)
        first_key, last_key = vocab.FIRST_KEYS[first_index], vocab.LAST_KEYS[last_index]
        if company is not None and r() < 0.88:
            pattern = vocab.EMAIL_PATTERNS[pool_index % len(vocab.EMAIL_PATTERNS)]
            local = pattern.format(f=first_key, l=last_key)
            email = f"{local}{lap_suffix}@{company.domain}"
        else:
            number = block * FREEMAIL_STRIDE + index
            free = vocab.FREEMAIL_DOMAINS[int(r() * len(vocab.FREEMAIL_DOMAINS))]
            email = f"{first_key}{last_key}.{number}@{free}"

        country = vocab.TLD_COUNTRIES.get(company.domain.split(".", 1)[1]) if company else None
        if country is not None and r() < 0.8:
            local_cities = vocab.CITIES_BY_COUNTRY[country]
            city = cities[local_cities[int(r() * len(local_cities))]]
        else:
            city = cities[city_table[int(r() * len(city_table))]]
        phone = vocab.landline(city, r) if r() < 0.65 else None
        mobile = vocab.mobile(city, r) if r() < 0.35 else None
        department = departments[int(r() * len(departments))]
        seniority = vocab.SENIORITIES[seniority_table[int(r() * len(seniority_table))]]
        titles = vocab.TITLES[department, seniority]
        title = titles[int(r() * len(titles))] if r() < 0.97 else None
        linkedin = (
            f"https://www.linkedin.com/in/{first_key}-{last_key}-{int(r() * 0xFFFFFF):06x}"
            if r() < 0.5
            else None
        )
        tag_count = int(r() * 10) - 6  # 60% none, then 1, 2 or 3 tags
        tags = tuple(rng.sample(vocab.TAGS, tag_count)) if tag_count > 0 else ()
        person = Person(
            index=index,
            first_name=vocab.FIRST_NAMES[first_index],
            last_name=vocab.LAST_NAMES[last_index],
            email=email,
            company=company,
            company_name=company_name,
            shows_website=company is not None and r() < 0.9,
            city=city,
            phone=phone,
            mobile=mobile,
            title=title,
            title_bucket=(department, seniority),
            department=department if r() < 0.85 else None,
            linkedin=linkedin,
            tags=tags,
        )
        if r() < 0.01:
            person.invalid_email = _invalid_email(person, r)
        if phone is not None and r() < 0.015:
            person.invalid_phone = _invalid_phone(r)
        yield person
        index += 1


def _invalid_email(person: Person, r: Random) -> str:
    local, domain = person.email.split("@")
    forms = (
        f"{local}@",
        f"{local}@@{domain}",
        f"{local.replace('.', ' ', 1) if '.' in local else local + ' x'}@{domain}",
        f"{local}@{domain.split('.', 1)[0]}",
        f"{local}.{domain}",
        f"{local}@{domain}.",
    )
    return forms[int(r() * len(forms))]


def _invalid_phone(r: Random) -> str:
    forms = ("12345", "555-0100", "+1 (123) 456-7890", "n/a", "000 000 0000", "tbd", "+44 12")
    return forms[int(r() * len(forms))]


class Mess:
    """Renders people as spreadsheet cells with the mess people leave in them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed * 7_919 + 104_729)
        self.r = self.rng.random

    def pad(self, text: str) -> str:
        """Leading/trailing spaces now and then, sometimes a no-break space."""
        x = self.r()
        if x < 0.03:
            return " " + text
        if x < 0.06:
            return text + "  "
        if x < 0.075:
            return f"{NBSP}{text}{NBSP}"
        return text

    def name(self, name: str) -> str:
        x = self.r()
        # Only names that proper-casing restores ("SMITH" -> "Smith", not "McDonald").
        if x < 0.1 and name == name.capitalize() and name.isalpha():
            name = name.upper() if x < 0.06 else name.lower()
        return self.pad(name)

    def email(self, email: str) -> str:
        x = self.r()
        if x < 0.08:
            local, domain = email.split("@")
            email = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.title()
        elif x < 0.12:
            # John.SMITH@Example.COM
            local, domain = email.split("@")
            first, dot, rest = local.partition(".")
            name, _, tld = domain.rpartition(".")
            email = f"{first.capitalize()}{dot}{rest.upper()}@{name.capitalize()}.{tld.upper()}"
        elif x < 0.15:
            email = email.upper()
        return self.pad(email)

    def website(self, domain: str) -> str:
        forms = (
            domain,
            domain,
            domain,
            f"www.{domain}",
            f"https://www.{domain}/about",
            f"http://{domain}",
            f"https://{domain}/",
            f"WWW.{domain.upper()}",
            f"{domain}:443",
            f"https://www.{domain}/en/contact?ref=footer",
        )
        return self.pad(forms[int(self.r() * len(forms))])

    def phone(self, e164: str, country: str) -> str:
        """A human way of writing ``e164`` (extensions and IDD prefixes included)."""
        code = vocab.CALLING_CODES[country]
        national = e164[1 + len(code) :]
        x = self.r()
        if country in vocab.NANP_COUNTRIES:
            area, exchange, line = national[:3], national[3:6], national[6:]
            forms = (
                f"({area}) {exchange}-{line}",
                f"{area}.{exchange}.{line}",
                f"+1 {area} {exchange} {line} x{int(self.r() * 900) + 10}",
                f"001-{area}-{exchange}-{line}",
                f"{area}-{exchange}-{line}",
                e164,
                f"1 ({area}) {exchange}-{line}",
                f"+1-{area}-{exchange}-{line}",
            )
            return self.pad(forms[int(x * len(forms))])
        grouped = " ".join(national[i : i + 4] for i in range(0, len(national), 4))
        forms = (
            f"+{code} {grouped}",
            f"00{code} {grouped}",
            e164,
            f"{vocab.TRUNK_PREFIXES[country]}{grouped}",
            f"+{code} ({national[:2]}) {national[2:]}",
        )
        return self.pad(forms[int(x * len(forms))])

    def country(self, code: str) -> str:
        spellings = vocab.COUNTRY_SPELLINGS[code]
        return self.pad(spellings[int(self.r() * len(spellings))])

    def tags(self, tags: tuple[str, ...]) -> str:
        separator = ("; ", ";", " ; ")[int(self.r() * 3)]
        return separator.join(tags)

    def row(self, person: Person, email: str | None = None) -> list[str]:
        """The 14 cells of ``person``; ``email`` replaces the person's clean e-mail."""
        company = person.company
        city = person.city
        phone = person.phone
        if person.invalid_phone is not None:
            phone_cell = self.pad(person.invalid_phone)
        else:
            phone_cell = self.phone(phone, city.country) if phone else ""
        if person.invalid_email is not None:
            email_cell = self.pad(person.invalid_email)
        else:
            email_cell = self.email(email or person.email)
        return [
            self.name(person.first_name),
            self.name(person.last_name),
            email_cell,
            self.pad(person.company_name) if person.company_name else "",
            self.website(company.domain) if company is not None and person.shows_website else "",
            phone_cell,
            self.phone(person.mobile, city.country) if person.mobile else "",
            self.pad(person.title) if person.title else "",
            self.pad(person.department) if person.department else "",
            self.pad(city.name),
            city.region or "",
            self.country(city.country),
            person.linkedin or "",
            self.tags(person.tags),
        ]


@dataclass
class MessyCounts:
    """What a messy file holds, for the import benchmark to check against."""

    rows: int = 0
    people: int = 0
    duplicate_rows: int = 0
    invalid_email_rows: int = 0
    invalid_phone_rows: int = 0
    overlap_rows: int = 0
    # People whose row(s) carry a valid e-mail: the contacts a correct import creates.
    importable_people: int = 0


def write_messy_contacts_csv(
    path: str | Path,
    n: int,
    seed: int,
    duplicate_rate: float = 0.10,
    overlap_emails: Sequence[str] | None = None,
) -> MessyCounts:
    """Write ``n`` messy contact rows to ``path`` (CSV, UTF-8, header first).

    About ``duplicate_rate`` of the rows repeat a person from the last few thousand rows,
    rendered anew (other case, whitespace, phone format, country spelling): the same clean
    values, so any import order yields the same contacts. About 1% of people have an
    invalid e-mail and 1.5% of those with a phone an invalid one; some cells are empty.

    ``overlap_emails``: clean e-mails of existing contacts (say, from the database). The
    first ``len(overlap_emails)`` people take them, in order, instead of their generated
    e-mail, so an import matches exactly those contacts. They must not be generated
    e-mails of this module (``bench.generate``'s never are).
    """
    counts = MessyCounts()
    mess = Mess(seed)
    duplicate_rng = random.Random(seed * 7_919 + 15_485_863)
    recent: deque[tuple[Person, str | None]] = deque(maxlen=DUPLICATE_WINDOW)
    overlap = overlap_emails or ()
    stream = people(seed, BASE_BLOCK)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for _ in range(n):
            if recent and duplicate_rng.random() < duplicate_rate:
                person, email = recent[int(duplicate_rng.random() * len(recent))]
                counts.duplicate_rows += 1
            else:
                person = next(stream)
                email = overlap[person.index].lower() if person.index < len(overlap) else None
                recent.append((person, email))
                counts.people += 1
                if email is not None:
                    counts.overlap_rows += 1
                if person.invalid_email is None:
                    counts.importable_people += 1
            counts.invalid_email_rows += person.invalid_email is not None
            counts.invalid_phone_rows += person.invalid_phone is not None
            writer.writerow(mess.row(person, email))
            counts.rows += 1
    return counts


@dataclass
class ReimportCounts:
    """What a re-import must do: ``matched_rows`` updates changing ``changed_fields`` fields."""

    rows: int = 0
    matched_rows: int = 0
    new_rows: int = 0
    changed_fields: int = 0
    changed_by_column: dict[str, int] = field(default_factory=dict)


class _Changer:
    """Changes columns of a person to different, valid clean values."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.r = rng.random

    def _other(self, options: Sequence[str], current: str | None) -> str:
        while True:
            value = options[int(self.r() * len(options))]
            if value != current:
                return value

    def change(self, person: Person, column: str) -> Person:
        r = self.r
        match column:
            case "First Name":
                return replace(person, first_name=self._other(vocab.FIRST_NAMES, person.first_name))
            case "Last Name":
                return replace(person, last_name=self._other(vocab.LAST_NAMES, person.last_name))
            case "Phone":
                return replace(person, phone=self._new_number(vocab.landline, person))
            case "Mobile":
                return replace(person, mobile=self._new_number(vocab.mobile, person))
            case "Job Title":
                bucket = vocab.TITLES[person.title_bucket]
                return replace(person, title=self._other(bucket, person.title))
            case "Department":
                return replace(person, department=self._other(vocab.DEPARTMENTS, person.department))
            case "LinkedIn":
                first, last = vocab.ascii_key(person.first_name), vocab.ascii_key(person.last_name)
                slug = f"{first}-{last}-{int(r() * 0xFFFFFF):06x}"
                url = f"https://www.linkedin.com/in/{slug}"
                return replace(person, linkedin=url if url != person.linkedin else url + "0")
        raise ValueError(f"{column!r} is not one of {CHANGEABLE_COLUMNS}")

    def _new_number(self, make: Callable[[vocab.City, Random], str], person: Person) -> str:
        old = (person.phone, person.mobile)
        while True:
            number = make(person.city, self.r)
            if number not in old:
                return number


def _clean_row(person: Person, r: Random) -> list[str]:
    """Cells that normalize to the person's values under any sane importer: proper case,
    E.164 phones, bare domains, alpha-2 countries; only e-mail case and spaces vary."""
    email = person.email
    if r() < 0.3:
        email = f" {email.upper()} "
    company = person.company
    return [
        person.first_name,
        person.last_name,
        email,
        person.company_name or "",
        company.domain if company is not None and person.shows_website else "",
        person.phone or "",
        person.mobile or "",
        person.title or "",
        person.department or "",
        person.city.name,
        person.city.region or "",
        person.city.country,
        person.linkedin or "",
        "; ".join(person.tags),
    ]


def write_reimport_csv(
    path: str | Path,
    base_rows_seed: int,
    n: int,
    match_fraction: float = 0.5,
    change_fraction: float = 0.2,
) -> ReimportCounts:
    """Write the "re-import" of a base file made by ``write_messy_contacts_csv(seed=...)``.

    ``round(n * match_fraction)`` rows are *matching* rows: the first people of the base
    seed's stream whose base rows were fully valid (no invalid e-mail or phone), in base
    order, each identified by its e-mail. The other rows are *new* people from company
    block 1, whose e-mails exist neither in the base file nor in ``bench.generate`` data.
    The two kinds are interleaved at random. There are no duplicates and no invalid values.

    "A fifth of the fields changed" means exactly this: the file has 14 columns, so a
    matching row changes ``change_fraction * 14`` fields on average (2.8 for 0.2): each
    matching row changes either floor or ceil of that many cells (2 or 3), picked so the
    mean is exact, chosen among ``CHANGEABLE_COLUMNS`` (never the e-mail, the key). A
    changed cell holds a valid value whose normalized form differs from the base person's
    clean value (an empty base cell getting a value counts as a change). Every other cell
    holds the base person's clean value, written so that normalization cannot alter it.

    So, assuming the base import normalized the base file's mess correctly, importing this
    file must update ``matched_rows`` contacts, create ``new_rows`` and write exactly
    ``changed_fields`` update audit rows; ``changed_by_column`` breaks that down.

    The base file must have held enough people: about 2% of people have an invalid value
    and are skipped, so at least ``round(n * match_fraction) / 0.97`` (a base file holds
    about ``n_base * (1 - duplicate_rate)`` people); a base file of ``n`` rows with the
    default 10% duplicates always does for ``match_fraction`` up to 0.85. The base file's
    ``overlap_emails`` are not replayed.
    """
    columns = len(HEADER)
    mean_changes = change_fraction * columns
    if not 0 <= match_fraction <= 1:
        raise ValueError("match_fraction must be between 0 and 1")
    if not 0 <= mean_changes <= len(CHANGEABLE_COLUMNS):
        raise ValueError(
            f"change_fraction must be between 0 and {len(CHANGEABLE_COLUMNS)}/{columns}"
        )
    low = int(mean_changes)
    chance_of_one_more = mean_changes - low
    rng = random.Random(base_rows_seed * 7_919 + 32_452_843)
    changer = _Changer(rng)
    matches = round(n * match_fraction)
    base = (person for person in people(base_rows_seed, BASE_BLOCK) if person.is_clean)
    fresh = people(base_rows_seed, NEW_PEOPLE_BLOCK)
    counts = ReimportCounts(changed_by_column=dict.fromkeys(CHANGEABLE_COLUMNS, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for row_index in range(n):
            left = n - row_index
            if rng.random() * left < matches - counts.matched_rows:
                person = next(base)
                changes = low + (rng.random() < chance_of_one_more)
                for column in rng.sample(CHANGEABLE_COLUMNS, changes):
                    person = changer.change(person, column)
                    counts.changed_by_column[column] += 1
                counts.changed_fields += changes
                counts.matched_rows += 1
            else:
                person = next(fresh)
                while not person.is_clean:
                    person = next(fresh)
                counts.new_rows += 1
            writer.writerow(_clean_row(person, rng.random))
            counts.rows += 1
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.messy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("var/bench/contacts_messy.csv"))
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="the seed of the file (with --reimport: of its base file)",
    )
    parser.add_argument("--duplicate-rate", type=float, default=0.10)
    parser.add_argument(
        "--reimport",
        action="store_true",
        help="write the re-import variant of the base file of --seed",
    )
    parser.add_argument("--match-fraction", type=float, default=0.5)
    parser.add_argument("--change-fraction", type=float, default=0.2)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    counts: MessyCounts | ReimportCounts
    if args.reimport:
        counts = write_reimport_csv(
            args.out, args.seed, args.rows, args.match_fraction, args.change_fraction
        )
    else:
        counts = write_messy_contacts_csv(args.out, args.rows, args.seed, args.duplicate_rate)
    elapsed = time.perf_counter() - started
    print(f"wrote {args.out} in {elapsed:.1f} s ({counts.rows / elapsed:,.0f} rows/s)")
    for name, value in vars(counts).items():
        print(f"  {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
