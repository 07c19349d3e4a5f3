"""The JSON API under /api/v1: error views, health, the OpenAPI document."""

from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.openapi import openapi_view


def health_view(request: Request):
    return {"status": "ok"}


def includeme(config):
    config.scan(".errors")
    add_endpoint(
        config,
        "api.health",
        "/health",
        "GET",
        health_view,
        permission=None,
        public=True,
        tag="meta",
        summary="Liveness check (no database access)",
    )
    add_endpoint(
        config,
        "api.openapi",
        "/openapi.json",
        "GET",
        openapi_view,
        permission=None,
        public=True,
        tag="meta",
        summary="This OpenAPI 3.1 document",
    )
