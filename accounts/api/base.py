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

import decimal
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Page
from django.db.models import Func, IntegerField, Model, QuerySet, Subquery
from django.db.models.expressions import Star
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.relations import PrimaryKeyRelatedField
from rest_framework.response import Response
from rest_framework.settings import ISO_8601, api_settings  # type: ignore[attr-defined]  # the stubs omit the constant
from rest_framework.viewsets import GenericViewSet

from accounts import policy
from accounts.roles import CHANGE, VIEW
from portal.filters import FilterSet

# Keys a browser form adds to a body; never data.
TRANSPORT_KEYS = frozenset({"csrfmiddlewaretoken"})
NOT_WRITABLE = "This field cannot be set here."


class Pagination(PageNumberPagination):
    """``?page=N`` (100 per page by default); ``?page_size=`` up to 500.

    A page of a plain queryset (ordered; no DISTINCT, grouping or aggregate
    annotation) is one query instead of two: the rows of the page are those
    whose id is in the ordered window of ids (``LIMIT``/``OFFSET`` over the
    ids alone, so joins and computed columns are only evaluated for the rows
    shown), and the total comes with them as an uncorrelated subquery the
    database evaluates once. A page past the end answers 404 ("Invalid
    page.") as before; ``?page=last`` and other querysets take DRF's way
    (a ``COUNT`` query, then the page).
    """

    page_size_query_param = "page_size"
    max_page_size = 500
    #: The annotation carrying the total on each row of a one-query page.
    count_column = "pagination_total_"
    # Far beyond any table; an offset past it would overflow the database's
    # 64-bit integers (a 500, where a page past the end is a 404).
    max_offset = 2**62

    def paginate_queryset(self, queryset, request, view=None):
        page_size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param) or 1
        shown = getattr(view, "page_queryset", _identity)
        if (
            not page_size
            or raw in self.last_page_strings
            or not self.counts_in_page(queryset)
        ):
            return super().paginate_queryset(shown(queryset), request, view)
        self.request = request
        try:
            number = int(raw)
        except (TypeError, ValueError):
            number = 0
        offset = (number - 1) * page_size
        if number < 1 or offset > self.max_offset:
            raise self.invalid_page(raw)
        rows = list(self.page_rows(queryset, offset, page_size, shown))
        if not rows and number > 1:
            raise self.invalid_page(raw)
        paginator = self.django_paginator_class(queryset, page_size)
        # Paginator.count is a cached property: the total is already known.
        paginator.count = getattr(rows[0], self.count_column) if rows else 0
        self.page = Page(rows, number, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return rows

    def invalid_page(self, raw) -> NotFound:
        return NotFound(self.invalid_page_message.format(page_number=raw, message=""))

    @staticmethod
    def counts_in_page(queryset) -> bool:
        if not isinstance(queryset, QuerySet) or not queryset.ordered:
            return False
        query = queryset.query
        return not (
            query.distinct
            or query.group_by
            or query.combinator
            or query.is_sliced
            or any(
                getattr(a, "contains_aggregate", False)
                or getattr(a, "contains_over_clause", False)
                for a in query.annotations.values()
            )
        )

    def page_rows(
        self,
        queryset: QuerySet,
        offset: int,
        size: int,
        shown: Callable[[QuerySet], QuerySet] | None = None,
    ) -> QuerySet:
        """The page's rows, each annotated with the total (one query).
        ``shown`` adds what only the rows shown need (joins for names), so
        the window and the total do without it."""
        window = queryset.values("pk")[offset : offset + size]
        # COUNT(*), not COUNT(id): an index without the id (the policy's
        # scope index) can then answer it alone.
        total = queryset.order_by().values(
            total=Func(Star(), function="COUNT", output_field=IntegerField())
        )
        rows = queryset.filter(pk__in=window)
        if shown is not None:
            rows = shown(rows)
        return rows.annotate(
            **{self.count_column: Subquery(total, output_field=IntegerField())}
        )


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


# Output serializers ----------------------------------------------------------

_SKIP = object()


# DRF's ``to_representation`` for wide lists, without its per-field
# machinery: a plan (how to read and convert each field) is made once per
# serializer and applied to every row, giving the same output. Per field
# of 100 rows DRF looks the attribute up through ``get_attribute`` with its
# exception handling, checks for callables and copies the decimal context;
# a list of 40-odd fields spends more time there than in the database.
#
# Plain attributes the ORM set (columns, annotations) are read directly;
# a relation shown as its id reads the foreign key column; decimals are
# quantized with a context made once; anything else (dotted sources
# through a missing object, method fields, defaults) goes through the
# field as DRF would.
# (A comment, not a docstring: the API schema would show a docstring as
# the description of every serializer using the mixin.)
class FastRepresentationMixin:
    #: Field name -> (attribute, reader): where a row carries ``attribute``
    #: (a column its selector annotated), ``reader(row)`` is the field's
    #: output, instead of reading a related object.
    column_readers: ClassVar[dict[str, tuple[str, Callable]]] = {}

    def to_representation(self, instance):
        plan = getattr(self, "_fast_plan", None)
        if plan is None:
            plan = self._fast_plan = [
                (field.field_name, *self._fast_reader(field, instance))
                for field in self._readable_fields
            ]
        ret = {}
        for name, read, convert in plan:
            value = read(instance)
            if value is _SKIP:
                continue
            ret[name] = None if value is None else convert(value)
        return ret

    def _fast_reader(self, field, instance) -> tuple[Callable, Callable]:
        column = self.column_readers.get(field.field_name)
        if column is not None and column[0] in vars(instance):
            return column[1], _identity
        attrs = field.source_attrs
        model_field = None
        if len(attrs) == 1 and hasattr(instance, "_meta"):
            try:
                model_field = instance._meta.get_field(attrs[0])
            except Exception:  # noqa: BLE001 - not a model field (annotation)
                model_field = None
        if (
            isinstance(field, PrimaryKeyRelatedField)
            and field.pk_field is None
            and field.use_pk_only_optimization()
            and model_field is not None
            and model_field.is_relation
            and model_field.concrete
        ):
            attname = model_field.attname
            return (lambda obj: getattr(obj, attname)), _identity
        if (
            len(attrs) == 1
            and attrs[0] in vars(instance)
            and not isinstance(field, serializers.RelatedField)
            and not callable(vars(instance)[attrs[0]])
        ):
            attr = attrs[0]
            return (lambda obj: getattr(obj, attr)), _converter(field)
        generic = _generic_reader(field)
        if len(attrs) > 1 and not isinstance(field, serializers.RelatedField):
            # Through related rows the query joined (``category.name``); a
            # missing one goes the field's way (default, null or skipped).
            def read(obj):
                value = obj
                try:
                    for attr in attrs:
                        value = getattr(value, attr)
                except (AttributeError, ObjectDoesNotExist):
                    return generic(obj)
                return generic(obj) if callable(value) else value

            return read, _converter(field)
        return generic, field.to_representation


def _identity(value):
    return value


def _generic_reader(field) -> Callable:
    def read(obj):
        try:
            attribute = field.get_attribute(obj)
        except serializers.SkipField:
            return _SKIP
        if isinstance(attribute, serializers.PKOnlyObject):
            return None if attribute.pk is None else attribute
        return attribute

    return read


def _converter(field) -> Callable:
    if (
        type(field) is serializers.DecimalField
        and field.decimal_places is not None
        and getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        and not field.localize
        and not field.normalize_output
    ):
        context = decimal.getcontext().copy()
        if field.max_digits is not None:
            context.prec = field.max_digits
        exponent = decimal.Decimal(".1") ** field.decimal_places
        rounding = field.rounding

        def as_decimal_text(value):
            if not isinstance(value, decimal.Decimal):
                value = decimal.Decimal(str(value).strip())
            return f"{value.quantize(exponent, rounding=rounding, context=context):f}"

        return as_decimal_text
    kind = type(field)
    if kind is serializers.IntegerField:
        return int
    if kind is serializers.CharField:
        return str
    if kind is serializers.ChoiceField:
        slow, lookup = field.to_representation, field.choice_strings_to_values
        return lambda value: (
            lookup.get(value, value) if type(value) is str and value else slow(value)
        )
    if kind is serializers.BooleanField:
        slow = field.to_representation
        return lambda value: value if type(value) is bool else slow(value)
    if kind is serializers.DateField and _iso(field, api_settings.DATE_FORMAT):
        slow = field.to_representation
        return lambda value: value.isoformat() if type(value) is date else slow(value)
    if kind is serializers.DateTimeField and _iso(field, api_settings.DATETIME_FORMAT):
        zone = (
            field.timezone if hasattr(field, "timezone") else field.default_timezone()
        )
        if zone is not None:
            return _iso_datetime(zone, field.to_representation)
    return field.to_representation


def _iso(field, default: str | None) -> bool:
    output_format = getattr(field, "format", default)
    return output_format is not None and output_format.lower() == ISO_8601


def _iso_datetime(zone, slow: Callable) -> Callable:
    """DRF's ISO 8601 text of an aware datetime in ``zone`` ("Z" for UTC)."""

    def as_text(value):
        if type(value) is not datetime or value.tzinfo is None:
            return slow(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return as_text


# Filters -------------------------------------------------------------------


class QueryFilterBackend(DjangoFilterBackend):
    """django-filter's backend; a list validates only the filters its query
    names (``portal.filters.FilterSet(given_only=True)``). The browsable
    API's filter form still shows every filter."""

    given_only = False

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        filterset_class = self.get_filterset_class(view, queryset)
        if (
            self.given_only
            and isinstance(filterset_class, type)
            and issubclass(filterset_class, FilterSet)
        ):
            kwargs["given_only"] = True
        return kwargs

    def filter_queryset(self, request, queryset, view):
        self.given_only = True
        return super().filter_queryset(request, queryset, view)


# Viewsets ----------------------------------------------------------------


class RestrictedViewSet(GenericViewSet):
    """A viewset whose every read goes through the access policy.

    Subclasses set ``queryset`` (with its ``select_related`` /
    ``prefetch_related`` / annotations, or override :meth:`get_base_queryset`),
    ``serializer_class`` (the output), ``filterset_class``, and mix in DRF's
    list/retrieve mixins; writes are explicit methods calling a service.
    """

    filter_backends = [QueryFilterBackend]
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

    def page_queryset(self, queryset: QuerySet) -> QuerySet:
        """The rows of a list page as shown: what only the rows shown need
        (``Pagination`` counts and windows the rows without it)."""
        return queryset

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
