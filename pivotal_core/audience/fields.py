"""The field registry: every field a filter may use, its type, its operators and the
SQLAlchemy expression that reads it, for contacts and for accounts.

Built-in fields are declared here; custom field definitions register themselves by type;
plugins add fields through the ``pivotal_filter_fields`` hook. A field's expression is a
function of the compile context (``filters.FilterContext``): ``ctx.root`` is the entity
being filtered and ``ctx.join("account")`` the account of a contact (outer-joined once,
whatever number of fields use it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pycountry
from sqlalchemy import Boolean, Float, String, case, exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from pivotal_core.compliance.models import CONSENT_CHANNELS, Consent, Suppression
from pivotal_core.contacts.models import SENIORITIES, Contact
from pivotal_core.customfields.models import CustomFieldDefinition

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from pivotal_core.audience.filters import FilterContext

ENTITIES = ("contact", "account")
TYPES = ("text", "enum", "number", "date", "bool", "tags", "reference")
CATEGORIES = {
    "contact": "Contact",
    "account": "Account",
    "location": "Location",
    "firmographics": "Firmographics",
    "compliance": "Compliance",
    "membership": "Membership",
    "activity": "Activity",
    "custom": "Custom fields",
}

# What each operator takes as its value.
OPERATORS: dict[str, dict[str, str]] = {
    "equals": {"label": "is", "value": "single"},
    "not_equals": {"label": "is not", "value": "single"},
    "contains": {"label": "contains", "value": "single"},
    "starts_with": {"label": "starts with", "value": "single"},
    "ends_with": {"label": "ends with", "value": "single"},
    "in": {"label": "is any of", "value": "list"},
    "not_in": {"label": "is none of", "value": "list"},
    "is_empty": {"label": "is empty", "value": "none"},
    "is_not_empty": {"label": "is not empty", "value": "none"},
    "gt": {"label": "greater than", "value": "single"},
    "gte": {"label": "at least", "value": "single"},
    "lt": {"label": "less than", "value": "single"},
    "lte": {"label": "at most", "value": "single"},
    "between": {"label": "between", "value": "range"},
    "before": {"label": "before", "value": "single"},
    "after": {"label": "after", "value": "single"},
    "within_last_days": {"label": "within the last N days", "value": "days"},
    "has_any": {"label": "has any of", "value": "list"},
    "has_all": {"label": "has all of", "value": "list"},
    "has_none": {"label": "has none of", "value": "list"},
    "in_list": {"label": "is in list", "value": "ids"},
    "in_segment": {"label": "is in segment", "value": "ids"},
    "suppressed": {"label": "is suppressed for", "value": "choice"},
    "has_consent": {"label": "has consent for", "value": "choice"},
}

_EMPTY = ("is_empty", "is_not_empty")
OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "text": ("equals", "not_equals", "contains", "starts_with", "ends_with", "in", "not_in")
    + _EMPTY,
    "enum": ("equals", "not_equals", "in", "not_in") + _EMPTY,
    "number": ("equals", "not_equals", "gt", "gte", "lt", "lte", "between") + _EMPTY,
    "date": ("equals", "before", "after", "between", "within_last_days") + _EMPTY,
    "bool": ("equals",) + _EMPTY,
    "tags": ("has_any", "has_all", "has_none") + _EMPTY,
    "reference": ("equals", "not_equals", "in", "not_in") + _EMPTY,
}

Expression = Any  # a SQLAlchemy column expression
ValueFunction = Callable[["FilterContext"], Expression]
ConditionFunction = Callable[["FilterContext", str, Any], Expression]


@dataclass(frozen=True)
class FilterField:
    """One filterable field.

    ``sources`` maps each entity the field is usable on to a function returning the
    field's value expression; the compiler turns ``(operator, value)`` into a condition
    by the field's type. A field whose meaning is not "compare a value" (membership,
    compliance, plugin fields such as "opened an email") gives ``condition`` instead:
    ``condition(ctx, operator, value)`` returns the SQL condition for the entity
    ``ctx.entity``, and ``sources`` then only names the entities (their functions are not
    called). ``nullable=False`` hides is_empty / is_not_empty for values that are never
    empty. For ``type="date"``, ``date_storage`` says whether the value is a UTC
    timestamp (``"datetime"``) or ISO date text (``"isodate"``, as custom fields store it).
    """

    key: str
    label: str
    category: str
    type: str
    sources: Mapping[str, ValueFunction | None]
    choices: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    description: str = ""
    nullable: bool = True
    condition: ConditionFunction | None = None
    date_storage: str = "datetime"
    references: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"filter field {self.key}: type must be one of {', '.join(TYPES)}")
        if self.category not in CATEGORIES:
            raise ValueError(
                f"filter field {self.key}: category must be one of {', '.join(CATEGORIES)}"
            )
        unknown_entities = set(self.sources) - set(ENTITIES)
        if not self.sources or unknown_entities:
            raise ValueError(f"filter field {self.key}: sources must name contact and/or account")
        if not self.operators:
            ops = OPERATORS_BY_TYPE[self.type]
            if not self.nullable:
                ops = tuple(op for op in ops if op not in _EMPTY)
            object.__setattr__(self, "operators", ops)
        unknown_ops = set(self.operators) - set(OPERATORS)
        if unknown_ops:
            raise ValueError(f"filter field {self.key}: unknown operators {sorted(unknown_ops)}")
        if self.condition is None and any(fn is None for fn in self.sources.values()):
            raise ValueError(f"filter field {self.key}: needs a value function or a condition")
        if self.type == "enum" and not self.choices:
            raise ValueError(f"filter field {self.key}: an enum field needs choices")

    def label_for(self, entity: str) -> str:
        return self.labels.get(entity, self.label)

    def as_json(self, entity: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "label": self.label_for(entity),
            "category": self.category,
            "type": self.type,
            "operators": list(self.operators),
        }
        if self.choices:
            data["choices"] = list(self.choices)
        if self.references:
            data["references"] = self.references
        if self.description:
            data["description"] = self.description
        return data


# ---------------------------------------------------------------------------
# Declaring built-in fields
# ---------------------------------------------------------------------------


def _contact(name: str) -> ValueFunction:
    return lambda ctx: getattr(ctx.root, name)


def _account(name: str) -> ValueFunction:
    return lambda ctx: getattr(ctx.join("account"), name)


def contact_field(key: str, label: str, category: str, type_: str, **kw: Any) -> FilterField:
    """A field read from a column of the contact."""
    return FilterField(f"contact.{key}", label, category, type_, {"contact": _contact(key)}, **kw)


def account_field(
    key: str, label: str, category: str, type_: str, value: ValueFunction | None = None, **kw: Any
) -> FilterField:
    """A field of the account; on contacts it reads the contact's account."""
    value = value or _account(key)
    return FilterField(
        f"account.{key}",
        label,
        category,
        type_,
        {"account": value, "contact": value},
        labels={"contact": f"Account: {label[0].lower()}{label[1:]}"},
        **kw,
    )


COUNTRIES = tuple(sorted(country.alpha_2 for country in pycountry.countries))
EMPLOYEE_RANGES = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (500, "201-500"),
    (1000, "501-1000"),
    (5000, "1001-5000"),
    (10000, "5001-10000"),
    (None, "10001+"),
)
REVENUE_RANGES = (
    (1_000_000, "<1M"),
    (10_000_000, "1M-10M"),
    (50_000_000, "10M-50M"),
    (100_000_000, "50M-100M"),
    (500_000_000, "100M-500M"),
    (1_000_000_000, "500M-1B"),
    (None, "1B+"),
)


def band(value: Expression, bands: Sequence[tuple[int | None, str]]) -> Expression:
    """The label of the band ``value`` falls in (each band holds values up to its bound)."""
    whens = [(value.is_(None), None)]
    whens += [(value <= bound, name) for bound, name in bands if bound is not None]
    return case(*whens, else_=bands[-1][1])


def _employee_range(ctx: FilterContext) -> Expression:
    return band(ctx.join("account").employee_count, EMPLOYEE_RANGES)


def _revenue_range(ctx: FilterContext) -> Expression:
    return band(ctx.join("account").annual_revenue, REVENUE_RANGES)


def _contact_count(ctx: FilterContext) -> Expression:
    # An alias: on contacts, a plain Contact here would correlate with the outer one.
    colleague = aliased(Contact)
    account = ctx.join("account")
    return (
        select(func.count())
        .select_from(colleague)
        .where(colleague.account_id == account.id, colleague.deleted_at.is_(None))
        .scalar_subquery()
    )


def _has_value(name: str) -> ValueFunction:
    return lambda ctx: getattr(ctx.root, name).is_not(None)


# ---------------------------------------------------------------------------
# Membership and compliance: conditions rather than values
# ---------------------------------------------------------------------------


def _member_of(target: str, kind: str) -> ConditionFunction:
    """in_list / in_segment: the record (``target="self"``) or the contact's account is a
    member of any of the lists or segments named (ids, already checked to exist)."""

    def condition(ctx: FilterContext, operator: str, value: Any) -> Expression:
        if target == "self":
            record_id, entity = ctx.root.id, ctx.entity
        else:
            record_id, entity = ctx.join("account").id, "account"
        if kind == "list":
            return ctx.in_lists(record_id, value, entity)
        return ctx.in_segments(record_id, value, entity)

    return condition


def _suppressed_value(table_kind: str, value: Expression) -> Expression:
    return exists().where(Suppression.kind == table_kind, Suppression.value == value)


def _suppressed(ctx: FilterContext, operator: str, channel: str) -> Expression:
    """Contacts: their email address or its domain (email), their phone or mobile (phone).
    Accounts: their domain (email), their phone (phone)."""
    root = ctx.root
    if ctx.entity == "contact":
        by_email = or_(
            _suppressed_value("email", root.email), _suppressed_value("domain", root.email_domain)
        )
        by_phone = or_(
            _suppressed_value("phone", root.phone), _suppressed_value("phone", root.mobile)
        )
    else:
        by_email = _suppressed_value("domain", root.domain)
        by_phone = _suppressed_value("phone", root.phone)
    if channel == "email":
        return by_email
    if channel == "phone":
        return by_phone
    return or_(by_email, by_phone)


def _has_consent(ctx: FilterContext, operator: str, channel: str) -> Expression:
    return exists().where(
        Consent.contact_id == ctx.root.id, Consent.channel == channel, Consent.status == "granted"
    )


def _membership_fields() -> list[FilterField]:
    def member(key: str, label: str, target: str, kind: str, entities: tuple[str, ...]):
        operator = "in_list" if kind == "list" else "in_segment"
        target_entity = "the record's" if target == "self" else "the contact's account's"
        return FilterField(
            key,
            label,
            "membership",
            "reference",
            {entity: None for entity in entities},
            operators=(operator,),
            condition=_member_of(target, kind),
            references=kind,
            description=f"{target_entity} membership; the value is a {kind} id or a list of ids",
        )

    return [
        member("list", "In list", "self", "list", ENTITIES),
        member("segment", "In segment", "self", "segment", ENTITIES),
        member("account.list", "Account in list", "account", "list", ("contact",)),
        member("account.segment", "Account in segment", "account", "segment", ("contact",)),
    ]


SUPPRESSION_CHANNELS = ("any", "email", "phone")


def _builtin_fields() -> list[FilterField]:
    text, enum, number, date, boolean, tags, ref = TYPES[0], *TYPES[1:]
    fields = [
        # contact
        contact_field("id", "Contact ID", "contact", ref, nullable=False, references="contact"),
        contact_field("first_name", "First name", "contact", text),
        contact_field("last_name", "Last name", "contact", text),
        contact_field("email", "Email", "contact", text),
        contact_field("email_domain", "Email domain", "contact", text),
        FilterField(
            "contact.has_email",
            "Has email",
            "contact",
            boolean,
            {"contact": _has_value("email")},
            nullable=False,
        ),
        contact_field("phone", "Phone", "contact", text, description="E.164, e.g. +4930123456"),
        contact_field("mobile", "Mobile", "contact", text, description="E.164"),
        FilterField(
            "contact.has_phone",
            "Has phone or mobile",
            "contact",
            boolean,
            {"contact": lambda ctx: or_(ctx.root.phone.is_not(None), ctx.root.mobile.is_not(None))},
            nullable=False,
        ),
        contact_field("title", "Job title", "contact", text),
        contact_field("seniority", "Seniority", "contact", enum, choices=SENIORITIES),
        contact_field("department", "Department", "contact", text),
        contact_field("linkedin_url", "LinkedIn URL", "contact", text),
        contact_field("timezone", "Time zone", "contact", text),
        contact_field("tags", "Tags", "contact", tags),
        contact_field("account_id", "Account ID", "contact", ref, references="account"),
        FilterField(
            "contact.has_account",
            "Has an account",
            "contact",
            boolean,
            {"contact": lambda ctx: ctx.join("account").id.is_not(None)},
            nullable=False,
            description="linked to an account that is not deleted",
        ),
        # location
        contact_field("city", "City", "location", text),
        contact_field("region", "Region", "location", text),
        contact_field("postal_code", "Postal code", "location", text),
        contact_field("country", "Country", "location", enum, choices=COUNTRIES),
        account_field("street", "Street", "location", text),
        account_field("city", "City", "location", text),
        account_field("region", "Region", "location", text),
        account_field("postal_code", "Postal code", "location", text),
        account_field("country", "Country", "location", enum, choices=COUNTRIES),
        # account
        account_field("id", "Account ID", "account", ref, references="account"),
        account_field("name", "Account name", "account", text),
        account_field("domain", "Domain", "account", text),
        account_field("secondary_domains", "Secondary domains", "account", tags),
        account_field("phone", "Phone", "account", text),
        account_field("linkedin_url", "LinkedIn URL", "account", text),
        account_field("description", "Description", "account", text),
        account_field("tags", "Tags", "account", tags),
        account_field("parent_id", "Parent account ID", "account", ref, references="account"),
        account_field(
            "has_parent",
            "Has a parent account",
            "account",
            boolean,
            lambda ctx: ctx.join("account").parent_id.is_not(None),
            nullable=False,
        ),
        # firmographics
        account_field("industry", "Industry", "firmographics", text),
        account_field("employee_count", "Employees", "firmographics", number),
        account_field(
            "employee_range",
            "Employee range",
            "firmographics",
            enum,
            _employee_range,
            choices=tuple(name for _, name in EMPLOYEE_RANGES),
        ),
        account_field("annual_revenue", "Annual revenue", "firmographics", number),
        account_field(
            "revenue_range",
            "Revenue range",
            "firmographics",
            enum,
            _revenue_range,
            choices=tuple(name for _, name in REVENUE_RANGES),
        ),
        account_field("technologies", "Technologies", "firmographics", tags),
        account_field(
            "contact_count",
            "Number of contacts",
            "firmographics",
            number,
            _contact_count,
            nullable=False,
            description="live contacts at the account",
        ),
        # activity
        contact_field("created_at", "Created", "activity", date, nullable=False),
        contact_field("updated_at", "Last updated", "activity", date, nullable=False),
        account_field("created_at", "Created", "activity", date, nullable=False),
        account_field("updated_at", "Last updated", "activity", date, nullable=False),
        # compliance
        FilterField(
            "compliance.suppressed",
            "Suppressed",
            "compliance",
            "enum",
            {"contact": None, "account": None},
            operators=("suppressed",),
            choices=SUPPRESSION_CHANNELS,
            condition=_suppressed,
            description="email: the address or its domain is suppressed (accounts: the "
            "domain); phone: the phone or mobile number; any: either",
        ),
        FilterField(
            "compliance.consent",
            "Consent",
            "compliance",
            "enum",
            {"contact": None},
            operators=("has_consent",),
            choices=CONSENT_CHANNELS,
            condition=_has_consent,
            description="the contact's current consent for the channel is granted",
        ),
    ]
    return fields + _membership_fields()


BUILTIN_FIELDS: tuple[FilterField, ...] = tuple(_builtin_fields())


# ---------------------------------------------------------------------------
# Custom fields: JSON values read by type, per dialect
# ---------------------------------------------------------------------------

CUSTOM_TYPES = {
    "text": "text",
    "number": "number",
    "date": "date",
    "bool": "bool",
    "enum": "enum",
    "tags": "tags",
}
_SQLITE_TYPES = {"string": ("text",), "number": ("integer", "real")}


def custom_value(ctx: FilterContext, document: Expression, key: str, kind: str) -> Expression:
    """The value of custom field ``key`` in the JSON ``document``, or NULL when it is
    missing or not of the field's kind (so a stray value never breaks a query)."""
    if ctx.dialect == "postgresql":
        item = type_coerce(document, JSONB)[key]
        json_type = func.jsonb_typeof(item)
        if kind == "tags":
            return case((json_type == "array", item))
        if kind == "number":
            return case((json_type == "number", item.astext.cast(Float)))
        if kind == "bool":
            return case((json_type == "boolean", item.astext.cast(Boolean)))
        return case((json_type == "string", item.astext))
    path = f'$."{key}"'
    raw = func.json_extract(document, path)
    json_type = func.json_type(document, path)
    if kind == "tags":
        return case((json_type == "array", raw))
    if kind == "number":
        return type_coerce(case((json_type.in_(("integer", "real")), raw)), Float)
    if kind == "bool":
        return type_coerce(case((json_type == "true", 1), (json_type == "false", 0)), Boolean)
    return type_coerce(case((json_type == "text", raw)), String)


def custom_field(definition: CustomFieldDefinition) -> FilterField:
    """The filter field of a custom field definition: ``<entity>.custom.<key>``."""
    kind = definition.type
    key = definition.key
    if definition.entity == "contact":
        sources = {"contact": lambda ctx: custom_value(ctx, ctx.root.custom_fields, key, kind)}
        labels: dict[str, str] = {}
    else:
        value = lambda ctx: custom_value(  # noqa: E731 - one expression, used twice
            ctx, ctx.join("account").custom_fields, key, kind
        )
        sources = {"account": value, "contact": value}
        labels = {"contact": f"Account: {definition.label}"}
    return FilterField(
        f"{definition.entity}.custom.{key}",
        definition.label,
        "custom",
        CUSTOM_TYPES[kind],
        sources,
        choices=tuple(str(option) for option in definition.options or ()) if kind == "enum" else (),
        date_storage="isodate",
        labels=labels,
        description=definition.description or "",
    )


# ---------------------------------------------------------------------------
# The registry of one session: built-in, plugin and custom fields
# ---------------------------------------------------------------------------


class FieldRegistryError(ValueError):
    """A plugin returned something that is not a usable filter field."""


def plugin_fields(hooks: Any) -> list[FilterField]:
    """Fields of enabled plugins (``pivotal_filter_fields``), checked."""
    if hooks is None:
        return []
    found: list[FilterField] = []
    for batch in hooks.pivotal_filter_fields():
        for item in batch or ():
            if not isinstance(item, FilterField):
                raise FieldRegistryError(
                    f"pivotal_filter_fields returned {item!r}; return FilterField objects"
                )
            found.append(item)
    return found


def check_unique(fields: Sequence[FilterField]) -> None:
    seen: set[str] = set()
    for item in fields:
        if item.key in seen:
            raise FieldRegistryError(f"two filter fields are named {item.key!r}")
        seen.add(item.key)


def field_registry(session: Session, entity: str) -> dict[str, FilterField]:
    """Every field usable on ``entity``, by key: built-in, enabled plugins' and custom."""
    fields = list(BUILTIN_FIELDS) + plugin_fields(session.info.get("pivotal.hooks"))
    definitions = session.scalars(select(CustomFieldDefinition).order_by(CustomFieldDefinition.key))
    fields += [custom_field(d) for d in definitions if d.type in CUSTOM_TYPES]
    check_unique(fields)
    return {item.key: item for item in fields if entity in item.sources}


def grouped_fields(fields: Mapping[str, FilterField], entity: str) -> list[dict[str, Any]]:
    """The fields as the API lists them: by category, in the registry's order."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in CATEGORIES}
    for item in fields.values():
        groups[item.category].append(item.as_json(entity))
    return [
        {"key": name, "label": CATEGORIES[name], "fields": items}
        for name, items in groups.items()
        if items
    ]
