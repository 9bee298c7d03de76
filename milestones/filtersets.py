"""Filters of the milestones app: one FilterSet per model, shared by the pages
and the API (``FilterSet(request.GET, queryset, request=request)``).

The queryset handed in is already restricted by the access policy; a filter
only narrows it. Related choices are restricted too, so naming an object the
user may not see is an invalid choice (400 in the API), never a hint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters as filters
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from accounts import policy
from accounts.models import OrgUnit, User
from accounts.roles import VIEW
from portal.filters import DaysFilter, FilterSet, scoped_choice

from .models import (
    KPI,
    Dependency,
    KPIMeasurement,
    Milestone,
    MilestoneCategory,
    Portfolio,
    ProgressUpdate,
    Status,
    StrategicObjective,
)


def visible(
    model: type[Model],
) -> Callable[[HttpRequest | None], QuerySet[Any, Any]]:
    """The choices of a related filter: the rows the requesting user may see."""

    def queryset(request: HttpRequest | None) -> QuerySet[Any, Any]:
        user = getattr(request, "user", None)
        return policy.restrict(model._default_manager.all(), user, VIEW)

    return queryset


def visible_owners(request: HttpRequest | None) -> QuerySet[User, User]:
    """Users the requesting user may see, plus the owners of milestones they
    may see (an owner needs no membership of their own)."""
    user = getattr(request, "user", None)
    milestones = policy.restrict(Milestone.objects.all(), user, VIEW)
    return User.objects.filter(
        Q(pk__in=policy.restrict(User.objects.all(), user, VIEW).values("pk"))
        | Q(pk__in=milestones.values("owner"))
    )


def _portfolio_filter(field_name: str = "portfolio") -> filters.ModelChoiceFilter:
    return scoped_choice(
        visible(Portfolio),
        field_name=field_name,
        to_field_name="slug",
        label="Portfolio (slug)",
    )


class PortfolioFilterSet(FilterSet):
    org_unit = scoped_choice(
        visible(OrgUnit),
        method="filter_org_unit",
        label="Org unit id (the unit and its subtree)",
    )
    q = filters.CharFilter(method="filter_q", label="Name or slug contains")

    class Meta:
        model = Portfolio
        fields = ["org_unit", "q"]

    def filter_org_unit(self, queryset, name, value):
        return queryset.filter(org_unit__path__startswith=value.path)

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value))


class StrategicObjectiveFilterSet(FilterSet):
    portfolio = _portfolio_filter()
    owner = scoped_choice(visible(User))
    q = filters.CharFilter(method="filter_q", label="Code or title contains")

    class Meta:
        model = StrategicObjective
        fields = ["portfolio", "owner", "q"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(code__icontains=value) | Q(title__icontains=value))


class MilestoneFilterSet(FilterSet):
    portfolio = _portfolio_filter()
    category = scoped_choice(visible(MilestoneCategory))
    objective = scoped_choice(visible(StrategicObjective))
    org_unit = scoped_choice(
        visible(OrgUnit),
        method="filter_org_unit",
        label="Org unit id (the unit and its subtree)",
    )
    owner = scoped_choice(visible_owners)
    status = filters.MultipleChoiceFilter(
        choices=Status.choices, label="Status (repeat for several)"
    )
    type = filters.ChoiceFilter(choices=Milestone.Type.choices)
    requires_validation = filters.BooleanFilter()
    overdue = filters.BooleanFilter(
        method="filter_overdue", label="Open and past planned completion"
    )
    due_within = DaysFilter(
        method="filter_due_within",
        label="Open and due within this many days",
    )
    planned_completion_after = filters.DateFilter(
        field_name="planned_completion", lookup_expr="gte"
    )
    planned_completion_before = filters.DateFilter(
        field_name="planned_completion", lookup_expr="lte"
    )
    q = filters.CharFilter(method="filter_q", label="Name or code contains")

    class Meta:
        model = Milestone
        fields = [
            "portfolio",
            "category",
            "objective",
            "org_unit",
            "owner",
            "status",
            "type",
            "requires_validation",
            "overdue",
            "due_within",
            "planned_completion_after",
            "planned_completion_before",
            "q",
        ]

    def filter_org_unit(self, queryset, name, value):
        return queryset.filter(org_unit__path__startswith=value.path)

    def filter_overdue(self, queryset, name, value):
        if value:
            return queryset.overdue()
        return queryset.exclude(pk__in=Milestone.objects.overdue().values("pk"))

    def filter_due_within(self, queryset, name, value):
        return queryset.due_within(int(value))

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value))


class DependencyFilterSet(FilterSet):
    portfolio = _portfolio_filter("successor__portfolio")
    milestone = scoped_choice(
        visible(Milestone),
        # field_name only types the parameter; the method filters both ends.
        field_name="successor",
        method="filter_milestone",
        label="Milestone id (either end of the link)",
    )
    predecessor = scoped_choice(visible(Milestone))
    successor = scoped_choice(visible(Milestone))
    type = filters.ChoiceFilter(choices=Dependency.Type.choices)

    class Meta:
        model = Dependency
        fields = ["portfolio", "milestone", "predecessor", "successor", "type"]

    def filter_milestone(self, queryset, name, value):
        return queryset.filter(Q(predecessor=value) | Q(successor=value))


class ProgressUpdateFilterSet(FilterSet):
    portfolio = _portfolio_filter("milestone__portfolio")
    milestone = scoped_choice(visible(Milestone))
    author = scoped_choice(visible(User))
    status = filters.MultipleChoiceFilter(choices=Status.choices)
    submitted_after = filters.IsoDateTimeFilter(
        field_name="submitted_at", lookup_expr="gte"
    )
    submitted_before = filters.IsoDateTimeFilter(
        field_name="submitted_at", lookup_expr="lte"
    )

    class Meta:
        model = ProgressUpdate
        fields = [
            "portfolio",
            "milestone",
            "author",
            "status",
            "submitted_after",
            "submitted_before",
        ]


class KPIFilterSet(FilterSet):
    portfolio = _portfolio_filter()
    objective = scoped_choice(visible(StrategicObjective))
    milestone = scoped_choice(visible(Milestone))
    kind = filters.ChoiceFilter(choices=KPI.Kind.choices)

    class Meta:
        model = KPI
        fields = ["portfolio", "objective", "milestone", "kind"]


class KPIMeasurementFilterSet(FilterSet):
    measured_after = filters.DateFilter(field_name="measured_on", lookup_expr="gte")
    measured_before = filters.DateFilter(field_name="measured_on", lookup_expr="lte")

    class Meta:
        model = KPIMeasurement
        fields = ["measured_after", "measured_before"]
