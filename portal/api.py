"""Shared API infrastructure: the exception handler, the error envelope and
the classification of database errors (the parsers that refuse NUL are
`portal.parsers`; the restricted base viewset is `accounts.api.base`).

Every API error answers JSON: ``{"field": ["message", ...]}`` for invalid
input (400), ``{"detail": "..."}`` for the others; a database that cannot be
reached answers 503 ``{"detail": "Database unavailable", "code":
"database_unavailable"}`` with ``Retry-After``; an unexpected failure answers
500 ``{"detail": "Server error", "request_id": "..."}`` (see
`portal.error_views.server_error`).
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from rest_framework import renderers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from .errors import DomainError

API_PREFIX = "/api/"
DATABASE_UNAVAILABLE = {
    "detail": "Database unavailable",
    "code": "database_unavailable",
}
# How long a client should wait before retrying when the database is down.
RETRY_AFTER_SECONDS = 30

# SQLSTATE classes and codes of a server that cannot be reached or is going
# away (connection exceptions; admin/crash shutdown; cannot connect now).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")
_SQLITE_UNAVAILABLE = ("unable to open database", "disk i/o error")


def is_api_request(request) -> bool:
    return request.path.startswith(API_PREFIX)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database cannot be reached (as opposed to a
    query the database refused, which is a bug or bad input)."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if isinstance(exc, InterfaceError):
        return True  # the connection is closed or broken
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:
        return (
            sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
            or sqlstate in _UNAVAILABLE_SQLSTATES
        )
    if cause is not None and cause.__class__.__module__.startswith("sqlite3"):
        return str(cause).lower().startswith(_SQLITE_UNAVAILABLE)
    # psycopg raises a connection failure without a SQLSTATE.
    return cause is not None and cause.__class__.__module__.startswith("psycopg")


def database_unavailable_response() -> Response:
    return Response(
        DATABASE_UNAVAILABLE,
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def exception_handler(exc, context):
    """Translate domain errors, model validation errors and an unreachable
    database into API responses; anything else unexpected is left to
    `portal.error_views.server_error` (logged, then a JSON 500)."""
    if isinstance(exc, DomainError):
        return Response(_drf_keys(exc.as_dict()), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body = {
                k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()
            }
        else:
            body = {"detail": exc.messages}
        return Response(_drf_keys(body), status=status.HTTP_400_BAD_REQUEST)
    if database_unavailable(exc):
        return database_unavailable_response()
    # Imported here: DRF imports this module (DEFAULT_RENDERER_CLASSES) while
    # it imports rest_framework.views, whichever is imported first.
    from rest_framework.views import exception_handler as drf_exception_handler

    return drf_exception_handler(exc, context)


def _drf_keys(body: dict) -> dict:
    """Django's form-wide key ``__all__`` is DRF's ``non_field_errors``."""
    if NON_FIELD_ERRORS in body:
        body = dict(body)
        body[api_settings.NON_FIELD_ERRORS_KEY] = body.pop(NON_FIELD_ERRORS)
    return body


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API, under the Content-Security-Policy. Its pages set
    a few ``style=""`` attributes (button placement), so these pages alone
    allow inline style *attributes* (``style-src-attr``); inline ``<style>``
    elements and every inline script stay refused."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src-attr": ["'unsafe-inline'"]}
        return super().render(data, accepted_media_type, renderer_context)
