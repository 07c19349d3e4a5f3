"""Domain sets: normalizing, classifying and matching uploaded domains against accounts'
primary and secondary domains; suggestions, matching by hand, creating the missing
accounts, lists from the result; the API with its bad input and its permissions."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import event, select

from pivotal_core.accounts.models import Account
from pivotal_core.audience import domain_sets
from pivotal_core.audience.models import DomainSet, DomainSetItem, ListMember
from pivotal_core.audience.services import Viewer
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Role
from pivotal_core.dataquality.models import ImportBatch
from pivotal_core.errors import Conflict, PayloadTooLarge, Unprocessable, ValidationFailed
from pivotal_core.jobs.models import Job

API = "/api/v1/domain-sets"


@pytest.fixture
def actor() -> Actor:
    return Actor.system("test")


@pytest.fixture
def companies(make_account, dbsession):
    """Acme (primary acme.com, secondary acme-corp.io), Beta (beta.co.uk), Wayne
    Enterprises (wayne.com) and a deleted account of gone.com."""
    acme = make_account(name="Acme", domain="acme.com", secondary_domains=["acme-corp.io"])
    beta = make_account(name="Beta Industries", domain="beta.co.uk")
    wayne = make_account(name="Wayne Enterprises", domain="wayne.com")
    gone = make_account(name="Gone Ltd", domain="gone.com")
    gone.deleted_at = gone.created_at
    dbsession.commit()
    return {"acme": acme, "beta": beta, "wayne": wayne, "gone": gone}


def create(dbsession, actor, domains, settings=None, viewer=None, **values):
    values.setdefault("name", "Targets")
    return domain_sets.create_domain_set(
        dbsession, actor, viewer, values, settings=settings or {}, domains=domains
    )


def items_of(dbsession, domain_set) -> dict[int, DomainSetItem]:
    rows = dbsession.scalars(
        select(DomainSetItem).where(DomainSetItem.domain_set_id == domain_set.id)
    )
    return {item.line_number: item for item in rows}


MIXED = [
    "Acme.com",  # 1 matched, primary
    "https://www.shop.ACME.com/about?x=1",  # 2 duplicate of 1
    "beta.co.uk",  # 3 matched
    "WWW.BETA.CO.UK.",  # 4 duplicate of 3
    "not a domain",  # 5 invalid
    "192.168.0.1",  # 6 invalid: an IP address
    "co.uk",  # 7 invalid: a public suffix
    "sales@acme-corp.io",  # 8 matched through Acme's secondary domain
    "müller-bau.de",  # 9 unmatched, punycode
    "wayneenterprises.com",  # 10 unmatched, suggests Wayne Enterprises
    "   ",  # blank: no entry
    "gone.com",  # 12 unmatched: its account is deleted
]


# ---------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------


def test_entries_are_normalized_classified_and_matched(dbsession, actor, companies):
    domain_set = create(dbsession, actor, MIXED)
    assert domain_set.status == "ready"
    items = items_of(dbsession, domain_set)
    assert sorted(items) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert (items[1].status, items[1].account_id, items[1].matched_via) == (
        "matched",
        companies["acme"].id,
        "primary",
    )
    assert (items[2].status, items[2].domain, items[2].duplicate_of) == ("duplicate", "acme.com", 1)
    assert (items[3].status, items[3].account_id) == ("matched", companies["beta"].id)
    assert (items[4].status, items[4].duplicate_of) == ("duplicate", 3)
    assert (items[5].status, items[5].reason) == ("invalid", "is not a valid domain name")
    assert items[6].reason == "must be a domain name, not an IP address"
    assert items[7].reason == "is a public suffix, not a registrable domain"
    assert (items[8].domain, items[8].status, items[8].matched_via, items[8].account_id) == (
        "acme-corp.io",
        "matched",
        "secondary",
        companies["acme"].id,
    )
    assert (items[9].domain, items[9].status) == ("xn--mller-bau-q9a.de", "unmatched")
    assert items[12].status == "unmatched"
    report = domain_sets.DomainSetReport.of(domain_set)
    assert (report.entries, report.matched, report.unmatched) == (11, 3, 3)
    assert (report.invalid, report.duplicates, report.accounts) == (3, 2, 2)
    assert report.match_rate == 0.5
    created = dbsession.scalars(
        select(AuditEvent).where(AuditEvent.entity == "domain_set", AuditEvent.action == "create")
    ).all()
    assert [e.entity_id for e in created] == [domain_set.id]


def test_matching_is_set_based(dbsession, actor, make_account):
    """The number of statements does not grow with the number of domains, neither when a
    set is made nor when it is matched again."""
    for n in range(30):
        make_account(name=f"Company {n}", domain=f"company{n}.com")
    make_account(name="Other", domain="other.com", secondary_domains=["company-x.com"])
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = dbsession.get_bind().engine
    create(dbsession, actor, ["warm.io"])  # first-use work (caches) is not counted
    made, rematched = [], []
    for size in (3, 30):
        domains = [f"www.company{n}.com" for n in range(size)] + ["company-x.com", "new.io"]
        event.listen(engine, "before_cursor_execute", count)
        try:
            statements.clear()
            domain_set = create(dbsession, actor, domains)
            made.append(len(statements))
            statements.clear()
            domain_sets.rematch_domain_set(dbsession, actor, None, domain_set)
            rematched.append(len(statements))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert (domain_set.matched_count, domain_set.unmatched_count) == (size + 1, 1)
        via = {i.domain: i.matched_via for i in items_of(dbsession, domain_set).values()}
        assert (via["company0.com"], via["company-x.com"]) == ("primary", "secondary")
    assert made[0] == made[1]
    assert rematched[0] == rematched[1]


def test_suggestions_by_name_similarity(dbsession, actor, companies):
    domain_set = create(dbsession, actor, MIXED)
    found = domain_sets.suggestions_page(dbsession, domain_set, None, 50)
    by_domain = {item.domain: accounts for item, accounts in found}
    assert list(by_domain) == ["wayneenterprises.com"]
    [(account, score)] = by_domain["wayneenterprises.com"]
    assert (account.id, score) == (companies["wayne"].id, 1.0)
    assert domain_set.suggested_through == 12


def test_suggestions_are_bounded_and_continue(dbsession, actor, make_account):
    make_account(name="Wayne Enterprises", domain="wayne.com")
    domains = [f"nothing{n}.com" for n in range(5)] + ["wayne-enterprises.com"]
    domain_set = domain_sets.create_domain_set(
        dbsession, actor, None, {"name": "x"}, settings={}, domains=domains
    )
    # The first run looked at all six (the batch is larger); start over with a small one.
    domain_set.suggested_through = 0
    dbsession.execute(
        domain_sets.DomainSetSuggestion.__table__.delete().where(
            domain_sets.DomainSetSuggestion.domain_set_id == domain_set.id
        )
    )
    assert domain_sets.suggest_accounts(dbsession, domain_set, limit=4) == {
        "examined": 4,
        "suggested": 0,
    }
    assert domain_set.suggested_through == 4
    assert domain_sets.suggest_accounts(dbsession, domain_set, limit=4) == {
        "examined": 2,
        "suggested": 1,
    }
    assert domain_sets.suggest_accounts(dbsession, domain_set, limit=4)["examined"] == 0


def test_matching_by_hand_can_add_the_domain_to_the_account(dbsession, actor, companies):
    domain_set = create(dbsession, actor, MIXED)
    wayne = companies["wayne"]
    item = domain_sets.match_to_account(
        dbsession, actor, None, domain_set, 10, wayne.id, add_domain=True
    )
    assert (item.status, item.account_id, item.matched_via) == ("matched", wayne.id, "manual")
    assert wayne.secondary_domains == ["wayneenterprises.com"]
    assert domain_set.matched_count == 4
    changed = dbsession.scalars(
        select(AuditEvent.field).where(
            AuditEvent.entity == "account", AuditEvent.entity_id == wayne.id
        )
    ).all()
    assert "secondary_domains" in changed
    with pytest.raises(Conflict):
        domain_sets.match_to_account(dbsession, actor, None, domain_set, 1, wayne.id)
    # A new set finds it now through the secondary domain.
    again = create(dbsession, actor, ["http://wayneenterprises.com"])
    assert items_of(dbsession, again)[1].matched_via == "secondary"


def test_rematch_follows_account_changes_and_keeps_manual_matches(dbsession, actor, companies):
    domain_set = create(dbsession, actor, MIXED)
    domain_sets.match_to_account(dbsession, actor, None, domain_set, 10, companies["wayne"].id)
    companies["gone"].deleted_at = None  # restored
    companies["beta"].domain = "beta-industries.com"
    dbsession.flush()
    domain_sets.rematch_domain_set(dbsession, actor, None, domain_set)
    items = items_of(dbsession, domain_set)
    assert items[12].status == "matched"
    assert items[3].status == "unmatched"
    assert items[10].matched_via == "manual"
    assert domain_set.matched_count == 4


def test_creating_missing_accounts_goes_through_the_import_engine(dbsession, actor, companies):
    domain_set = create(dbsession, actor, MIXED)
    result = domain_sets.create_missing_accounts(
        dbsession, actor, None, domain_set, settings={}, lines=[9, 12]
    )
    assert (result["domains"], result["created"], result["matched"]) == (2, 2, 2)
    batch = dbsession.get(ImportBatch, result["importBatchId"])
    assert (batch.entity, batch.source, batch.status) == ("account", "domain-set", "succeeded")
    created = dbsession.scalars(select(Account).where(Account.domain == "gone.com")).one()
    assert created.id != companies["gone"].id and created.name == "gone.com"
    assert created.field_provenance["domain"]["source"] == "import:domain-set"
    audited = dbsession.scalars(
        select(AuditEvent.entity_id).where(
            AuditEvent.batch_id == batch.id, AuditEvent.action == "create"
        )
    ).all()
    assert created.id in audited
    items = items_of(dbsession, domain_set)
    assert (items[12].status, items[12].matched_via) == ("matched", "created")
    assert items[10].status == "unmatched"
    assert domain_set.accounts_batch_id == batch.id
    with pytest.raises(ValidationFailed) as not_unmatched:
        domain_sets.create_missing_accounts(
            dbsession, actor, None, domain_set, settings={}, lines=[1]
        )
    assert not_unmatched.value.fields == {"lineNumbers": "not unmatched domains of this set: 1"}


def test_lists_of_matched_accounts_and_their_contacts(
    dbsession, actor, companies, make_contact, make_user
):
    user = make_user(Role.CAMPAIGN_MANAGER)
    viewer = Viewer(user.id, user.role)
    alice = make_contact(email="alice@acme.com")
    bob = make_contact(email="bob@beta.co.uk")
    make_contact(email="carol@elsewhere.com")
    domain_set = create(dbsession, actor, MIXED, viewer=viewer)
    accounts = domain_sets.domain_set_to_list(dbsession, actor, viewer, domain_set, {})
    assert (accounts.entity_type, accounts.source_type) == ("account", "domain_set")
    assert accounts.source_ref == {"domainSetId": domain_set.id}
    members = dbsession.scalars(
        select(ListMember.record_id).where(ListMember.list_id == accounts.id)
    )
    assert sorted(members) == sorted([companies["acme"].id, companies["beta"].id])
    contacts = domain_sets.domain_set_to_list(
        dbsession, actor, viewer, domain_set, {"entity_type": "contact", "name": "People"}
    )
    members = dbsession.scalars(
        select(ListMember.record_id).where(ListMember.list_id == contacts.id)
    )
    assert sorted(members) == sorted([alice.id, bob.id])
    assert (contacts.name, contacts.member_count, contacts.owner_id) == ("People", 2, user.id)


def test_limits_name_the_field(dbsession, actor):
    with pytest.raises(PayloadTooLarge) as too_many:
        create(dbsession, actor, ["a.com"] * (domain_sets.MAX_ENTRIES + 1))
    assert "domains" in too_many.value.fields
    with pytest.raises(Unprocessable) as empty:
        create(dbsession, actor, ["", "  "])
    assert empty.value.fields == {"domains": "holds no domains"}


def _sniffed(text: str, tmp_path) -> Any:
    from pivotal_core.dataquality.files import sniff

    path = tmp_path / "domains.csv"
    path.write_text(text, encoding="utf-8")
    return sniff(path)


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("acme.com\nbeta.com\n", None, ("acme.com", True)),
        ("Companies\nacme.com\n", None, ("Companies", False)),
        ("Name,Website,Country\nAcme,acme.com,US\n", None, ("Website", False)),
        ("name,company_domain\nAcme,acme.com\n", None, ("company_domain", False)),
        ("Name,Web address\nAcme,acme.com\n", "web address", ("Web address", False)),
    ],
)
def test_the_domain_column_is_found(tmp_path, text, column, expected):
    assert domain_sets.choose_column(_sniffed(text, tmp_path), column) == expected


def test_a_file_without_a_domain_column_asks_for_one(tmp_path):
    fmt = _sniffed("Name,Country\nAcme,US\n", tmp_path)
    with pytest.raises(Unprocessable) as unknown:
        domain_sets.choose_column(fmt, None)
    assert "column" in unknown.value.fields
    with pytest.raises(Unprocessable) as missing:
        domain_sets.choose_column(fmt, "Domain")
    assert "Name, Country" in missing.value.fields["column"]


# ---------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------


def upload(client, content: bytes, filename: str = "targets.csv", **fields: str):
    return client.testapp.post(
        f"{API}/upload",
        list(fields.items()),
        upload_files=[("file", filename, content)],
        content_type="multipart/form-data",
        headers=client._headers(None),
        expect_errors=True,
    )


def test_api_create_read_items_and_report(admin, companies):
    res = admin.post(API, {"name": "ABM Q3", "domains": MIXED})
    assert res.status_int == 201, res.text
    body = res.json
    assert body["status"] == "ready"
    assert body["counts"] == {
        "entries": 11,
        "matched": 3,
        "unmatched": 3,
        "invalid": 3,
        "duplicates": 2,
        "accounts": 2,
    }
    assert body["matchRate"] == 0.5
    assert (body["entityType"], body["visibilityScope"]) == ("account", "private")
    set_url = f"{API}/{body['id']}"
    assert admin.get(set_url).json == body
    listed = admin.get(API).json["items"]
    assert [s["id"] for s in listed] == [body["id"]]

    invalid = admin.get(f"{set_url}/items", {"status": "invalid"}).json
    assert [i["lineNumber"] for i in invalid["items"]] == [5, 6, 7]
    assert invalid["items"][1]["reason"] == "must be a domain name, not an IP address"
    first = admin.get(f"{set_url}/items", {"limit": 4}).json
    assert [i["lineNumber"] for i in first["items"]] == [1, 2, 3, 4]
    assert first["items"][0]["account"] == {
        "id": companies["acme"].id,
        "name": "Acme",
        "domain": "acme.com",
    }
    assert first["items"][1]["duplicateOf"] == 1
    rest = admin.get(f"{set_url}/items", {"limit": 4, "cursor": first["next_cursor"]}).json
    assert [i["lineNumber"] for i in rest["items"]] == [5, 6, 7, 8]
    assert admin.get(f"{set_url}/items", {"status": "bogus"}).status_int == 400
    assert admin.get(f"{set_url}/items", {"cursor": "x"}).status_int == 400

    suggestions = admin.get(f"{set_url}/suggestions").json
    assert suggestions["items"][0]["domain"] == "wayneenterprises.com"
    assert suggestions["items"][0]["accounts"][0]["id"] == companies["wayne"].id
    matched = admin.post(
        f"{set_url}/items/10/match", {"accountId": companies["wayne"].id, "addDomain": True}
    )
    assert matched.status_int == 200, matched.text
    assert (matched.json["status"], matched.json["matchedVia"]) == ("matched", "manual")
    assert admin.get(set_url).json["counts"]["matched"] == 4
    assert admin.post(f"{set_url}/items/10/match", {"accountId": 1}).status_int == 409
    assert admin.post(f"{set_url}/items/99/match", {"accountId": 1}).status_int == 404
    assert admin.post(f"{set_url}/items/9/match", {"accountId": 10**9}).json["error"]["fields"] == {
        "accountId": "no account with id 1000000000"
    }

    made = admin.post(f"{set_url}/create-missing-accounts", {})
    assert made.status_int == 200, made.text
    assert (made.json["domains"], made.json["created"]) == (2, 2)
    assert admin.get(set_url).json["counts"]["unmatched"] == 0
    to_list = admin.post(f"{set_url}/to-list", {"entityType": "account", "name": "ABM"})
    assert to_list.status_int == 201, to_list.text
    assert (to_list.json["sourceType"], to_list.json["memberCount"]) == ("domain_set", 5)
    assert admin.post(f"{set_url}/rematch").json["counts"]["matched"] == 6
    renamed = admin.patch(set_url, {"name": "ABM Q4", "visibilityScope": "team"})
    assert renamed.json["name"] == "ABM Q4"
    assert admin.delete(set_url).status_int == 200
    assert admin.get(set_url).status_int == 404
    gone = admin.get(API, {"deleted": "only"}).json["items"]
    assert [(g["id"], g["deletedAt"] is not None) for g in gone] == [(body["id"], True)]
    assert admin.get(API).json["items"] == []
    restored = admin.post(f"{set_url}/restore")
    assert restored.status_int == 200, restored.text
    assert restored.json["deletedAt"] is None
    assert restored.json["counts"]["matched"] == 6, "entries and matches come back as they were"
    assert admin.get(set_url).status_int == 200
    assert admin.get(API, {"deleted": "only"}).json["items"] == []


def test_api_uploads_csv_xlsx_and_text(admin, companies, imports_dir):
    csv_file = b"Company,Website\nAcme,https://www.acme.com\nBeta,beta.co.uk\nNew,new.io\n"
    res = upload(admin, csv_file, name="From CSV")
    assert res.status_int == 201, res.text
    assert (res.json["column"], res.json["filename"]) == ("Website", "targets.csv")
    assert (res.json["counts"]["matched"], res.json["counts"]["unmatched"]) == (2, 1)
    items = admin.get(f"{API}/{res.json['id']}/items").json["items"]
    assert [i["lineNumber"] for i in items] == [2, 3, 4]

    text = upload(admin, b"acme.com\n\nwayne.com\n", filename="list.txt")
    assert text.status_int == 201, text.text
    assert text.json["name"] == "list.txt"
    items = admin.get(f"{API}/{text.json['id']}/items").json["items"]
    assert [(i["lineNumber"], i["status"]) for i in items] == [(1, "matched"), (3, "matched")]

    one = upload(admin, b"https://www.wayne.com/\n", filename="one.txt")
    assert one.status_int == 201, one.text
    assert (one.json["counts"]["matched"], one.json["filename"]) == (1, "one.txt")

    book = Workbook()
    sheet = book.active
    sheet.append(["Account", "Domain"])
    sheet.append(["Acme", "ACME.COM"])
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx = upload(admin, buffer.getvalue(), filename="t.xlsx", entityType="contact")
    assert xlsx.status_int == 201, xlsx.text
    assert (xlsx.json["counts"]["matched"], xlsx.json["entityType"]) == (1, "contact")


def test_api_refuses_bad_input(admin, imports_dir):
    def error(res, status):
        assert res.status_int == status, res.text
        return res.json["error"]

    assert error(admin.post(API, {"name": "x", "domains": []}), 422)["fields"] == {
        "domains": "holds no domains"
    }
    too_many = admin.post(API, {"name": "x", "domains": ["a.com"] * 100_001})
    assert "domains" in error(too_many, 413)["fields"]
    assert "domains" in error(admin.post(API, {"name": "x", "domains": "a.com"}), 400)["fields"]
    assert "domains" in error(admin.post(API, {"name": "x", "domains": [1]}), 400)["fields"]
    control = admin.post(API, {"name": "x", "domains": ["acme\u0000.com", "a.com\tb.com"]})
    assert control.status_int == 201, control.text
    items = admin.get(f"{API}/{control.json['id']}/items").json["items"]
    assert [(i["raw"], i["status"]) for i in items] == [
        ("acme\ufffd.com", "invalid"),
        ("a.com\ufffdb.com", "invalid"),
    ]
    assert (
        "color"
        in error(admin.post(API, {"name": "x", "domains": ["a.com"], "color": 1}), 400)["fields"]
    )
    assert "name" in error(admin.post(API, {"domains": ["a.com"]}), 400)["fields"]
    assert (
        "entityType"
        in error(admin.post(API, {"name": "x", "domains": ["a.com"], "entityType": "lead"}), 400)[
            "fields"
        ]
    )

    assert error(upload(admin, b""), 422)["fields"].keys() == {"file"}
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    assert "PNG" in error(upload(admin, png, filename="logo.png"), 422)["fields"]["file"]
    lines = "".join(f"company{n}.com\n" for n in range(100_001)).encode()
    assert "file" in error(upload(admin, lines, filename="big.txt"), 413)["fields"]
    no_column = upload(admin, b"Name,Country\nAcme,US\n")
    assert "column" in error(no_column, 422)["fields"]
    wrong_column = upload(admin, b"Name,Website\nAcme,acme.com\n", column="Domain")
    assert "column" in error(wrong_column, 422)["fields"]
    assert error(admin.get(f"{API}/999999"), 404)["code"] == "not_found"
    assert error(admin.get(f"{API}/999999/items"), 404)["code"] == "not_found"


def test_private_sets_are_other_users_404_and_team_sets_are_shared(login, companies):
    owner = login(Role.CAMPAIGN_MANAGER)
    other = login(Role.CAMPAIGN_MANAGER)
    private = owner.post(API, {"name": "Mine", "domains": ["acme.com"]}).json
    team = owner.post(
        API, {"name": "Ours", "domains": ["acme.com"], "visibilityScope": "team"}
    ).json
    for path in ("", "/items", "/suggestions"):
        assert other.get(f"{API}/{private['id']}{path}").status_int == 404
    assert other.post(f"{API}/{private['id']}/to-list", {}).status_int == 404
    assert [s["id"] for s in other.get(API).json["items"]] == [team["id"]]
    assert other.get(f"{API}/{team['id']}").status_int == 200
    # A team set is changed by its owner, admins and managers only.
    assert other.post(f"{API}/{team['id']}/rematch").status_int == 403
    assert owner.post(f"{API}/{team['id']}/rematch").status_int == 200


def test_permissions(login, companies):
    steward = login(Role.DATA_STEWARD)  # audience:read, accounts:write
    manager = login(Role.CAMPAIGN_MANAGER)  # audience:write, no accounts:write
    assert steward.post(API, {"name": "x", "domains": ["a.com"]}).status_int == 403
    shared = manager.post(
        API,
        {
            "name": "x",
            "domains": ["new-one.com", "wayneenterprises.com"],
            "visibilityScope": "global",
        },
    ).json
    url = f"{API}/{shared['id']}"
    assert steward.get(url).status_int == 200
    assert manager.post(f"{url}/create-missing-accounts", {}).status_int == 403
    forbidden = manager.post(
        f"{url}/items/2/match", {"accountId": companies["wayne"].id, "addDomain": True}
    )
    assert forbidden.status_int == 403
    created = steward.post(f"{url}/create-missing-accounts", {"lineNumbers": [1]})
    assert created.status_int == 200, created.text
    assert created.json["created"] == 1


def test_large_sets_run_as_a_job_with_progress(
    admin, companies, imports_dir, monkeypatch, dbsession
):
    monkeypatch.setattr(domain_sets, "INLINE_ENTRIES", 3)
    domains = ["acme.com", "beta.co.uk", "x.org", "acme.com", "bad domain"]
    res = admin.post(API, {"name": "Big", "domains": domains})
    assert res.status_int == 201, res.text
    assert res.json["status"] == "queued" and res.json["jobId"]
    # The test queue runs the job when the request's transaction commits.
    done = admin.get(f"{API}/{res.json['id']}").json
    assert done["status"] == "ready"
    assert done["counts"] == {
        "entries": 5,
        "matched": 2,
        "unmatched": 1,
        "invalid": 1,
        "duplicates": 1,
        "accounts": 2,
    }
    job = dbsession.get(Job, res.json["jobId"])
    dbsession.refresh(job)
    assert (job.status, job.kind, job.result["matched"]) == (
        "succeeded",
        domain_sets.PROCESS_TASK,
        2,
    )
    upload_res = upload(admin, b"domain\nacme.com\nnew.io\nother.io\nthird.io\nfourth.io\n")
    assert upload_res.json["status"] == "queued"
    url = f"{API}/{upload_res.json['id']}"
    assert admin.get(url).json["counts"]["unmatched"] == 4
    made = admin.post(f"{url}/create-missing-accounts", {}).json
    assert made["domains"] == 4 and made["jobId"]
    assert admin.get(url).json["counts"]["matched"] == 5
    assert dbsession.get(DomainSet, upload_res.json["id"]) is not None


# ---------------------------------------------------------------------------
# Staff UI
# ---------------------------------------------------------------------------


def test_pages_upload_report_and_actions(web_login, companies, imports_dir, dbsession):
    client = web_login(Role.ADMIN)
    index = client.get("/domain-sets")
    assert index.status_int == 200 and "No domain sets yet" in index.text
    assert 'href="/domain-sets"' in client.get("/").text  # in the sidebar
    form = client.get("/domain-sets/new")
    assert form.status_int == 200 and 'name="csrf_token"' in form.text
    res = client.post(
        "/domain-sets/new",
        {"name": "Fair leads", "entity_type": "account", "visibility_scope": "private"},
        upload_files=[
            ("file", "fair.csv", b"Company,Website\nAcme,acme.com\nW,wayneenterprises.com\nX,x y\n")
        ],
    )
    assert res.status_int == 303, res.text
    detail = client.get(res.headers["Location"])
    assert detail.status_int == 200
    html = detail.html
    chart = html.select_one("canvas#match-chart")
    assert '"value": 1' in chart["data-chart"] and '"status": "matched"' in chart["data-chart"]
    assert html.select_one("[data-match-rate]").text.strip() == "50.0%"
    assert [td.text for td in html.select("#entries tr[data-line] td.mono.num")][:3] == [
        "2",
        "3",
        "4",
    ]
    suggestion = html.select_one("#suggestions tr[data-line='3']")
    assert suggestion["data-account"] == str(companies["wayne"].id)
    invalid = client.get(res.headers["Location"] + "?status=invalid").html
    assert [tr["data-line"] for tr in invalid.select("#entries tr[data-line]")] == ["4"]

    set_url = res.headers["Location"].split("?")[0]
    used = client.post(
        f"{set_url}/match",
        {"line": "3", "account_id": str(companies["wayne"].id), "add_domain": "1"},
    )
    assert used.status_int == 303
    assert "Matched wayneenterprises.com" in client.get(set_url).text
    listed = client.post(f"{set_url}/to-list", {"entity_type": "contact"})
    assert listed.status_int == 303
    assert "Made the list" in client.get(listed.headers["Location"]).text
    refused = client.post(f"{set_url}/to-list", {"entity_type": "lead"})
    assert refused.status_int == 303
    assert "must be one of" in client.get(set_url).text
    assert client.post(f"{set_url}/rematch", csrf=False).status_int == 400


def test_the_uploader_shows_errors_beside_fields(web_login, imports_dir):
    client = web_login(Role.CAMPAIGN_MANAGER)
    nothing = client.post("/domain-sets/new", {"name": "x", "entity_type": "account"})
    assert nothing.status_int == 400
    assert nothing.html.select_one("#e-file").text.startswith("choose a file")
    pasted = client.post(
        "/domain-sets/new",
        {
            "name": "",
            "domains": "acme.com\nbeta.com",
            "entity_type": "account",
            "visibility_scope": "team",
        },
    )
    assert pasted.status_int == 400
    assert pasted.html.select_one("#e-name").text == "is required"
    ok = client.post(
        "/domain-sets/new",
        {
            "name": "Pasted",
            "domains": "acme.com\nbeta.com",
            "entity_type": "contact",
            "visibility_scope": "team",
        },
    )
    assert ok.status_int == 303
    page = client.get(ok.headers["Location"]).html
    assert page.select_one("[data-count='unmatched'] td.num").text == "2"
    steward = web_login(Role.DATA_STEWARD)
    assert steward.get("/domain-sets/new").status_int == 403
    assert steward.get(ok.headers["Location"]).status_int == 200


def test_pages_show_deleted_sets_and_restore_one(web_login, dbsession, actor):
    client = web_login(Role.CAMPAIGN_MANAGER)
    owner = Viewer(client.user.id, client.user.role)
    doomed = create(dbsession, actor, ["acme.com"], viewer=owner, name="Doomed")
    create(dbsession, actor, ["wayne.com"], viewer=owner, name="Kept")
    dbsession.commit()
    res = client.delete_and_restore("/domain-sets", doomed.id, kept="kept")
    assert res.location.endswith(f"/domain-sets/{doomed.id}")
    assert "Restored the domain set Doomed." in res.follow().text
    dbsession.expire_all()
    assert dbsession.get(DomainSet, doomed.id).deleted_at is None
    assert "No deleted domain sets" in client.get("/domain-sets?deleted=only").text
    steward = web_login(Role.DATA_STEWARD)
    assert steward.post(f"/domain-sets/{doomed.id}/restore").status_int == 403
