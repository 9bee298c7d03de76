"""Request middleware of the portal."""

from __future__ import annotations

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
