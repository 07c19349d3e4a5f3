"""Import column mappings: importable fields, suggestions for HubSpot, Salesforce and the
benchmark's messy files, validation, and saved mappings with their audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bench.messy import HEADER as MESSY_HEADER
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import field_changes
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.dataquality.mapping import (
    get_mapping,
    importable_fields,
    list_mappings,
    save_mapping,
    suggest_mapping,
    validate_mapping,
)
from pivotal_core.errors import NotFound, ValidationFailed

HUBSPOT_CONTACTS = {
    "Record ID": "external_id",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone Number": "phone",
    "Mobile Phone Number": "mobile",
    "Job Title": "title",
    "Company Name": "account_name",
    "Website URL": "account_domain",
    "City": "city",
    "State/Region": "region",
    "Country/Region": "country",
    "Postal Code": "postal_code",
}
HUBSPOT_COMPANIES = {
    "Record ID": "external_id",
    "Company name": "name",
    "Company Domain Name": "domain",
    "Industry": "industry",
    "Number of Employees": "employee_count",
    "Annual Revenue": "annual_revenue",
    "Phone Number": "phone",
    "Street Address": "street",
    "City": "city",
    "State/Region": "region",
    "Postal Code": "postal_code",
    "Country/Region": "country",
    "LinkedIn Company Page": "linkedin_url",
    "Description": "description",
    "Web Technologies": "technologies",
}
# Data Loader / API names.
SALESFORCE_CONTACTS = {
    "Id": "external_id",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Email": "email",
    "Phone": "phone",
    "MobilePhone": "mobile",
    "Title": "title",
    "Department": "department",
    "Account Name": "account_name",
    "Website": "account_domain",
    "MailingCity": "city",
    "MailingState": "region",
    "MailingPostalCode": "postal_code",
    "MailingCountry": "country",
}
# Report exports use labels.
SALESFORCE_CONTACT_REPORT = {
    "Contact ID": "external_id",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Title": "title",
    "Email": "email",
    "Phone": "phone",
    "Mobile": "mobile",
    "Mailing City": "city",
    "Mailing State/Province": "region",
    "Mailing Zip/Postal Code": "postal_code",
    "Mailing Country": "country",
    "Account Name": "account_name",
}
SALESFORCE_ACCOUNTS = {
    "Id": "external_id",
    "Name": "name",
    "Website": "domain",
    "Industry": "industry",
    "NumberOfEmployees": "employee_count",
    "AnnualRevenue": "annual_revenue",
    "Phone": "phone",
    "BillingStreet": "street",
    "BillingCity": "city",
    "BillingState": "region",
    "BillingPostalCode": "postal_code",
    "BillingCountry": "country",
    "Description": "description",
}


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ("contact", HUBSPOT_CONTACTS),
        ("account", HUBSPOT_COMPANIES),
        ("contact", SALESFORCE_CONTACTS),
        ("contact", SALESFORCE_CONTACT_REPORT),
        ("account", SALESFORCE_ACCOUNTS),
    ],
    ids=[
        "hubspot-contacts",
        "hubspot-companies",
        "salesforce-contacts",
        "salesforce-contact-report",
        "salesforce-accounts",
    ],  # fmt: skip
)
def test_crm_exports_map_fully(entity, expected):
    mapping = suggest_mapping(entity, list(expected))

    assert mapping == expected
    assert validate_mapping(entity, mapping) == {}


def test_columns_without_a_field_stay_unmapped():
    headers = ["Email", "Lead Status", "Contact owner", "OwnerId", "AccountId", "Create Date",
               "LinkedIn Bio", "Street Address"]  # fmt: skip

    mapping = suggest_mapping("contact", headers)

    assert mapping == {"Email": "email", **dict.fromkeys(headers[1:])}


def test_a_single_value_field_goes_to_its_best_column_only():
    # HubSpot company exports carry both; the domain column is the more specific one.
    mapping = suggest_mapping("account", ["Website URL", "Company Domain Name", "Name"])

    assert mapping == {"Website URL": None, "Company Domain Name": "domain", "Name": "name"}


def test_bench_messy_header_maps_fully():
    mapping = suggest_mapping("contact", list(MESSY_HEADER))

    assert mapping == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Company": "account_name",
        "Website": "account_domain",
        "Phone": "phone",
        "Mobile": "mobile",
        "Job Title": "title",
        "Department": "department",
        "City": "city",
        "State": "region",
        "Country": "country",
        "LinkedIn": "linkedin_url",
        "Tags": "tags",
    }


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("EMAIL", "email"),
        ("e-mail", "email"),
        (" E-Mail Address ", "email"),
        ("first_name", "first_name"),
        ("Prénom", "first_name"),
        ("Contact Email", "email"),
        ("Work Phone", "phone"),
        ("Business City", "city"),
        ("ZIP", "postal_code"),
        ("Country Code", "country"),
        ("Person Linkedin Url", "linkedin_url"),
        ("tags", "tags"),
    ],
)
def test_headers_match_ignoring_case_spaces_accents_and_punctuation(header, field):
    assert suggest_mapping("contact", [header]) == {header: field}


def test_several_columns_may_feed_tags():
    mapping = suggest_mapping("contact", ["Tags", "Tag", "Email"])

    assert mapping == {"Tags": "tags", "Tag": "tags", "Email": "email"}
    assert validate_mapping("contact", mapping) == {}


def test_custom_fields_match_by_key_or_label():
    custom = {"industry_segment": "Industry segment", "nps": "Net promoter score"}

    mapping = suggest_mapping("contact", ["Industry Segment", "custom_fields.nps", "Email"], custom)

    assert mapping == {
        "Industry Segment": "custom_fields.industry_segment",
        "custom_fields.nps": "custom_fields.nps",
        "Email": "email",
    }


def test_importable_fields_have_labels():
    contact = {f.name: f.label for f in importable_fields("contact", {"nps": "NPS"})}
    account = {f.name for f in importable_fields("account")}

    assert contact["email"] == "Email"
    assert contact["custom_fields.nps"] == "NPS"
    assert {"account_domain", "account_name", "external_id", "tags", "timezone"} <= set(contact)
    assert {"name", "domain", "secondary_domains", "employee_count", "technologies",
            "external_id"} <= account  # fmt: skip
    assert "account_domain" not in account
    with pytest.raises(ValidationFailed):
        importable_fields("lead")


def test_validate_mapping_reports_each_problem_by_header():
    errors = validate_mapping(
        "contact",
        {
            "Email": "email",
            "E-mail": "email",
            "Colour": "favourite_colour",
            "Score": "custom_fields.score",
            "Notes": None,
        },
        custom_keys=["nps"],
    )

    assert errors == {
        "E-mail": "email is already filled from the column 'Email'",
        "Colour": "'favourite_colour' is not a field a contact import can fill",
        "Score": "'custom_fields.score' is not a custom field of contacts",
    }


def test_validate_mapping_needs_something_to_identify_records():
    assert "mapping" in validate_mapping("contact", {"City": "city", "Tags": "tags"})
    assert "mapping" in validate_mapping("account", {"Industry": "industry"})
    assert validate_mapping("account", {"Website": "domain"}) == {}
    assert validate_mapping("lead", {"Email": "email"}) == {
        "entity": "must be one of contact, account"
    }
    # Account-only fields are unknown to contacts and the other way round.
    assert "Industry" in validate_mapping("contact", {"Email": "email", "Industry": "industry"})
    assert "Web" in validate_mapping("account", {"Name": "name", "Web": "account_domain"})


# ------------------------------------------------------------------ saved mappings


def test_saved_mapping_round_trip(dbsession, system_actor):
    columns = suggest_mapping("contact", list(MESSY_HEADER))

    saved = save_mapping(dbsession, system_actor, "contact", "  Messy   bench file ", columns)

    again = get_mapping(dbsession, saved.id)
    assert (again.entity, again.name, again.columns) == ("contact", "Messy bench file", columns)
    assert [m.id for m in list_mappings(dbsession, "contact")] == [saved.id]
    assert list_mappings(dbsession, "account") == []
    events = dbsession.scalars(
        select(AuditEvent).where(
            AuditEvent.entity == "import_mapping", AuditEvent.entity_id == saved.id
        )
    ).all()
    assert {n: new for e in events for n, _, new in field_changes(e)} == {
        "entity": "contact",
        "name": "Messy bench file",
        "columns": columns,
    }
    assert {e.action for e in events} == {"create"}


def test_saving_under_the_same_name_replaces_and_audits_the_change(dbsession, system_actor):
    first = save_mapping(dbsession, system_actor, "account", "Salesforce", {"Name": "name"})
    second = save_mapping(
        dbsession, system_actor, "account", "Salesforce", {"Name": "name", "Website": "domain"}
    )
    unchanged = save_mapping(
        dbsession, system_actor, "account", "Salesforce", {"Name": "name", "Website": "domain"}
    )

    assert first.id == second.id == unchanged.id
    assert get_mapping(dbsession, first.id).columns == {"Name": "name", "Website": "domain"}
    updates = dbsession.scalars(
        select(AuditEvent).where(
            AuditEvent.entity == "import_mapping",
            AuditEvent.entity_id == first.id,
            AuditEvent.action == "update",
        )
    ).all()
    assert [(e.field, e.old_value, e.new_value) for e in updates] == [
        ("columns", {"Name": "name"}, {"Name": "name", "Website": "domain"})
    ]


def test_saved_mapping_is_validated_against_custom_fields(dbsession, system_actor):
    dbsession.add(CustomFieldDefinition(entity="contact", key="nps", label="NPS", type="number"))
    dbsession.flush()

    save_mapping(dbsession, system_actor, "contact", "ok", {"E": "email", "N": "custom_fields.nps"})
    with pytest.raises(ValidationFailed) as caught:
        save_mapping(
            dbsession, system_actor, "contact", "", {"E": "email", "X": "custom_fields.other"}
        )

    assert caught.value.fields == {
        "name": "must be 1 to 120 characters",
        "columns.X": "'custom_fields.other' is not a custom field of contacts",
    }


def test_unknown_saved_mapping(dbsession):
    with pytest.raises(NotFound):
        get_mapping(dbsession, 987654)
