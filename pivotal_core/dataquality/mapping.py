"""Which record fields an import can fill, the header-to-field mapping suggested for a file
(HubSpot and Salesforce exports included), its validation, and saved mappings."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor, record_changes
from pivotal_core.dataquality.models import IMPORT_ENTITIES, ImportMapping
from pivotal_core.errors import NotFound, ValidationFailed

__all__ = [
    "CUSTOM_PREFIX",
    "ImportField",
    "get_mapping",
    "importable_fields",
    "list_mappings",
    "save_mapping",
    "suggest_mapping",
    "validate_mapping",
]

CUSTOM_PREFIX = "custom_fields."
AUDIT_ENTITY = "import_mapping"
# Fields that take a list: several columns may feed them (their values are combined).
MULTI_COLUMN_FIELDS = frozenset({"tags", "technologies", "secondary_domains"})


@dataclass(frozen=True)
class ImportField:
    """A field a column can be mapped to."""

    name: str
    label: str
    # What the cell must hold, for the mapping screen's hint.
    hint: str = ""


# Field, label, hint; then the headers that mean it, most specific first. A header matches
# ignoring case, accents, spaces and punctuation ("E-mail", "State/Region", "FirstName").
# Salesforce exports use API names (MailingCity) or report labels (Mailing City); HubSpot
# exports use property labels (Phone Number, Country/Region).
_CONTACT_FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("first_name", "First name", "", (
        "First Name", "FirstName", "Given Name", "Forename", "First", "FName", "Prénom",
        "Vorname",
    )),
    ("last_name", "Last name", "", (
        "Last Name", "LastName", "Surname", "Family Name", "Last", "LName", "Nachname",
    )),
    ("email", "Email", "an email address", (
        "Email", "Email Address", "E-mail Address", "Work Email", "Business Email", "Mail",
        "Email 1", "Primary Email",
    )),
    ("phone", "Phone", "a phone number; national numbers are read in the row's country", (
        "Phone", "Phone Number", "Business Phone", "Work Phone", "Office Phone",
        "Direct Phone", "Direct Dial", "Work Direct Phone", "Telephone", "Tel", "Landline",
        "Phone 1",
    )),
    ("mobile", "Mobile", "a phone number", (
        "Mobile", "Mobile Phone", "Mobile Phone Number", "MobilePhone", "Mobile Number",
        "Cell", "Cell Phone", "Cellphone", "Cellular", "Handy",
    )),
    ("title", "Job title", "", (
        "Title", "Job Title", "Position", "Job Position", "Role", "Job Role", "Designation",
    )),
    ("seniority", "Seniority", "c_level, vp, director, manager, senior, entry or other", (
        "Seniority", "Seniority Level", "Job Level", "Management Level", "Level",
    )),
    ("department", "Department", "", (
        "Department", "Dept", "Job Function", "Function", "Division", "Departments",
    )),
    ("linkedin_url", "LinkedIn URL", "a linkedin.com/in/... address", (
        "LinkedIn", "LinkedIn URL", "LinkedIn Profile", "LinkedIn Profile URL",
        "Person LinkedIn URL", "LinkedIn Link", "LinkedIn Profile Link",
    )),
    ("city", "City", "", ("City", "Mailing City", "MailingCity", "Town", "Locality")),
    ("region", "State / region", "", (
        "State", "Region", "State/Region", "State/Province", "Province", "Mailing State",
        "MailingState", "Mailing State/Province", "State Code",
    )),
    ("postal_code", "Postal code", "", (
        "Postal Code", "Zip", "Zip Code", "Postcode", "Zip/Postal Code", "Mailing Postal Code",
        "MailingPostalCode", "Mailing Zip/Postal Code", "PLZ",
    )),
    ("country", "Country", "a name or ISO code", (
        "Country", "Country/Region", "Country Code", "Mailing Country", "MailingCountry",
        "Nation",
    )),
    ("timezone", "Time zone", "an IANA name such as Europe/Berlin", (
        "Timezone", "Time Zone", "TZ",
    )),
    ("tags", "Tags", "separated by commas or semicolons", ("Tags", "Tag", "Labels", "Keywords")),
    ("account_domain", "Company website / domain",
     "attaches the contact to the account with this domain", (
        "Company Domain Name", "Company Domain", "Account Domain", "Domain", "Website",
        "Website URL", "Company Website", "Account Website", "Account.Website", "Web",
        "URL",
    )),
    ("account_name", "Company name", "attaches the contact to an account of this name", (
        "Company", "Company Name", "Account Name", "Account", "Account.Name", "Organization",
        "Organisation", "Organization Name", "Employer", "Firm",
    )),
    ("external_id", "External id (of this source)", "the record's id in the source system", (
        "External ID", "Record ID", "Contact ID", "Id", "Lead ID", "HubSpot ID",
        "Salesforce ID", "SFDC ID", "CRM ID",
    )),
)  # fmt: skip

_ACCOUNT_FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("name", "Name", "", (
        "Name", "Company Name", "Company", "Account Name", "Organization", "Organisation",
        "Organization Name", "Business Name", "Legal Name",
    )),
    ("domain", "Domain", "a domain or website address", (
        "Domain", "Company Domain Name", "Company Domain", "Primary Domain", "Domain Name",
        "Website", "Website URL", "Company Website", "URL", "Web",
    )),
    ("secondary_domains", "Secondary domains", "separated by commas or semicolons", (
        "Secondary Domains", "Other Domains", "Additional Domains", "Alias Domains",
    )),
    ("industry", "Industry", "", ("Industry", "Sector", "Vertical", "Industry Type")),
    ("employee_count", "Employees", "a whole number", (
        "Employees", "Number of Employees", "NumberOfEmployees", "Employee Count",
        "# Employees", "Headcount", "No. of Employees", "Staff",
    )),
    ("annual_revenue", "Annual revenue", "a whole number", (
        "Annual Revenue", "AnnualRevenue", "Revenue", "Yearly Revenue", "Turnover",
    )),
    ("phone", "Phone", "a phone number", (
        "Phone", "Phone Number", "Main Phone", "Company Phone", "Telephone", "Tel",
        "Switchboard", "Corporate Phone",
    )),
    ("linkedin_url", "LinkedIn URL", "a linkedin.com/company/... address", (
        "LinkedIn", "LinkedIn URL", "LinkedIn Company Page", "Company LinkedIn URL",
        "LinkedIn Page",
    )),
    ("description", "Description", "", (
        "Description", "About", "Summary", "Company Description", "Overview",
    )),
    ("street", "Street", "", (
        "Street", "Street Address", "Address", "Address 1", "Address Line 1", "Billing Street",
        "BillingStreet",
    )),
    ("city", "City", "", ("City", "Billing City", "BillingCity", "Town")),
    ("region", "State / region", "", (
        "State", "Region", "State/Region", "State/Province", "Province", "Billing State",
        "BillingState", "Billing State/Province",
    )),
    ("postal_code", "Postal code", "", (
        "Postal Code", "Zip", "Zip Code", "Postcode", "Zip/Postal Code", "Billing Postal Code",
        "BillingPostalCode", "Billing Zip/Postal Code",
    )),
    ("country", "Country", "a name or ISO code", (
        "Country", "Country/Region", "Country Code", "Billing Country", "BillingCountry",
    )),
    ("technologies", "Technologies", "separated by commas or semicolons", (
        "Technologies", "Technology", "Web Technologies", "Tech Stack", "Technographics",
    )),
    ("tags", "Tags", "separated by commas or semicolons", ("Tags", "Tag", "Labels", "Keywords")),
    ("external_id", "External id (of this source)", "the record's id in the source system", (
        "External ID", "Record ID", "Account ID", "Company ID", "Id", "HubSpot ID",
        "Salesforce ID", "SFDC ID", "CRM ID",
    )),
)  # fmt: skip

_FIELD_TABLES = {"contact": _CONTACT_FIELDS, "account": _ACCOUNT_FIELDS}
# Words that qualify a header without changing its field: "Contact Email", "Work City".
_QUALIFIERS = (
    "contact", "primary", "work", "business", "mailing", "billing", "main", "office",
    "corporate", "person", "hq",
)  # fmt: skip
_KEY_DROP_RE = re.compile(r"[\W_]+")


def header_key(text: str) -> str:
    """``"E-mail Address"`` -> ``"emailaddress"``: no case, accents, spaces or punctuation."""
    text = unicodedata.normalize("NFKD", text.casefold())
    if not text.isascii():
        text = "".join(char for char in text if not unicodedata.combining(char))
    return _KEY_DROP_RE.sub("", text)


def _synonym_index(entity: str) -> dict[str, tuple[int, str]]:
    """Header key -> (rank, field); a lower rank is a more specific match."""
    index: dict[str, tuple[int, str]] = {}
    for name, label, _hint, synonyms in _FIELD_TABLES[entity]:
        for rank, text in enumerate((name, label, *synonyms)):
            key = header_key(text)
            if key not in index or index[key][0] > rank:
                index[key] = (rank, name)
    return index


_SYNONYMS = {entity: _synonym_index(entity) for entity in _FIELD_TABLES}


def _check_entity(entity: str) -> None:
    if entity not in IMPORT_ENTITIES:
        raise ValidationFailed({"entity": f"must be one of {', '.join(IMPORT_ENTITIES)}"})


def _custom_labels(custom: Mapping[str, str] | Iterable[Any] | None) -> dict[str, str]:
    """Custom field key -> label from definitions, a ``{key: label}`` mapping or keys."""
    if custom is None:
        return {}
    if isinstance(custom, Mapping):
        return {
            str(key): str(getattr(value, "label", value) or key) for key, value in custom.items()
        }
    labels: dict[str, str] = {}
    for item in custom:
        if isinstance(item, str):
            labels[item] = item
        else:
            labels[item.key] = item.label or item.key
    return labels


def importable_fields(
    entity: str, custom_fields: Mapping[str, str] | Iterable[Any] | None = None
) -> list[ImportField]:
    """The fields a column of an ``entity`` file can fill, in the order a form shows them.

    ``custom_fields``: custom field definitions (or ``{key: label}``) of the entity.
    """
    _check_entity(entity)
    fields = [ImportField(name, label, hint) for name, label, hint, _ in _FIELD_TABLES[entity]]
    for key, label in sorted(_custom_labels(custom_fields).items()):
        fields.append(ImportField(f"{CUSTOM_PREFIX}{key}", label, "custom field"))
    return fields


def suggest_mapping(
    entity: str,
    headers: Sequence[str],
    custom_keys: Mapping[str, str] | Iterable[Any] | None = None,
) -> dict[str, str | None]:
    """``{header: field or None}`` for the headers of a file, every header present.

    A field that takes one value goes to its best-matching header only; the others get
    ``None`` for a person to decide. ``custom_keys``: the entity's custom field keys,
    ``{key: label}`` or definitions; a header matches a custom field by key or label.
    """
    _check_entity(entity)
    index = dict(_SYNONYMS[entity])
    for key, label in _custom_labels(custom_keys).items():
        field = f"{CUSTOM_PREFIX}{key}"
        for text in (field, f"custom.{key}", key, label):
            index.setdefault(header_key(text), (0, field))
    candidates: list[tuple[int, int, str, str]] = []
    for position, header in enumerate(headers):
        match = _match(index, header)
        if match is not None:
            rank, field = match
            candidates.append((rank, position, header, field))
    mapping: dict[str, str | None] = dict.fromkeys(headers)
    taken: set[str] = set()
    for _rank, _position, header, field in sorted(candidates):
        if field in taken and field not in MULTI_COLUMN_FIELDS:
            continue
        taken.add(field)
        mapping[header] = field
    return mapping


def _match(index: dict[str, tuple[int, str]], header: str) -> tuple[int, str] | None:
    key = header_key(header)
    if not key:
        return None
    found = index.get(key)
    if found is not None:
        return found
    # "Contact Email", "Work City": a qualifier in front of a known header, ranked below
    # every exact match.
    for qualifier in _QUALIFIERS:
        if key.startswith(qualifier) and len(key) > len(qualifier):
            found = index.get(key[len(qualifier) :])
            if found is not None:
                return found[0] + 100, found[1]
    return None


def validate_mapping(
    entity: str,
    mapping: Mapping[str, Any],
    custom_keys: Iterable[str] | None = None,
) -> dict[str, str]:
    """Problems of a mapping, ``{header: reason}`` (``"mapping"`` for the whole); ``{}`` if none.

    A field must exist (custom fields are checked against ``custom_keys`` when given), and
    only list fields (tags, technologies, secondary domains) may take several columns.
    """
    if entity not in IMPORT_ENTITIES:
        return {"entity": f"must be one of {', '.join(IMPORT_ENTITIES)}"}
    if not isinstance(mapping, Mapping):
        return {"mapping": "must map column headers to field names"}
    known = {name for name, *_ in _FIELD_TABLES[entity]}
    customs = set(custom_keys) if custom_keys is not None else None
    errors: dict[str, str] = {}
    first_header: dict[str, str] = {}
    for header, field in mapping.items():
        if not isinstance(header, str) or not header.strip():
            errors[str(header)] = "a column header must be a non-empty text"
            continue
        if field is None or field == "":
            continue
        if not isinstance(field, str):
            errors[header] = "must be a field name or null"
            continue
        if field.startswith(CUSTOM_PREFIX):
            key = field[len(CUSTOM_PREFIX) :]
            if not key or (customs is not None and key not in customs):
                errors[header] = f"{field!r} is not a custom field of {entity}s"
                continue
        elif field not in known:
            errors[header] = f"{field!r} is not a field a {entity} import can fill"
            continue
        if field in first_header and field not in MULTI_COLUMN_FIELDS:
            errors[header] = f"{field} is already filled from the column {first_header[field]!r}"
            continue
        first_header.setdefault(field, header)
    if not errors:
        needed = (
            ("email", "first_name", "last_name", "phone", "mobile", "linkedin_url", "external_id")
            if entity == "contact"
            else ("name", "domain", "external_id")
        )
        if not any(field in first_header for field in needed):
            labels = {name: label for name, label, *_ in _FIELD_TABLES[entity]}
            errors["mapping"] = "map at least one column to " + ", ".join(
                labels[name] for name in needed
            )
    return errors


# --------------------------------------------------------------------------- saved mappings


def save_mapping(
    session: Session,
    actor: Actor,
    entity: str,
    name: str,
    columns: Mapping[str, Any],
) -> ImportMapping:
    """Save ``columns`` under ``name`` (replacing the entity's mapping of that name); audited."""
    _check_entity(entity)
    name = " ".join(str(name or "").split())
    errors: dict[str, str] = {}
    if not name or len(name) > 120:
        errors["name"] = "must be 1 to 120 characters"
    from pivotal_core.records import custom_field_definitions

    custom_keys = custom_field_definitions(session, entity)
    problems = validate_mapping(entity, columns, custom_keys)
    errors.update({f"columns.{header}": reason for header, reason in problems.items()})
    if errors:
        raise ValidationFailed(errors)
    columns = {str(header): (field or None) for header, field in columns.items()}
    existing = session.scalars(
        select(ImportMapping).where(ImportMapping.entity == entity, ImportMapping.name == name)
    ).first()
    if existing is None:
        saved = ImportMapping(
            entity=entity, name=name, columns=columns, created_by_id=actor.user_id
        )
        session.add(saved)
        session.flush()
        changes = {"entity": (None, entity), "name": (None, name), "columns": (None, columns)}
        record_changes(session, actor, AUDIT_ENTITY, saved.id, "create", changes)
        return saved
    if existing.columns != columns:
        old = existing.columns
        existing.columns = columns
        session.flush()
        record_changes(
            session, actor, AUDIT_ENTITY, existing.id, "update", {"columns": (old, columns)}
        )
    return existing


def list_mappings(session: Session, entity: str | None = None) -> list[ImportMapping]:
    """Saved mappings, by entity then name."""
    stmt = select(ImportMapping).order_by(ImportMapping.entity, ImportMapping.name)
    if entity is not None:
        _check_entity(entity)
        stmt = stmt.where(ImportMapping.entity == entity)
    return list(session.scalars(stmt))


def get_mapping(session: Session, mapping_id: int) -> ImportMapping:
    saved = session.get(ImportMapping, mapping_id)
    if saved is None:
        raise NotFound(f"Import mapping {mapping_id} not found")
    return saved
