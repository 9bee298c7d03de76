"""Filters of the risks app: one FilterSet per model, shared by pages and the
API. The queryset handed in is already restricted; related choices are
restricted too, so naming an object out of scope is an invalid choice (400).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters as filters
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts import policy
from accounts.roles import VIEW
from milestones.models import Milestone, Portfolio
from portal.filters import FilterSet, scoped_choice

from .models import Escalation, Issue, Risk, Severity, Trigger


def visible(
    model: type[Model],
) -> Callable[[HttpRequest | None], QuerySet[Any, Any]]:
    def queryset(request: HttpRequest | None) -> QuerySet[Any, Any]:
        user = getattr(request, "user", None)
        return policy.restrict(model._default_manager.all(), user, VIEW)

    return queryset


def _portfolio() -> filters.ModelChoiceFilter:
    return scoped_choice(
        visible(Portfolio),
        field_name="portfolio",
        to_field_name="slug",
        label="Portfolio (slug)",
    )


def _milestone(field_name: str = "milestone") -> filters.ModelChoiceFilter:
    return scoped_choice(
        visible(Milestone), field_name=field_name, label="Milestone id"
    )


class RiskFilterSet(FilterSet):
    portfolio = _portfolio()
    milestone = _milestone()
    severity = filters.MultipleChoiceFilter(choices=Severity.choices)
    status = filters.MultipleChoiceFilter(choices=Risk.Status.choices)
    category = filters.ChoiceFilter(choices=Risk.Category.choices)
    min_score = filters.NumberFilter(field_name="score", lookup_expr="gte")
    review_before = filters.DateFilter(field_name="next_review", lookup_expr="lte")

    class Meta:
        model = Risk
        fields = ["portfolio", "milestone", "severity", "status", "category"]


class IssueFilterSet(FilterSet):
    portfolio = _portfolio()
    milestone = _milestone("milestones")
    kind = filters.MultipleChoiceFilter(choices=Issue.Kind.choices)
    severity = filters.MultipleChoiceFilter(choices=Severity.choices)
    open = filters.BooleanFilter(
        field_name="resolved_at", lookup_expr="isnull", label="Unresolved only"
    )

    class Meta:
        model = Issue
        fields = ["portfolio", "milestone", "kind", "severity", "open"]


class EscalationFilterSet(FilterSet):
    portfolio = _portfolio()
    milestone = _milestone()
    status = filters.MultipleChoiceFilter(choices=Escalation.Status.choices)
    trigger = filters.ChoiceFilter(field_name="rule__trigger", choices=Trigger.choices)

    class Meta:
        model = Escalation
        fields = ["portfolio", "milestone", "status", "trigger"]
