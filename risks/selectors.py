"""Reads of the risks app shared by the admin, the API, reports and the engine."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Count

from accounts import policy
from accounts.policy import Viewer
from accounts.roles import VIEW, Role

if TYPE_CHECKING:
    from accounts.models import User
    from milestones.models import Portfolio

from .models import (
    Escalation,
    EscalationRule,
    Risk,
    Severity,
    severity_for,
)
from .querysets import EscalationQuerySet, EscalationRuleQuerySet, RiskQuerySet

# Lists -----------------------------------------------------------------------

_K = TypeVar("_K", bound=Hashable)


def risks_for(user: Viewer, action: str = VIEW) -> RiskQuerySet:
    return Risk.objects.restrict(user, action).select_related(
        "portfolio", "milestone", "org_unit", "owner"
    )


def escalation_rules_for(user: Viewer, action: str = VIEW) -> EscalationRuleQuerySet:
    """The portfolio overrides in the user's scope, plus (to read) the global
    defaults they override: those are system-wide and scoped to no one."""
    rules = EscalationRule.objects.restrict(user, action)
    if action == VIEW and user is not None and user.is_authenticated:
        rules = rules | EscalationRule.objects.global_defaults()
    return rules.select_related("portfolio")


def escalations_for(user: Viewer, action: str = VIEW) -> EscalationQuerySet:
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


def risk_heat_map(
    user: Viewer, *, portfolio: Portfolio | None = None, include_closed: bool = False
) -> HeatMap:
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


def role_members(audiences: Mapping[_K, Audience]) -> dict[_K, list[User]]:
    """The active users of each audience, in one query for all of them (the
    access policy's ``role_holders``)."""
    return policy.role_holders(
        {key: (a.role, a.portfolio_id, a.unit_paths) for key, a in audiences.items()}
    )


def escalation_audience(escalation: Escalation) -> Audience:
    return Audience(
        role=escalation.rule.target_role,
        portfolio_id=escalation.portfolio_id,
        unit_paths=(escalation.org_unit.path, escalation.portfolio.org_unit.path),
    )


def can_acknowledge(user: Viewer, escalation: Escalation) -> bool:
    """Whether ``user`` holds the escalation's target role over its scope."""
    audience = escalation_audience(escalation)
    return policy.holds_role(
        user,
        audience.role,
        portfolio_id=audience.portfolio_id,
        org_unit_paths=audience.unit_paths,
    )


#: Whom an escalation may be handed to: these roles over its scope.
ASSIGNABLE_ROLES = (Role.EXECUTIVE, Role.PORTFOLIO_MANAGER, Role.MILESTONE_OWNER)


@dataclass(frozen=True)
class EscalationRow:
    """An escalation on the escalations page, with what the reader may do."""

    escalation: Escalation
    can_act: bool  # acknowledge and assign: the target role over its scope
    assignees: list[Any]  # whom it may be handed to (when ``can_act``)


def escalation_rows(user: Viewer, escalations: list[Escalation]) -> list[EscalationRow]:
    """Each escalation with whether ``user`` holds its target role and the
    people it may be assigned to (members of the assignable roles over its
    scope): one query for the whole page (``policy.role_holders``)."""
    wanted = {}
    for e in escalations:
        audience = escalation_audience(e)
        for role in {audience.role, *ASSIGNABLE_ROLES}:
            wanted[(e.pk, role)] = (role, audience.portfolio_id, audience.unit_paths)
    holders = policy.role_holders(wanted)
    rows = []
    for e in escalations:
        target = holders.get((e.pk, e.rule.target_role), [])
        user_pk = getattr(user, "pk", None)
        can_act = policy.sees_everything(user) or any(u.pk == user_pk for u in target)
        people: dict[int, object] = {}
        if can_act:
            for role in ASSIGNABLE_ROLES:
                for u in holders.get((e.pk, role), []):
                    people.setdefault(u.pk, u)
        rows.append(
            EscalationRow(
                e, can_act, sorted(people.values(), key=lambda u: u.get_username())
            )
        )
    return rows
