"""Request middleware of the portal."""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils.html import escape

from accounts import policy


class GrantsReadOnceMiddleware:
    """Each request reads a user's grants once per action
    (``accounts.policy.grants_read_once``) rather than in every restricted
    query: a page restricts a dozen querysets."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with policy.grants_read_once():
            return self.get_response(request)


class RejectNulMiddleware:
    """A NUL character in the path or a query parameter answers 400 naming the
    parameters, before any lookup: PostgreSQL can neither store nor compare
    one (it refuses the whole query). The API's bodies are checked by its
    parsers (`portal.parsers`); a page's form refuses NUL in its own fields
    and redisplays with the input kept (Django's text fields do)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from .api import is_api_request
        from .parsers import NUL_MESSAGE, nul_errors

        errors = nul_errors(request.GET)
        if "\x00" in request.path:
            errors["path"] = [NUL_MESSAGE]
        if not errors:
            return self.get_response(request)
        if is_api_request(request):
            return JsonResponse(errors, status=400)
        items = "".join(
            f"<li>{escape(name)}: {escape(' '.join(msgs))}</li>"
            for name, msgs in errors.items()
        )
        return HttpResponseBadRequest(
            "<!DOCTYPE html><title>Bad request</title>"
            f"<p>The request was refused:</p><ul>{items}</ul>"
        )


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (with Django's never-cache headers) on every
    answer to a signed-in request and on every API answer, so no browser or
    proxy keeps a copy of what only that user may read. Anonymous pages (the
    sign-in page) and static files stay cacheable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path_info.startswith("/api/") or (
            user is not None and user.is_authenticated
        ):
            add_never_cache_headers(response)
        return response


class DomainErrorMiddleware:
    """A page's domain refusal as Django's own answers: ``NotFound`` (missing
    or out of scope) is the 404 page, ``Forbidden`` the 403 page, so views
    need no ``except`` of their own. The API answers these in
    ``portal.api.exception_handler`` before they reach here; other domain
    errors (``Invalid``, ``Conflict``) are shown by the view on its form."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.core.exceptions import PermissionDenied
        from django.http import Http404

        from .errors import Forbidden, NotFound

        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, Forbidden):
            raise PermissionDenied(exception.message) from exception
        return None
