"""The project's error handlers (``handler400/403/404/500`` in
``portal.urls``): the API always answers JSON, pages keep Django's pages;
a database that cannot be reached answers 503 with ``Retry-After`` on both."""

from __future__ import annotations

import sys

from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from . import observability
from .api import (
    DATABASE_UNAVAILABLE,
    RETRY_AFTER_SECONDS,
    database_unavailable,
    is_api_request,
)


def _request_id(request) -> str | None:
    return getattr(request, "request_id", None) or observability.request_id.get()


def database_unavailable_page(request) -> HttpResponse:
    response: HttpResponse
    if is_api_request(request):
        response = JsonResponse(DATABASE_UNAVAILABLE, status=503)
    else:
        # A page that reads nothing: the database is what is missing.
        response = HttpResponse(
            loader.render_to_string("503.html", {"request_id": _request_id(request)}),
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """500 (Django has already logged the exception with the request id)."""
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_page(request)
    if is_api_request(request):
        return JsonResponse(
            {"detail": "Server error", "request_id": _request_id(request)},
            status=500,
        )
    return defaults.server_error(request, template_name)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if is_api_request(request):
        return JsonResponse({"detail": "Bad request"}, status=400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(
    request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME
):
    if is_api_request(request):
        return JsonResponse(
            {"detail": "You do not have permission to perform this action."},
            status=403,
        )
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if is_api_request(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception, template_name)
