"""Request middleware of the portal."""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers

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
