"""Serializers of the milestones API.

Output serializers (``...Serializer``) describe what the API shows; they read
rows the viewsets fetched with their joins and annotations. Input serializers
(``...Input``) parse one write and hand it to a service; they refuse keys they
do not declare (see ``accounts.api.base``), so read-only fields such as ``id``,
``version`` or ``last_progress_at`` can never be posted.
"""

from __future__ import annotations

from operator import attrgetter

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts.api.base import (
    FastRepresentationMixin,
    InputModelSerializer,
    InputSerializer,
    ScopedPrimaryKeyRelatedField,
    ScopedSlugRelatedField,
)
from accounts.models import OrgUnit, User

from .. import fields as milestone_fields
from ..forms import validate_evidence
from ..models import (
    KPI,
    Dependency,
    KPIMeasurement,
    Milestone,
    MilestoneCategory,
    Portfolio,
    ProgressUpdate,
    StrategicObjective,
)

PROGRESS_ONLY = (
    "Progress fields change through a progress update: POST /api/v1/updates/."
)
SYSTEM_SET = "Set by the system; it cannot be posted."


def _portfolio_input() -> ScopedSlugRelatedField:
    return ScopedSlugRelatedField(
        slug_field="slug",
        queryset=Portfolio.objects.all(),
        help_text="Portfolio slug.",
    )


def _user_input(**kwargs) -> ScopedPrimaryKeyRelatedField:
    return ScopedPrimaryKeyRelatedField(
        queryset=User.objects.all(), allow_null=True, required=False, **kwargs
    )


class OwnerNameMixin(serializers.Serializer):
    owner_name = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_owner_name(self, obj) -> str | None:
        return str(obj.owner) if obj.owner_id else None


# Portfolios -----------------------------------------------------------------


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = MilestoneCategory
        fields = ["id", "name", "weight", "business_impact", "order"]
        read_only_fields = fields


class PortfolioSerializer(serializers.ModelSerializer):
    categories = CategorySerializer(many=True, read_only=True)

    class Meta:
        model = Portfolio
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "currency",
            "org_unit",
            "sponsor",
            "period_start",
            "period_end",
            "created_at",
            "categories",
        ]
        read_only_fields = fields


class PortfolioCreateInput(InputModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    sponsor = _user_input()

    class Meta:
        model = Portfolio
        fields = [
            "slug",
            "name",
            "description",
            "currency",
            "org_unit",
            "sponsor",
            "period_start",
            "period_end",
        ]


class CategoryInput(InputSerializer):
    id = serializers.IntegerField(
        required=False, help_text="An existing category of this portfolio to keep."
    )
    name = serializers.CharField(max_length=100)
    weight = serializers.DecimalField(max_digits=5, decimal_places=2)
    business_impact = serializers.CharField(
        max_length=100, required=False, allow_blank=True
    )
    order = serializers.IntegerField(required=False, min_value=0, max_value=32767)


class CategoriesInput(InputSerializer):
    reason = serializers.CharField(
        allow_blank=True,
        # simple-history keeps a change reason in 100 characters.
        max_length=100,
        help_text="Why the weights change (required).",
    )
    categories = CategoryInput(many=True, allow_empty=False)


# Objectives -----------------------------------------------------------------


class ObjectiveSerializer(OwnerNameMixin, serializers.ModelSerializer):
    portfolio: serializers.SlugRelatedField[Portfolio] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = StrategicObjective
        fields = [
            "id",
            "portfolio",
            "code",
            "title",
            "description",
            "owner",
            "owner_name",
        ]
        read_only_fields = fields


class ObjectiveCreateInput(InputModelSerializer):
    portfolio = _portfolio_input()
    owner = _user_input()

    class Meta:
        model = StrategicObjective
        fields = ["portfolio", "code", "title", "description", "owner"]


# Milestones -----------------------------------------------------------------


def _owner_name(row) -> str | None:
    """``str(owner)`` from the columns of ``selectors.with_related_names``."""
    if not row.owner_id:
        return None
    full = f"{row.owner_first_name} {row.owner_last_name}".strip()
    return full or row.owner_username


class MilestoneSerializer(
    FastRepresentationMixin, OwnerNameMixin, serializers.ModelSerializer
):
    portfolio: serializers.SlugRelatedField[Portfolio] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    category_name = serializers.CharField(source="category.name", read_only=True)
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    # Computed in the database (``MilestoneQuerySet.with_figures``).
    days_remaining = serializers.IntegerField(
        read_only=True, help_text="Planned completion minus today, in days."
    )
    delay_days = serializers.IntegerField(
        read_only=True,
        help_text="Forecast (or actual, once completed) minus planned completion, "
        "in days; 0 without a forecast; negative is early.",
    )
    budget_consumption_pct = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="Actual spend / approved budget, in percent (null: no budget).",
    )
    budget_overrun_pct = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="(Estimate at completion - approved budget) / approved budget, "
        "in percent (null: no estimate or no budget).",
    )
    is_overdue = serializers.BooleanField(
        read_only=True, help_text="Open and past its planned completion."
    )
    is_due_soon = serializers.BooleanField(
        read_only=True, help_text="Open and due within the next 14 days."
    )
    is_stale = serializers.BooleanField(
        read_only=True, help_text="Open with no progress update for 14 days."
    )

    class Meta:
        model = Milestone
        fields = [
            "id",
            "portfolio",
            "objective",
            "category",
            "category_name",
            "org_unit",
            "org_unit_name",
            "owner",
            "owner_name",
            "code",
            "name",
            "description",
            "type",
            "success_criteria",
            "validation_method",
            "risk_factors",
            "stakeholder_impact",
            "communication_plan",
            "technology_required",
            "business_impact",
            "requires_validation",
            "weight",
            "approved_budget",
            "actual_spend",
            "estimate_at_completion",
            "planned_start",
            "planned_completion",
            "forecast_completion",
            "actual_start",
            "actual_completion",
            "status",
            "percent_complete",
            "last_progress_at",
            "version",
            "created_at",
            "updated_at",
            "days_remaining",
            "delay_days",
            "budget_consumption_pct",
            "budget_overrun_pct",
            "is_overdue",
            "is_due_soon",
            "is_stale",
        ]
        read_only_fields = fields

    # The list reads related names as columns (``selectors.with_related_names``).
    column_readers = {
        "portfolio": ("portfolio_slug", attrgetter("portfolio_slug")),
        "category_name": ("category_name", attrgetter("category_name")),
        "org_unit_name": ("org_unit_name", attrgetter("org_unit_name")),
        "owner_name": ("owner_username", _owner_name),
    }


# What a plan may set (``milestones.fields``); progress fields only change
# through progress updates, the baseline through approval requests.
MILESTONE_PLAN_INPUT = milestone_fields.PLAN
MILESTONE_REFUSED = {
    **dict.fromkeys(milestone_fields.EXECUTION, PROGRESS_ONLY),
    **{name: SYSTEM_SET for name in milestone_fields.SYSTEM if name != "version"},
}


class MilestonePlanInput(InputModelSerializer):
    category = ScopedPrimaryKeyRelatedField(queryset=MilestoneCategory.objects.all())
    objective = ScopedPrimaryKeyRelatedField(
        queryset=StrategicObjective.objects.all(), allow_null=True, required=False
    )
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    owner = _user_input()

    class Meta:
        model = Milestone
        fields = list(MILESTONE_PLAN_INPUT)


class MilestoneCreateInput(MilestonePlanInput):
    portfolio = _portfolio_input()
    refused = {**MILESTONE_REFUSED, "version": SYSTEM_SET}

    class Meta(MilestonePlanInput.Meta):
        fields = ["portfolio", *MILESTONE_PLAN_INPUT]


# The baseline is read but not offered: sent in an edit it answers 403 with
# the way to request it (an approval), so the schema does not list it.
@extend_schema_serializer(exclude_fields=milestone_fields.BASELINE)
class MilestoneUpdateInput(MilestonePlanInput):
    """A partial edit. ``version`` is the one the client read (409 if stale);
    ``reason`` is kept in the milestone's history."""

    version = serializers.IntegerField(
        min_value=1, help_text="The milestone version you read (required)."
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Change reason, kept in the milestone's history.",
    )
    refused = {
        **MILESTONE_REFUSED,
        "portfolio": "A milestone cannot move to another portfolio.",
    }

    class Meta(MilestonePlanInput.Meta):
        fields = [*MILESTONE_PLAN_INPUT, "version", "reason"]

    def validate(self, attrs):
        if "version" not in attrs:
            raise serializers.ValidationError(
                {"version": ["Send the version you read (optimistic locking)."]}
            )
        return attrs


# Dependencies ---------------------------------------------------------------


class DependencySerializer(serializers.ModelSerializer):
    portfolio = serializers.CharField(source="successor.portfolio.slug", read_only=True)
    predecessor_name = serializers.CharField(source="predecessor.name", read_only=True)
    successor_name = serializers.CharField(source="successor.name", read_only=True)

    class Meta:
        model = Dependency
        fields = [
            "id",
            "portfolio",
            "predecessor",
            "predecessor_name",
            "successor",
            "successor_name",
            "type",
            "lag_days",
        ]
        read_only_fields = fields


class DependencyCreateInput(InputModelSerializer):
    predecessor = ScopedPrimaryKeyRelatedField(queryset=Milestone.objects.all())
    successor = ScopedPrimaryKeyRelatedField(queryset=Milestone.objects.all())
    refused = {"id": SYSTEM_SET}

    class Meta:
        model = Dependency
        fields = ["predecessor", "successor", "type", "lag_days"]


class DependencyUpdateInput(InputModelSerializer):
    refused = {
        "id": SYSTEM_SET,
        "predecessor": "Remove the dependency and add another instead.",
        "successor": "Remove the dependency and add another instead.",
    }

    class Meta:
        model = Dependency
        fields = ["type", "lag_days"]


# Progress updates -----------------------------------------------------------


class ProgressUpdateSerializer(serializers.ModelSerializer):
    author_name = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField(
        help_text="File name of the attached evidence, if any."
    )

    class Meta:
        model = ProgressUpdate
        fields = [
            "id",
            "milestone",
            "milestone_version",
            "author",
            "author_name",
            "submitted_at",
            "status",
            "percent_complete",
            "actual_spend",
            "estimate_at_completion",
            "forecast_completion",
            "achievements",
            "blockers",
            "next_steps",
            "evidence",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_author_name(self, obj) -> str | None:
        return str(obj.author) if obj.author_id else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_evidence(self, obj) -> str | None:
        return obj.evidence.name.rsplit("/", 1)[-1] if obj.evidence else None


class ProgressUpdateInput(InputModelSerializer):
    milestone = ScopedPrimaryKeyRelatedField(queryset=Milestone.objects.all())
    version = serializers.IntegerField(
        min_value=1, help_text="The milestone version you read (409 if stale)."
    )
    evidence = serializers.FileField(
        required=False, validators=[validate_evidence], max_length=200
    )
    refused = {
        "id": SYSTEM_SET,
        "author": SYSTEM_SET,
        "submitted_at": SYSTEM_SET,
        "milestone_version": "Send the version you read as `version`.",
    }

    class Meta:
        model = ProgressUpdate
        fields = [
            "milestone",
            "version",
            "status",
            "percent_complete",
            "actual_spend",
            "estimate_at_completion",
            "forecast_completion",
            "achievements",
            "blockers",
            "next_steps",
            "evidence",
        ]


# KPIs -----------------------------------------------------------------------


class KPISerializer(serializers.ModelSerializer):
    portfolio: serializers.SlugRelatedField[Portfolio] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    latest_value = serializers.DecimalField(
        max_digits=18, decimal_places=4, read_only=True, allow_null=True
    )
    latest_measured_on = serializers.DateField(read_only=True, allow_null=True)

    class Meta:
        model = KPI
        fields = [
            "id",
            "portfolio",
            "objective",
            "milestone",
            "name",
            "kind",
            "unit",
            "direction",
            "baseline",
            "target",
            "latest_value",
            "latest_measured_on",
        ]
        read_only_fields = fields


class KPICreateInput(InputModelSerializer):
    portfolio = _portfolio_input()
    objective = ScopedPrimaryKeyRelatedField(
        queryset=StrategicObjective.objects.all(), allow_null=True, required=False
    )
    milestone = ScopedPrimaryKeyRelatedField(
        queryset=Milestone.objects.all(), allow_null=True, required=False
    )
    refused = {"id": SYSTEM_SET}

    class Meta:
        model = KPI
        fields = [
            "portfolio",
            "objective",
            "milestone",
            "name",
            "kind",
            "unit",
            "direction",
            "baseline",
            "target",
        ]


class KPIMeasurementSerializer(serializers.ModelSerializer):
    class Meta:
        model = KPIMeasurement
        fields = ["id", "kpi", "measured_on", "value", "note", "recorded_by"]
        read_only_fields = fields


class KPIMeasurementInput(InputModelSerializer):
    refused = {
        "id": SYSTEM_SET,
        "kpi": "The KPI is the one in the URL.",
        "recorded_by": SYSTEM_SET,
    }

    class Meta:
        model = KPIMeasurement
        fields = ["measured_on", "value", "note"]
