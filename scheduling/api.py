"""The schedule of a portfolio in the API: ``GET /api/v1/portfolios/<slug>/schedule/``
(route ``api:portfolio-schedule``)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.base import RestrictedViewSet
from milestones.models import Portfolio

from . import selectors
from . import serializers as ss


class PortfolioScheduleViewSet(RestrictedViewSet):
    """The schedule action of the portfolios resource (its list and detail
    are the milestones app's)."""

    queryset = Portfolio.objects.all()
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    @extend_schema(
        summary="Schedule: critical path, slips, completion odds, bottlenecks",
        description=(
            "Computed over the whole portfolio (a milestone outside your scope "
            "still moves yours); lists only the milestones you may see. "
            "Dates are ISO days, floats and slips whole days, probabilities "
            "0 to 1. See the README's schedule section."
        ),
        parameters=[
            OpenApiParameter(
                "iterations",
                OpenApiTypes.INT,
                description=ss.ScheduleQuery().fields["iterations"].help_text or "",
            )
        ],
        responses={
            200: ss.PortfolioScheduleSerializer,
            400: OpenApiResponse(description="Invalid input: field errors."),
            404: OpenApiResponse(description="No such object in the user's scope."),
            409: OpenApiResponse(description="The stored dependencies form a cycle."),
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def schedule(self, request, slug=None):
        portfolio = self.get_object()
        query = ss.ScheduleQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        bundle = selectors.portfolio_schedule(
            request.user, portfolio, iterations=query.validated_data["iterations"]
        )
        return Response(ss.PortfolioScheduleSerializer(bundle).data)
