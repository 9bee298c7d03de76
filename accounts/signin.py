"""Sign-in lock-out: the rules django-axes applies, and the answer when locked.

One implementation serves the login page, the admin login and the API token
endpoint: each authenticates through ``django.contrib.auth.authenticate`` with
the Django request, so axes' backend refuses a locked name and its signal
handler counts a failure; ``AxesMiddleware`` then answers with
:func:`lockout_response` (an HTML page, or JSON on the API).

Failures are counted per username (any address) and per username and address
(``AXES_LOCKOUT_PARAMETERS``); nothing is locked per address alone, so a shared
proxy or NAT never locks the other people behind it. A successful sign-in
clears only the failures recorded under that user's own name.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

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
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        raw = credentials.get(field)
    else:
        data = getattr(request, "data", None) or request.POST
        raw = data.get(field)
    if raw is None:
        return None
    return str(raw).replace("\x00", "")[:USERNAME_LIMIT]


def retry_after(username: str | None) -> int:
    """Seconds until ``username`` may try again (cool-off from its last failure)."""
    from axes.models import AccessAttempt

    cool_off = settings.AXES_COOLOFF_TIME
    seconds = (
        cool_off.total_seconds()
        if hasattr(cool_off, "total_seconds")
        else 3600 * cool_off
    )
    last = AccessAttempt.objects.filter(username=username or "").aggregate(
        last=Max("attempt_time")
    )["last"]
    if last is None:
        return math.ceil(seconds)
    remaining = (last - timezone.now()).total_seconds() + seconds
    return max(1, math.ceil(remaining))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The answer to a locked name (``AXES_LOCKOUT_CALLABLE``): 429 with
    ``Retry-After``; JSON ``{"detail": ...}`` on the API, the page elsewhere."""
    username = client_username(request, credentials)
    wait = retry_after(username)
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "detail": "Too many failed sign-in attempts for this account; "
                f"try again in {wait} seconds.",
                "code": "locked_out",
            },
            status=429,
        )
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"retry_after_minutes": math.ceil(wait / 60)},
            status=429,
        )
    response["Retry-After"] = str(wait)
    return response


def signed_in(username: str) -> None:
    """Clear the failures recorded under ``username`` after a successful sign-in
    on a path that does not start a session (the token endpoint); the login
    page gets the same from axes' ``user_logged_in`` receiver."""
    from axes.utils import reset

    if settings.AXES_RESET_ON_SUCCESS:
        reset(username=username)
