"""The record API of accounts and contacts: CRUD with soft delete and restore, keyset
paging, search, and the refusal of bad input without touching the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from pivotal_core.accounts.models import Account
from pivotal_core.accounts.services import create_account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.contacts.services import create_contact
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.users.models import User

API = "/api/v1"


@dataclass(frozen=True)
class Kind:
    plural: str
    model: type
    unique_field: str
    sort_keys: tuple[str, ...]
    search_field: str
    make_fixture: str
    updates: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{API}/{self.plural}"

    def item(self, record_id: int) -> str:
        return f"{self.url}/{record_id}"

    def payload(self, n: int) -> dict[str, Any]:
        if self.plural == "contacts":
            return {"first_name": "Pat", "last_name": f"Person{n}", "email": f"p{n}@example.org"}
        return {"name": f"Company {n}", "domain": f"company{n}.com"}

    def unique_value(self, n: int) -> str:
        return self.payload(n)[self.unique_field]


CONTACTS = Kind(
    plural="contacts",
    model=Contact,
    unique_field="email",
    sort_keys=(
        "id",
        "-id",
        "last_name",
        "-last_name",
        "-created_at",
        "created_at",
        "email",
        "-email",
    ),
    search_field="last_name",
    make_fixture="make_contact",
    updates={"title": "Head of Growth", "city": "Berlin", "country": "DE"},
)
ACCOUNTS = Kind(
    plural="accounts",
    model=Account,
    unique_field="domain",
    sort_keys=("id", "-id", "name", "-name", "-created_at", "created_at", "domain", "-domain"),
    search_field="name",
    make_fixture="make_account",
    updates={"industry": "Software", "city": "Berlin", "country": "DE"},
)
KINDS = [pytest.param(CONTACTS, id="contacts"), pytest.param(ACCOUNTS, id="accounts")]


def count(dbsession, model, *where) -> int:
    return dbsession.scalar(select(func.count()).select_from(model).where(*where))


def snapshot(dbsession) -> dict[str, int]:
    """Row counts of every table a record write may touch."""
    models = (Contact, Account, AuditEvent, ContactIdentifier, CustomFieldDefinition, User)
    return {model.__tablename__: count(dbsession, model) for model in models}


def assert_fields(res, status: int, *names: str) -> dict[str, str]:
    assert res.status_int == status, res.text
    error = res.json["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["message"]
    for name in names:
        # A list item's error may name its position below the field (secondary_domains.<i>).
        named = [
            key
            for key in error["fields"]
            if key == name or key.startswith((f"{name}.", f"{name}["))
        ]
        assert named, error
        assert all(error["fields"][key] for key in named)
    return error["fields"]


# ---------------------------------------------------------------- CRUD, soft delete, restore


@pytest.mark.parametrize("kind", KINDS)
def test_create_read_update(kind, admin, dbsession):
    res = admin.post(kind.url, kind.payload(1))
    assert res.status_int == 201, res.text
    created = res.json
    record_id = created["id"]
    assert created[kind.unique_field] == kind.unique_value(1)
    assert created["deleted_at"] is None
    assert dbsession.get(kind.model, record_id) is not None

    fetched = admin.get(kind.item(record_id))
    assert fetched.status_int == 200
    assert fetched.json == created

    res = admin.patch(kind.item(record_id), kind.updates)
    assert res.status_int == 200, res.text
    for name, value in kind.updates.items():
        assert res.json[name] == value
    # Fields not sent are left alone.
    assert res.json[kind.unique_field] == kind.unique_value(1)
    assert admin.get(kind.item(record_id)).json == res.json
    dbsession.expire_all()
    record = dbsession.get(kind.model, record_id)
    assert record.city == "Berlin"
    assert record.country == "DE"


@pytest.mark.parametrize("kind", KINDS)
def test_patch_null_clears_a_field(kind, admin):
    record_id = admin.post(kind.url, {**kind.payload(2), "city": "Paris"}).json["id"]
    res = admin.patch(kind.item(record_id), {"city": None})
    assert res.status_int == 200, res.text
    assert res.json["city"] is None


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_id_is_404(kind, admin):
    for res in (
        admin.get(kind.item(999999)),
        admin.patch(kind.item(999999), {"city": "X"}),
        admin.delete(kind.item(999999)),
        admin.post(kind.item(999999) + "/restore"),
    ):
        assert res.status_int == 404, res.text
        assert res.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("kind", KINDS)
def test_soft_delete_and_restore(kind, admin, dbsession):
    keep = admin.post(kind.url, kind.payload(3)).json["id"]
    gone = admin.post(kind.url, kind.payload(4)).json["id"]

    res = admin.delete(kind.item(gone))
    assert res.status_int == 200, res.text
    assert res.json["deleted_at"] is not None

    listed = [item["id"] for item in admin.get(kind.url).json["items"]]
    assert listed == [keep]
    only_deleted = admin.get(kind.url, {"deleted": "only"}).json["items"]
    assert [item["id"] for item in only_deleted] == [gone]

    fetched = admin.get(kind.item(gone))
    assert fetched.status_int == 200
    assert fetched.json["deleted_at"] is not None

    # The row is still there, only marked.
    dbsession.expire_all()
    row = dbsession.scalars(
        select(kind.model).where(kind.model.id == gone).execution_options(include_deleted=True)
    ).one()
    assert row.deleted_at is not None

    assert admin.patch(kind.item(gone), {"city": "Nowhere"}).status_int == 404
    assert admin.delete(kind.item(gone)).status_int == 404
    dbsession.expire_all()
    assert (
        dbsession.scalars(
            select(kind.model.city)
            .where(kind.model.id == gone)
            .execution_options(include_deleted=True)
        ).one()
        is None
    )

    res = admin.post(kind.item(gone) + "/restore")
    assert res.status_int == 200, res.text
    assert res.json["deleted_at"] is None
    assert sorted(item["id"] for item in admin.get(kind.url).json["items"]) == sorted([keep, gone])
    assert admin.get(kind.url, {"deleted": "only"}).json["items"] == []
    assert admin.patch(kind.item(gone), {"city": "Somewhere"}).status_int == 200


@pytest.mark.parametrize("kind", KINDS)
def test_restore_refused_when_unique_value_was_reused(kind, admin, dbsession):
    old = admin.post(kind.url, kind.payload(5)).json["id"]
    assert admin.delete(kind.item(old)).status_int == 200
    # The freed email/domain may be used by a new record...
    new = admin.post(kind.url, {**kind.payload(6), kind.unique_field: kind.unique_value(5)})
    assert new.status_int == 201, new.text
    new_id = new.json["id"]
    before = snapshot(dbsession)
    # ...and then the old one cannot come back.
    res = admin.post(kind.item(old) + "/restore")
    fields = assert_fields(res, 409, kind.unique_field)
    assert str(new_id) in res.json["error"]["message"]
    assert str(new_id) in fields[kind.unique_field]
    assert snapshot(dbsession) == before
    assert admin.get(kind.item(old)).json["deleted_at"] is not None
    assert old not in [item["id"] for item in admin.get(kind.url).json["items"]]


@pytest.mark.parametrize(
    ("old_values", "new_values", "clashing_field", "domain"),
    [
        # The old account's secondary domain became another account's primary.
        (
            {"domain": "a.com", "secondary_domains": ["x.io"]},
            {"domain": "x.io"},
            "secondary_domains",
            "x.io",
        ),
        # The old account's primary domain became another account's secondary.
        (
            {"domain": "c.com"},
            {"domain": "d.com", "secondary_domains": ["c.com"]},
            "domain",
            "c.com",
        ),
    ],
    ids=["secondary-now-primary", "primary-now-secondary"],
)
def test_account_restore_checks_every_domain(
    old_values, new_values, clashing_field, domain, admin, dbsession
):
    old = admin.post(f"{API}/accounts", {"name": "Old", **old_values}).json["id"]
    assert admin.delete(f"{API}/accounts/{old}").status_int == 200
    new = admin.post(f"{API}/accounts", {"name": "New", **new_values})
    assert new.status_int == 201, new.text
    before = snapshot(dbsession)
    res = admin.post(f"{API}/accounts/{old}/restore")
    fields = assert_fields(res, 409, clashing_field)
    assert domain in res.json["error"]["message"]
    assert str(new.json["id"]) in fields[clashing_field]
    assert snapshot(dbsession) == before
    assert admin.get(f"{API}/accounts/{old}").json["deleted_at"] is not None


@pytest.mark.parametrize("kind", KINDS)
def test_delete_requires_delete_permission(kind, login, admin, dbsession):
    record_id = admin.post(kind.url, kind.payload(7)).json["id"]
    agent = login("agent")
    assert agent.get(kind.item(record_id)).status_int == 200
    assert agent.delete(kind.item(record_id)).status_int == 403
    assert agent.patch(kind.item(record_id), {"city": "X"}).status_int == 403
    assert agent.post(kind.url, kind.payload(8)).status_int == 403
    assert admin.get(kind.item(record_id)).json["deleted_at"] is None


# ---------------------------------------------------------------- keyset paging


def _seed(dbsession, kind: Kind, total: int = 120) -> list[int]:
    """``total`` records with repeated sort values (ties), some blank emails/domains, and
    created_at shared by groups of three."""
    actor = Actor.system("test")
    ids = []
    for n in range(total):
        if kind is CONTACTS:
            values = {"first_name": "Pat", "last_name": f"Surname{n % 12:02d}"}
            if n % 10 != 3:
                values["email"] = f"person{n:03d}@paging.org"
            record = create_contact(dbsession, actor, values)
        else:
            values = {"name": f"Firm {n % 12:02d}"}
            if n % 10 != 3:
                values["domain"] = f"firm{n:03d}.com"
            record = create_account(dbsession, actor, values)
        ids.append(record.id)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for n, record_id in enumerate(ids):
        # Tie groups, and creation order not the id order.
        stamp = base + timedelta(minutes=(n * 7919 % total) // 3)
        dbsession.execute(
            update(kind.model).where(kind.model.id == record_id).values(created_at=stamp)
        )
    dbsession.commit()
    return ids


def _expected_order(dbsession, kind: Kind, sort: str) -> list[int]:
    name = sort.lstrip("-")
    rows = dbsession.scalars(select(kind.model)).all()

    def key(record):
        value = getattr(record, name)
        return (value if value is not None else "", record.id)

    return [r.id for r in sorted(rows, key=key, reverse=sort.startswith("-"))]


def _walk(client, url: str, params: dict[str, Any]) -> tuple[list[list[int]], list[list[int]]]:
    """Pages walking next_cursor to the end, then prev_cursor back to the start."""
    forward = []
    res = client.get(url, params)
    assert res.status_int == 200, res.text
    assert res.json["prev_cursor"] is None
    pages = [res.json]
    while pages[-1]["next_cursor"]:
        res = client.get(url, {**params, "cursor": pages[-1]["next_cursor"]})
        assert res.status_int == 200, res.text
        pages.append(res.json)
        assert len(pages) < 20
    forward = [[item["id"] for item in page["items"]] for page in pages]
    backward = [forward[-1]]
    page = pages[-1]
    while page["prev_cursor"]:
        res = client.get(url, {**params, "cursor": page["prev_cursor"]})
        assert res.status_int == 200, res.text
        page = res.json
        backward.append([item["id"] for item in page["items"]])
        assert len(backward) < 20
    return forward, backward


@pytest.mark.parametrize(
    ("kind", "sort"),
    [pytest.param(CONTACTS, s, id=f"contacts-{s}") for s in CONTACTS.sort_keys]
    + [pytest.param(ACCOUNTS, s, id=f"accounts-{s}") for s in ACCOUNTS.sort_keys],
)
def test_keyset_paging_walks_forward_and_back(kind, sort, admin, dbsession):
    ids = _seed(dbsession, kind)
    forward, backward = _walk(admin, kind.url, {"limit": 50, "sort": sort})
    assert [len(page) for page in forward] == [50, 50, 20]
    walked = [i for page in forward for i in page]
    assert len(walked) == len(set(walked)) == 120
    assert set(walked) == set(ids)
    assert walked == _expected_order(dbsession, kind, sort)
    # One big page agrees with the walk.
    whole = admin.get(kind.url, {"limit": 200, "sort": sort}).json
    assert [item["id"] for item in whole["items"]] == walked
    assert whole["next_cursor"] is None and whole["prev_cursor"] is None
    # Walking back yields the same pages in reverse.
    assert backward == list(reversed(forward))


@pytest.mark.parametrize("kind", KINDS)
def test_default_sort_and_page_shape(kind, admin, dbsession):
    _seed(dbsession, kind, total=7)
    res = admin.get(kind.url, {"limit": 3})
    assert res.status_int == 200
    body = res.json
    assert set(body) == {"items", "next_cursor", "prev_cursor", "limit"}
    assert body["limit"] == 3
    assert len(body["items"]) == 3
    default = "id" if kind is CONTACTS else "name"
    assert [item["id"] for item in body["items"]] == _expected_order(dbsession, kind, default)[:3]


@pytest.mark.parametrize("kind", KINDS)
def test_paging_skips_records_deleted_meanwhile(kind, admin, dbsession):
    _seed(dbsession, kind, total=10)
    first = admin.get(kind.url, {"limit": 4, "sort": "id"}).json
    page_ids = [item["id"] for item in first["items"]]
    order = _expected_order(dbsession, kind, "id")
    victim = order[5]
    assert admin.delete(kind.item(victim)).status_int == 200
    second = admin.get(kind.url, {"limit": 4, "sort": "id", "cursor": first["next_cursor"]}).json
    assert [item["id"] for item in second["items"]] == [i for i in order[4:9] if i != victim]
    assert not set(page_ids) & {item["id"] for item in second["items"]}


def test_contact_search(admin, make_contact):
    zelda = make_contact(first_name="Zelda", last_name="Quark", email="zq@hyrule.org")
    other = make_contact(first_name="Link", last_name="Quartz", email="link@hyrule.org")
    make_contact(first_name="Ganon", last_name="Dorf", email="gd@evil.org")

    def found(q):
        res = admin.get(f"{API}/contacts", {"q": q})
        assert res.status_int == 200, res.text
        return sorted(item["id"] for item in res.json["items"])

    assert found("quar") == sorted([zelda.id, other.id])
    assert found("QUARK") == [zelda.id]
    assert found("zel") == [zelda.id]
    assert found("zq@") == [zelda.id]
    assert found("link@hyrule.org") == [other.id]
    assert found("nobody") == []
    assert found("%") == []
    assert found("_") == []


def test_account_search(admin, make_account):
    acme = make_account(name="Acme Rockets Inc.", domain="acme.com")
    beta = make_account(name="Beta Rockets", domain="beta.io")
    make_account(name="Gamma", domain="gamma.org")

    def found(q):
        res = admin.get(f"{API}/accounts", {"q": q})
        assert res.status_int == 200, res.text
        return sorted(item["id"] for item in res.json["items"])

    assert found("acme") == [acme.id]
    assert found("rockets") == sorted([acme.id, beta.id])
    assert found("beta.io") == [beta.id]
    assert found("zzz") == []
    assert found("%") == []


@pytest.mark.parametrize("kind", KINDS)
def test_search_pages_with_cursor(kind, admin, dbsession):
    _seed(dbsession, kind, total=30)
    q = "surname05" if kind is CONTACTS else "firm 05"
    forward, backward = _walk(admin, kind.url, {"limit": 2, "q": q, "sort": "id"})
    walked = [i for page in forward for i in page]
    expected = [
        r.id
        for r in dbsession.scalars(select(kind.model).order_by(kind.model.id))
        if getattr(r, kind.search_field).lower().replace(" ", "") == q.replace(" ", "")
    ]
    assert len(expected) == 3
    assert walked == expected
    assert backward == list(reversed(forward))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("params", "field_name"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "eyJzIjoiaWQiLCJ2IjoiYSJ9"}, "cursor"),  # base64 JSON, wrong shape
        ({"sort": "password_hash"}, "sort"),
        ({"sort": "-"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"colour": "blue"}, "colour"),
        ({"deleted": "all"}, "deleted"),
    ],
)
def test_bad_list_parameters_are_400(kind, params, field_name, admin):
    res = admin.get(kind.url, params)
    assert_fields(res, 400, field_name)


@pytest.mark.parametrize("kind", KINDS)
def test_cursor_of_another_sort_is_refused(kind, admin, dbsession):
    _seed(dbsession, kind, total=5)
    cursor = admin.get(kind.url, {"limit": 2, "sort": "id"}).json["next_cursor"]
    assert cursor
    assert_fields(admin.get(kind.url, {"limit": 2, "sort": "-id", "cursor": cursor}), 400, "cursor")
    assert_fields(
        admin.get(kind.url, {"limit": 2, "sort": "created_at", "cursor": cursor}), 400, "cursor"
    )


# ---------------------------------------------------------------- bad input


SHARED_BAD_BODIES = [
    pytest.param(b"{bad", "body", 400, id="malformed-json"),
    pytest.param(b"\xff\xfe", "body", 400, id="not-utf8"),
    pytest.param(b'{"city": "\\ud800"}', "city", 400, id="lone-surrogate"),
    pytest.param(b'{"tags": ["ok", "x\\udfffy"]}', "tags[1]", 400, id="lone-surrogate-in-list"),
    pytest.param(
        b'{"custom_fields": {"\\udc00": 1}}', "custom_fields.\\udc00", 400, id="surrogate-key"
    ),
    pytest.param([1, 2], "body", 400, id="array"),
    pytest.param("text", "body", 400, id="string"),
    pytest.param({"favourite_colour": "blue"}, "favourite_colour", 400, id="unknown-field"),
    pytest.param({"city": 5}, "city", 400, id="number-for-string"),
    pytest.param({"city": ["Berlin"]}, "city", 400, id="list-for-string"),
    pytest.param({"city": "x" * 101}, "city", 400, id="city-too-long"),
    pytest.param({"tags": "vip"}, "tags", 400, id="string-for-list"),
    pytest.param({"tags": [1]}, "tags", 400, id="number-in-list"),
    pytest.param({"phone": "12"}, "phone", 400, id="bad-phone"),
    pytest.param({"country": "Narnia"}, "country", 400, id="bad-country"),
    pytest.param({"custom_fields": ["x"]}, "custom_fields", 400, id="custom-fields-not-object"),
    pytest.param({"linkedin_url": "https://example.com/x"}, "linkedin_url", 400, id="bad-linkedin"),
]


def test_escaped_surrogate_pairs_are_text(admin):
    """Only a lone surrogate is refused: a pair escaped in JSON is one character."""
    body = b'{"first_name": "Ren\\u00e9e", "last_name": "M\\ud83d\\ude00ller"}'
    res = admin.post(f"{API}/contacts", body=body)
    assert res.status_int == 201, res.text
    assert res.json["last_name"] == "M\U0001f600ller"


CONTACT_BAD_BODIES = [
    pytest.param({"first_name": 5}, "first_name", id="number-for-name"),
    pytest.param({"first_name": "x" * 101}, "first_name", id="first-name-101"),
    pytest.param({"account_id": True}, "account_id", id="bool-for-account-id"),
    pytest.param({"account_id": "1"}, "account_id", id="string-for-account-id"),
    pytest.param({"account_id": 1.5}, "account_id", id="float-for-account-id"),
    pytest.param({"account_id": 987654}, "account_id", id="nonexistent-account"),
    pytest.param({"email": "not-an-email"}, "email", id="bad-email"),
    pytest.param({"email": "a@b"}, "email", id="email-without-tld"),
    pytest.param({"timezone": "Mars/Olympus_Mons"}, "timezone", id="bad-timezone"),
    pytest.param({"seniority": "overlord"}, "seniority", id="bad-seniority"),
    pytest.param({"mobile": "12"}, "mobile", id="bad-mobile"),
    pytest.param(
        {"external_ids": {"salesforce": 5}}, "external_ids.salesforce", id="external-id-number"
    ),
]

ACCOUNT_BAD_BODIES = [
    pytest.param({"name": 5}, "name", id="number-for-name"),
    pytest.param({"name": "x" * 201}, "name", id="name-too-long"),
    pytest.param({"description": "d" * 5001}, "description", id="description-5001"),
    pytest.param({"employee_count": "5"}, "employee_count", id="string-for-employee-count"),
    pytest.param({"employee_count": True}, "employee_count", id="bool-for-employee-count"),
    pytest.param({"employee_count": -1}, "employee_count", id="negative-employee-count"),
    pytest.param({"annual_revenue": 1.5}, "annual_revenue", id="float-revenue"),
    pytest.param({"parent_id": True}, "parent_id", id="bool-for-parent-id"),
    pytest.param({"parent_id": 987654}, "parent_id", id="nonexistent-parent"),
    pytest.param({"domain": "not a domain"}, "domain", id="bad-domain"),
    pytest.param(
        {"secondary_domains": ["ok.com", "bad domain"]},
        "secondary_domains",
        id="bad-secondary-domain",
    ),
]


def _send(client, method: str, url: str, body: Any):
    sender = client.post if method == "POST" else client.patch
    if isinstance(body, bytes):
        return sender(url, body=body)
    return sender(url, body)


def _bad_request(kind: Kind, method: str, body: Any, n: int) -> Any:
    """On POST a dict body is added to an otherwise valid record so only the bad field fails."""
    if method == "POST" and isinstance(body, dict):
        return {**kind.payload(n), **body}
    return body


def _check_refused(
    admin, dbsession, kind: Kind, method: str, body: Any, field_name: str, status: int = 400
) -> None:
    existing = admin.post(kind.url, kind.payload(90)).json
    url = kind.url if method == "POST" else kind.item(existing["id"])
    before = snapshot(dbsession)
    res = _send(admin, method, url, _bad_request(kind, method, body, 91))
    assert_fields(res, status, field_name)
    assert snapshot(dbsession) == before
    assert admin.get(kind.item(existing["id"])).json == existing


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("body", "field_name", "status"), SHARED_BAD_BODIES)
def test_bad_input_is_refused_and_changes_nothing(
    kind, method, body, field_name, status, admin, dbsession
):
    _check_refused(admin, dbsession, kind, method, body, field_name, status)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(("body", "field_name"), CONTACT_BAD_BODIES)
def test_bad_contact_input(method, body, field_name, admin, dbsession):
    _check_refused(admin, dbsession, CONTACTS, method, body, field_name)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(("body", "field_name"), ACCOUNT_BAD_BODIES)
def test_bad_account_input(method, body, field_name, admin, dbsession):
    _check_refused(admin, dbsession, ACCOUNTS, method, body, field_name)


@pytest.mark.parametrize("kind", KINDS)
def test_every_bad_field_is_named_at_once(kind, admin, dbsession):
    before = snapshot(dbsession)
    res = admin.post(kind.url, {**kind.payload(1), "city": 5, "country": 7, "nonsense": True})
    fields = assert_fields(res, 400, "city", "country", "nonsense")
    assert len(fields) == 3
    assert snapshot(dbsession) == before


@pytest.mark.parametrize("kind", KINDS)
def test_required_name_cannot_be_cleared(kind, admin, dbsession):
    body = (
        {"name": None}
        if kind is ACCOUNTS
        else {"first_name": None, "last_name": None, "email": None}
    )
    record = admin.post(kind.url, kind.payload(1)).json
    before = snapshot(dbsession)
    res = admin.patch(kind.item(record["id"]), body)
    assert_fields(res, 400, "name" if kind is ACCOUNTS else "email")
    assert snapshot(dbsession) == before
    assert admin.get(kind.item(record["id"])).json == record


def test_contact_may_drop_email_while_named(admin):
    record = admin.post(f"{API}/contacts", CONTACTS.payload(1)).json
    res = admin.patch(f"{API}/contacts/{record['id']}", {"email": None, "first_name": None})
    assert res.status_int == 200, res.text
    assert res.json["email"] is None and res.json["email_domain"] is None
    assert res.json["last_name"] == "Person1"


def test_contact_create_needs_a_name_or_email(admin, dbsession):
    before = snapshot(dbsession)
    assert_fields(admin.post(f"{API}/contacts", {"city": "Berlin"}), 400, "email")
    assert_fields(admin.post(f"{API}/contacts", {}), 400)
    assert snapshot(dbsession) == before


def test_account_create_needs_a_name(admin, dbsession):
    before = snapshot(dbsession)
    assert_fields(admin.post(f"{API}/accounts", {"domain": "noname.com"}), 400, "name")
    assert_fields(admin.post(f"{API}/accounts", {"name": "   "}), 400, "name")
    assert snapshot(dbsession) == before


def test_body_required(admin, dbsession):
    before = snapshot(dbsession)
    assert_fields(admin.post(f"{API}/contacts", body=b""), 400, "body")
    assert snapshot(dbsession) == before


# ---------------------------------------------------------------- uniqueness


@pytest.mark.parametrize(
    "duplicate",
    ["dup@example.org", "DUP@Example.ORG", "  dup@example.org\t", " Dup@EXAMPLE.org "],
)
def test_duplicate_contact_email_is_409_naming_the_existing_contact(duplicate, admin, dbsession):
    existing = admin.post(f"{API}/contacts", {"first_name": "Dee", "email": "dup@example.org"})
    existing_id = existing.json["id"]
    before = snapshot(dbsession)
    res = admin.post(f"{API}/contacts", {"first_name": "Other", "email": duplicate})
    fields = assert_fields(res, 409, "email")
    assert res.json["error"]["code"] == "conflict"
    assert f"contact {existing_id}" in res.json["error"]["message"]
    assert str(existing_id) in fields["email"]
    assert snapshot(dbsession) == before

    other = admin.post(f"{API}/contacts", {"first_name": "Other", "email": "other@example.org"})
    res = admin.patch(f"{API}/contacts/{other.json['id']}", {"email": duplicate})
    assert_fields(res, 409, "email")
    assert str(existing_id) in res.json["error"]["message"]
    assert admin.get(f"{API}/contacts/{other.json['id']}").json["email"] == "other@example.org"


def test_contact_may_keep_its_own_email(admin):
    record = admin.post(f"{API}/contacts", {"first_name": "Dee", "email": "own@example.org"}).json
    res = admin.patch(f"{API}/contacts/{record['id']}", {"email": "OWN@example.org "})
    assert res.status_int == 200, res.text
    assert res.json["email"] == "own@example.org"


@pytest.mark.parametrize(
    "domain",
    ["acme.com", "ACME.com", "https://www.Acme.com/about", "http://acme.com", "www.acme.com"],
)
def test_duplicate_account_domain_is_409_naming_the_existing_account(domain, admin, dbsession):
    acme = admin.post(f"{API}/accounts", {"name": "Acme", "domain": "acme.com"}).json
    before = snapshot(dbsession)
    res = admin.post(f"{API}/accounts", {"name": "Acme Again", "domain": domain})
    fields = assert_fields(res, 409, "domain")
    assert f"account {acme['id']}" in res.json["error"]["message"]
    assert str(acme["id"]) in fields["domain"]
    assert snapshot(dbsession) == before


def test_secondary_domain_clashes_are_409(admin, dbsession):
    acme = admin.post(
        f"{API}/accounts", {"name": "Acme", "domain": "acme.com", "secondary_domains": ["acme.io"]}
    ).json
    assert acme["secondary_domains"] == ["acme.io"]
    before = snapshot(dbsession)
    # A secondary domain that is another account's primary.
    res = admin.post(
        f"{API}/accounts",
        {"name": "Other", "domain": "other.com", "secondary_domains": ["https://acme.com"]},
    )
    assert_fields(res, 409, "secondary_domains")
    assert str(acme["id"]) in res.json["error"]["message"]
    # A primary domain that is another account's secondary.
    res = admin.post(f"{API}/accounts", {"name": "Other", "domain": "acme.io"})
    assert_fields(res, 409, "domain")
    assert str(acme["id"]) in res.json["error"]["message"]
    assert snapshot(dbsession) == before
    # The same through PATCH.
    other = admin.post(f"{API}/accounts", {"name": "Other", "domain": "other.com"}).json
    res = admin.patch(f"{API}/accounts/{other['id']}", {"secondary_domains": ["acme.com"]})
    assert_fields(res, 409, "secondary_domains")
    assert admin.get(f"{API}/accounts/{other['id']}").json["secondary_domains"] == []


def test_account_keeps_its_own_domain_and_dedups_secondaries(admin):
    acme = admin.post(f"{API}/accounts", {"name": "Acme", "domain": "acme.com"}).json
    res = admin.patch(
        f"{API}/accounts/{acme['id']}",
        {
            "domain": "https://ACME.com/",
            "secondary_domains": ["acme.io", "www.acme.io", "acme.com"],
        },
    )
    assert res.status_int == 200, res.text
    assert res.json["domain"] == "acme.com"
    assert res.json["secondary_domains"] == ["acme.io"]


# ---------------------------------------------------------------- hierarchy


def test_account_cannot_be_its_own_parent(admin, dbsession):
    acme = admin.post(f"{API}/accounts", {"name": "Acme"}).json
    before = snapshot(dbsession)
    fields = assert_fields(
        admin.patch(f"{API}/accounts/{acme['id']}", {"parent_id": acme["id"]}), 422, "parent_id"
    )
    assert fields
    assert snapshot(dbsession) == before
    assert admin.get(f"{API}/accounts/{acme['id']}").json["parent_id"] is None


def test_hierarchy_cycle_is_422_and_changes_nothing(admin, dbsession):
    a = admin.post(f"{API}/accounts", {"name": "A Holdings"}).json["id"]
    b = admin.post(f"{API}/accounts", {"name": "B Group", "parent_id": a}).json["id"]
    c = admin.post(f"{API}/accounts", {"name": "C Branch"}).json["id"]
    assert admin.patch(f"{API}/accounts/{c}", {"parent_id": b}).status_int == 200
    before = snapshot(dbsession)

    res = admin.patch(f"{API}/accounts/{a}", {"parent_id": c})
    assert_fields(res, 422, "parent_id")
    assert res.json["error"]["code"] == "unprocessable"
    # A direct two-account loop too.
    assert_fields(admin.patch(f"{API}/accounts/{a}", {"parent_id": b}), 422, "parent_id")

    assert snapshot(dbsession) == before
    parents = {i: admin.get(f"{API}/accounts/{i}").json["parent_id"] for i in (a, b, c)}
    assert parents == {a: None, b: a, c: b}
    # Moving a leaf elsewhere is fine.
    assert admin.patch(f"{API}/accounts/{c}", {"parent_id": a}).status_int == 200


def test_deleted_parent_is_refused(admin, dbsession):
    parent = admin.post(f"{API}/accounts", {"name": "Gone Corp"}).json["id"]
    assert admin.delete(f"{API}/accounts/{parent}").status_int == 200
    before = snapshot(dbsession)
    assert_fields(
        admin.post(f"{API}/accounts", {"name": "Child", "parent_id": parent}), 400, "parent_id"
    )
    assert snapshot(dbsession) == before


def test_contact_joins_the_account_owning_its_email_domain(admin, make_account):
    acme = make_account(name="Acme", domain="acme.com", secondary_domains=["acme.io"])
    res = admin.post(f"{API}/contacts", {"first_name": "Wile", "email": "wile@acme.io"})
    assert res.status_int == 201
    assert res.json["account_id"] == acme.id
    assert res.json["email_domain"] == "acme.io"


# ---------------------------------------------------------------- custom fields


def _define(admin, entity: str) -> None:
    res = admin.post(
        f"{API}/custom-fields",
        {"entity": entity, "key": "budget", "label": "Budget", "type": "number"},
    )
    assert res.status_int == 201, res.text
    res = admin.post(
        f"{API}/custom-fields",
        {
            "entity": entity,
            "key": "tier",
            "label": "Tier",
            "type": "enum",
            "options": ["gold", "silver"],
        },
    )
    assert res.status_int == 201, res.text


@pytest.mark.parametrize("kind", KINDS)
def test_custom_field_values(kind, admin, dbsession):
    _define(admin, kind.plural[:-1])
    record = admin.post(kind.url, kind.payload(1)).json
    url = kind.item(record["id"])

    res = admin.patch(url, {"custom_fields": {"budget": 12500.5, "tier": "gold"}})
    assert res.status_int == 200, res.text
    assert res.json["custom_fields"] == {"budget": 12500.5, "tier": "gold"}
    dbsession.expire_all()
    assert dbsession.get(kind.model, record["id"]).custom_fields == {
        "budget": 12500.5,
        "tier": "gold",
    }
    # Setting one key keeps the others; null removes a key.
    res = admin.patch(url, {"custom_fields": {"budget": 7}})
    assert res.json["custom_fields"] == {"budget": 7, "tier": "gold"}
    res = admin.patch(url, {"custom_fields": {"tier": None}})
    assert res.json["custom_fields"] == {"budget": 7}

    current = admin.get(url).json
    before = snapshot(dbsession)
    cases = [
        ({"colour": "blue"}, "custom_fields.colour"),
        ({"budget": "lots"}, "custom_fields.budget"),
        ({"budget": True}, "custom_fields.budget"),
        ({"tier": "platinum"}, "custom_fields.tier"),
    ]
    for values, field_name in cases:
        fields = assert_fields(admin.patch(url, {"custom_fields": values}), 400, field_name)
        assert list(fields) == [field_name]
        assert_fields(
            admin.post(kind.url, {**kind.payload(2), "custom_fields": values}), 400, field_name
        )
    assert snapshot(dbsession) == before
    assert admin.get(url).json == current


def test_custom_fields_are_per_entity(admin):
    _define(admin, "account")
    contact = admin.post(f"{API}/contacts", CONTACTS.payload(1)).json
    res = admin.patch(f"{API}/contacts/{contact['id']}", {"custom_fields": {"budget": 5}})
    assert_fields(res, 400, "custom_fields.budget")


def test_custom_field_definition_is_validated(admin, dbsession):
    before = snapshot(dbsession)
    url = f"{API}/custom-fields"
    assert_fields(
        admin.post(url, {"entity": "lead", "key": "x", "label": "X", "type": "text"}), 400, "entity"
    )
    assert_fields(
        admin.post(url, {"entity": "contact", "key": "Bad Key", "label": "X", "type": "text"}),
        400,
        "key",
    )
    assert_fields(
        admin.post(url, {"entity": "contact", "key": "x", "label": "X", "type": "blob"}),
        400,
        "type",
    )
    assert_fields(
        admin.post(url, {"entity": "contact", "key": "x", "label": "X", "type": "enum"}),
        400,
        "options",
    )
    assert snapshot(dbsession) == before
    _define(admin, "contact")
    res = admin.post(url, {"entity": "contact", "key": "budget", "label": "B", "type": "text"})
    assert_fields(res, 409, "key")


# ---------------------------------------------------------------- external ids


def test_external_ids(admin, dbsession):
    first = admin.post(f"{API}/contacts", CONTACTS.payload(1)).json
    second = admin.post(f"{API}/contacts", CONTACTS.payload(2)).json

    res = admin.patch(f"{API}/contacts/{first['id']}", {"external_ids": {"salesforce": "003xx"}})
    assert res.status_int == 200, res.text
    assert res.json["external_ids"] == {"salesforce": "003xx"}
    assert admin.get(f"{API}/contacts/{first['id']}").json["external_ids"] == {
        "salesforce": "003xx"
    }
    assert count(dbsession, ContactIdentifier, ContactIdentifier.contact_id == first["id"]) == 1

    before = snapshot(dbsession)
    res = admin.patch(f"{API}/contacts/{second['id']}", {"external_ids": {"salesforce": "003xx"}})
    fields = assert_fields(res, 409, "external_ids.salesforce")
    assert str(first["id"]) in res.json["error"]["message"]
    assert str(first["id"]) in fields["external_ids.salesforce"]
    res = admin.post(
        f"{API}/contacts", {**CONTACTS.payload(3), "external_ids": {"Salesforce": " 003xx "}}
    )
    assert_fields(res, 409, "external_ids.salesforce")
    assert snapshot(dbsession) == before
    assert admin.get(f"{API}/contacts/{second['id']}").json["external_ids"] == {}

    # Re-sending the contact's own id is fine; a new value replaces the old one.
    res = admin.patch(f"{API}/contacts/{first['id']}", {"external_ids": {"salesforce": "003xx"}})
    assert res.status_int == 200
    res = admin.patch(f"{API}/contacts/{first['id']}", {"external_ids": {"salesforce": "003yy"}})
    assert res.json["external_ids"] == {"salesforce": "003yy"}
    assert count(dbsession, ContactIdentifier, ContactIdentifier.contact_id == first["id"]) == 1
    # The freed id can now go to the other contact.
    res = admin.patch(f"{API}/contacts/{second['id']}", {"external_ids": {"salesforce": "003xx"}})
    assert res.status_int == 200, res.text
