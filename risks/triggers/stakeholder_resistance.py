"""Stakeholder resistance: a stakeholder group whose latest assessment (on a
portfolio, or on a milestone still open) shows more resistance than the
threshold, a percentage. Default: 30 %, to the portfolio's executives
(change-management intervention with executive support)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from django.db.models import BigIntegerField, Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce

from accounts.roles import Role

from . import (
    PERCENT,
    DefaultRule,
    Hit,
    RuleBook,
    Subject,
    TriggerSpec,
    percent_text,
    register,
)


class StakeholderResistance(TriggerSpec):
    name = "STAKEHOLDER_RESISTANCE"
    value = "stakeholder_resistance"
    label = "Stakeholder resistance"
    unit = PERCENT
    subject = Subject.ASSESSMENT
    default = DefaultRule(
        threshold=Decimal("30"),
        target_role=Role.EXECUTIVE,
        consequence="Change-management intervention with executive support.",
    )

    def hits(
        self, book: RuleBook, *, now: datetime, ids: Collection[int] | None = None
    ) -> list[Hit]:
        from milestones.models import CLOSED_STATUSES

        from ..models import StakeholderAssessment

        lowest = book.lowest_threshold(self.value)
        if lowest is None:
            return []
        same_subject = Coalesce(OuterRef("milestone_id"), Value(0))
        newer = (
            StakeholderAssessment.objects.filter(
                portfolio_id=OuterRef("portfolio_id"),
                stakeholder_group=OuterRef("stakeholder_group"),
            )
            .annotate(subject=Coalesce("milestone_id", Value(0)))
            .filter(
                subject=Coalesce(same_subject, Value(0), output_field=BigIntegerField())
            )
            .filter(
                Q(assessed_on__gt=OuterRef("assessed_on"))
                | Q(assessed_on=OuterRef("assessed_on"), pk__gt=OuterRef("pk"))
            )
        )
        queryset = (
            StakeholderAssessment.objects.filter(resistance_percent__gt=lowest)
            .filter(~Exists(newer))
            .exclude(milestone__status__in=CLOSED_STATUSES)
        )
        if ids is not None:
            queryset = queryset.filter(pk__in=ids)
        rows = queryset.values(
            "pk",
            "stakeholder_group",
            "resistance_percent",
            "assessed_on",
            "portfolio_id",
            "portfolio__name",
            "portfolio__org_unit__path",
            "milestone_id",
            "milestone__name",
            "org_unit_id",
            "org_unit__path",
        )
        hits = []
        for row in rows:
            rule = book.rule(row["portfolio_id"], self.value)
            resistance = row["resistance_percent"]
            if rule is None or not resistance > rule.threshold:
                continue
            on = row["milestone__name"] or row["portfolio__name"]
            summary = (
                f"{percent_text(resistance)} of {row['stakeholder_group']} resist "
                f"{on} (assessed {row['assessed_on']:%Y-%m-%d}; threshold "
                f"{percent_text(rule.threshold)})"
            )
            hits.append(
                Hit(
                    rule=rule,
                    # One escalation per group and subject, whichever
                    # assessment of it raised it.
                    subject_key=(
                        f"stakeholders:{row['portfolio_id']}:"
                        f"{row['milestone_id'] or 0}:{row['stakeholder_group']}"
                    )[:200],
                    portfolio_id=row["portfolio_id"],
                    portfolio_name=row["portfolio__name"],
                    portfolio_unit_path=row["portfolio__org_unit__path"],
                    org_unit_id=row["org_unit_id"],
                    org_unit_path=row["org_unit__path"],
                    milestone_id=row["milestone_id"],
                    assessment_id=row["pk"],
                    measured=resistance,
                    summary=summary,
                )
            )
        return hits


SPEC = register(StakeholderResistance())
