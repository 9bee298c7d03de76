"""Reads of the risks app shared by the admin, the API, reports and the engine."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from accounts.models import Membership, OrgUnit
from accounts.roles import VIEW

from .models import (
    Escalation,
    EscalationRule,
    Issue,
    Risk,
    Severity,
    StakeholderAssessment,
    severity_for,
)


def ancestor_paths(path: str) -> list[str]:
    """The materialised paths of a unit and all its ancestors."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


# Lists -----------------------------------------------------------------------


def risks_for(user, action: str = VIEW) -> QuerySet[Risk]:
    return Risk.objects.restrict(user, action).select_related(
        "portfolio", "milestone", "org_unit", "owner"
    )


def issues_for(user, action: str = VIEW) -> QuerySet[Issue]:
    return (
        Issue.objects.restrict(user, action)
        .select_related("portfolio", "org_unit", "owner")
        .prefetch_related("milestones")
    )


def assessments_for(user, action: str = VIEW) -> QuerySet[StakeholderAssessment]:
    return StakeholderAssessment.objects.restrict(user, action).select_related(
        "portfolio", "milestone", "assessed_by"
    )


def escalation_rules_for(user, action: str = VIEW) -> QuerySet[EscalationRule]:
    """The portfolio overrides in the user's scope, plus (to read) the global
    defaults they override: those are system-wide and scoped to no one."""
    rules = EscalationRule.objects.restrict(user, action)
    if action == VIEW and user is not None and user.is_authenticated:
        rules = rules | EscalationRule.objects.global_defaults()
    return rules.select_related("portfolio")


def escalations_for(user, action: str = VIEW) -> QuerySet[Escalation]:
    return Escalation.objects.restrict(user, action).select_related(
        "rule", "portfolio", "org_unit", "milestone", "issue", "acknowledged_by"
    )


# Heat map --------------------------------------------------------------------


@dataclass(frozen=True)
class HeatCell:
    probability: int
    impact: int
    count: int

    @property
    def score(self) -> int:
        return self.probability * self.impact

    @property
    def severity(self) -> Severity:
        return severity_for(self.score)


@dataclass(frozen=True)
class HeatMap:
    """Counts of risks by probability (columns, 1..5) and impact (rows, 5..1,
    highest first, as the grid is drawn)."""

    rows: tuple[tuple[HeatCell, ...], ...]
    total: int

    def count(self, probability: int, impact: int) -> int:
        return self.rows[5 - impact][probability - 1].count


def risk_heat_map(user, *, portfolio=None, include_closed: bool = False) -> HeatMap:
    """The 5x5 risk heat map of the risks ``user`` may see (one query)."""
    risks = Risk.objects.restrict(user, VIEW)
    if portfolio is not None:
        risks = risks.filter(portfolio=portfolio)
    if not include_closed:
        risks = risks.open()
    counts = {
        (row["probability"], row["impact"]): row["n"]
        for row in risks.order_by()
        .values("probability", "impact")
        .annotate(n=Count("pk"))
    }
    rows = tuple(
        tuple(HeatCell(p, i, counts.get((p, i), 0)) for p in range(1, 6))
        for i in range(5, 0, -1)
    )
    return HeatMap(rows=rows, total=sum(counts.values()))


# Who an escalation goes to ------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """A role wanted within a scope: members of ``role`` on the portfolio, or
    on an org unit at or above any of ``unit_paths``."""

    role: str
    portfolio_id: int
    unit_paths: tuple[str, ...]


def role_members(audiences: dict[Hashable, Audience]) -> dict[Hashable, list]:
    """The active users of each audience, in one query for all of them."""
    if not audiences:
        return {}
    covering: dict[Hashable, set[str]] = {
        key: {p for path in a.unit_paths for p in ancestor_paths(path)}
        for key, a in audiences.items()
    }
    all_paths = set().union(*covering.values())
    portfolio_ids = {a.portfolio_id for a in audiences.values()}
    memberships = (
        Membership.objects.filter(
            role__in={a.role for a in audiences.values()}, user__is_active=True
        )
        .filter(Q(portfolio_id__in=portfolio_ids) | Q(org_unit__path__in=all_paths))
        .select_related("user", "org_unit")
        .order_by("user__username", "pk")
    )
    memberships = list(memberships)
    result: dict[Hashable, list] = {}
    for key, audience in audiences.items():
        users: dict[int, object] = {}
        for m in memberships:
            if m.role != audience.role:
                continue
            if m.portfolio_id == audience.portfolio_id or (
                m.org_unit_id and m.org_unit.path in covering[key]
            ):
                users.setdefault(m.user_id, m.user)
        result[key] = list(users.values())
    return result


def escalation_audience(escalation: Escalation) -> Audience:
    return Audience(
        role=escalation.rule.target_role,
        portfolio_id=escalation.portfolio_id,
        unit_paths=(escalation.org_unit.path, escalation.portfolio.org_unit.path),
    )


def can_acknowledge(user, escalation: Escalation) -> bool:
    """Whether ``user`` holds the escalation's target role over its scope."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    audience = escalation_audience(escalation)
    paths = {p for path in audience.unit_paths for p in ancestor_paths(path)}
    return Membership.objects.filter(
        Q(portfolio_id=audience.portfolio_id) | Q(org_unit__path__in=paths),
        user=user,
        role=audience.role,
    ).exists()


def org_unit_paths(ids: Iterable[int]) -> dict[int, str]:
    return dict(OrgUnit.objects.filter(pk__in=set(ids)).values_list("pk", "path"))
