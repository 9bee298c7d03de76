"""API v1 of the approvals flow: ``/api/v1/approvals/``.

Lists and details show the requests on milestones the user may see; ``POST``
asks for a change (``approval_request``), and the ``approve``, ``reject`` and
``withdraw`` actions call ``approval_decide`` / ``approval_withdraw``. The
services hold every rule, so the statuses are theirs: 404 for a request out of
scope, 403 for an approver deciding their own request or without approve
rights, 400 for a rejection without comment, 409 for a request already
decided (by someone else meanwhile, too) or a stale ``version``.
"""

from __future__ import annotations

from decimal import Decimal

import django_filters as filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action

from accounts.api.base import (
    InputSerializer,
    RestrictedViewSet,
    ScopedPrimaryKeyRelatedField,
)
from accounts.models import User
from milestones.filtersets import visible
from milestones.models import Milestone, Portfolio
from portal.filters import FilterSet, scoped_choice

from .. import selectors, services
from ..models import ApprovalDecision, ApprovalRequest

BAD_INPUT = OpenApiResponse(description="Invalid input: field errors.")
FORBIDDEN = OpenApiResponse(
    description="The user may see the request but not take this action (their "
    "own request, no approve rights, not the requester)."
)
NOT_FOUND = OpenApiResponse(description="No such request in the user's scope.")
CONFLICT = OpenApiResponse(
    description="Already decided or withdrawn (perhaps by someone else "
    "meanwhile), the milestone changed since `version`, or its baseline moved "
    "since the request: nothing was changed."
)


# Filters ---------------------------------------------------------------------


class ApprovalRequestFilterSet(FilterSet):
    status = filters.MultipleChoiceFilter(
        choices=ApprovalRequest.Status.choices, label="Status (repeat for several)"
    )
    kind = filters.ChoiceFilter(choices=ApprovalRequest.Kind.choices)
    milestone = scoped_choice(visible(Milestone))
    portfolio = scoped_choice(
        field_name="milestone__portfolio",
        to_field_name="slug",
        queryset=visible(Portfolio),
        label="Portfolio (slug)",
    )
    escalation = filters.NumberFilter(field_name="escalation_id")

    class Meta:
        model = ApprovalRequest
        fields = ["status", "kind", "milestone", "portfolio", "escalation"]


# Serializers -----------------------------------------------------------------


class ApprovalDecisionSerializer(serializers.ModelSerializer):
    approver_name = serializers.CharField(source="approver.__str__", read_only=True)

    class Meta:
        model = ApprovalDecision
        fields = [
            "id",
            "approver",
            "approver_name",
            "outcome",
            "comment",
            "decided_at",
            "authority_limit",
            "within_limit",
            "snapshot",
        ]
        read_only_fields = fields


class ApprovalRequestSerializer(serializers.ModelSerializer):
    milestone_name = serializers.CharField(source="milestone.name", read_only=True)
    portfolio = serializers.CharField(source="milestone.portfolio.slug", read_only=True)
    requested_by_name = serializers.SerializerMethodField()
    amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        read_only=True,
        help_text="What an approver's authority limit is compared with: "
        "|new - old approved budget| (0 when the budget does not change).",
    )
    awaiting_second = serializers.SerializerMethodField(
        help_text="Approved once above that approver's limit: waits for another."
    )
    decisions = ApprovalDecisionSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "milestone",
            "milestone_name",
            "portfolio",
            "kind",
            "status",
            "requested_by",
            "requested_by_name",
            "requested_at",
            "reason",
            "new_approved_budget",
            "new_planned_start",
            "new_planned_completion",
            "new_success_criteria",
            "new_weight",
            "new_requires_validation",
            "old_approved_budget",
            "old_planned_start",
            "old_planned_completion",
            "old_success_criteria",
            "old_weight",
            "old_requires_validation",
            "amount",
            "escalation_id",
            "escalation_summary",
            "decided_at",
            "awaiting_second",
            "decisions",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_requested_by_name(self, obj) -> str | None:
        return str(obj.requested_by) if obj.requested_by_id else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_awaiting_second(self, obj) -> bool:
        return selectors.awaiting_second(obj)


class ApprovalCreateInput(InputSerializer):
    """A request: the kind, why, and the new values (only those that change)."""

    milestone = ScopedPrimaryKeyRelatedField(queryset=Milestone.objects.all())
    kind = serializers.ChoiceField(choices=ApprovalRequest.Kind.choices)
    reason = serializers.CharField(max_length=4000)
    new_approved_budget = serializers.DecimalField(
        max_digits=16, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    new_planned_start = serializers.DateField(required=False, allow_null=True)
    new_planned_completion = serializers.DateField(required=False, allow_null=True)
    new_success_criteria = serializers.CharField(
        required=False, allow_blank=True, max_length=10000
    )
    new_weight = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
    )
    new_requires_validation = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="The completion gate (baseline change only).",
    )


class DecisionInput(InputSerializer):
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4000,
        help_text="Required to reject.",
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The milestone version you decided on (409 if it moved).",
    )


class WithdrawInput(InputSerializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=90)


# Viewset -------------------------------------------------------------------------


def _responses(ok: int) -> dict:
    return {
        ok: ApprovalRequestSerializer,
        400: BAD_INPUT,
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: CONFLICT,
    }


@extend_schema_view(
    list=extend_schema(summary="Approval requests in scope, newest first"),
    retrieve=extend_schema(summary="One approval request with its decisions"),
)
class ApprovalRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet
):
    """Reauthorizations, baseline changes and completion validations."""

    serializer_class = ApprovalRequestSerializer
    filterset_class = ApprovalRequestFilterSet
    lookup_value_regex = r"\d+"

    def get_base_queryset(self) -> QuerySet:
        decisions = ApprovalDecision.objects.select_related("approver").order_by(
            "decided_at", "pk"
        )
        return (
            ApprovalRequest.objects.select_related(
                "milestone__portfolio", "requested_by"
            )
            .prefetch_related(Prefetch("decisions", queryset=decisions))
            .order_by("-requested_at", "-pk")
        )

    @extend_schema(
        summary="Request a reauthorization, baseline change or completion "
        "validation (owners and portfolio managers)",
        request=ApprovalCreateInput,
        responses=_responses(201),
    )
    def create(self, request):
        data = self.validated_input(ApprovalCreateInput)
        approval = services.approval_request(actor=request.user, **data)
        return self.respond(approval, status_code=status.HTTP_201_CREATED)

    def _decide(self, outcome: str):
        approval = self.get_object()
        assert isinstance(approval, ApprovalRequest)
        data = self.validated_input(DecisionInput)
        decided = services.approval_decide(
            actor=user if isinstance(user := self.request.user, User) else None,
            approval=approval,
            outcome=outcome,
            comment=data.get("comment", ""),
            expected_version=data.get("version"),
        )
        return self.respond(decided)

    @extend_schema(
        summary="Approve (applies the change, or waits for a second executive "
        "above your authority limit)",
        request=DecisionInput,
        responses=_responses(200),
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(ApprovalDecision.Outcome.APPROVE)

    @extend_schema(
        summary="Reject (a comment is required; nothing changes)",
        request=DecisionInput,
        responses=_responses(200),
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(ApprovalDecision.Outcome.REJECT)

    @extend_schema(
        summary="Withdraw your pending request",
        request=WithdrawInput,
        responses=_responses(200),
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        approval = self.get_object()
        data = self.validated_input(WithdrawInput)
        withdrawn = services.approval_withdraw(
            actor=request.user, approval=approval, comment=data.get("comment", "")
        )
        return self.respond(withdrawn)
