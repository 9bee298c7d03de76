"""Sign-in helpers around the lock-out (``accounts.lockout`` decides it).

- :func:`client_username` is ``AXES_USERNAME_CALLABLE``: the name a failure is
  counted under, clipped so odd input never reaches axes' table.
- :func:`record_last_login` notes a sign-in without a history row.
- :func:`signed_in` clears a username's own failures after a successful sign-in
  on the token endpoint, which starts no session (the login page gets the
  same from axes' ``user_logged_in`` receiver).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

#: Longest name axes keeps (its ``username`` column); the user model's own
#: limit (150) is lower, so no real account is longer.
USERNAME_LIMIT = 150


def client_username(
    request: HttpRequest, credentials: dict | None = None
) -> str | None:
    """The name the failure is counted under (``AXES_USERNAME_CALLABLE``).

    Over-long names and NUL bytes never reach the database: no account has
    such a name, and PostgreSQL refuses both in a varchar column.
    """
    # A default of django-axes (its AppConf), unknown to the settings module.
    field = settings.AXES_USERNAME_FORM_FIELD  # type: ignore[misc]
    if credentials:
        raw = credentials.get(field)
    else:
        data = getattr(request, "data", None) or request.POST
        raw = data.get(field)
    if raw is None:
        return None
    return str(raw).replace("\x00", "")[:USERNAME_LIMIT]


def signed_in(username: str) -> None:
    """Clear the failures recorded under ``username`` (and nobody else's)."""
    from axes.utils import reset

    if settings.AXES_RESET_ON_SUCCESS:
        reset(username=username)


def record_last_login(sender, user, **kwargs) -> None:
    """Django's ``update_last_login`` without a history row.

    ``last_login`` is left out of the user's history, but the save would
    still add an empty "Changed User" row to the audit trail at every
    sign-in. A sign-in is an access event (``portal.audit`` records it), not
    a change to the user.
    """
    from django.contrib.auth.models import update_last_login

    user.skip_history_when_saving = True
    try:
        update_last_login(sender, user, **kwargs)
    finally:
        del user.skip_history_when_saving
