"""What the accounts app announces. The access trail (``portal.audit``)
records these as access events; accounts itself never writes them, so it
depends on nothing above it.

``account_event(sender, kind, user, username, request, obj, details)`` is
sent inside the transaction of the change it reports (a token created or
revoked, a sign-in through the API token endpoint): the event is written
with it or not at all. ``kind`` is one of the constants below.
"""

from __future__ import annotations

from django.dispatch import Signal

#: Signed in through ``POST /api/v1/auth/token/`` (sessions use Django's
#: ``user_logged_in``).
LOGIN = "login"
TOKEN_CREATED = "token_created"  # noqa: S105 - an event kind
TOKEN_REVOKED = "token_revoked"  # noqa: S105 - an event kind

account_event = Signal()


def announce(
    kind: str,
    *,
    user=None,
    username: str = "",
    request=None,
    obj=None,
    details: dict | None = None,
) -> None:
    """Send ``account_event`` (what the accounts services call)."""
    account_event.send(
        sender=kind,
        kind=kind,
        user=user,
        username=username,
        request=request,
        obj=obj,
        details=details or {},
    )
