"""The OpenAPI document is valid 3.1 and covers every /api/v1 route."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from pivotal_core.api.endpoints import endpoints_of


def test_openapi_document_validates(anonymous):
    doc = anonymous.get("/api/v1/openapi.json").json
    validate(doc)  # raises on an invalid document
    assert doc["openapi"] == "3.1.0"


def test_openapi_lists_every_api_route_and_method(app, anonymous):
    doc = anonymous.get("/api/v1/openapi.json").json
    introspector = app.registry.introspector
    routes = {
        r["introspectable"]["name"]: r["introspectable"]["pattern"]
        for r in introspector.get_category("routes")
    }
    api_routes = {name: p for name, p in routes.items() if p.startswith("/api/v1")}
    assert api_routes, "no API routes registered"
    for endpoint in endpoints_of(app.registry):
        path = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", endpoint.pattern)
        assert path in doc["paths"], path
        assert endpoint.method.lower() in doc["paths"][path], (endpoint.method, path)
    documented = {re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", p) for p in api_routes.values()}
    assert documented == set(doc["paths"])


def test_openapi_describes_security_and_errors(anonymous):
    doc = anonymous.get("/api/v1/openapi.json").json
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["security"] == []
    contacts = doc["paths"]["/api/v1/contacts"]
    assert "403" in contacts["get"]["responses"]
    body = contacts["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["first_name"]["maxLength"] == 100
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]


def test_openapi_names_the_media_type_of_a_csv_download(anonymous):
    doc = anonymous.get("/api/v1/openapi.json").json
    rejected = doc["paths"]["/api/v1/imports/{id}/rejected"]["get"]["responses"]["200"]
    assert rejected["content"] == {"text/csv": {"schema": {"type": "string"}}}
    segments = doc["paths"]["/api/v1/segments/{id}/export"]["post"]["responses"]["200"]
    assert set(segments["content"]) == {"text/csv", "application/json"}


def test_answer_schemas_name_every_field_the_answers_have():
    """A field an endpoint answers with but its schema leaves out is undocumented."""
    from datetime import UTC, datetime

    from pivotal_core.audience import schemas
    from pivotal_core.audience.models import AudienceList, SavedFilter, Segment
    from pivotal_core.jobs.api import JobOutput, job_json
    from pivotal_core.jobs.models import Job

    now = datetime.now(UTC)
    job = Job(id=1, kind="k", status="running", progress_current=0, attempts=1, created_at=now)
    shared = {"id": 1, "name": "n", "entity_type": "contact", "created_at": now, "updated_at": now}
    answers = [
        (JobOutput(), job_json(job)),
        (schemas.SavedFilterOutput(), schemas.saved_filter_json(SavedFilter(**shared))),
        (schemas.SegmentOutput(), schemas.segment_json(Segment(**shared))),
        (schemas.ListOutput(), schemas.list_json(AudienceList(**shared))),
    ]
    for schema, answer in answers:
        documented = {child.name for child in schema.children}
        assert set(answer) <= documented, (type(schema).__name__, set(answer) - documented)
