"""Reads of the accounts app that views and the API share."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ApiToken, User


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The API tokens ``user`` owns (a token is only ever its owner's to see)."""
    if not getattr(user, "is_authenticated", False):
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=user)
