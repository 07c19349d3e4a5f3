"""The domain set API: /api/v1/domain-sets (upload a list or a file, the match report, its
items and suggestions, matching by hand, creating the missing accounts, making a list)."""

from __future__ import annotations

from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.pagination import keyset_page
from pivotal_core.api.records import page_json, request_actor
from pivotal_core.api.validation import Boolean, FileUpload, Integer, Text, TextList
from pivotal_core.audience import domain_sets, schemas
from pivotal_core.audience.api import list_query, sort_keys, viewer
from pivotal_core.audience.models import (
    DOMAIN_ITEM_STATUSES,
    DOMAIN_SET_STATUSES,
    ENTITY_TYPES,
    MATCHED_VIA,
    VISIBILITY_SCOPES,
    DomainSet,
    DomainSetItem,
)
from pivotal_core.authnz.permissions import Permission
from pivotal_core.errors import Forbidden, ValidationFailed

READ = Permission.AUDIENCE_READ
WRITE = Permission.AUDIENCE_WRITE
ITEM = "/domain-sets/{id:\\d+}"
TAG = "domain-sets"
# A JSON list of 100,000 long URLs; a larger body is refused before it is read.
MAX_JSON_BODY = domain_sets.MAX_ENTRIES * 600


# ---------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------


class DomainList(TextList):
    """A JSON array of strings; how many is the service's to judge (413 over the limit)."""

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if isinstance(cstruct, list) and len(cstruct) > self.max_items:
            return cstruct  # refused with 413 by the service, naming the field
        return super().deserialize(node, cstruct)


def _entity_type(**kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(),
        name="entityType",
        validator=colander.OneOf(ENTITY_TYPES),
        description="the list the set is meant to become: account (the matched accounts) "
        "or contact (the contacts at them)",
        **kw,
    )


class DomainSetInput(colander.MappingSchema):
    name = schemas.name_node()
    description = schemas.description_node()
    entityType = _entity_type(missing="account")  # noqa: N815 - the API's camelCase
    visibilityScope = schemas.visibility_node()  # noqa: N815
    domains = colander.SchemaNode(
        DomainList(max_items=domain_sets.MAX_ENTRIES, max_length=2000),
        description=f"domains, URLs or e-mail addresses, at most {domain_sets.MAX_ENTRIES:,}; "
        "the line number of an entry is its position (from 1)",
    )


class DomainSetUpdate(colander.MappingSchema):
    name = schemas.name_node()
    description = schemas.description_node()
    entityType = _entity_type()  # noqa: N815
    visibilityScope = schemas.visibility_node()  # noqa: N815


class DomainSetForm(colander.MappingSchema):
    file = colander.SchemaNode(
        FileUpload(),
        missing_msg="choose a CSV, XLSX or text file",
        description="CSV or XLSX with a domain or website column, or text with one domain "
        f"per line; at most {domain_sets.MAX_ENTRIES:,} domains",
    )
    name = colander.SchemaNode(
        colander.String(),
        missing=None,
        validator=colander.Length(1, 200),
        description="default: the file's name",
    )
    description = colander.SchemaNode(
        colander.String(), missing=None, validator=colander.Length(max=2000)
    )
    entityType = colander.SchemaNode(  # noqa: N815
        colander.String(), missing="account", validator=colander.OneOf(ENTITY_TYPES)
    )
    visibilityScope = colander.SchemaNode(  # noqa: N815
        colander.String(), missing="private", validator=colander.OneOf(VISIBILITY_SCOPES)
    )
    column = colander.SchemaNode(
        colander.String(),
        missing=None,
        validator=colander.Length(1, 200),
        description="the header of the domain column (default: the column named domain, "
        "website, url ..., or the only one)",
    )


class CountsOutput(colander.MappingSchema):
    entries = colander.SchemaNode(Integer())
    matched = colander.SchemaNode(Integer())
    unmatched = colander.SchemaNode(Integer())
    invalid = colander.SchemaNode(Integer())
    duplicates = colander.SchemaNode(Integer())
    accounts = colander.SchemaNode(Integer(), description="distinct accounts matched")


class DomainSetOutput(schemas.SharedOutput):
    name = schemas.name_node()
    description = schemas.description_node()
    entityType = _entity_type()  # noqa: N815
    visibilityScope = schemas.visibility_node()  # noqa: N815
    status = colander.SchemaNode(Text(), validator=colander.OneOf(DOMAIN_SET_STATUSES))
    filename = colander.SchemaNode(Text(), missing=None)
    column = colander.SchemaNode(Text(), missing=None)
    counts = CountsOutput()
    matchRate = colander.SchemaNode(  # noqa: N815
        colander.Float(), missing=None, description="matched / (matched + unmatched), 0 to 1"
    )
    jobId = colander.SchemaNode(Integer(), missing=None)  # noqa: N815
    error = colander.SchemaNode(Text(), missing=None)
    matchedAt = colander.SchemaNode(colander.DateTime(), missing=None)  # noqa: N815
    accountsBatchId = colander.SchemaNode(  # noqa: N815
        Integer(), missing=None, description="the import batch that created missing accounts"
    )
    suggestedThrough = colander.SchemaNode(  # noqa: N815
        Integer(), description="unmatched lines up to this one were looked at for suggestions"
    )


class AccountSummary(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    name = colander.SchemaNode(Text())
    domain = colander.SchemaNode(Text(), missing=None)


class ItemOutput(colander.MappingSchema):
    lineNumber = colander.SchemaNode(Integer())  # noqa: N815
    raw = colander.SchemaNode(Text())
    domain = colander.SchemaNode(Text(), missing=None, description="normalized")
    status = colander.SchemaNode(Text(), validator=colander.OneOf(DOMAIN_ITEM_STATUSES))
    reason = colander.SchemaNode(Text(), missing=None, description="why it is invalid")
    duplicateOf = colander.SchemaNode(  # noqa: N815
        Integer(), missing=None, description="the line of the first occurrence"
    )
    accountId = colander.SchemaNode(Integer(), missing=None)  # noqa: N815
    matchedVia = colander.SchemaNode(  # noqa: N815
        Text(), missing=None, validator=colander.OneOf(MATCHED_VIA)
    )
    account = AccountSummary(missing=None)


class ItemPage(colander.MappingSchema):
    items = colander.SchemaNode(colander.Sequence(), ItemOutput())
    next_cursor = colander.SchemaNode(Text(), missing=None)


class ItemQuery(colander.MappingSchema):
    status = colander.SchemaNode(
        colander.String(), missing=None, validator=colander.OneOf(DOMAIN_ITEM_STATUSES)
    )
    limit = colander.SchemaNode(colander.Int(), missing=100, validator=colander.Range(1, 1000))
    cursor = colander.SchemaNode(
        colander.String(), missing=None, description="next_cursor of the previous page"
    )


class SuggestedAccount(AccountSummary):
    score = colander.SchemaNode(colander.Float(), description="name similarity, 0 to 1")


class SuggestionOutput(colander.MappingSchema):
    lineNumber = colander.SchemaNode(Integer())  # noqa: N815
    raw = colander.SchemaNode(Text())
    domain = colander.SchemaNode(Text())
    accounts = colander.SchemaNode(colander.Sequence(), SuggestedAccount())


class SuggestionPage(colander.MappingSchema):
    items = colander.SchemaNode(colander.Sequence(), SuggestionOutput())
    next_cursor = colander.SchemaNode(Text(), missing=None)
    suggestedThrough = colander.SchemaNode(Integer())  # noqa: N815


class SuggestQuery(colander.MappingSchema):
    limit = colander.SchemaNode(colander.Int(), missing=50, validator=colander.Range(1, 200))
    cursor = colander.SchemaNode(colander.String(), missing=None)


class SuggestOutput(colander.MappingSchema):
    examined = colander.SchemaNode(Integer(), description="unmatched domains looked at")
    suggested = colander.SchemaNode(Integer(), description="of them, with a suggestion")
    suggestedThrough = colander.SchemaNode(Integer())  # noqa: N815


class MatchInput(colander.MappingSchema):
    accountId = colander.SchemaNode(Integer(), validator=colander.Range(min=1))  # noqa: N815
    addDomain = colander.SchemaNode(  # noqa: N815
        Boolean(),
        missing=False,
        description="also add the domain to the account's secondary domains (accounts:write)",
    )


class LineNumbers(colander.SequenceSchema):
    line = colander.SchemaNode(Integer(), validator=colander.Range(min=1))


class CreateAccountsInput(colander.MappingSchema):
    lineNumbers = LineNumbers(  # noqa: N815
        missing=None,
        validator=colander.Length(max=domain_sets.MAX_ENTRIES),
        description="only these unmatched lines (default: every unmatched domain)",
    )


class CreateAccountsOutput(colander.MappingSchema):
    domains = colander.SchemaNode(Integer(), description="unmatched domains to create")
    created = colander.SchemaNode(Integer(), missing=colander.drop)
    matched = colander.SchemaNode(Integer(), missing=colander.drop)
    importBatchId = colander.SchemaNode(Integer(), missing=None)  # noqa: N815
    jobId = colander.SchemaNode(  # noqa: N815
        Integer(), missing=colander.drop, description="set when a job creates them"
    )


class ToListInput(colander.MappingSchema):
    name = schemas.name_node(missing=None)
    description = schemas.description_node()
    entityType = _entity_type(missing=None)  # noqa: N815
    tags = schemas.tags_node()
    visibilityScope = schemas.visibility_node()  # noqa: N815


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


def domain_set_json(domain_set: DomainSet) -> dict[str, Any]:
    report = domain_sets.DomainSetReport.of(domain_set)
    source = domain_set.source_file or {}
    return {
        **schemas.shared_json(domain_set),
        "status": domain_set.status,
        "filename": source.get("filename"),
        "column": source.get("column"),
        "counts": {
            "entries": report.entries,
            "matched": report.matched,
            "unmatched": report.unmatched,
            "invalid": report.invalid,
            "duplicates": report.duplicates,
            "accounts": report.accounts,
        },
        "matchRate": report.match_rate,
        "jobId": domain_set.job_id,
        "error": domain_set.error,
        "matchedAt": domain_set.matched_at.isoformat() if domain_set.matched_at else None,
        "accountsBatchId": domain_set.accounts_batch_id,
        "suggestedThrough": domain_set.suggested_through or 0,
    }


def _account_json(account: Any) -> dict[str, Any] | None:
    if account is None:
        return None
    return {"id": account.id, "name": account.name, "domain": account.domain}


def item_json(item: DomainSetItem, accounts: dict[int, Any]) -> dict[str, Any]:
    return {
        "lineNumber": item.line_number,
        "raw": item.raw,
        "domain": item.domain,
        "status": item.status,
        "reason": item.reason,
        "duplicateOf": item.duplicate_of,
        "accountId": item.account_id,
        "matchedVia": item.matched_via,
        "account": _account_json(accounts.get(item.account_id)),
    }


# ---------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------


def _set(request: Request) -> DomainSet:
    set_id = int(request.matchdict["id"])
    return domain_sets.get_domain_set(request.dbsession, set_id, viewer(request))


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise ValidationFailed({"cursor": "is not a valid cursor for this list"})
    return int(cursor)


def _from_api(values: dict[str, Any]) -> dict[str, Any]:
    return schemas.from_api({k: v for k, v in values.items() if v is not None})


def list_view(request: Request) -> dict[str, Any]:
    params = request.validated_query
    stmt = domain_sets.domain_sets_query(
        viewer(request), params["entityType"], params["q"], deleted=params["deleted"] == "only"
    )
    page = keyset_page(
        request.dbsession,
        stmt,
        DomainSet.id,
        sort_keys(DomainSet),
        sort=params["sort"],
        default_sort="-createdAt",
        limit=params["limit"],
        cursor=params["cursor"],
    )
    return page_json([domain_set_json(s) for s in page.items], page, params["limit"])


def _create(request: Request, values: dict[str, Any], **source: Any) -> dict[str, Any]:
    domain_set = domain_sets.create_domain_set(
        request.dbsession,
        request_actor(request),
        viewer(request),
        _from_api(values),
        settings=request.registry.settings,
        huey=request.huey,
        **source,
    )
    return domain_set_json(domain_set)


def create_view(request: Request) -> dict[str, Any]:
    values = dict(request.validated)
    return _create(request, values, domains=values.pop("domains"))


def upload_view(request: Request) -> dict[str, Any]:
    values = dict(request.validated)
    upload = values.pop("file")
    read = domain_sets.read_domain_file(
        request.registry.settings, upload.file, upload.filename, values.pop("column")
    )
    values["name"] = values["name"] or read.filename
    return _create(request, values, upload=read)


def get_view(request: Request) -> dict[str, Any]:
    return domain_set_json(_set(request))


def update_view(request: Request) -> dict[str, Any]:
    domain_set = _set(request)
    domain_sets.update_domain_set(
        request.dbsession,
        request_actor(request),
        viewer(request),
        domain_set,
        schemas.from_api(request.validated),
    )
    return domain_set_json(domain_set)


def _set_change(change: Any) -> Any:
    """A view applying ``change(session, actor, viewer, domain_set)`` and answering the set."""

    def view(request: Request) -> dict[str, Any]:
        domain_set = _set(request)
        change(request.dbsession, request_actor(request), viewer(request), domain_set)
        return domain_set_json(domain_set)

    view.__name__ = f"{change.__name__}_view"
    return view


def restore_view(request: Request) -> dict[str, Any]:
    set_id = int(request.matchdict["id"])
    domain_set = domain_sets.get_domain_set(
        request.dbsession, set_id, viewer(request), include_deleted=True
    )
    domain_sets.restore_domain_set(
        request.dbsession, request_actor(request), viewer(request), domain_set
    )
    return domain_set_json(domain_set)


def items_view(request: Request) -> dict[str, Any]:
    domain_set = _set(request)
    params = request.validated_query
    limit = params["limit"]
    items = domain_sets.item_page(
        request.dbsession, domain_set, params["status"], _after(params["cursor"]), limit
    )
    accounts = domain_sets.matched_accounts(request.dbsession, items)
    more = len(items) == limit
    return {
        "items": [item_json(item, accounts) for item in items],
        "next_cursor": str(items[-1].line_number) if items and more else None,
    }


def suggestions_view(request: Request) -> dict[str, Any]:
    domain_set = _set(request)
    params = request.validated_query
    limit = params["limit"]
    found = domain_sets.suggestions_page(
        request.dbsession, domain_set, _after(params["cursor"]), limit
    )
    return {
        "items": [
            {
                "lineNumber": item.line_number,
                "raw": item.raw,
                "domain": item.domain,
                "accounts": [
                    {**_account_json(account), "score": score} for account, score in accounts
                ],
            }
            for item, accounts in found
        ],
        "next_cursor": str(found[-1][0].line_number) if len(found) == limit else None,
        "suggestedThrough": domain_set.suggested_through or 0,
    }


def suggest_view(request: Request) -> dict[str, Any]:
    domain_set = _set(request)
    domain_sets.check_ready_to_change(domain_set, viewer(request))
    result = domain_sets.suggest_accounts(request.dbsession, domain_set)
    return {**result, "suggestedThrough": domain_set.suggested_through}


def match_view(request: Request) -> dict[str, Any]:
    domain_set = _set(request)
    values = request.validated
    if values["addDomain"] and not request.has_permission(Permission.ACCOUNTS_WRITE):
        raise Forbidden("Adding the domain to the account needs the accounts:write permission")
    item = domain_sets.match_to_account(
        request.dbsession,
        request_actor(request),
        viewer(request),
        domain_set,
        int(request.matchdict["line"]),
        values["accountId"],
        add_domain=values["addDomain"],
    )
    accounts = domain_sets.matched_accounts(request.dbsession, [item])
    return item_json(item, accounts)


def create_accounts_view(request: Request) -> dict[str, Any]:
    domain_set = _set(request)
    return domain_sets.create_missing_accounts(
        request.dbsession,
        request_actor(request),
        viewer(request),
        domain_set,
        settings=request.registry.settings,
        lines=request.validated["lineNumbers"],
        huey=request.huey,
    )


def to_list_view(request: Request) -> dict[str, Any]:
    domain_set = _set(request)
    audience_list = domain_sets.domain_set_to_list(
        request.dbsession,
        request_actor(request),
        viewer(request),
        domain_set,
        _from_api(request.validated),
    )
    return schemas.list_json(audience_list)


def _max_upload_body(request: Request) -> int:
    from pivotal_core.dataquality.uploads import max_upload_bytes

    return max_upload_bytes(request.registry.settings) + 64 * 1024


def includeme(config: Configurator) -> None:
    common = {"tag": TAG}
    out = {"response": DomainSetOutput()}
    add_endpoint(
        config,
        "api.domain_sets",
        "/domain-sets",
        "GET",
        list_view,
        permission=READ,
        summary="List the domain sets you can see (keyset paged)",
        query=list_query(config.get_settings()),
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets",
        "/domain-sets",
        "POST",
        create_view,
        permission=WRITE,
        status=201,
        body=DomainSetInput(),
        max_body=lambda request: MAX_JSON_BODY,
        summary="Create a domain set from a JSON list and match it (a job above "
        f"{domain_sets.INLINE_ENTRIES:,} domains: status queued)",
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets.upload",
        "/domain-sets/upload",
        "POST",
        upload_view,
        permission=WRITE,
        status=201,
        form=DomainSetForm(),
        max_body=_max_upload_body,
        summary="Create a domain set from a CSV, XLSX or text file (multipart) and match it",
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets.item",
        ITEM,
        "GET",
        get_view,
        permission=READ,
        summary="A domain set with its counts and match rate",
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets.item",
        ITEM,
        "PATCH",
        update_view,
        permission=WRITE,
        body=DomainSetUpdate(),
        summary="Rename a domain set or change who sees it",
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets.item",
        ITEM,
        "DELETE",
        _set_change(domain_sets.delete_domain_set),
        permission=WRITE,
        summary="Delete a domain set (soft; it can be restored)",
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets.restore",
        f"{ITEM}/restore",
        "POST",
        restore_view,
        permission=WRITE,
        summary="Restore a soft-deleted domain set (a live one is left as it is)",
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets.items",
        f"{ITEM}/items",
        "GET",
        items_view,
        permission=READ,
        query=ItemQuery(),
        response=ItemPage(),
        summary="The set's entries by line (keyset paged), of one status if asked",
        **common,
    )
    add_endpoint(
        config,
        "api.domain_sets.suggestions",
        f"{ITEM}/suggestions",
        "GET",
        suggestions_view,
        permission=READ,
        query=SuggestQuery(),
        response=SuggestionPage(),
        summary="Unmatched domains with suggested accounts (by name similarity)",
        **common,
    )
    add_endpoint(
        config,
        "api.domain_sets.suggestions",
        f"{ITEM}/suggestions",
        "POST",
        suggest_view,
        permission=WRITE,
        response=SuggestOutput(),
        summary=f"Look for accounts for the next {domain_sets.SUGGESTION_BATCH:,} "
        "unmatched domains",
        **common,
    )
    add_endpoint(
        config,
        "api.domain_sets.match",
        f"{ITEM}/items/{{line:\\d+}}/match",
        "POST",
        match_view,
        permission=WRITE,
        body=MatchInput(),
        response=ItemOutput(),
        summary="Match an unmatched domain to an account (a suggestion)",
        **common,
    )
    add_endpoint(
        config,
        "api.domain_sets.rematch",
        f"{ITEM}/rematch",
        "POST",
        _set_change(domain_sets.rematch_domain_set),
        permission=WRITE,
        summary="Match the set again against the accounts as they are now",
        **common,
        **out,
    )
    add_endpoint(
        config,
        "api.domain_sets.create_accounts",
        f"{ITEM}/create-missing-accounts",
        "POST",
        create_accounts_view,
        permission=Permission.ACCOUNTS_WRITE,
        body=CreateAccountsInput(),
        response=CreateAccountsOutput(),
        summary="Create an account for each unmatched domain (an import batch, "
        "undoable; a job above "
        f"{domain_sets.INLINE_ENTRIES:,})",
        **common,
    )
    add_endpoint(
        config,
        "api.domain_sets.to_list",
        f"{ITEM}/to-list",
        "POST",
        to_list_view,
        permission=WRITE,
        status=201,
        body=ToListInput(),
        response=schemas.ListOutput(),
        summary="A static list of the matched accounts, or of the contacts at them",
        **common,
    )

    def register_tasks() -> None:
        # At the configuration commit, after the jobs area has built huey.
        domain_sets.register_tasks(config.registry["pivotal.huey"])

    config.action("pivotal.audience.domain_set_tasks", register_tasks)
