"""Budget overrun: an open milestone whose estimate at completion exceeds its
approved budget by more than the threshold, a percentage of the approved
budget ((estimate - approved) / approved, approved budget > 0). Default: 15 %,
to the portfolio's executives, and a reauthorization request for each
unresolved escalation (the financial review)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING

from django.db.models import F

from accounts.roles import Role

from . import (
    MILESTONE_COLUMNS,
    PERCENT,
    DefaultRule,
    Hit,
    RuleBook,
    Subject,
    TriggerSpec,
    amount_text,
    milestone_hit,
    percent_text,
    register,
)

if TYPE_CHECKING:
    from ..models import Escalation

HUNDRED = Decimal("100")
CENT = Decimal("0.01")


class BudgetOverrun(TriggerSpec):
    name = "BUDGET_OVERRUN"
    value = "budget_overrun"
    label = "Budget overrun"
    unit = PERCENT
    subject = Subject.MILESTONE
    default = DefaultRule(
        threshold=Decimal("15"),
        target_role=Role.EXECUTIVE,
        consequence="Financial review: a reauthorization is required.",
    )

    def hits(
        self, book: RuleBook, *, now: datetime, ids: Collection[int] | None = None
    ) -> list[Hit]:
        from milestones.models import Milestone

        if book.lowest_threshold(self.value) is None:
            return []
        # Any overrun is fetched; the exact comparison is done in Decimal below,
        # so 15.00 % never escalates against 15 % whatever the database's numerics.
        queryset = Milestone.objects.open().filter(
            approved_budget__gt=0,
            estimate_at_completion__isnull=False,
            estimate_at_completion__gt=F("approved_budget"),
        )
        if ids is not None:
            queryset = queryset.filter(pk__in=ids)
        rows = queryset.values(
            *MILESTONE_COLUMNS, "approved_budget", "estimate_at_completion"
        )
        hits = []
        for row in rows:
            rule = book.rule(row["portfolio_id"], self.value)
            approved, estimate = row["approved_budget"], row["estimate_at_completion"]
            if rule is None or not (estimate - approved) * HUNDRED > (
                rule.threshold * approved
            ):
                continue
            overrun = ((estimate - approved) * HUNDRED / approved).quantize(
                CENT, rounding=ROUND_UP
            )
            summary = (
                f"{row['name']} is forecast {percent_text(overrun)} over budget "
                f"(estimate {amount_text(estimate)} against "
                f"{amount_text(approved)} approved; "
                f"threshold {percent_text(rule.threshold)})"
            )
            hits.append(milestone_hit(rule, row, overrun, summary))
        return hits

    def on_holding(self, escalations: list[Escalation]) -> None:
        """The financial review: one reauthorization request per unresolved
        escalation (``approvals.services.approval_requests_for_escalations``
        skips those that have one, so a second sweep adds nothing and a missed
        one is caught up)."""
        from approvals.services import approval_requests_for_escalations

        wanted = [
            (e.pk, e.milestone_id, e.summary) for e in escalations if e.milestone_id
        ]
        if wanted:
            approval_requests_for_escalations(wanted)


SPEC = register(BudgetOverrun())
