"""API v1 of the risks app: risks, issues and escalations.

Viewsets inherit ``accounts.api.base.RestrictedViewSet``: lists show the rows
the user may see, detail routes answer 404 out of scope and 403 for an action
the user may not take, writes parse an input serializer and call one service
of ``risks.services``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action

from accounts.api.base import RestrictedViewSet
from accounts.roles import UPDATE, VIEW

from .. import services
from ..filtersets import EscalationFilterSet, IssueFilterSet, RiskFilterSet
from ..models import Escalation, Issue, Risk
from . import serializers as s

BAD_INPUT = OpenApiResponse(description="Invalid input: field errors.")
FORBIDDEN = OpenApiResponse(description="The user may not take this action.")
NOT_FOUND = OpenApiResponse(description="No such object in the user's scope.")


def write_responses(ok: int, serializer) -> dict:
    return {ok: serializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND}


@extend_schema_view(
    list=extend_schema(summary="Risks in scope (the risk register)"),
    retrieve=extend_schema(summary="One risk"),
)
class RiskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    """The risk register. Score and severity follow from probability x impact."""

    queryset = Risk.objects.select_related("portfolio", "owner")
    serializer_class = s.RiskSerializer
    filterset_class = RiskFilterSet
    lookup_value_regex = r"\d+"
    object_actions = {"partial_update": UPDATE, "update": UPDATE}

    @extend_schema(
        summary="Log a risk (anyone who may submit progress there)",
        request=s.RiskInput,
        responses=write_responses(201, s.RiskSerializer),
    )
    def create(self, request):
        data = self.validated_input(s.RiskInput)
        risk = services.risk_create(actor=request.user, **data)
        return self.respond(risk, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a risk (re-scored from probability and impact)",
        request=s.RiskUpdateInput,
        responses=write_responses(200, s.RiskSerializer),
    )
    def partial_update(self, request, pk=None):
        risk = self.get_object()
        data = self.validated_input(s.RiskUpdateInput, partial=True)
        risk = services.risk_update(actor=request.user, risk=risk, **data)
        return self.respond(risk)


@extend_schema_view(
    list=extend_schema(summary="Issues (blockers) in scope"),
    retrieve=extend_schema(summary="One issue"),
)
class IssueViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    """Issues and blockers, with the milestones they hold up."""

    queryset = Issue.objects.select_related("portfolio", "owner").prefetch_related(
        "milestones"
    )
    serializer_class = s.IssueSerializer
    filterset_class = IssueFilterSet
    lookup_value_regex = r"\d+"
    object_actions = {"partial_update": UPDATE, "update": UPDATE, "resolve": UPDATE}

    def get_queryset(self):
        # Filtering through the milestones relation must not repeat an issue.
        return super().get_queryset().distinct()

    @extend_schema(
        summary="Log an issue (anyone who may submit progress on its milestones)",
        request=s.IssueInput,
        responses=write_responses(201, s.IssueSerializer),
    )
    def create(self, request):
        data = self.validated_input(s.IssueInput)
        issue = services.issue_create(actor=request.user, **data)
        return self.respond(issue, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit an issue (milestones replaces the links)",
        request=s.IssueUpdateInput,
        responses=write_responses(200, s.IssueSerializer),
    )
    def partial_update(self, request, pk=None):
        issue = self.get_object()
        data = self.validated_input(s.IssueUpdateInput, partial=True)
        issue = services.issue_update(actor=request.user, issue=issue, **data)
        return self.respond(issue)

    @extend_schema(
        summary="Resolve an issue (its escalations close)",
        request=s.IssueResolveInput,
        responses=write_responses(200, s.IssueSerializer),
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        issue = self.get_object()
        data = self.validated_input(s.IssueResolveInput)
        issue = services.issue_resolve(actor=request.user, issue=issue, **data)
        return self.respond(issue)


@extend_schema_view(
    list=extend_schema(summary="Escalations in scope"),
    retrieve=extend_schema(summary="One escalation"),
)
class EscalationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet
):
    """Escalations the sweep opened. Only the sweep opens and resolves them;
    the target role acknowledges."""

    queryset = Escalation.objects.select_related("rule", "portfolio", "acknowledged_by")
    serializer_class = s.EscalationSerializer
    filterset_class = EscalationFilterSet
    lookup_value_regex = r"\d+"
    # Acknowledging is decided by the target role (in the service), not an action.
    object_actions = {"acknowledge": VIEW}

    @extend_schema(
        summary="Acknowledge an open escalation (its target role)",
        request=s.AcknowledgeInput,
        responses=write_responses(200, s.EscalationSerializer),
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        escalation = self.get_object()
        self.validated_input(s.AcknowledgeInput)
        escalation = services.escalation_acknowledge(
            actor=request.user, escalation=escalation
        )
        return self.respond(escalation)
