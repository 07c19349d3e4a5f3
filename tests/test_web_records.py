"""The staff UI's account and contact pages, through WebTest signed in with the form:
lists with sorting and keyset paging, record pages with provenance, hierarchy and
history, forms whose errors appear beside their field and save nothing, CSRF and role
checks, and the lists' bulk actions (CSV export, delete inline or as a job, restore)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from pivotal_core.accounts.models import Account
from pivotal_core.audience.bulk import INLINE_LIMIT
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor, field_changes
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.services import create_contact
from pivotal_core.customfields.services import create_definition
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.services import Progress


def html(res) -> BeautifulSoup:
    return BeautifulSoup(res.text, "html.parser")


def row_ids(res) -> list[int]:
    return [int(tr["data-id"]) for tr in html(res).select(".data-table tbody tr[data-id]")]


def count(session, model, *where) -> int:
    stmt = select(func.count()).select_from(model).where(*where)
    return session.scalar(stmt.execution_options(include_deleted=True))


def events(session, entity: str, entity_id: int | None = None, action: str | None = None):
    stmt = select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.id)
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt))


def reload(session, model, record_id: int) -> Any:
    session.expire_all()
    return session.scalars(
        select(model).where(model.id == record_id).execution_options(include_deleted=True)
    ).one()


def record_form(res):
    return res.forms["record-form"]


def field_error(res, name: str) -> str | None:
    """The error shown inside the ``.field`` of input ``name``."""
    label = html(res).select_one(f'label.field[for="f-{name}"]')
    assert label is not None, f"no field {name} on the page"
    error = label.select_one(".field-error")
    return error.get_text(strip=True) if error else None


def bulk_form(res, action_path: str):
    return next(f for f in res.forms.values() if f.action.endswith(action_path))


def csv_rows(res) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(res.body.decode("utf-8-sig"))))


# ---------------------------------------------------------------- lists


def test_account_list_shows_the_default_columns(web_login, make_account):
    client = web_login(Role.AGENT)
    acme = make_account(
        name="Acme",
        domain="acme.com",
        industry="Software",
        country="DE",
        employee_count=1200,
        city="Berlin",
        tags=["vip"],
        annual_revenue=9000,
    )
    globex = make_account(name="Globex")
    res = client.get("/accounts")
    assert res.status_int == 200
    page = html(res)
    headers = [th.get_text(strip=True).rstrip("↑↓ ") for th in page.select(".data-table th")]
    assert headers[1:] == [
        "Name",
        "Domain",
        "Industry",
        "Country",
        "Employees",
        "City",
        "Tags",
        "Updated",
    ]
    cells = page.select_one(f'tr[data-id="{acme.id}"]').find_all("td")[1:]
    assert cells[0].a["href"] == f"/accounts/{acme.id}"
    assert cells[0].get_text(strip=True) == "Acme"
    assert cells[1].get_text(strip=True) == "acme.com" and "mono" in cells[1]["class"]
    assert [c.get_text(strip=True) for c in cells[2:6]] == ["Software", "DE", "1,200", "Berlin"]
    assert [t.get_text() for t in cells[6].select(".tag")] == ["vip"]
    assert "9,000" not in res.text  # revenue is hidden by default
    assert row_ids(res) == [acme.id, globex.id]  # by name
    assert page.select_one(".data-table")["data-total"] == "2"


def test_hidden_columns_can_be_chosen_and_link_to_the_parent(web_login, make_account):
    client = web_login(Role.AGENT)
    parent = make_account(name="Globex Holdings")
    child = make_account(name="Globex Labs", parent_id=parent.id, annual_revenue=5_000_000)
    res = client.post(
        "/preferences/tables/accounts",
        [
            ("columns", "name"),
            ("columns", "parent"),
            ("columns", "revenue"),
            ("came_from", "/accounts"),
        ],
    )
    assert res.status_int == 303
    page = html(client.get("/accounts"))
    headers = [th.get_text(strip=True).rstrip("↑↓ ") for th in page.select(".data-table th")]
    assert headers[1:] == ["Name", "Parent", "Revenue"]
    cells = page.select_one(f'tr[data-id="{child.id}"]').find_all("td")[1:]
    assert cells[1].a["href"] == f"/accounts/{parent.id}"
    assert cells[1].get_text(strip=True) == "Globex Holdings"
    assert cells[2].get_text(strip=True) == "5,000,000"


def test_contact_list_links_each_contact_and_its_account(web_login, make_account, make_contact):
    client = web_login(Role.AGENT)
    acme = make_account(name="Acme")
    ann = make_contact(
        first_name="Ann",
        last_name="Lee",
        email="ann@acme-mail.com",
        account_id=acme.id,
        title="CTO",
        seniority="c_level",
        phone="(415) 555-0100",
        country="US",
        tags=["buyer"],
    )
    res = client.get("/contacts")
    page = html(res)
    headers = [th.get_text(strip=True).rstrip("↑↓ ") for th in page.select(".data-table th")]
    assert headers[1:] == [
        "Name",
        "Email",
        "Account",
        "Title",
        "Seniority",
        "Phone",
        "Country",
        "Tags",
        "Updated",
    ]
    cells = page.select_one(f'tr[data-id="{ann.id}"]').find_all("td")[1:]
    assert cells[0].a["href"] == f"/contacts/{ann.id}"
    assert cells[0].get_text(strip=True) == "Ann Lee"
    assert cells[1].get_text(strip=True) == "ann@acme-mail.com"
    assert cells[2].a["href"] == f"/accounts/{acme.id}"
    assert [c.get_text(strip=True) for c in cells[3:7]] == ["CTO", "c level", "+14155550100", "US"]


def test_contact_list_pages_forward_and_back_without_duplicates(web_login, make_contact):
    client = web_login(Role.AGENT)
    made = [make_contact() for _ in range(63)]
    res = client.get("/contacts?size=25")
    pages = [row_ids(res)]
    assert html(res).select_one('.pager [rel="prev"]') is None
    while (link := html(res).select_one('.pager a[rel="next"]')) is not None:
        res = client.get(link["href"])
        assert res.status_int == 200
        pages.append(row_ids(res))
    assert [len(p) for p in pages] == [25, 25, 13]
    seen = [i for p in pages for i in p]
    assert len(set(seen)) == len(seen) == 63
    expected = sorted(made, key=lambda c: (c.last_name, c.id))
    assert seen == [c.id for c in expected]  # the default order: last name, then id
    back = [row_ids(res)]
    while (link := html(res).select_one('.pager a[rel="prev"]')) is not None:
        res = client.get(link["href"])
        back.append(row_ids(res))
    assert back == pages[::-1]


def test_sort_links_order_the_list_both_ways(web_login, make_contact):
    client = web_login(Role.AGENT)
    emails = ["carol@beta.example", "alice@gamma.example", "bob@alpha.example"]
    ids = {email: make_contact(email=email).id for email in emails}
    res = client.get("/contacts")
    res = client.get(html(res).select_one('th a[href*="sort=email"]')["href"])
    assert row_ids(res) == [ids[e] for e in sorted(emails)]
    assert html(res).select_one('th[aria-sort="ascending"]').get_text(strip=True) == "Email ↑"
    res = client.get(html(res).select_one('th a[href*="sort=-email"]')["href"])
    assert row_ids(res) == [ids[e] for e in sorted(emails, reverse=True)]


def test_contacts_at_an_account_are_one_filter_away(web_login, make_account, make_contact):
    client = web_login(Role.AGENT)
    acme, other = make_account(), make_account()
    at_acme = {make_contact(account_id=acme.id).id for _ in range(3)}
    make_contact(account_id=other.id)
    page = html(client.get(f"/accounts/{acme.id}"))
    link = page.select_one("#contacts header a")["href"]
    assert sorted(int(tr["data-id"]) for tr in page.select("#contacts tbody tr")) == sorted(at_acme)
    res = client.get(link)
    assert set(row_ids(res)) == at_acme
    assert html(res).select_one(".data-table")["data-total"] == "3"


# ---------------------------------------------------------------- record pages


def test_account_page_shows_provenance_hierarchy_contacts_and_history(
    web_login, make_account, make_contact
):
    client = web_login(Role.DATA_STEWARD)
    root = make_account(name="Root Holdings")
    parent = make_account(name="Parent Group", parent_id=root.id)
    acme = make_account(name="Acme", domain="acme.com", parent_id=parent.id)
    make_account(name="Acme Labs", parent_id=acme.id)
    person = make_contact(first_name="Ann", last_name="Lee", account_id=acme.id)

    form = record_form(client.get(f"/accounts/{acme.id}/edit"))
    form["industry"] = "Software"
    res = form.submit()
    assert res.status_int == 303
    assert res.headers["Location"].endswith(f"/accounts/{acme.id}")
    res = res.follow()
    page = html(res)
    assert "Saved Acme" in page.select_one(".flash-success").get_text()

    industry = page.select_one('dd[data-field="industry"]')
    assert industry.get_text().startswith("Software")
    why = industry.select_one(".provenance")
    assert why.get_text().startswith(f"ui · {client.user.email} · ")
    assert "typed by a person" in why["title"]
    domain_why = page.select_one('dd[data-field="domain"] .provenance')
    assert domain_why.get_text().startswith("test · ")  # created by the test factory
    assert page.select_one('dd[data-field="city"] .provenance') is None  # never set

    tree = page.select_one("#hierarchy .tree")
    assert [n.get_text(strip=True) for n in tree.select("a, .node")] == [
        "Root Holdings",
        "Parent Group",
        "Acme",
        "Acme Labs",
    ]
    assert tree.select_one("[aria-current]").get_text(strip=True) == "Acme"
    assert page.select_one("#contacts tbody a")["href"] == f"/contacts/{person.id}"

    history = page.select("#history .timeline > li")
    newest, oldest = history[0], history[-1]
    assert newest["data-action"] == "update"
    assert client.user.email in newest.get_text() and "via ui" in newest.get_text()
    assert [c.get_text(" ", strip=True) for c in newest.select(".change")] == [
        "industry : — → Software"
    ]
    assert oldest["data-action"] == "create"
    assert "acme.com" in oldest.get_text()


def test_contact_page_shows_account_external_ids_and_history(web_login, make_account, dbsession):
    client = web_login(Role.DATA_STEWARD)
    acme = make_account(name="Acme")
    contact = create_contact(
        dbsession,
        Actor.system("import:crm"),
        {
            "first_name": "Ann",
            "email": "ann@acme.example",
            "account_id": acme.id,
            "phone": "+1 415 555 0100",
            "timezone": "Europe/Berlin",
            "external_ids": {"salesforce": "003-ABC"},
        },
    )
    dbsession.commit()
    form = record_form(client.get(f"/contacts/{contact.id}/edit"))
    assert form["phone"].value == "+14155550100"
    form["phone"] = "+1 (415) 555-0199"
    assert form.submit().status_int == 303

    page = html(client.get(f"/contacts/{contact.id}"))
    account = page.select_one('dd[data-field="account_id"]')
    assert account.a["href"] == f"/accounts/{acme.id}" and account.a.get_text() == "Acme"
    assert account.select_one(".provenance").get_text().startswith("import:crm · ")
    phone = page.select_one('dd[data-field="phone"]')
    assert phone.a["href"] == "tel:+14155550199"
    assert phone.select_one(".provenance").get_text().startswith("ui · ")
    assert page.select_one('dd[data-field="timezone"]').get_text().startswith("Europe/Berlin")
    assert page.select_one("#local-time") is not None
    external = page.select_one("#external-ids .kv")
    assert [
        (dt.get_text(), dd.get_text())
        for dt, dd in zip(external.select("dt"), external.select("dd"), strict=True)
    ] == [("salesforce", "003-ABC")]
    newest = page.select("#history .timeline > li")[0]
    assert [c.get_text(" ", strip=True) for c in newest.select(".change")] == [
        "phone : +14155550100 → +14155550199"
    ]


def test_history_is_only_shown_to_roles_that_may_read_the_audit(web_login, make_contact):
    contact = make_contact()
    agent = web_login(Role.AGENT)
    page = html(agent.get(f"/contacts/{contact.id}"))
    assert page.select_one('dd[data-field="email"]') is not None
    assert page.select_one("#history") is None
    # Nor does an agent get the buttons of actions it may not take.
    assert page.select_one(".page-actions").get_text(strip=True) == ""


def test_unknown_records_answer_404(web_login):
    client = web_login()
    for url in ("/accounts/999999", "/contacts/999999", "/contacts/999999/edit"):
        assert client.get(url).status_int == 404


# ---------------------------------------------------------------- forms


def test_create_account_through_the_form(web_login, dbsession):
    client = web_login(Role.DATA_STEWARD)
    form = record_form(client.get("/accounts/new"))
    form["name"] = "Initech"
    form["domain"] = "https://www.initech.com/about"
    form["secondary_domains"] = "initech.io, initech.net"
    form["employee_count"] = "250"
    form["country"] = "Germany"
    form["tags"] = "Prospect, Tier 1"
    res = form.submit()
    assert res.status_int == 303
    account_id = int(res.headers["Location"].rsplit("/", 1)[1])
    account = reload(dbsession, Account, account_id)
    assert (account.name, account.domain, account.country) == ("Initech", "initech.com", "DE")
    assert account.secondary_domains == ["initech.io", "initech.net"]
    assert account.employee_count == 250
    assert account.tags == ["prospect", "tier 1"]
    created = events(dbsession, "account", account_id)
    assert {n for e in created for n, _, _ in field_changes(e)} == {
        "name",
        "domain",
        "secondary_domains",
        "employee_count",
        "country",
        "tags",
    }
    assert {(e.action, e.source, e.actor_id) for e in created} == {("create", "ui", client.user.id)}
    assert "Created account Initech" in res.follow().text


def test_create_contact_through_the_form(web_login, make_account, dbsession):
    client = web_login(Role.DATA_STEWARD)
    acme = make_account(name="Acme", domain="acme.com")
    form = record_form(client.get("/contacts/new"))
    form["first_name"] = "ann"
    form["last_name"] = "lee"
    form["email"] = "Ann.Lee@ACME.com"
    form["phone"] = "(415) 555-0100"
    form["seniority"] = "vp"
    form["timezone"] = "America/New_York"
    res = form.submit()
    assert res.status_int == 303
    contact = reload(dbsession, Contact, int(res.headers["Location"].rsplit("/", 1)[1]))
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Ann",
        "Lee",
        "ann.lee@acme.com",
    )
    assert (contact.phone, contact.seniority) == ("+14155550100", "vp")
    assert contact.account_id == acme.id  # joined the account owning the email's domain
    created = events(dbsession, "contact", contact.id)
    assert created and {(e.action, e.source, e.actor_id) for e in created} == {
        ("create", "ui", client.user.id)
    }


def test_create_contact_with_a_bad_phone_saves_nothing(web_login, dbsession):
    client = web_login(Role.DATA_STEWARD)
    contacts, audit = count(dbsession, Contact), count(dbsession, AuditEvent)
    form = record_form(client.get("/contacts/new"))
    form["first_name"] = "Ann"
    form["email"] = "ann@example.org"
    form["phone"] = "12"
    res = form.submit(expect_errors=True)
    assert res.status_int == 400
    assert field_error(res, "phone") == "is not a valid phone number"
    assert len(html(res).select(".field-error")) == 1
    assert 'aria-invalid="true"' in str(html(res).select_one("#f-phone"))
    # The submitted values come back for correction.
    assert record_form(res)["email"].value == "ann@example.org"
    assert record_form(res)["phone"].value == "12"
    assert "Nothing was saved" in html(res).select_one(".flash-error").get_text()
    assert (count(dbsession, Contact), count(dbsession, AuditEvent)) == (contacts, audit)


def test_edit_contact_with_a_bad_phone_saves_nothing(web_login, make_contact, dbsession):
    client = web_login(Role.DATA_STEWARD)
    contact = make_contact(title="Engineer", phone="+14155550100")
    audit = count(dbsession, AuditEvent)
    form = record_form(client.get(f"/contacts/{contact.id}/edit"))
    form["title"] = "VP Sales"
    form["phone"] = "12"
    res = form.submit(expect_errors=True)
    assert res.status_int == 400
    assert field_error(res, "phone") == "is not a valid phone number"
    assert field_error(res, "title") is None
    assert record_form(res)["title"].value == "VP Sales"
    again = reload(dbsession, Contact, contact.id)
    assert (again.title, again.phone) == ("Engineer", "+14155550100")
    assert count(dbsession, AuditEvent) == audit


def test_an_edit_changes_what_was_submitted_and_keeps_the_name(web_login, make_account, dbsession):
    client = web_login(Role.DATA_STEWARD)
    account = make_account(name="Acme", domain="acme.com", city="Berlin", tags=["vip"])
    res = client.post(f"/accounts/{account.id}/edit", {"city": "", "industry": "Retail"})
    assert res.status_int == 303
    again = reload(dbsession, Account, account.id)
    assert (again.city, again.industry, again.domain, again.tags) == (
        None,
        "Retail",
        "acme.com",
        ["vip"],
    )
    audit = count(dbsession, AuditEvent)
    res = client.post(f"/accounts/{account.id}/edit", {"name": " ", "industry": "Energy"})
    assert res.status_int == 400
    assert field_error(res, "name") == "may not be empty"
    assert reload(dbsession, Account, account.id).industry == "Retail"
    assert count(dbsession, AuditEvent) == audit


def test_a_duplicate_email_is_a_409_on_the_email_field(web_login, make_contact, dbsession):
    client = web_login(Role.DATA_STEWARD)
    existing = make_contact(email="taken@example.org")
    contacts, audit = count(dbsession, Contact), count(dbsession, AuditEvent)
    form = record_form(client.get("/contacts/new"))
    form["last_name"] = "Other"
    form["email"] = "Taken@Example.org"
    res = form.submit(expect_errors=True)
    assert res.status_int == 409
    assert field_error(res, "email") == f"is already used by contact {existing.id}"
    assert "already exists" in html(res).select_one(".flash-error").get_text()
    assert (count(dbsession, Contact), count(dbsession, AuditEvent)) == (contacts, audit)


def test_a_hierarchy_cycle_is_a_422_on_the_parent_field(web_login, make_account, dbsession):
    client = web_login(Role.DATA_STEWARD)
    top = make_account(name="Top")
    middle = make_account(name="Middle", parent_id=top.id)
    bottom = make_account(name="Bottom", parent_id=middle.id)
    audit = count(dbsession, AuditEvent)
    form = record_form(client.get(f"/accounts/{top.id}/edit"))
    form["parent_id"] = str(bottom.id)
    form["industry"] = "Retail"
    res = form.submit(expect_errors=True)
    assert res.status_int == 422
    assert field_error(res, "parent_id") == f"account {bottom.id} is a descendant of this account"
    # The parent input still names the account the typed id points at.
    reference = html(res).select_one('[data-field="parent_id"] .reference-name a')
    assert (reference.get_text(), reference["href"]) == ("Bottom", f"/accounts/{bottom.id}")
    again = reload(dbsession, Account, top.id)
    assert (again.parent_id, again.industry) == (None, None)
    assert count(dbsession, AuditEvent) == audit


def test_custom_fields_are_on_the_form_and_checked(web_login, make_account, dbsession):
    create_definition(
        dbsession,
        Actor.system("test"),
        {"entity": "account", "key": "score", "label": "Fit score", "type": "number"},
    )
    dbsession.commit()
    client = web_login(Role.DATA_STEWARD)
    account = make_account()
    form = record_form(client.get(f"/accounts/{account.id}/edit"))
    form["custom_fields.score"] = "lots"
    res = form.submit(expect_errors=True)
    assert res.status_int == 400
    assert field_error(res, "custom_fields.score") == "must be a number"
    form = record_form(res)
    form["custom_fields.score"] = "42"
    assert form.submit().status_int == 303
    assert reload(dbsession, Account, account.id).custom_fields == {"score": 42}
    page = html(client.get(f"/accounts/{account.id}"))
    score = page.select_one('dd[data-field="custom_fields.score"]')
    assert score.get_text().startswith("42") and score.select_one(".provenance")


@pytest.mark.parametrize("token", [None, "not-the-token"], ids=["missing", "wrong"])
def test_posts_without_the_right_csrf_token_change_nothing(
    web_login, make_contact, dbsession, token
):
    client = web_login(Role.ADMIN)
    contact = make_contact()
    contacts, audit = count(dbsession, Contact), count(dbsession, AuditEvent)
    extra = [("csrf_token", token)] if token else []
    attempts = [
        ("/contacts/new", [("first_name", "Eve"), ("email", "eve@example.org")]),
        (f"/contacts/{contact.id}/edit", [("title", "Boss")]),
        (f"/contacts/{contact.id}/delete", []),
        ("/contacts/delete-selected", [("ids", str(contact.id))]),
        ("/contacts/export", [("ids", str(contact.id))]),
    ]
    for url, data in attempts:
        res = client.post(url, data + extra, csrf=False)
        assert res.status_int == 400, url
        assert "text/csv" not in res.content_type
    again = reload(dbsession, Contact, contact.id)
    assert (again.deleted_at, again.title) == (None, None)
    assert (count(dbsession, Contact), count(dbsession, AuditEvent)) == (contacts, audit)


# ---------------------------------------------------------------- roles


def test_a_client_user_may_open_none_of_the_record_pages(web_login, make_account, make_contact):
    client = web_login(Role.CLIENT)
    account, contact = make_account(), make_contact()
    for url in (
        "/accounts",
        f"/accounts/{account.id}",
        "/accounts/new",
        f"/accounts/{account.id}/edit",
        "/contacts",
        f"/contacts/{contact.id}",
        "/contacts/new",
        f"/contacts/{contact.id}/edit",
    ):
        assert client.get(url).status_int == 403, url
    for url in ("/accounts/export", "/contacts/delete-selected", f"/contacts/{contact.id}/delete"):
        assert client.post(url, {"ids": str(contact.id)}).status_int == 403, url


def test_an_agent_reads_but_may_not_change_records(
    web_login, make_account, make_contact, dbsession
):
    agent = web_login(Role.AGENT)
    account, contact = make_account(), make_contact()
    audit = count(dbsession, AuditEvent)
    for url in ("/accounts", f"/accounts/{account.id}", "/contacts", f"/contacts/{contact.id}"):
        assert agent.get(url).status_int == 200, url
    listing = html(agent.get("/contacts"))
    assert [b.get_text(strip=True) for b in listing.select("[data-bulk-form] button")] == [
        "Export CSV"
    ]
    assert listing.select_one('a[href="/contacts/new"]') is None
    for url in (
        "/accounts/new",
        f"/accounts/{account.id}/edit",
        "/contacts/new",
        f"/contacts/{contact.id}/edit",
    ):
        assert agent.get(url).status_int == 403, url
    posts = [
        ("/accounts/new", {"name": "Nope"}),
        (f"/accounts/{account.id}/edit", {"name": "Nope"}),
        (f"/accounts/{account.id}/delete", {}),
        (f"/contacts/{contact.id}/delete", {}),
        (f"/contacts/{contact.id}/restore", {}),
        ("/contacts/delete-selected", {"ids": str(contact.id)}),
        ("/accounts/restore-selected", {"ids": str(account.id)}),
    ]
    for url, data in posts:
        assert agent.post(url, data).status_int == 403, url
    assert count(dbsession, AuditEvent) == audit


# ---------------------------------------------------------------- bulk actions


def test_export_of_selected_accounts_is_formula_safe(web_login, make_account):
    client = web_login(Role.AGENT)
    formula = make_account(name='=HYPERLINK("http://evil.example","click")')
    plain = make_account(name="Plain", tags=["a", "b"])
    make_account(name="Not selected")
    res = client.post(
        "/accounts/export",
        {
            "ids": f"{plain.id},{formula.id}",
            "all_matching": "",
            "exclude": "",
            "q": "",
            "deleted": "",
        },
    )
    assert res.status_int == 200
    assert res.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert res.headers["Content-Disposition"].startswith('attachment; filename="accounts-')
    rows = csv_rows(res)
    assert [int(r["id"]) for r in rows] == sorted([formula.id, plain.id])
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[formula.id]["name"] == "'" + formula.name
    assert by_id[plain.id]["name"] == "Plain" and by_id[plain.id]["tags"] == "a, b"


def test_export_of_all_matching_contacts_less_exclusions(
    web_login, make_account, make_contact, dbsession
):
    client = web_login(Role.DATA_STEWARD)
    acme = make_account(name="Acme")
    matching = [make_contact(last_name=f"Matchley{i}", account_id=acme.id) for i in range(4)]
    formula = make_contact(first_name="=1+2", last_name="Matchley9")
    gone = make_contact(last_name="Matchley8")
    make_contact(last_name="Other")
    client.post(f"/contacts/{gone.id}/delete")
    excluded = matching[1]
    listing = client.get("/contacts?q=matchley")
    form = bulk_form(listing, "/contacts/export")
    assert form["q"].value == "matchley"
    form["all_matching"].force_value("1")
    form["exclude"].force_value(str(excluded.id))
    res = form.submit()
    assert res.status_int == 200
    rows = csv_rows(res)
    expected = sorted([c.id for c in matching if c is not excluded] + [formula.id])
    assert [int(r["id"]) for r in rows] == expected
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[formula.id]["first_name"] == "'=1+2"
    assert by_id[matching[0].id]["account_name"] == "Acme"
    assert by_id[matching[0].id]["email"] == matching[0].email


def test_bulk_delete_writes_one_delete_event_per_record(web_login, make_contact, dbsession):
    client = web_login(Role.DATA_STEWARD)
    doomed = [make_contact() for _ in range(3)]
    kept = make_contact()
    listing = client.get("/contacts?sort=email")
    form = bulk_form(listing, "/contacts/delete-selected")
    confirm = html(listing).select_one('form[action="/contacts/delete-selected"]')["data-confirm"]
    assert confirm.startswith("Delete {count} contacts?")
    form["ids"].force_value(",".join(str(c.id) for c in doomed))
    res = form.submit()
    assert res.status_int == 303
    assert res.headers["Location"].endswith("/contacts?sort=email")
    deleted = events(dbsession, "contact", action="delete")
    assert sorted(e.entity_id for e in deleted) == sorted(c.id for c in doomed)
    assert {(e.field, e.source, e.actor_id, e.job_id) for e in deleted} == {
        ("deleted_at", "bulk", client.user.id, None)
    }
    assert all(reload(dbsession, Contact, c.id).deleted_at is not None for c in doomed)
    assert reload(dbsession, Contact, kept.id).deleted_at is None
    follow = res.follow()
    assert "Deleted 3 contacts" in html(follow).select_one(".flash-success").get_text()
    assert row_ids(follow) == [kept.id]


def test_bulk_delete_above_the_inline_limit_runs_as_a_job(web_login, dbsession, monkeypatch):
    client = web_login(Role.DATA_STEWARD)
    reported: list[tuple[int, int | None]] = []
    write_progress = Progress.__call__

    def spy(self, current, total=None, message=None, force=False):
        reported.append((current, total))
        return write_progress(self, current, total, message, force)

    monkeypatch.setattr(Progress, "__call__", spy)
    total = INLINE_LIMIT + 1
    actor = Actor.system("test")
    for n in range(total):
        create_contact(
            dbsession, actor, {"last_name": f"Bulk{n:04d}", "email": f"bulk{n}@bulk.example"}
        )
    keeper = create_contact(dbsession, actor, {"last_name": "Keeper"})
    dbsession.commit()
    res = client.post(
        "/contacts/delete-selected",
        {"all_matching": "1", "q": "bulk", "exclude": "", "deleted": ""},
    )
    assert res.status_int == 303
    dbsession.expire_all()
    job = dbsession.scalars(select(Job).where(Job.kind == "bulk.contacts.delete")).one()
    # The job's page shows its progress live.
    assert res.headers["Location"].endswith(f"/jobs/{job.id}")
    assert (
        f"Deleting {total:,} contacts in the background"
        in html(res.follow()).select_one(".flash-info").get_text()
    )
    assert job.status == "succeeded", job.error
    assert (job.progress_current, job.progress_total) == (total, total)
    assert job.created_by_id == client.user.id
    assert job.message == f"Deleted {total} contacts"
    assert reported[0] == (0, total) and reported[-1] == (total, total)
    assert job.result == {
        "action": "delete",
        "entity": "contact",
        "total": total,
        "changed": total,
        "unchanged": 0,
        "refused": 0,
        "refusedIds": {},
        "notFound": 0,
        "notFoundIds": [],
    }
    deleted = events(dbsession, "contact", action="delete")
    assert len(deleted) == total
    assert {(e.source, e.actor_id, e.job_id) for e in deleted} == {("bulk", client.user.id, job.id)}
    assert count(dbsession, Contact, Contact.deleted_at.is_(None)) == 1
    assert reload(dbsession, Contact, keeper.id).deleted_at is None


def test_restore_from_the_deleted_view(web_login, make_account, dbsession):
    client = web_login(Role.DATA_STEWARD)
    first, second = make_account(), make_account()
    clashing = make_account(domain="clash.example")
    live = make_account()
    ids = f"{first.id},{second.id},{clashing.id}"
    assert client.post("/accounts/delete-selected", {"ids": ids}).status_int == 303
    # While deleted, another account takes one of the domains: that one cannot come back.
    usurper = make_account(domain="clash.example")

    deleted_view = client.get("/accounts?deleted=only")
    assert sorted(row_ids(deleted_view)) == sorted([first.id, second.id, clashing.id])
    assert live.id not in row_ids(deleted_view)
    actions = [b.get_text(strip=True) for b in html(deleted_view).select("[data-bulk-form] button")]
    assert actions == ["Export CSV", "Restore"]
    form = bulk_form(deleted_view, "/accounts/restore-selected")
    assert form["deleted"].value == "only"
    form["all_matching"].force_value("1")
    res = form.submit()
    assert res.status_int == 303
    page = html(res.follow())
    assert "Restored 2 accounts" in page.select_one(".flash-success").get_text()
    assert f"now belongs to account {usurper.id}" in page.select_one(".flash-error").get_text()
    assert reload(dbsession, Account, first.id).deleted_at is None
    assert reload(dbsession, Account, second.id).deleted_at is None
    assert reload(dbsession, Account, clashing.id).deleted_at is not None
    restored = events(dbsession, "account", action="restore")
    assert sorted(e.entity_id for e in restored) == sorted([first.id, second.id])
    assert {(e.source, e.actor_id) for e in restored} == {("bulk", client.user.id)}
    assert row_ids(client.get("/accounts?deleted=only")) == [clashing.id]


def test_delete_and_restore_from_the_record_page(web_login, make_contact, dbsession):
    client = web_login(Role.DATA_STEWARD)
    contact = make_contact(first_name="Ann", last_name="Lee")
    res = client.post(f"/contacts/{contact.id}/delete")
    assert res.status_int == 303
    assert res.headers["Location"].endswith(f"/contacts/{contact.id}")
    page = html(res.follow())
    assert "was deleted on" in page.select_one(".deleted-banner").get_text()
    assert [
        b.get_text(strip=True) for b in page.select(".page-actions button, .page-actions a")
    ] == ["Restore"]
    assert contact.id not in row_ids(client.get("/contacts"))
    assert contact.id in row_ids(client.get("/contacts?deleted=only"))
    # The record page of a deleted contact still shows everything, history included.
    assert [li["data-action"] for li in page.select("#history .timeline > li")][0] == "delete"

    res = client.post(f"/contacts/{contact.id}/restore")
    assert res.status_int == 303
    page = html(res.follow())
    assert page.select_one(".deleted-banner") is None
    assert "Restored contact Ann Lee" in page.select_one(".flash-success").get_text()
    assert reload(dbsession, Contact, contact.id).deleted_at is None
    actions = [
        (e.action, e.source, e.actor_id)
        for e in events(dbsession, "contact", contact.id)
        if e.action in ("delete", "restore")
    ]
    assert actions == [("delete", "ui", client.user.id), ("restore", "ui", client.user.id)]
