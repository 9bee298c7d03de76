"""The sign-in lock-out: per username and per username + address.

django-axes records each failed sign-in (username, client address, user
agent); this handler decides when that locks:

- **username + address**: ``AXES_FAILURE_LIMIT`` (5) failures of one username
  from one address lock that username from that address;
- **username**: ``LOCKOUT_USERNAME_LIMIT`` (20) failures of one username from
  any addresses lock that username everywhere (guessing spread over many
  addresses);
- never by address alone: the people behind one proxy or NAT are not locked
  out because one of them (or an attacker among them) mistypes;
- a successful sign-in clears that username's own failures and nobody
  else's (so signing in as oneself between guesses at ``admin`` no longer
  resets the count of ``admin``).

The web sign-in, the admin's and ``POST /api/v1/auth/token/`` all
authenticate through Django's ``authenticate``, so they share the counts; a
locked username answers 429 (a page on the web, JSON on the API). Locks end
after ``AXES_COOLOFF_HOURS``.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from django.conf import settings
from django.db.models import Sum


class CairnLockoutHandler(AxesDatabaseHandler):
    """AxesDatabaseHandler with the two limits above (AXES_LOCKOUT_PARAMETERS
    is ``[["username", "ip_address"], "username"]``, so a reset on success
    deletes only that username's rows)."""

    def get_failures(self, request, credentials=None) -> int:
        pair, anywhere = self.get_user_attempts(request, credentials)
        count_pair = _failures(pair)
        limit = get_failure_limit(request, credentials)
        username = get_client_username(request, credentials)
        if username and _failures(anywhere) >= settings.LOCKOUT_USERNAME_LIMIT:
            return max(count_pair, limit)
        return count_pair


def _failures(attempts) -> int:
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
