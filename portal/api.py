"""Shared API infrastructure: the exception handler (the restricted base
viewset is `accounts.api.base`)."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import renderers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError


def exception_handler(exc, context):
    """Translate domain errors and model validation errors into API responses."""
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
