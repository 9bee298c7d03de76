"""Query vocabulary of the risks app."""

from __future__ import annotations

from django.db.models import Q

from accounts.querysets import RestrictedQuerySet


class RiskQuerySet(RestrictedQuerySet):
    def open(self):
        from .models import Risk

        return self.exclude(status=Risk.Status.CLOSED)


class IssueQuerySet(RestrictedQuerySet):
    def open(self):
        return self.filter(resolved_at__isnull=True)


class StakeholderAssessmentQuerySet(RestrictedQuerySet):
    pass


class EscalationRuleQuerySet(RestrictedQuerySet):
    def global_defaults(self):
        return self.filter(portfolio__isnull=True)


class EscalationQuerySet(RestrictedQuerySet):
    def active(self):
        """Escalations not yet resolved (open or acknowledged)."""
        from .models import Escalation

        return self.filter(~Q(status=Escalation.Status.RESOLVED))


class PortfolioChannelsQuerySet(RestrictedQuerySet):
    pass
