"""Serializers of the risks API: outputs name their fields; inputs parse one
write for a service and refuse undeclared keys (``accounts.api.base``)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.base import (
    InputSerializer,
    ScopedPrimaryKeyRelatedField,
    ScopedSlugRelatedField,
)
from accounts.models import User
from accounts.roles import UPDATE
from milestones.models import Milestone, Portfolio

from ..models import Escalation, Issue, Risk, Severity

SYSTEM_SET = "Set by the system; it cannot be posted."


def _portfolio_input() -> ScopedSlugRelatedField:
    return ScopedSlugRelatedField(
        slug_field="slug",
        queryset=Portfolio.objects.all(),
        help_text="Portfolio slug.",
    )


def _milestone_input(**kwargs) -> ScopedPrimaryKeyRelatedField:
    return ScopedPrimaryKeyRelatedField(
        queryset=Milestone.objects.all(), policy_action=UPDATE, **kwargs
    )


def _user_input() -> ScopedPrimaryKeyRelatedField:
    return ScopedPrimaryKeyRelatedField(
        queryset=User.objects.all(), allow_null=True, required=False
    )


class NamedMixin(serializers.Serializer):
    portfolio: serializers.SlugRelatedField[Portfolio] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    owner_name = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_owner_name(self, obj) -> str | None:
        return str(obj.owner) if obj.owner_id else None


# Risks ------------------------------------------------------------------------


class RiskSerializer(NamedMixin, serializers.ModelSerializer):
    class Meta:
        model = Risk
        fields = [
            "id",
            "portfolio",
            "milestone",
            "title",
            "description",
            "category",
            "probability",
            "impact",
            "score",
            "severity",
            "owner",
            "owner_name",
            "mitigation",
            "contingency",
            "status",
            "next_review",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RiskInput(InputSerializer):
    portfolio = _portfolio_input()
    milestone = _milestone_input(allow_null=True, required=False)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=Risk.Category.choices, required=False)
    probability = serializers.IntegerField(min_value=1, max_value=5)
    impact = serializers.IntegerField(min_value=1, max_value=5)
    owner = _user_input()
    mitigation = serializers.CharField(required=False, allow_blank=True)
    contingency = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Risk.Status.choices, required=False)
    next_review = serializers.DateField(required=False, allow_null=True)
    refused = {
        "score": "The score is probability x impact; set those instead.",
        "severity": "The severity follows from the score.",
    }


class RiskUpdateInput(RiskInput):
    refused = {
        **RiskInput.refused,
        "portfolio": "A risk cannot move to another portfolio.",
    }

    def get_fields(self):
        fields = super().get_fields()
        del fields["portfolio"]
        return fields


# Issues -----------------------------------------------------------------------


class IssueSerializer(NamedMixin, serializers.ModelSerializer):
    milestones: serializers.PrimaryKeyRelatedField[Milestone] = (
        serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    )
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Issue
        fields = [
            "id",
            "portfolio",
            "milestones",
            "title",
            "description",
            "kind",
            "severity",
            "owner",
            "owner_name",
            "opened_at",
            "resolved_at",
            "resolution",
            "is_open",
        ]
        read_only_fields = fields


class IssueInput(InputSerializer):
    portfolio = _portfolio_input()
    milestones = _milestone_input(many=True, required=False)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Issue.Kind.choices)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    owner = _user_input()
    opened_at = serializers.DateTimeField(required=False)
    refused = {
        "resolved_at": "Resolve an issue with POST .../resolve/.",
        "resolution": "Resolve an issue with POST .../resolve/.",
    }


class IssueUpdateInput(IssueInput):
    refused = {
        **IssueInput.refused,
        "portfolio": "An issue cannot move to another portfolio.",
        "opened_at": "The opening time cannot change.",
    }

    def get_fields(self):
        fields = super().get_fields()
        del fields["portfolio"]
        del fields["opened_at"]
        return fields


class IssueResolveInput(InputSerializer):
    resolution = serializers.CharField(required=False, allow_blank=True)


# Escalations ----------------------------------------------------------------------


class EscalationSerializer(serializers.ModelSerializer):
    portfolio: serializers.SlugRelatedField[Portfolio] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    trigger = serializers.CharField(source="rule.trigger", read_only=True)
    target_role = serializers.CharField(source="rule.target_role", read_only=True)
    acknowledged_by_name = serializers.SerializerMethodField()

    class Meta:
        model = Escalation
        fields = [
            "id",
            "trigger",
            "rule",
            "target_role",
            "summary",
            "status",
            "portfolio",
            "milestone",
            "issue",
            "assessment",
            "measured",
            "threshold",
            "opened_at",
            "acknowledged_by",
            "acknowledged_by_name",
            "acknowledged_at",
            "resolved_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_acknowledged_by_name(self, obj) -> str | None:
        return str(obj.acknowledged_by) if obj.acknowledged_by_id else None


class AcknowledgeInput(InputSerializer):
    """No body needed."""
