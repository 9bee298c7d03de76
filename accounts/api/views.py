"""API authentication: exchange a username and password for a token."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from portal.audit import event_record
from portal.models import AuditEvent


class ObtainTokenView(ObtainAuthToken):
    """``POST`` username and password; answers ``{"token": ...}`` or 400.

    A success is an access event like a sign-in on the web ("Signed in", with
    ``via: api_token``); a failure is recorded (and counted towards the
    lock-out) by the authentication signal, as on the web."""

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses={
            200: inline_serializer("TokenResponse", {"token": serializers.CharField()}),
            400: OpenApiResponse(description="Wrong username or password."),
            429: OpenApiResponse(
                description="The username is locked after repeated failed sign-ins "
                "(Retry-After gives the seconds left)."
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        # The sign-in lock-out (accounts.lockout) counts these attempts too.
        username = (
            request.data.get("username") if hasattr(request.data, "get") else None
        )
        if isinstance(username, str) and _locked(request, username):
            return _locked_response(request)
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):  # this failure locked
                return _locked_response(request)
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        event_record(
            kind=AuditEvent.Kind.LOGIN,
            user=user,
            request=request,
            details={"via": "api_token"},
        )
        return Response({"token": token.key})


def _locked(request, username: str) -> bool:
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.update_request(request)
    return AxesProxyHandler.is_locked(request, {"username": username})


def _locked_response(request) -> Response:
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 3600
    return Response(
        {
            "detail": "Account locked: too many failed sign-ins. "
            f"Try again in {max(1, seconds // 60)} minutes or ask an administrator."
        },
        status=429,
        headers={"Retry-After": str(seconds)},
    )
