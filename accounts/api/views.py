"""API authentication: exchange a username and password for a token; list and
revoke one's own tokens."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services, signals, signin
from ..models import ApiToken
from ..signin import USERNAME_LIMIT


class TokenRequestSerializer(serializers.Serializer):
    """Input only: the credentials and an optional name for the token."""

    username = serializers.CharField(max_length=USERNAME_LIMIT)
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class TokenSerializer(serializers.ModelSerializer):
    """A token as its owner sees it: never the secret."""

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created", "expires", "last_used"]


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The secret; shown only once.")

    class Meta(TokenSerializer.Meta):
        fields = ["token", *TokenSerializer.Meta.fields]


LOCKED = inline_serializer("LockedOut", {"detail": serializers.CharField()})


class ObtainTokenView(APIView):
    """``POST`` username and password; answers a new token or 400.

    Shares the sign-in lock-out of the login page: a locked name answers 429
    (JSON, ``Retry-After``) and each failure counts towards the lock. A
    success is an access event like a sign-in on the web ("Signed in", with
    ``via: api_token``) plus "API token created"; a failure is recorded by the
    authentication signal, as on the web."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: NewTokenSerializer,
            400: OpenApiResponse(description="Missing or wrong credentials."),
            429: OpenApiResponse(LOCKED, description="Locked out; see Retry-After."),
        },
    )
    def post(self, request, *args, **kwargs):
        # The sign-in lock-out (accounts.lockout) counts these attempts too.
        username = (
            request.data.get("username") if hasattr(request.data, "get") else None
        )
        if isinstance(username, str) and _locked(request, username):
            return _locked_response(request)
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(
            request=request, username=data["username"], password=data["password"]
        )
        if user is None:
            if getattr(request, "axes_locked_out", False):  # this failure locked
                return _locked_response(request)
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]},
                code="authorization",
            )
        signin.signed_in(user.get_username())
        signals.announce(
            signals.LOGIN,
            user=user,
            request=request,
            details={"via": "api_token"},
        )
        token, secret = services.api_token_create(
            user=user, name=data.get("name", ""), request=request
        )
        body = TokenSerializer(token).data
        return Response({"token": secret, **body})


class TokenListView(APIView):
    """``GET``: the signed-in user's own tokens (never their secrets)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request):
        tokens = selectors.api_tokens_of(request.user)
        return Response(TokenSerializer(tokens, many=True).data)


class TokenDetailView(APIView):
    """``DELETE``: revoke one of one's own tokens (another's answers 404)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={204: None, 404: OpenApiResponse(description="Not found.")}
    )
    def delete(self, request, pk: int):
        token = get_object_or_404(selectors.api_tokens_of(request.user), pk=pk)
        services.api_token_revoke(actor=request.user, token=token, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


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
