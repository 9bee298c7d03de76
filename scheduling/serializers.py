"""Serializers of ``GET /api/v1/portfolios/<slug>/schedule/``.

Output serializers read the bundles of ``scheduling.selectors``
(dataclasses, not models); the query serializer validates ``?iterations=``.
Day counts (float, slips) are whole calendar days; probabilities are shares
from 0 to 1.
"""

from __future__ import annotations

from rest_framework import serializers

from . import selectors as sched


class ScheduleQuery(serializers.Serializer):
    """``?iterations=``: Monte Carlo runs (default 10,000)."""

    iterations = serializers.IntegerField(
        required=False,
        default=sched.DEFAULT_ITERATIONS,
        min_value=sched.MIN_ITERATIONS,
        max_value=sched.MAX_ITERATIONS,
        help_text=(
            f"Monte Carlo iterations, {sched.MIN_ITERATIONS:,} to "
            f"{sched.MAX_ITERATIONS:,} (default {sched.DEFAULT_ITERATIONS:,})."
        ),
    )


class ScheduleOutlookSerializer(serializers.Serializer):
    milestone_count = serializers.IntegerField(
        help_text="Milestones scheduled (the whole portfolio, cancelled excluded)."
    )
    planned_finish = serializers.DateField(
        allow_null=True, help_text="The latest planned completion."
    )
    forecast_finish = serializers.DateField(
        allow_null=True,
        help_text="The critical path's finish, without uncertainty.",
    )
    probability_on_time = serializers.FloatField(
        allow_null=True,
        help_text="Share of simulated runs finishing by the planned finish.",
    )
    p50 = serializers.DateField(allow_null=True)
    p80 = serializers.DateField(allow_null=True)
    p95 = serializers.DateField(allow_null=True)
    iterations = serializers.IntegerField()
    seed = serializers.IntegerField()
    # Declared fields leave the class (DRF's metaclass): no clash with Field.source.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["history", "three_point"],
        help_text=(
            "Where duration uncertainty came from: the portfolio's past "
            "forecasts (5 or more) or the three-point estimate."
        ),
    )
    sample_count = serializers.IntegerField(
        help_text="Past progress updates with a forecast in this portfolio."
    )


class MilestoneScheduleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    org_unit = serializers.CharField()
    status = serializers.CharField()
    percent_complete = serializers.DecimalField(max_digits=5, decimal_places=2)
    planned_start = serializers.DateField()
    planned_completion = serializers.DateField()
    forecast_completion = serializers.DateField(allow_null=True)
    es = serializers.DateField(help_text="Early start.")
    ef = serializers.DateField(help_text="Early finish (the scheduled finish).")
    ls = serializers.DateField(help_text="Late start.")
    lf = serializers.DateField(help_text="Late finish.")
    total_float = serializers.IntegerField(
        help_text="Days it may slip without delaying the portfolio finish."
    )
    critical = serializers.BooleanField(help_text="On the critical path (no float).")
    own_slip = serializers.IntegerField(
        help_text="Days of finish slip of its own (negative: ahead of plan)."
    )
    inherited_slip = serializers.IntegerField(
        help_text="Days its start is pushed past plan by its predecessors."
    )
    probability_on_time = serializers.FloatField(
        help_text="Share of simulated runs finishing by its planned completion."
    )
    p50 = serializers.DateField()
    p80 = serializers.DateField()
    p95 = serializers.DateField()


class BottleneckSerializer(serializers.Serializer):
    milestone = serializers.IntegerField(source="milestone.id")
    name = serializers.CharField(source="milestone.name")
    downstream_count = serializers.IntegerField(
        help_text="Milestones that depend on it, directly or not."
    )
    direct_successor_count = serializers.IntegerField()


class OverallocationSerializer(serializers.Serializer):
    org_unit = serializers.IntegerField(source="org_unit_id")
    org_unit_name = serializers.CharField(source="org_unit")
    week_start = serializers.DateField(help_text="The Monday of the week.")
    allocated = serializers.FloatField(
        help_text="FTE allocated that week to open milestones of all portfolios."
    )
    capacity = serializers.FloatField()
    excess = serializers.FloatField()


class PortfolioScheduleSerializer(serializers.Serializer):
    portfolio = serializers.SlugField(source="portfolio.slug")
    status_date = serializers.DateField(source="today")
    project_start = serializers.DateField(allow_null=True)
    project_finish = serializers.DateField(allow_null=True)
    critical_chain = serializers.SerializerMethodField(
        help_text="Ids of the critical chain's milestones you may see, in order."
    )
    critical_chain_outside_scope = serializers.IntegerField(
        source="critical_chain_hidden"
    )
    milestones_outside_scope = serializers.IntegerField(source="hidden_count")
    monte_carlo = ScheduleOutlookSerializer(source="outlook")
    milestones = MilestoneScheduleSerializer(many=True)
    bottlenecks = BottleneckSerializer(many=True)
    overallocations = OverallocationSerializer(many=True)

    def get_critical_chain(self, obj) -> list[int]:
        return [m.id for m in obj.critical_chain]
