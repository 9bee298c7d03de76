"""The API's description pages: ``/api/schema/`` and ``/api/docs/``.

A module of their own: ``portal.api`` is loaded by DRF's settings (its
renderer and exception handler), before DRF's views can be imported.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer


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


class DocsView(SpectacularSwaggerSplitView):
    """``/api/docs/``: anonymous visitors are sent to the login page unless DEBUG."""

    permission_classes = [SignedInUnlessDebug]

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated | AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
