"""API v1 of the reporting app: the audit trail (``/api/v1/history/``) and
the one status of a portfolio (``/api/v1/portfolios/<slug>/status/``).

The trail is read-only and scoped like the ``/audit/`` page
(``portal.audit.AuditReach``); filtered by the same form; keyset-paginated:
follow ``next``.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import audit

from .. import selectors, trail
from ..audit_forms import TrailFilterForm
from . import serializers as s

PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, description="On or after this day."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="On or before this day."),
    OpenApiParameter("user", OpenApiTypes.STR, description="Who acted (username)."),
    OpenApiParameter("portfolio", OpenApiTypes.STR, description="Portfolio slug."),
    OpenApiParameter(
        "model",
        OpenApiTypes.STR,
        description="`app.model` (`milestones.milestone`)"
        " or `access` for access events.",
    ),
    OpenApiParameter("object", OpenApiTypes.INT, description="Object id (with model)."),
    OpenApiParameter(
        "field", OpenApiTypes.STR, description="Only entries where this field changed."
    ),
    OpenApiParameter("after", OpenApiTypes.STR, description="Cursor from `next`."),
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description=f"Entries per page (default {trail.PAGE_SIZE}, at most "
        f"{trail.MAX_PAGE_SIZE}).",
    ),
]


class LimitSerializer(drf_serializers.Serializer):
    limit = drf_serializers.IntegerField(
        required=False, min_value=1, max_value=trail.MAX_PAGE_SIZE
    )


class HistoryView(APIView):
    """Every change and access event the user may see, newest first."""

    @extend_schema(
        operation_id="history_list",
        parameters=PARAMETERS,
        responses={
            200: s.HistoryPageSerializer,
            400: OpenApiResponse(description="Invalid filters: field errors."),
        },
    )
    def get(self, request):
        form = TrailFilterForm(request.query_params, reader=request.user)
        limit = LimitSerializer(data=request.query_params)
        valid = form.is_valid()
        if not limit.is_valid() or not valid:
            return Response({**form.errors_dict(), **limit.errors}, status=400)
        page = trail.trail_page(
            audit.AuditReach.of(request.user),
            form.filters(),
            after=form.cleaned_data["after"],
            size=limit.validated_data.get("limit", trail.PAGE_SIZE),
        )
        next_url = None
        if page.next_cursor is not None:
            query = request.query_params.copy()
            query["after"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        body = s.HistoryPageSerializer({"next": next_url, "results": page.entries})
        return Response(body.data)


class PortfolioStatusView(APIView):
    """The one status of a portfolio, its categories and the milestones the
    user may view, each with its reason (``reporting.status``)."""

    @extend_schema(
        operation_id="portfolio_status",
        summary="Status: green, amber, red or no data, with the reason",
        responses={
            200: s.PortfolioStatusSerializer,
            404: OpenApiResponse(description="No such portfolio in your scope."),
        },
    )
    def get(self, request, slug: str):
        portfolio = selectors.portfolio_for(request.user, slug)
        return Response(
            s.PortfolioStatusSerializer(
                selectors.status_summary(request.user, portfolio)
            ).data
        )
