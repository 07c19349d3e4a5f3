"""Compiled filters against an independent evaluation in plain Python.

Hypothesis generates nested and / or / not filters over every built-in field (and custom
fields of each type), and the ids the database returns must be exactly the ids this file's
own evaluator finds over the same rows: contacts, accounts (some soft-deleted), lists,
segments, suppressions and consents. One test keeps a fixed data set and varies filters
widely; the other generates the rows too. Both run on SQLite and on PostgreSQL.

The evaluator follows docs/audience.md, not the compiler: text is compared with
``str.lower``, dates as UTC calendar days, an empty value matches no comparison, and the
negating operators and ``not`` groups are complements.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pivotal_core.accounts.models import Account
from pivotal_core.audience.fields import EMPLOYEE_RANGES, REVENUE_RANGES, field_registry
from pivotal_core.audience.models import AudienceList, ListMember, Segment
from pivotal_core.audience.services import count_matching, iter_matching_ids
from pivotal_core.compliance.models import Consent, Suppression
from pivotal_core.contacts.models import SENIORITIES, Contact
from pivotal_core.customfields.models import CustomFieldDefinition

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
# Letters whose case folds the same in Python and in the databases, and LIKE's own
# wildcard and escape characters, which must match literally.
LETTERS = ["a", "A", "b", "ä", "Ä", "ß", "%", "_", "/", "\\", " "]
WORDS = st.text(alphabet=LETTERS, min_size=1, max_size=3)
TAGS = ["vip", "partner", "ä-tag", "a%b", "x_y"]
COUNTRIES = ["DE", "US", "FR"]
NUMBERS = [0, 1, 10, 11, 50, 51, 200, 999_999, 1_000_000, 5_000_000_000]
CUSTOM = {
    "contact": {
        "nick": "text",
        "score": "number",
        "birthday": "date",
        "vip": "bool",
        "plan": "enum",
        "interests": "tags",
    },
    "account": {"tier": "enum", "arr": "number", "renewal": "date"},
}
OPTIONS = {"plan": ["Free", "Pro"], "tier": ["Gold", "Silver"]}
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------


@dataclass
class Dataset:
    contacts: list[dict[str, Any]]
    accounts: dict[int, dict[str, Any]]  # live and deleted, by id
    lists: dict[int, tuple[str, set[int]]]  # id -> (entity, member ids)
    segments: dict[int, tuple[str, dict[str, Any]]]  # id -> (entity, definition)
    suppressed: dict[str, set[str]]  # kind -> values
    consents: set[tuple[int, str]]  # (contact id, channel) with status granted
    numbers: list[float] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)

    def live_contacts(self) -> list[dict[str, Any]]:
        return [c for c in self.contacts if c["deleted_at"] is None]

    def live_accounts(self) -> list[dict[str, Any]]:
        return [a for a in self.accounts.values() if a["deleted_at"] is None]

    def account_of(self, contact: dict[str, Any]) -> dict[str, Any] | None:
        account = self.accounts.get(contact["account_id"])
        return account if account and account["deleted_at"] is None else None


def maybe(rng: random.Random, value: Any, empty: float = 0.3) -> Any:
    return None if rng.random() < empty else value


def word(rng: random.Random) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 4)))


def moment(rng: random.Random) -> dt.datetime:
    if rng.random() < 0.2:  # exactly midnight: the edge of a day
        return dt.datetime.combine(
            NOW.date() - dt.timedelta(days=rng.randint(-3, 40)), dt.time(), dt.UTC
        )
    return NOW - dt.timedelta(minutes=rng.randint(-3 * 1440, 400 * 1440))


def custom_values(rng: random.Random, entity: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, kind in CUSTOM[entity].items():
        roll = rng.random()
        if roll < 0.3:
            continue  # missing
        if roll < 0.37:  # a value of another kind (dates are never free text)
            values[key] = rng.choice([True, 5, [1], {"a": 1}] + (["x"] if kind != "date" else []))
            continue
        values[key] = {
            "text": lambda: word(rng),
            "number": lambda: rng.choice([*NUMBERS, 2.5, -1]),
            "date": lambda: (NOW.date() - dt.timedelta(days=rng.randint(-5, 60))).isoformat(),
            "bool": lambda: rng.random() < 0.5,
            "enum": lambda k=key: rng.choice(OPTIONS[k]),
            "tags": lambda: rng.sample(TAGS, rng.randint(0, 3)),
        }[kind]()
    return values


def account_row(rng: random.Random, n: int, parent_ids: list[int]) -> dict[str, Any]:
    return {
        "name": word(rng),
        "domain": maybe(rng, f"{word(rng)}{n}.com"),
        "secondary_domains": rng.sample(["alt.com", "other.org", "x.io"], rng.randint(0, 2)),
        "industry": maybe(rng, word(rng)),
        "employee_count": maybe(rng, rng.choice(NUMBERS)),
        "annual_revenue": maybe(rng, rng.choice(NUMBERS)),
        "phone": maybe(rng, rng.choice(["+4930111", "+4930222"])),
        "linkedin_url": maybe(rng, word(rng)),
        "description": maybe(rng, word(rng)),
        "street": maybe(rng, word(rng)),
        "city": maybe(rng, word(rng)),
        "region": maybe(rng, word(rng)),
        "postal_code": maybe(rng, word(rng)),
        "country": maybe(rng, rng.choice(COUNTRIES)),
        "technologies": rng.sample(TAGS, rng.randint(0, 2)),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "parent_id": maybe(rng, rng.choice(parent_ids), 0.6) if parent_ids else None,
        "custom_fields": custom_values(rng, "account"),
        "created_at": moment(rng),
        "updated_at": moment(rng),
        "deleted_at": NOW if rng.random() < 0.15 else None,
    }


def contact_row(rng: random.Random, n: int, account_ids: list[int]) -> dict[str, Any]:
    domain = rng.choice(["acme.com", "bare.com", "ä.de", None])
    return {
        "account_id": maybe(rng, rng.choice(account_ids)) if account_ids else None,
        "first_name": maybe(rng, word(rng)),
        "last_name": maybe(rng, rng.choice([word(rng), ""])),
        "email": f"{word(rng)}{n}@{domain}" if domain else None,
        "email_domain": domain,
        "phone": maybe(rng, rng.choice(["+4930111", "+4930333"])),
        "mobile": maybe(rng, rng.choice(["+4917111", "+4930222"])),
        "title": maybe(rng, word(rng)),
        "seniority": maybe(rng, rng.choice(SENIORITIES)),
        "department": maybe(rng, word(rng)),
        "linkedin_url": maybe(rng, word(rng)),
        "city": maybe(rng, word(rng)),
        "region": maybe(rng, word(rng)),
        "postal_code": maybe(rng, word(rng)),
        "country": maybe(rng, rng.choice(COUNTRIES)),
        "timezone": maybe(rng, rng.choice(["Europe/Berlin", "UTC"])),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "custom_fields": custom_values(rng, "contact"),
        "created_at": moment(rng),
        "updated_at": moment(rng),
        "deleted_at": NOW if rng.random() < 0.1 else None,
    }


SEGMENT_DEFINITIONS = {
    "by_tag": (
        "contact",
        {
            "op": "or",
            "rules": [
                {"field": "contact.tags", "operator": "has_any", "value": ["vip"]},
                {"field": "account.industry", "operator": "contains", "value": "a"},
            ],
        },
    ),
    "big": (
        "account",
        {
            "op": "and",
            "rules": [
                {"field": "account.employee_count", "operator": "gt", "value": 10},
            ],
        },
    ),
}


def build_dataset(session: Any, rng: random.Random, n_accounts: int, n_contacts: int) -> Dataset:
    for entity, keys in CUSTOM.items():
        for key, kind in keys.items():
            session.add(
                CustomFieldDefinition(
                    entity=entity, key=key, label=key, type=kind, options=OPTIONS.get(key, [])
                )
            )
    accounts: dict[int, dict[str, Any]] = {}
    for n in range(n_accounts):
        row = account_row(rng, n, list(accounts))
        account = Account(name_key="", field_provenance={}, **row)
        session.add(account)
        session.flush()
        accounts[account.id] = {**row, "id": account.id}
    contacts = []
    for n in range(n_contacts):
        row = contact_row(rng, n, list(accounts))
        contact = Contact(field_provenance={}, **row)
        session.add(contact)
        session.flush()
        contacts.append({**row, "id": contact.id})
    contact_ids = [c["id"] for c in contacts]
    lists: dict[int, tuple[str, set[int]]] = {}
    for entity, pool in (("contact", contact_ids), ("account", list(accounts))):
        for _ in range(2):
            members = set(rng.sample(pool, min(len(pool), rng.randint(0, 6))))
            audience_list = AudienceList(
                name="L",
                entity_type=entity,
                source_type="selection",
                tags=[],
                visibility_scope="global",
                member_count=len(members),
            )
            session.add(audience_list)
            session.flush()
            session.add_all(ListMember(list_id=audience_list.id, record_id=i) for i in members)
            lists[audience_list.id] = (entity, members)
    segments: dict[int, tuple[str, dict[str, Any]]] = {}
    for entity, definition in SEGMENT_DEFINITIONS.values():
        segment = Segment(
            name="S", entity_type=entity, definition=definition, tags=[], visibility_scope="global"
        )
        session.add(segment)
        session.flush()
        segments[segment.id] = (entity, definition)
    by_tag = next(i for i, (e, d) in segments.items() if d is SEGMENT_DEFINITIONS["by_tag"][1])
    outer = {
        "op": "not",
        "rules": [
            {"field": "segment", "operator": "in_segment", "value": by_tag},
            {"field": "contact.has_email", "operator": "equals", "value": True},
        ],
    }
    segment = Segment(
        name="S", entity_type="contact", definition=outer, tags=[], visibility_scope="global"
    )
    session.add(segment)
    session.flush()
    segments[segment.id] = ("contact", outer)
    suppressed: dict[str, set[str]] = {"email": set(), "domain": set(), "phone": set()}
    candidates = {
        "email": [c["email"] for c in contacts if c["email"]],
        "domain": ["acme.com", "ä.de"] + [a["domain"] for a in accounts.values() if a["domain"]],
        "phone": ["+4930111", "+4917111", "+4930222"],
    }
    for kind, values in candidates.items():
        for value in rng.sample(values, min(len(values), rng.randint(0, 3))):
            session.add(Suppression(kind=kind, value=value, reason="test", source="test"))
            suppressed[kind].add(value)
    consents: set[tuple[int, str]] = set()
    for contact_id in rng.sample(contact_ids, min(len(contact_ids), 8)):
        channel = rng.choice(["email", "phone", "sms"])
        status = rng.choice(["granted", "withdrawn"])
        session.add(Consent(contact_id=contact_id, channel=channel, status=status, evidence={}))
        if status == "granted":
            consents.add((contact_id, channel))
    session.flush()
    numbers = sorted({*NUMBERS, 2.5, -1, 10.5, 50.5})
    days = sorted({NOW.date() - dt.timedelta(days=d) for d in (-4, -1, 0, 1, 2, 10, 40, 200, 399)})
    return Dataset(contacts, accounts, lists, segments, suppressed, consents, numbers, days)


# --------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------


def custom(row: dict[str, Any] | None, key: str, kind: str) -> Any:
    """A custom value of the expected JSON kind, or None."""
    if row is None:
        return None
    value = row["custom_fields"].get(key)
    ok = {
        "text": lambda v: isinstance(v, str),
        "enum": lambda v: isinstance(v, str),
        "date": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "tags": lambda v: isinstance(v, list),
    }[kind]
    return value if value is not None and ok(value) else None


def band(value: int | None, bands) -> str | None:
    if value is None:
        return None
    for bound, name in bands:
        if bound is None or value <= bound:
            return name
    raise AssertionError("unreachable")


class Evaluator:
    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.segments: dict[int, set[int]] = {}
        self.colleagues: dict[int, int] = {}
        for contact in data.live_contacts():
            if contact["account_id"] is not None:
                key = contact["account_id"]
                self.colleagues[key] = self.colleagues.get(key, 0) + 1

    # -- field values ---------------------------------------------------------------

    def value(self, key: str, entity: str, row: dict[str, Any]) -> Any:
        data = self.data
        account = row if entity == "account" else data.account_of(row)
        if key.startswith("contact.custom."):
            name = key.rsplit(".", 1)[1]
            return custom(row, name, CUSTOM["contact"][name])
        if key.startswith("account.custom."):
            name = key.rsplit(".", 1)[1]
            return custom(account, name, CUSTOM["account"][name])
        derived: dict[str, Callable[[], Any]] = {
            "contact.has_email": lambda: row["email"] is not None,
            "contact.has_phone": lambda: row["phone"] is not None or row["mobile"] is not None,
            "contact.has_account": lambda: account is not None,
            "account.has_parent": lambda: account is not None and account["parent_id"] is not None,
            "account.employee_range": lambda: band(
                account and account["employee_count"], EMPLOYEE_RANGES
            ),
            "account.revenue_range": lambda: band(
                account and account["annual_revenue"], REVENUE_RANGES
            ),
            "account.contact_count": lambda: (
                self.colleagues.get(account["id"], 0) if account is not None else 0
            ),
        }
        if key in derived:
            return derived[key]()
        prefix, name = key.split(".", 1)
        if prefix == "contact":
            return row[name]
        return account[name] if account is not None else None

    # -- rules ----------------------------------------------------------------------

    def membership(self, rule: dict[str, Any], entity: str, row: dict[str, Any]) -> bool:
        key, value = rule["field"], rule["value"]
        ids = value if isinstance(value, list) else [value]
        target = row if key in ("list", "segment") else self.data.account_of(row)
        if target is None:
            return False
        target_entity = entity if key in ("list", "segment") else "account"
        if key.endswith("list"):
            return any(target["id"] in self.data.lists[i][1] for i in ids)
        return any(target["id"] in self.segment_members(i, target_entity) for i in ids)

    def segment_members(self, segment_id: int, entity: str) -> set[int]:
        if segment_id not in self.segments:
            _, definition = self.data.segments[segment_id]
            self.segments[segment_id] = self.ids(entity, definition)
        return self.segments[segment_id]

    def compliance(self, rule: dict[str, Any], entity: str, row: dict[str, Any]) -> bool:
        channel = rule["value"].lower()
        supp = self.data.suppressed
        if rule["operator"] == "has_consent":
            return (row["id"], channel) in self.data.consents
        if entity == "contact":
            by_email = row["email"] in supp["email"] or row["email_domain"] in supp["domain"]
            by_phone = row["phone"] in supp["phone"] or row["mobile"] in supp["phone"]
        else:
            by_email = row["domain"] in supp["domain"]
            by_phone = row["phone"] in supp["phone"]
        return {"email": by_email, "phone": by_phone, "any": by_email or by_phone}[channel]

    def rule(self, rule: dict[str, Any], entity: str, row: dict[str, Any], kinds) -> bool:
        key, op, want = rule["field"], rule["operator"], rule.get("value")
        if op in ("in_list", "in_segment"):
            return self.membership(rule, entity, row)
        if op in ("suppressed", "has_consent"):
            return self.compliance(rule, entity, row)
        kind, storage = kinds[key]
        complements = {
            "not_equals": "equals",
            "not_in": "in",
            "has_none": "has_any",
            "is_not_empty": "is_empty",
        }
        if op in complements:
            return not self.rule({**rule, "operator": complements[op]}, entity, row, kinds)
        have = self.value(key, entity, row)
        if op == "is_empty":
            return have is None or have == "" or have == []
        if have is None:
            return False
        if kind == "text":
            have = have.lower()
            if op == "in":
                return have in {w.lower() for w in want}
            return {
                "equals": lambda: have == want.lower(),
                "contains": lambda: want.lower() in have,
                "starts_with": lambda: have.startswith(want.lower()),
                "ends_with": lambda: have.endswith(want.lower()),
            }[op]()
        if kind in ("enum", "reference"):
            canon = (lambda v: v.casefold()) if kind == "enum" else (lambda v: v)
            if op == "in":
                return any(canon(have) == canon(w) for w in want)
            return canon(have) == canon(want)
        if kind == "bool":
            return have == want
        if kind == "number":
            if op == "between":
                return want[0] <= have <= want[1]
            compare = {
                "equals": have == want,
                "gt": have > want,
                "gte": have >= want,
                "lt": have < want,
                "lte": have <= want,
            }
            return compare[op]
        if kind == "tags":
            tags = {w.strip().lower() for w in want}
            if op == "has_any":
                return bool(tags & set(have))
            return tags <= set(have)
        if kind == "date":
            day = dt.date.fromisoformat(have) if storage == "isodate" else have.date()
            if op == "within_last_days":
                if storage == "isodate":
                    return NOW.date() - dt.timedelta(days=want) <= day <= NOW.date()
                return NOW - dt.timedelta(days=want) <= have <= NOW
            if op == "between":
                low, high = (dt.date.fromisoformat(w) for w in want)
                return low <= day <= high
            target = dt.date.fromisoformat(want)
            return {"equals": day == target, "before": day < target, "after": day > target}[op]
        raise AssertionError(f"no evaluation for {kind} {op}")

    def matches(self, node: dict[str, Any], entity: str, row: dict[str, Any], kinds) -> bool:
        if "op" not in node:
            return self.rule(node, entity, row, kinds)
        results = [self.matches(child, entity, row, kinds) for child in node["rules"]]
        if node["op"] == "or":
            return any(results)
        return all(results) if node["op"] == "and" else not all(results)

    def ids(self, entity: str, definition: dict[str, Any]) -> set[int]:
        kinds = KINDS[entity]
        rows = self.data.live_contacts() if entity == "contact" else self.data.live_accounts()
        return {row["id"] for row in rows if self.matches(definition, entity, row, kinds)}


KINDS: dict[str, dict[str, tuple[str, str]]] = {}


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


def value_strategy(data: Dataset, entity: str, item: Any, op: str) -> st.SearchStrategy:
    kind = item.type
    if op in ("is_empty", "is_not_empty"):
        return st.none()
    if op == "within_last_days":
        return st.sampled_from([1, 2, 10, 41, 400])
    if op in ("suppressed", "has_consent"):
        return st.sampled_from([*item.choices, item.choices[0].upper()])
    if op in ("in_list", "in_segment"):
        pool = data.lists if op == "in_list" else data.segments
        target = entity if item.key in ("list", "segment") else "account"
        ids = sorted(i for i, (e, _) in pool.items() if e == target)
        single = st.sampled_from(ids)
        return st.one_of(single, st.lists(single, min_size=1, max_size=2))
    if kind == "text":
        single = st.one_of(WORDS, st.sampled_from(["acme.com", "+4930", "europe", "@"]))
    elif kind == "enum":
        choices = list(item.choices) if len(item.choices) < 20 else COUNTRIES
        single = st.sampled_from(choices + [c.lower() for c in choices[:2]])
    elif kind == "number":
        single = st.sampled_from(data.numbers)
    elif kind == "date":
        single = st.sampled_from([d.isoformat() for d in data.days])
    elif kind == "bool":
        single = st.booleans()
    elif kind == "reference":
        pool = sorted({c["id"] for c in data.contacts} | set(data.accounts))
        single = st.sampled_from(pool[:20] + [10**9])
    else:  # tags
        single = st.sampled_from([*TAGS, "VIP", "none"])
    if op in ("in", "not_in", "has_any", "has_all", "has_none"):
        return st.lists(single, min_size=1, max_size=3)
    if op == "between":
        return st.lists(single, min_size=2, max_size=2).map(sorted)
    return single


def filters(data: Dataset, entity: str, fields: dict[str, Any]) -> st.SearchStrategy:
    rules = [
        st.sampled_from(item.operators).flatmap(
            lambda op, item=item: value_strategy(data, entity, item, op).map(
                lambda value, op=op: {"field": item.key, "operator": op, "value": value}
            )
        )
        for item in fields.values()
    ]
    leaf = st.one_of(*rules)
    tree = st.recursive(
        leaf,
        lambda children: st.fixed_dictionaries(
            {
                "op": st.sampled_from(["and", "or", "not"]),
                "rules": st.lists(children, min_size=1, max_size=4),
            }
        ),
        max_leaves=10,
    )
    # Empty groups (everything or nothing) now and then; mostly groups that decide.
    return st.fixed_dictionaries(
        {
            "op": st.sampled_from(["and", "or", "not"]),
            "rules": st.one_of(st.lists(tree, min_size=1, max_size=4), st.just([])),
        }
    )


def check(dbsession, data: Dataset, entity: str, definition: dict[str, Any]) -> None:
    expected = Evaluator(data).ids(entity, definition)
    found = {
        i
        for chunk in iter_matching_ids(dbsession, entity, definition, now=NOW, chunk_size=7)
        for i in chunk
    }
    assert found == expected, (definition, sorted(found ^ expected))
    assert count_matching(dbsession, entity, definition, now=NOW) == len(expected)


def registries(dbsession) -> dict[str, dict[str, Any]]:
    found = {}
    for entity in ("contact", "account"):
        fields = field_registry(dbsession, entity)
        KINDS[entity] = {key: (f.type, f.date_storage) for key, f in fields.items()}
        found[entity] = fields
    return found


@pytest.fixture
def fixed_dataset(dbsession) -> Dataset:
    data = build_dataset(dbsession, random.Random(20261126), n_accounts=14, n_contacts=60)
    dbsession.commit()
    return data


def test_the_fixed_data_set_covers_the_edges(fixed_dataset):
    data = fixed_dataset
    assert any(c["deleted_at"] for c in data.contacts)
    assert any(a["deleted_at"] for a in data.accounts.values())
    assert any(c["account_id"] and not data.account_of(c) for c in data.contacts)
    assert any(c["last_name"] == "" for c in data.contacts)
    assert any(any(ch in (c["first_name"] or "") for ch in "%_/\\") for c in data.contacts)


@pytest.mark.parametrize("entity", ["contact", "account"])
@SETTINGS
@given(st.data())
def test_compiled_filters_match_the_python_evaluation(dbsession, fixed_dataset, entity, draw):
    fields = registries(dbsession)[entity]
    definition = draw.draw(filters(fixed_dataset, entity, fields), label="definition")
    check(dbsession, fixed_dataset, entity, definition)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_compiled_filters_match_over_generated_rows(dbsession, draw):
    seed = draw.draw(st.integers(0, 2**32), label="rows seed")
    sizes = draw.draw(st.tuples(st.integers(1, 6), st.integers(1, 15)), label="sizes")
    savepoint = dbsession.begin_nested()
    try:
        data = build_dataset(dbsession, random.Random(seed), *sizes)
        fields = registries(dbsession)
        for entity in ("contact", "account"):
            definition = draw.draw(filters(data, entity, fields[entity]), label=entity)
            check(dbsession, data, entity, definition)
    finally:
        savepoint.rollback()
