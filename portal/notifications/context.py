"""The unread count beside "Notifications" in the navigation.

A template context processor: ``unread_notifications`` is a callable, so the
count is asked for only by a page that draws the navigation, once per request
(one query, kept on the request), never for anonymous readers.
"""

from __future__ import annotations

from . import selectors

_ATTR = "_cairn_unread_notifications"


def unread_for(request) -> int:
    """The signed-in user's unread count, counted once per request."""
    if not hasattr(request, _ATTR):
        user = getattr(request, "user", None)
        value = 0
        if user is not None and user.is_authenticated:
            value = selectors.unread_count(user)
        setattr(request, _ATTR, value)
    return getattr(request, _ATTR)


def unread_notifications(request) -> dict:
    return {"unread_notifications": lambda: unread_for(request)}
