"""Shared API infrastructure: the exception handler (the restricted base
viewset is `accounts.api.base`)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
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


class SignedInUnlessDebug(BasePermission):
    """The API's description is for signed-in users, except in development."""

    def has_permission(self, request, view) -> bool:
        return settings.DEBUG or bool(request.user and request.user.is_authenticated)


class SchemaView(SpectacularAPIView):
    """``/api/schema/``: anonymous callers get 401 JSON unless DEBUG."""

    permission_classes = [SignedInUnlessDebug]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        # An error is JSON, not an OpenAPI document in YAML.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class DocsView(SpectacularSwaggerView):
    """``/api/docs/``: anonymous visitors are sent to the login page unless DEBUG."""

    permission_classes = [SignedInUnlessDebug]

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated | AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
