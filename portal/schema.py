"""The OpenAPI schema says what the API really answers.

- `AutoSchema` marks a read-only field nullable when it can be null: a method
  field whose return type admits ``None``, or a field read through a nullable
  relation (``source="owner.name"`` with ``owner`` null=True).
- `document_error_responses` (a postprocessing hook) documents on every
  operation the error answers every endpoint can give: 400 (field errors;
  lists: bad filters), 401, 403, 404 (object or page), 409 on writes (stale
  version or conflict), 429 on the token endpoint, 503 (database unavailable),
  and 414 (a request line too long for the web server, without a body).
  They share one `Error` component: DRF's envelope, ``{"detail": ...}`` or
  ``{"field": ["message", ...]}``.
"""

from __future__ import annotations

import types
import typing

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from rest_framework import serializers

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": (
        'An error: {"detail": "message"} (with "code" for some), or field '
        'errors {"field": ["message", ...]} ("non_field_errors" for the whole '
        "input)."
    ),
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string", "nullable": True},
    },
    "additionalProperties": True,
}
ERRORS = {
    "400": "Invalid input or query parameters (field errors).",
    "401": "Not signed in, or the token is invalid or expired.",
    "403": "Signed in, but the action is not allowed.",
    "404": "No such object in your scope (or no such page of a list).",
    "503": "Database unavailable; retry after the Retry-After seconds.",
}
WRITE_ERRORS = {"409": "Stale version or a conflicting state; reload and retry."}
TOKEN_ERRORS = {"429": "Too many failed sign-ins; retry after Retry-After seconds."}
WRITE_METHODS = ("post", "put", "patch", "delete")
URI_TOO_LONG = (
    "The request line (path and query) is longer than the web server accepts "
    "(gunicorn: 4,094 bytes); answered by the server, not the API."
)


def _admits_none(hint) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return type(None) in typing.get_args(hint)
    return hint is None or hint is type(None)


def _nullable_source(field) -> bool:
    """Whether a dotted ``source`` passes through a nullable relation."""
    parts = (field.source or "").split(".")
    parent = getattr(field, "parent", None)
    model = getattr(getattr(parent, "Meta", None), "model", None)
    if len(parts) < 2 or model is None:
        return False
    for part in parts[:-1]:
        try:
            model_field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if getattr(model_field, "null", False):
            return True
        model = getattr(model_field, "related_model", None)
        if model is None:
            return False
    return False


def _method_returns_none(field) -> bool:
    parent = getattr(field, "parent", None)
    method = getattr(parent, field.method_name, None) if parent else None
    if method is None:
        return False
    try:
        hints = typing.get_type_hints(method)
    except Exception:  # noqa: BLE001 - an unresolvable hint says nothing
        return False
    return _admits_none(hints.get("return"))


class AutoSchema(openapi.AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if not isinstance(schema, dict) or "$ref" in schema:
            return schema
        if isinstance(field, serializers.SerializerMethodField):
            nullable = _method_returns_none(field)
        else:
            nullable = field.read_only and _nullable_source(field)
        if nullable:
            schema = {**schema, "nullable": True}
        return schema


def document_error_responses(result, generator, request, public):
    """Postprocessing hook: the error answers of every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(ERRORS)
            if method in WRITE_METHODS:
                errors.update(WRITE_ERRORS)
            if path.rstrip("/").endswith("/auth/token"):
                errors.update(TOKEN_ERRORS)
            responses = operation["responses"]
            # Answered by the web server (gunicorn), not the application, for
            # a request line over its limit: an HTML page, no Cairn body.
            responses.setdefault("414", {"description": URI_TOO_LONG})
            for code, description in errors.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ref}},
                    },
                )
    return result
