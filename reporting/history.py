"""The executive report as it stood at the end of a past day, from history.

:class:`HistorySource` answers the same questions as
``reporting.selectors.LiveSource`` but reads simple-history's tables: for every
tracked model, the latest historical row written by the end of the report day
(``history_date <= as-of``; a deletion drops the row), the way
``Model.history.as_of(moment)`` does. Progress updates count when they were
written (their creation history row) by then and submitted by then. It keeps
the historical *records* rather than turning them into instances, so that the
database can aggregate them: ``id`` is the object's id on them (``pk`` is the
history row's).

The figures use the expression builders of ``milestones.querysets`` (open,
active, late, over-budget, planned share, delay) and the rules of
``milestones.selectors`` (category status, risk level, schedule status), so
a past report follows the same definitions as the dashboard. Only the
aggregation is restated, because the live selectors aggregate through the
live tables' relations.

Scope: a row is included when the reader may view the object today (its
current scope decides). Approval requests pending at the end of the day are
listed from their history rows (a request decided later still shows as
pending on that day; one decided by then does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.roles import VIEW
from approvals.models import ApprovalRequest
from milestones import selectors as ms
from milestones.models import (
    KPI,
    Dependency,
    Milestone,
    MilestoneCategory,
    ProgressUpdate,
    ResourceAllocation,
    Status,
)
from milestones.querysets import (
    active_q,
    delay_days_expr,
    late_q,
    open_q,
    overrun_q,
    planned_share_expr,
)
from portal.db import Ratio
from portal.errors import Invalid
from risks.models import Escalation, Risk, severity_for

from . import charts
from .selectors import (
    LIST_LIMIT,
    BurnUp,
    KPIStatus,
    UnitFTE,
    burn_up_from,
    end_of_day,
    kpi_statuses,
    limited,
)


@dataclass(frozen=True)
class PastApproval:
    """A request as it stood on a past day, written as the live report writes
    a request (``ApprovalRequest.__str__``)."""

    id: int
    kind: str
    milestone: str

    def __str__(self) -> str:
        return f"#{self.id} {self.kind}: {self.milestone}"


def portfolio_existed_on(portfolio, day: date) -> date | bool:
    """True when ``portfolio`` existed at the end of ``day``, else the day it
    was created (its first history record; backdated demo history counts)."""
    first = (
        portfolio.history.filter(history_type="+")
        .order_by("history_date")
        .values_list("history_date", flat=True)
        .first()
    )
    created = min(filter(None, (first, portfolio.created_at)))
    if created <= end_of_day(day):
        return True
    return timezone.localdate(created)


class HistorySource:
    """The figures of one portfolio at the end of ``as_of``, for ``user``."""

    is_history = True
    _categories: list[ms.CategoryProgress]  # once computed

    def __init__(self, user, portfolio, as_of: date):
        self.user = user
        self.portfolio = portfolio
        self.today = as_of
        self.moment = end_of_day(as_of)
        existed = portfolio_existed_on(portfolio, as_of)
        if existed is not True:
            raise Invalid(
                f"Portfolio {portfolio.slug!r} did not exist on {as_of} "
                f"(it was created on {existed}); choose a later date."
            )

    # Snapshots ----------------------------------------------------------------

    def snapshot(self, model, **filters) -> QuerySet:
        """The latest historical row of each ``model`` object by the moment,
        deletions dropped, then filtered by ``filters``."""
        return (
            model.history.filter(history_date__lte=self.moment)
            .latest_of_each()
            .exclude(history_type="-")
            .filter(**filters)
        )

    def _milestones(self) -> QuerySet:
        visible = Milestone.objects.restrict(self.user, VIEW).values("pk")
        return self.snapshot(Milestone, portfolio_id=self.portfolio.pk).filter(
            id__in=visible
        )

    def milestones(self) -> QuerySet:
        return self._milestones().annotate(delay_days=delay_days_expr())

    # Progress -------------------------------------------------------------------

    def _category_aggregates(self) -> dict[int, dict]:
        today = self.today
        active, opened = active_q(), open_q()
        troubled = late_q(today) | Q(status=Status.AT_RISK) | overrun_q()
        weight_sum = Sum("weight", filter=active)
        rows = (
            self._milestones()
            .order_by()
            .values("category_id")
            .annotate(
                milestone_count=Count("pk"),
                **ms.status_count_aggregates(),
                open_count=Count("pk", filter=opened),
                late_count=Count("pk", filter=opened & late_q(today)),
                at_risk_count=Count("pk", filter=opened & Q(status=Status.AT_RISK)),
                overrun_count=Count("pk", filter=opened & overrun_q()),
                troubled_count=Count("pk", filter=opened & troubled),
                progress_pct=Ratio(
                    Sum(F("weight") * F("percent_complete"), filter=active),
                    weight_sum,
                ),
                planned_pct=Ratio(
                    Sum(F("weight") * planned_share_expr(today), filter=active),
                    weight_sum,
                ),
            )
        )
        return {row["category_id"]: row for row in rows}

    def categories(self) -> list[ms.CategoryProgress]:
        if hasattr(self, "_categories"):
            return self._categories
        aggregates = self._category_aggregates()
        result = []
        self._raw: list[tuple[Decimal, Decimal, Decimal]] = []
        for category in self.snapshot(
            MilestoneCategory, portfolio_id=self.portfolio.pk
        ).order_by("order", "name"):
            row = aggregates.get(category.id, {})
            counts = ms.counts_from_row(row) if row else {s.value: 0 for s in Status}
            late = row.get("late_count", 0)
            open_count = row.get("open_count", 0)
            troubled = row.get("troubled_count", 0)
            progress = Decimal(row.get("progress_pct") or 0)
            planned = Decimal(row.get("planned_pct") or 0)
            self._raw.append((category.weight, progress, planned))
            result.append(
                ms.CategoryProgress(
                    category=category,
                    weight=category.weight,
                    progress=ms.percent_figure(progress),
                    planned_progress=ms.percent_figure(planned),
                    milestone_count=row.get("milestone_count", 0),
                    counts=counts,
                    open_count=open_count,
                    late_count=late,
                    at_risk_count=row.get("at_risk_count", 0),
                    overrun_count=row.get("overrun_count", 0),
                    troubled_count=troubled,
                    status=ms.category_status(counts, late),
                    risk_level=ms.risk_level_of(
                        open_count, troubled, counts[Status.COMPLETED]
                    ),
                )
            )
        self._categories = result
        return result

    def progress(self) -> ms.PortfolioProgress:
        self.categories()
        total_weight = sum((w for w, _, _ in self._raw), Decimal("0"))
        if total_weight:
            progress = sum((w * p for w, p, _ in self._raw), Decimal("0"))
            planned = sum((w * q for w, _, q in self._raw), Decimal("0"))
            progress, planned = progress / total_weight, planned / total_weight
        else:
            progress = planned = Decimal("0")
        progress, planned = ms.percent_figure(progress), ms.percent_figure(planned)
        row = (
            self._milestones()
            .order_by()
            .aggregate(total=Count("pk"), **ms.status_count_aggregates())
        )
        return ms.PortfolioProgress(
            portfolio=self.portfolio,
            progress=progress,
            planned_progress=planned,
            variance=progress - planned,
            schedule_status=ms.schedule_status(progress, planned),
            milestone_count=row["total"],
            counts=ms.counts_from_row(row),
        )

    def budget(self) -> tuple[Decimal, Decimal, Decimal | None]:
        row = (
            self._milestones()
            .filter(active_q())
            .order_by()
            .aggregate(
                spent=Sum("actual_spend"),
                budget=Sum("approved_budget"),
                utilisation=Ratio(
                    Sum("actual_spend"), Sum("approved_budget"), scale=100
                ),
            )
        )
        return (
            ms.money_figure(row["spent"]),
            ms.money_figure(row["budget"]),
            ms.percent_figure(row["utilisation"]),
        )

    # Resources, risks, escalations ----------------------------------------------

    def fte_by_unit(self) -> list[UnitFTE]:
        open_ids = self._milestones().filter(open_q()).values("id")
        rows = (
            self.snapshot(ResourceAllocation, milestone_id__in=open_ids)
            .order_by()
            .values("org_unit__name")
            .annotate(total=Sum("fte"))
            .order_by("-total", "org_unit__name")
        )
        return [UnitFTE(r["org_unit__name"], r["total"]) for r in rows]

    def _risks(self) -> QuerySet:
        visible = Risk.objects.restrict(self.user, VIEW).values("pk")
        return (
            self.snapshot(Risk, portfolio_id=self.portfolio.pk)
            .filter(id__in=visible)
            .exclude(status=Risk.Status.CLOSED)
        )

    def top_risks(self, limit: int) -> list:
        return list(
            self._risks()
            .select_related("owner", "milestone")
            .order_by("-score", "-impact", "title")[:limit]
        )

    def heat_cells(self) -> list[charts.HeatCell]:
        counts = {
            (row["probability"], row["impact"]): row["n"]
            for row in self._risks()
            .order_by()
            .values("probability", "impact")
            .annotate(n=Count("pk"))
        }
        return [
            charts.HeatCell(p, i, counts.get((p, i), 0), str(severity_for(p * i)))
            for i in range(5, 0, -1)
            for p in range(1, 6)
        ]

    def escalations(self, limit: int = LIST_LIMIT) -> tuple[list, int]:
        queryset = self.status_escalations().select_related("rule", "milestone")
        return limited(queryset.order_by("-opened_at", "-id"), limit)

    def status_escalations(self) -> QuerySet:
        """The escalations open at the end of the day, as they stood then."""
        visible = Escalation.objects.restrict(self.user, VIEW).values("pk")
        return (
            self.snapshot(Escalation, portfolio_id=self.portfolio.pk)
            .filter(id__in=visible)
            .exclude(status=Escalation.Status.RESOLVED)
        )

    def status_milestones(self) -> QuerySet:
        """The visible milestones as they stood (``reporting.status``)."""
        return self._milestones()

    # Timeline, burn-up, KPIs, updates -------------------------------------------

    def links(self) -> list[tuple[int, int, str, int]]:
        ids = self._milestones().values("id")
        return list(
            self.snapshot(Dependency, successor_id__in=ids)
            .filter(predecessor_id__in=ids)
            .order_by()
            .values_list("predecessor_id", "successor_id", "type", "lag_days")
        )

    def burn_up(self) -> BurnUp:
        return burn_up_from(self._milestones(), self.today)

    def kpis(self) -> list[KPIStatus]:
        visible = KPI.objects.restrict(self.user, VIEW).values("pk")
        return kpi_statuses(
            self.snapshot(KPI, portfolio_id=self.portfolio.pk).filter(id__in=visible),
            self.today,
        )

    def updates(self) -> QuerySet:
        written = ProgressUpdate.history.filter(
            history_type="+", history_date__lte=self.moment
        ).values("id")
        return ProgressUpdate.objects.restrict(self.user, VIEW).filter(
            milestone__portfolio=self.portfolio,
            submitted_at__lte=self.moment,
            pk__in=written,
        )

    def _pending(self, kind: str | None = None) -> list[PastApproval]:
        """Requests pending at the end of the day (their latest history row
        by then says pending), in the reader's scope, oldest first; each named
        with its milestone's name of that day. Two queries."""
        visible = ApprovalRequest.objects.restrict(self.user, VIEW).filter(
            milestone__portfolio=self.portfolio
        )
        rows = self.snapshot(ApprovalRequest, status=ApprovalRequest.Status.PENDING)
        rows = rows.filter(id__in=visible.values("pk"))
        if kind is not None:
            rows = rows.filter(kind=kind)
        pending = list(
            rows.order_by("requested_at", "id").values_list(
                "id", "kind", "milestone_id"
            )[:LIST_LIMIT]
        )
        names = dict(
            self.snapshot(Milestone, id__in={m for _, _, m in pending}).values_list(
                "id", "name"
            )
        )
        labels = dict(ApprovalRequest.Kind.choices)
        return [
            PastApproval(pk, str(labels.get(k, k)), names.get(m, ""))
            for pk, k, m in pending
        ]

    def approvals(self) -> list[PastApproval]:
        return self._pending()

    def reauthorizations(self) -> list[PastApproval]:
        return self._pending(ApprovalRequest.Kind.REAUTHORIZATION)
