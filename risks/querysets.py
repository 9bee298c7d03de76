"""Query vocabulary of the risks app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db.models import Q

from accounts.querysets import RestrictedQuerySet

if TYPE_CHECKING:
    # Named (as strings) in the queryset base classes below.
    from .models import (  # noqa: F401
        Escalation,
        EscalationRule,
        Issue,
        PortfolioChannels,
        Risk,
        StakeholderAssessment,
    )


class RiskQuerySet(RestrictedQuerySet["Risk"]):
    def open(self) -> Self:
        from .models import Risk

        return self.exclude(status=Risk.Status.CLOSED)


class IssueQuerySet(RestrictedQuerySet["Issue"]):
    def open(self) -> Self:
        return self.filter(resolved_at__isnull=True)


class StakeholderAssessmentQuerySet(RestrictedQuerySet["StakeholderAssessment"]):
    pass


class EscalationRuleQuerySet(RestrictedQuerySet["EscalationRule"]):
    def global_defaults(self) -> Self:
        return self.filter(portfolio__isnull=True)


class EscalationQuerySet(RestrictedQuerySet["Escalation"]):
    def active(self) -> Self:
        """Escalations not yet resolved (open or acknowledged)."""
        from .models import Escalation

        return self.filter(~Q(status=Escalation.Status.RESOLVED))


class PortfolioChannelsQuerySet(RestrictedQuerySet["PortfolioChannels"]):
    pass
