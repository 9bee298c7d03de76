"""The base of every Cairn API viewset and input serializer, scoped by the policy.

:class:`RestrictedViewSet`
    - lists are ``restrict(user, "view")`` of :meth:`get_base_queryset` (DRF's
      object permissions alone never filter a list);
    - a detail route fetches through ``policy.get_for_user`` with the policy
      action the viewset action needs (:attr:`object_actions`): an object the
      user may not see answers 404, one they see but may not act on 403;
    - writes parse an input serializer (:meth:`validated_input`), call one
      service and answer the output serializer (:meth:`respond`); services'
      ``DomainError`` becomes 400/403/404/409 in ``portal.api``.

:class:`InputSerializer` / :class:`InputModelSerializer`
    Validate input only and never save. A key the serializer does not declare
    (``id``, ``version`` where it is not an input, a read-only field...) is
    refused with 400 naming it, so a client never believes a silently dropped
    field was applied.

:class:`ScopedPrimaryKeyRelatedField` / :class:`ScopedSlugRelatedField`
    Related inputs whose choices are the rows the user may see (or act on):
    an id outside scope is "does not exist" (400), like a missing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from accounts import policy
from accounts.roles import CHANGE, VIEW

# Keys a browser form adds to a body; never data.
TRANSPORT_KEYS = frozenset({"csrfmiddlewaretoken"})
NOT_WRITABLE = "This field cannot be set here."


class Pagination(PageNumberPagination):
    """``?page=N`` (100 per page by default); ``?page_size=`` up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500


# Related fields ------------------------------------------------------------


if TYPE_CHECKING:
    _RelatedField = serializers.RelatedField[Any, Any, Any]
else:
    _RelatedField = object


class ScopedRelatedFieldMixin(_RelatedField):
    """Limit a related field's choices to the rows the requesting user may
    take ``policy_action`` on."""

    def __init__(self, *, policy_action: str = VIEW, **kwargs: Any) -> None:
        self.policy_action = policy_action
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any, Any]:
        queryset = super().get_queryset()
        assert queryset is not None  # a scoped (writable) field names its rows
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return policy.restrict(queryset, user, self.policy_action)


class ScopedPrimaryKeyRelatedField(
    ScopedRelatedFieldMixin, serializers.PrimaryKeyRelatedField
):
    pass


class ScopedSlugRelatedField(ScopedRelatedFieldMixin, serializers.SlugRelatedField):
    pass


# Input serializers -----------------------------------------------------------


class StrictInputMixin:
    """Refuse undeclared keys with 400 instead of silently dropping them.

    ``refused`` maps a known-but-not-writable key to a friendlier message (for
    example where to change it instead).
    """

    refused: ClassVar[dict[str, str]] = {}

    def to_internal_value(self, data):
        errors: dict[str, list[str]] = {}
        if hasattr(data, "keys"):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            for key in sorted(set(data.keys()) - writable - TRANSPORT_KEYS):
                errors[key] = [self.refused.get(key, NOT_WRITABLE)]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def create(self, validated_data):
        raise NotImplementedError("Input serializers never save: call a service.")

    def update(self, instance, validated_data):
        raise NotImplementedError("Input serializers never save: call a service.")


class InputSerializer(StrictInputMixin, serializers.Serializer):
    """A write's input: parsed and type-checked here, decided by a service."""


class InputModelSerializer(StrictInputMixin, serializers.ModelSerializer):
    """An input serializer that borrows field types and validators from a model.

    Related fields must be declared as scoped fields; ``save()`` is refused.
    """


# Viewsets ----------------------------------------------------------------


class RestrictedViewSet(GenericViewSet):
    """A viewset whose every read goes through the access policy.

    Subclasses set ``queryset`` (with its ``select_related`` /
    ``prefetch_related`` / annotations, or override :meth:`get_base_queryset`),
    ``serializer_class`` (the output), ``filterset_class``, and mix in DRF's
    list/retrieve mixins; writes are explicit methods calling a service.
    """

    filter_backends = [DjangoFilterBackend]
    pagination_class = Pagination
    #: The policy action a viewset action needs on its object (default view).
    object_actions: ClassVar[dict[str, str]] = {
        "update": CHANGE,
        "partial_update": CHANGE,
        "destroy": CHANGE,
    }

    def get_base_queryset(self) -> QuerySet:
        """Every row with what the output serializer reads; not yet scoped."""
        return super().get_queryset()

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.get_base_queryset().none()
        return policy.restrict(self.get_base_queryset(), self.request.user, VIEW)

    def policy_action(self) -> str:
        return self.object_actions.get(self.action, VIEW)

    def get_object(self) -> Model:
        """The object of a detail route: 404 if out of scope, 403 if the user
        may see it but not take this action."""
        kwarg = self.lookup_url_kwarg or self.lookup_field
        obj = policy.get_for_user(
            self.get_base_queryset(),
            self.request.user,
            self.policy_action(),
            **{self.lookup_field: self.kwargs[kwarg]},
        )
        self.check_object_permissions(self.request, obj)
        return obj

    def validated_input(
        self,
        serializer_class: type[serializers.Serializer],
        *,
        partial: bool = False,
        **context: Any,
    ) -> dict[str, Any]:
        """Parse the request body with an input serializer (400 if invalid)."""
        serializer = serializer_class(
            data=self.request.data,
            partial=partial,
            context={**self.get_serializer_context(), **context},
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def respond(
        self,
        obj: Model,
        *,
        status_code: int = status.HTTP_200_OK,
        serializer_class: type[serializers.BaseSerializer[Any]] | None = None,
    ) -> Response:
        """Answer ``obj`` as the list and detail routes show it (re-read with
        the base queryset's joins and annotations)."""
        fresh = self.get_base_queryset().get(pk=obj.pk)
        serializer_class = serializer_class or self.get_serializer_class()
        data = serializer_class(fresh, context=self.get_serializer_context()).data
        return Response(data, status=status_code)
