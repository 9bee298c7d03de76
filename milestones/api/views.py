"""API v1 of the milestones app: thin viewsets over the policy and the services.

Every viewset inherits ``accounts.api.base.RestrictedViewSet``: lists show the
rows the user may see, detail routes answer 404 out of scope and 403 for an
action the user may not take, writes parse an input serializer and call one
service of ``milestones.services``.
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from accounts.api.base import RestrictedViewSet
from accounts.roles import CHANGE

from .. import selectors, services
from ..filtersets import (
    DependencyFilterSet,
    KPIFilterSet,
    KPIMeasurementFilterSet,
    MilestoneFilterSet,
    PortfolioFilterSet,
    ProgressUpdateFilterSet,
    StrategicObjectiveFilterSet,
)
from ..models import (
    KPI,
    Dependency,
    KPIMeasurement,
    Milestone,
    Portfolio,
    ProgressUpdate,
    StrategicObjective,
)
from ..querysets import MilestoneQuerySet
from . import serializers as s

BAD_INPUT = OpenApiResponse(description="Invalid input: field errors.")
FORBIDDEN = OpenApiResponse(description="The user may not take this action.")
NOT_FOUND = OpenApiResponse(description="No such object in the user's scope.")
STALE = OpenApiResponse(description="Stale `version`: nothing was changed.")
MEASUREMENT_PARAMETERS = [
    OpenApiParameter(name, OpenApiTypes.DATE, description=text)
    for name, text in (
        ("measured_after", "Measured on or after this date."),
        ("measured_before", "Measured on or before this date."),
    )
]


def write_responses(ok: int, serializer, *, stale: bool = False) -> dict:
    responses = {ok: serializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND}
    if stale:
        responses[409] = STALE
    return responses


@extend_schema_view(
    list=extend_schema(summary="Portfolios in scope"),
    retrieve=extend_schema(summary="One portfolio with its weighted categories"),
)
class PortfolioViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet
):
    """Portfolios, looked up by slug, with their categories and weights."""

    queryset = Portfolio.objects.prefetch_related("categories")
    serializer_class = s.PortfolioSerializer
    filterset_class = PortfolioFilterSet
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    object_actions = {**RestrictedViewSet.object_actions, "categories": CHANGE}

    @extend_schema(
        summary="Create a portfolio (with the five default categories)",
        request=s.PortfolioCreateInput,
        responses=write_responses(201, s.PortfolioSerializer),
    )
    def create(self, request):
        data = self.validated_input(s.PortfolioCreateInput)
        portfolio = services.portfolio_create(actor=request.user, **data)
        return self.respond(portfolio, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Replace the categories and weights (sum 100, reason required)",
        request=s.CategoriesInput,
        responses=write_responses(200, s.PortfolioSerializer),
    )
    @action(detail=True, methods=["put"])
    def categories(self, request, slug=None):
        portfolio = self.get_object()
        data = self.validated_input(s.CategoriesInput)
        services.categories_set(
            actor=request.user,
            portfolio=portfolio,
            categories=data["categories"],
            reason=data["reason"],
        )
        return self.respond(portfolio)


@extend_schema_view(
    list=extend_schema(summary="Strategic objectives in scope"),
    retrieve=extend_schema(summary="One strategic objective"),
)
class ObjectiveViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet
):
    """Strategic objectives that milestones align to."""

    queryset = StrategicObjective.objects.select_related("portfolio", "owner")
    serializer_class = s.ObjectiveSerializer
    filterset_class = StrategicObjectiveFilterSet

    @extend_schema(
        summary="Add an objective to a portfolio (portfolio managers)",
        request=s.ObjectiveCreateInput,
        responses=write_responses(201, s.ObjectiveSerializer),
    )
    def create(self, request):
        data = self.validated_input(s.ObjectiveCreateInput)
        objective = services.objective_create(actor=request.user, **data)
        return self.respond(objective, status_code=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="Milestones in scope, with schedule and budget"),
    retrieve=extend_schema(summary="One milestone"),
)
class MilestoneViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet
):
    """Milestones. Progress (status, percent, spend, forecast) changes only
    through progress updates; plans through ``PATCH`` with ``version``."""

    serializer_class = s.MilestoneSerializer
    filterset_class = MilestoneFilterSet
    filter_backends = [*RestrictedViewSet.filter_backends, OrderingFilter]
    ordering_fields = [
        "planned_completion",
        "planned_start",
        "name",
        "code",
        "status",
        "percent_complete",
        "approved_budget",
        "updated_at",
        "last_progress_at",
        "days_remaining",
        "delay_days",
        "budget_consumption_pct",
        "budget_overrun_pct",
    ]
    lookup_value_regex = r"\d+"

    def get_base_queryset(self) -> QuerySet:
        return Milestone.objects.select_related(
            "portfolio", "category", "org_unit", "owner"
        ).with_figures()

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Milestone.objects.none()
        # The shared selector: restricted, joined, figures computed in the DB;
        # a list joins the related rows' names for the page's rows only.
        return selectors.milestone_list(
            self.request.user, related=self.action != "list"
        )

    def page_queryset(self, queryset: QuerySet) -> QuerySet:
        if self.action == "list":
            assert isinstance(queryset, MilestoneQuerySet)
            return selectors.with_related_names(queryset)
        return queryset

    @extend_schema(
        summary="Plan a milestone (portfolio managers)",
        request=s.MilestoneCreateInput,
        responses=write_responses(201, s.MilestoneSerializer),
    )
    def create(self, request):
        data = self.validated_input(s.MilestoneCreateInput)
        milestone = services.milestone_create(actor=request.user, **data)
        return self.respond(milestone, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a milestone's plan (version required; baseline needs reason)",
        request=s.MilestoneUpdateInput,
        responses=write_responses(200, s.MilestoneSerializer, stale=True),
    )
    def partial_update(self, request, pk=None):
        milestone = self.get_object()
        data = self.validated_input(s.MilestoneUpdateInput, partial=True)
        version = data.pop("version")
        reason = data.pop("reason", "")
        milestone = services.milestone_update(
            actor=request.user,
            milestone=milestone,
            expected_version=version,
            reason=reason,
            **data,
        )
        return self.respond(milestone)


@extend_schema_view(
    list=extend_schema(summary="Dependencies between milestones in scope"),
    retrieve=extend_schema(summary="One dependency"),
)
class DependencyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet
):
    """Links between milestones of one portfolio; cycles are refused."""

    queryset = Dependency.objects.select_related(
        "predecessor", "successor__portfolio"
    ).order_by("pk")
    serializer_class = s.DependencySerializer
    filterset_class = DependencyFilterSet
    lookup_value_regex = r"\d+"

    @extend_schema(
        summary="Link two milestones (plan changers of the successor)",
        request=s.DependencyCreateInput,
        responses=write_responses(201, s.DependencySerializer),
    )
    def create(self, request):
        data = self.validated_input(s.DependencyCreateInput)
        dependency = services.dependency_add(actor=request.user, **data)
        return self.respond(dependency, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a dependency's type or lag",
        request=s.DependencyUpdateInput,
        responses=write_responses(200, s.DependencySerializer),
    )
    def partial_update(self, request, pk=None):
        dependency = self.get_object()
        data = self.validated_input(s.DependencyUpdateInput, partial=True)
        dependency = services.dependency_update(
            actor=request.user, dependency=dependency, **data
        )
        return self.respond(dependency)

    @extend_schema(
        summary="Remove a dependency",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def destroy(self, request, pk=None):
        dependency = self.get_object()
        services.dependency_remove(actor=request.user, dependency=dependency)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Progress updates in scope (newest first)"),
    retrieve=extend_schema(summary="One progress update"),
)
class ProgressUpdateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet
):
    """Progress updates: immutable once submitted (no PUT, PATCH or DELETE)."""

    queryset = ProgressUpdate.objects.select_related("author")
    serializer_class = s.ProgressUpdateSerializer
    filterset_class = ProgressUpdateFilterSet
    lookup_value_regex = r"\d+"

    @extend_schema(
        summary="Submit a progress update on a milestone",
        description=(
            "Send the milestone `version` you read. A stale version answers "
            "409 and changes nothing; on success the milestone's version is "
            "`milestone_version + 1`. Omitted `estimate_at_completion` and "
            "`forecast_completion` keep the milestone's values (null clears). "
            "Evidence may be attached as multipart `evidence`."
        ),
        request={
            "application/json": s.ProgressUpdateInput,
            "multipart/form-data": s.ProgressUpdateInput,
        },
        responses=write_responses(201, s.ProgressUpdateSerializer, stale=True),
    )
    def create(self, request):
        data = self.validated_input(s.ProgressUpdateInput)
        milestone = data.pop("milestone")
        version = data.pop("version")
        # A report states the whole forecast: omitted figures carry over (send
        # null to clear one). With a stale version the service answers 409.
        for field in ("estimate_at_completion", "forecast_completion"):
            data.setdefault(field, getattr(milestone, field))
        update = services.milestone_submit_update(
            actor=request.user,
            milestone=milestone,
            expected_version=version,
            **data,
        )
        return self.respond(update, status_code=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="KPIs in scope with their latest value"),
    retrieve=extend_schema(summary="One KPI with its latest value"),
)
class KPIViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    """KPIs of portfolios, objectives and milestones; measurements are nested."""

    serializer_class = s.KPISerializer
    filterset_class = KPIFilterSet
    lookup_value_regex = r"\d+"

    def get_base_queryset(self) -> QuerySet:
        latest = KPIMeasurement.objects.filter(kpi=OuterRef("pk")).order_by(
            "-measured_on"
        )
        return KPI.objects.select_related("portfolio").annotate(
            latest_value=Subquery(latest.values("value")[:1]),
            latest_measured_on=Subquery(latest.values("measured_on")[:1]),
        )

    @extend_schema(
        summary="Define a KPI (portfolio managers)",
        request=s.KPICreateInput,
        responses=write_responses(201, s.KPISerializer),
    )
    def create(self, request):
        data = self.validated_input(s.KPICreateInput)
        kpi = services.kpi_create(actor=request.user, **data)
        return self.respond(kpi, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        summary="A KPI's measurements, newest first",
        parameters=MEASUREMENT_PARAMETERS,
        responses=s.KPIMeasurementSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Record a KPI measurement",
        request=s.KPIMeasurementInput,
        responses=write_responses(201, s.KPIMeasurementSerializer),
    )
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=s.KPIMeasurementSerializer,
        # The KPI filters do not apply here; measurements have their own.
        filter_backends=[],
    )
    def measurements(self, request, pk=None):
        kpi = self.get_object()
        if request.method == "POST":
            data = self.validated_input(s.KPIMeasurementInput)
            measurement = services.kpi_record(actor=request.user, kpi=kpi, **data)
            return Response(
                s.KPIMeasurementSerializer(measurement).data,
                status=status.HTTP_201_CREATED,
            )
        rows = KPIMeasurementFilterSet(
            request.query_params, queryset=kpi.measurements.all(), request=request
        )
        if not rows.is_valid():
            return Response(rows.errors, status=status.HTTP_400_BAD_REQUEST)
        page = self.paginate_queryset(rows.qs.order_by("-measured_on", "-pk"))
        data = s.KPIMeasurementSerializer(page, many=True).data
        return self.get_paginated_response(data)
