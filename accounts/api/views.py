"""API authentication: exchange a username and password for a token."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
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
        responses=inline_serializer(
            "TokenResponse", {"token": serializers.CharField()}
        ),
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        event_record(
            kind=AuditEvent.Kind.LOGIN,
            user=user,
            request=request,
            details={"via": "api_token"},
        )
        return Response({"token": token.key})
