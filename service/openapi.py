"""The OpenAPI 3.0 description of the service, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from service import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


_ERRORS = {
    "400": _error(
        "Invalid parameters or body: missing or malformed url, scheme not http(s), width/height not "
        "positive whole numbers or above the limits, unparseable body, wrong content type."
    ),
    "401": _error("An API key or a signed URL is required (only when SNAPSHOT_API_KEYS is set)."),
    "403": _error("The target resolves to an address captures may not reach, or localmode is refused."),
    "405": _error("Method not allowed."),
    "413": _error("The request body is too large."),
    "429": _error("Too many captures waiting, or this client is over its limits; see Retry-After."),
    "502": _error("The page could not be loaded (connection refused, TLS error...)."),
    "503": _error("No browser or storage available, or the service is shutting down; see Retry-After."),
    "504": _error("The capture did not finish before its deadline."),
}
_PARAMS = [
    {
        "name": "url",
        "in": "query",
        "required": True,
        "description": "The http(s) URL to capture.",
        "schema": {"type": "string", "maxLength": 2048},
    },
    {
        "name": "width",
        "in": "query",
        "required": True,
        "description": "Width of the PNG in pixels.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "height",
        "in": "query",
        "required": True,
        "description": "Height of the PNG in pixels.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "localmode",
        "in": "query",
        "required": False,
        "description": "Capture with a browser next to the service instead of the Grid.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
]
_SIGNED = [
    {
        "name": "expires",
        "in": "query",
        "required": False,
        "description": "Signed URLs: unix time it expires.",
        "schema": {"type": "string"},
    },
    {
        "name": "signature",
        "in": "query",
        "required": False,
        "description": "Signed URLs: hex HMAC-SHA256 of the sorted capture parameters and expires.",
        "schema": {"type": "string"},
    },
]
_FORM = {
    "type": "object",
    "required": ["url", "width", "height"],
    "properties": {p["name"]: p["schema"] for p in _PARAMS},
}
_PLAIN_JSON = {"description": "Status.", "content": {"application/json": {"schema": {"type": "object"}}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Snapshot API",
        "version": __version__,
        "description": "Screenshots of web pages: GET returns the PNG, POST stores it and returns its URL.",
    },
    "paths": {
        "/create_snap": {
            "get": {
                "summary": "Capture a page and return the PNG",
                "parameters": _PARAMS + _SIGNED,
                "responses": {
                    "200": {
                        "description": "A PNG of exactly width x height pixels.",
                        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_ERRORS,
                },
            },
            "post": {
                "summary": "Capture a page, store the PNG and return its URL",
                "requestBody": {
                    "required": False,
                    "content": {
                        "multipart/form-data": {"schema": _FORM},
                        "application/x-www-form-urlencoded": {"schema": _FORM},
                    },
                },
                "responses": {
                    "200": {
                        "description": "Stored.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file_url", "status"],
                                    "properties": {
                                        "file_url": {"type": "string"},
                                        "status": {"type": "string", "enum": ["success"]},
                                    },
                                }
                            }
                        },
                    },
                    **_ERRORS,
                },
            },
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _PLAIN_JSON}}},
        "/readyz": {
            "get": {"summary": "Readiness, per dependency", "responses": {"200": _PLAIN_JSON, "503": _PLAIN_JSON}}
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _PLAIN_JSON}}},
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["status", "error", "message"],
                "properties": {
                    "status": {"type": "string", "enum": ["error"]},
                    "error": {"type": "string", "description": "A stable, machine-readable code."},
                    "message": {"type": "string"},
                },
            }
        }
    },
}
