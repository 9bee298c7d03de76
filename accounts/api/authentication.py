"""``Authorization: Token <secret>`` against the hashed, expiring API tokens."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from .. import services


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """DRF's token scheme (same header, same 401 answer) over ``ApiToken``.

    Refused with 401: an unknown or revoked secret, an expired token, a token
    made under a password that has since changed, an inactive user.
    """

    def authenticate_credentials(self, key):
        token = services.api_token_find(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if token.expires <= timezone.now():
            raise exceptions.AuthenticationFailed("Token has expired.")
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token.password_fingerprint != services.password_fingerprint(user):
            raise exceptions.AuthenticationFailed(
                "Token was revoked by a password change."
            )
        services.api_token_touch(token)
        return user, token
