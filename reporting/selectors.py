"""Reads of the reporting app: the dashboard, its drill-down and the executive
status report.

Nothing here computes a figure of its own: progress, plan, status, scorecard,
success metrics and the regional comparison come from
``milestones.selectors``; risks, the heat map and escalations from
``risks.selectors``. This module picks the rows a page or the report needs,
bundles them into dataclasses and turns them into chart inputs
(``reporting.charts``). Every read takes the reading ``user`` and goes through
the access policy; the scheduled distribution reads as :data:`SYSTEM`.

The executive report has two sources with the same interface:
:class:`LiveSource` (today's figures, the dashboard's selectors) and
``reporting.history.HistorySource`` (the figures as they stood at the end of a
past day, rebuilt from simple-history).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Count,
    DecimalField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from accounts import policy
from accounts.policy import Viewer, get_for_user
from accounts.roles import VIEW
from approvals import selectors as approval_selectors
from milestones import selectors as ms
from milestones.models import (
    KPI,
    Dependency,
    KPIMeasurement,
    Milestone,
    MilestoneCategory,
    Portfolio,
    ProgressUpdate,
    ResourceAllocation,
    Status,
)
from milestones.querysets import MilestoneQuerySet, open_q
from risks import selectors as rs
from risks.models import Escalation, Risk, severity_for
from scheduling import selectors as sched
from scheduling.engine import TaskSchedule

from . import charts
from . import status as rag

logger = logging.getLogger(__name__)

DUE_WITHIN_DAYS = 30
REPORT_PERIOD_DAYS = 7
TOP_RISKS_DASHBOARD = 5
TOP_RISKS_REPORT = 3
LIST_LIMIT = 10
ACHIEVEMENTS_LIMIT = 5
GANTT_MAX_ROWS = 40
REPORT_MILESTONES_PER_CATEGORY = 25
CENT = Decimal("0.01")

if TYPE_CHECKING:
    from .history import HistorySource


#: The reader of scheduled work (the weekly distribution): the access
#: policy's system actor, which sees every row and is no user.
SYSTEM = policy.SYSTEM


def end_of_day(day: date) -> datetime:
    """The last instant of ``day`` in the current time zone."""
    start = datetime.combine(day + timedelta(days=1), time())
    return timezone.make_aware(start) - timedelta(microseconds=1)


def start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()))


# Portfolios ----------------------------------------------------------------


def portfolios_for(user: Viewer) -> QuerySet[Portfolio]:
    """The portfolios the user may view, with their org unit."""
    return (
        Portfolio.objects.restrict(user, VIEW)
        .select_related("org_unit", "sponsor")
        .order_by("name")
    )


def portfolio_for(user: Viewer, slug: str) -> Portfolio:
    """One portfolio by slug; ``NotFound`` (404) when missing or out of scope."""
    return get_for_user(portfolios_for(user), user, VIEW, slug=slug)


# Approvals ------------------------------------------------------------------


def pending_approvals(user: Viewer, portfolio: Portfolio | None = None) -> list[Any]:
    """Approval requests awaiting a decision in the user's scope, oldest first
    (``approvals.selectors.pending_approvals``)."""
    return first_rows(approval_selectors.pending_approvals(user, portfolio), LIST_LIMIT)


def open_reauthorizations(
    user: Viewer, portfolio: Portfolio | None = None
) -> list[Any]:
    """Pending budget/timeline reauthorizations: the report's "resource needs"."""
    return first_rows(
        approval_selectors.open_reauthorizations(user, portfolio), LIST_LIMIT
    )


# Chart inputs shared by the live and the historical source ------------------


def heat_cells_from(heat_map: rs.HeatMap) -> list[charts.HeatCell]:
    return [
        charts.HeatCell(c.probability, c.impact, c.count, str(c.severity))
        for row in heat_map.rows
        for c in row
    ]


def category_bars(
    categories: list[ms.CategoryProgress],
    status: rag.PortfolioStatus | None = None,
) -> list[charts.CategoryBar]:
    """Bars coloured by the categories' one status (``reporting.status``)
    when it is known, else by their milestones' reported status."""
    return [
        charts.CategoryBar(
            label=c.name,
            progress=float(c.progress),
            expected=float(c.planned_progress),
            weight=float(c.weight),
            status=(
                rag.category_of(status, c.category.pk).rag
                if status is not None
                else c.status
            ),
        )
        for c in categories
    ]


def _cumulative(rows: list[tuple[date, int]]) -> list[tuple[date, int]]:
    total, series = 0, []
    for day, count in rows:
        total += count
        series.append((day, total))
    return series


@dataclass(frozen=True)
class BurnUp:
    completed: list[tuple[date, int]]
    planned: list[tuple[date, int]]
    total: int


def burn_up_from(milestones: QuerySet[Any, Any], today: date) -> BurnUp:
    """Cumulative completions (by actual completion up to ``today``) and
    planned completions of the non-cancelled milestones of ``milestones``.
    Two grouped queries; works on live and on historical querysets."""
    active = milestones.exclude(status=Status.CANCELLED).order_by()
    completed = (
        active.filter(
            status=Status.COMPLETED,
            actual_completion__isnull=False,
            actual_completion__lte=today,
        )
        .values_list("actual_completion")
        .annotate(n=Count("pk"))
        .order_by("actual_completion")
    )
    planned = (
        active.values_list("planned_completion")
        .annotate(n=Count("pk"))
        .order_by("planned_completion")
    )
    planned_rows = list(planned)
    return BurnUp(
        completed=_cumulative(list(completed)),
        planned=_cumulative(planned_rows),
        total=sum(n for _, n in planned_rows),
    )


def burn_up_chart(data: BurnUp, today: date) -> SafeString:
    return charts.burn_up(data.completed, data.planned, total=data.total, today=today)


def gantt_chart(
    milestones: list[Any],
    links: list[tuple[int, int, str, int]],
    *,
    today: date,
    timings: Mapping[int, TaskSchedule],
    href: Callable[[Any], str] | None = None,
    max_rows: int = GANTT_MAX_ROWS,
) -> SafeString:
    """The timeline of ``milestones`` (the rows the reader sees, with ``id``,
    ``name``, the plan and progress fields) and ``links`` between them
    (predecessor id, successor id, type, lag). Scheduled finishes and the
    critical path come from ``timings``: the whole network's schedule
    (``sched.network_timings``), the one the schedule page and API show, so
    a hidden late predecessor pushes a visible milestone here too.

    Beyond ``max_rows`` milestones the critical ones come first, then the
    open ones starting earliest; a note says how many are shown.
    """
    active = [m for m in milestones if m.status != Status.CANCELLED]
    ids = {m.id for m in active}
    kept = [link for link in links if link[0] in ids and link[1] in ids]
    scheduled = timings

    def critical(m: Any) -> bool:
        return bool(scheduled.get(m.id) and scheduled[m.id].critical)

    chosen = active
    note = ""
    if len(active) > max_rows:
        ranked = sorted(
            active,
            key=lambda m: (
                not critical(m),
                m.status == Status.COMPLETED,
                m.planned_start,
                m.id,
            ),
        )
        chosen = ranked[:max_rows]
        note = (
            f"Showing {max_rows} of {len(active)} milestones: the critical path "
            "first, then the open ones starting earliest."
        )
    chosen = sorted(chosen, key=lambda m: (m.planned_start, m.planned_completion, m.id))
    rows = []
    bounded = sched.bounded_date  # extreme stored dates draw at the edge
    for m in chosen:
        start, planned = bounded(m.planned_start), bounded(m.planned_completion)
        finish = (
            scheduled[m.id].ef if m.id in scheduled else bounded(m.forecast_completion)
        )
        rows.append(
            charts.GanttRow(
                id=m.id,
                label=m.name,
                start=start,
                finish=max(planned, start),
                forecast=finish if finish and finish > planned else None,
                percent=float(m.percent_complete),
                status=m.status,
                critical=critical(m),
                href=href(m) if href else None,
            )
        )
    return charts.gantt(
        rows,
        [charts.GanttLink(p, s, t) for p, s, t, _ in kept],
        today=today,
        note=note,
    )


# KPIs ------------------------------------------------------------------------


@dataclass(frozen=True)
class KPIStatus:
    """A KPI against its target: the latest value on or before the report day
    and how far it has moved from the baseline towards the target (%)."""

    name: str
    unit: str
    baseline: Decimal
    target: Decimal
    value: Decimal | None
    measured_on: date | None
    attainment: Decimal | None

    @property
    def met(self) -> bool:
        return self.attainment is not None and self.attainment >= 100


def kpi_statuses(kpis: QuerySet[Any, Any], day: date) -> list[KPIStatus]:
    """The KPIs of ``kpis`` (live or historical rows; ``id`` is the KPI id)
    with their latest measurement on or before ``day``. One query."""
    latest = KPIMeasurement.objects.filter(
        kpi_id=OuterRef("id"), measured_on__lte=day
    ).order_by("-measured_on")
    rows = kpis.annotate(
        latest_value=Subquery(
            latest.values("value")[:1],
            output_field=DecimalField(max_digits=18, decimal_places=4),
        ),
        latest_on=Subquery(latest.values("measured_on")[:1]),
    ).order_by("name")
    result = []
    for k in rows:
        span = k.target - k.baseline
        value = k.latest_value
        attainment = None
        if value is not None and span:
            attainment = ((Decimal(value) - k.baseline) * 100 / span).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP
            )
        result.append(
            KPIStatus(
                name=k.name,
                unit=k.unit,
                baseline=k.baseline,
                target=k.target,
                value=Decimal(value) if value is not None else None,
                measured_on=k.latest_on,
                attainment=attainment,
            )
        )
    return result


# The live source -------------------------------------------------------------


@dataclass(frozen=True)
class UnitFTE:
    name: str
    fte: Decimal


class LiveSource:
    """Today's figures of one portfolio as ``user`` may see them: the same
    selectors as the dashboard."""

    is_history = False

    def __init__(self, user: Viewer, portfolio: Portfolio, today: date | None = None):
        self.user = user
        self.portfolio = portfolio
        self.today = today or timezone.localdate()

    def _figures(self) -> ms.PortfolioFigures:
        # Progress and categories come from the same two queries: read once.
        if not hasattr(self, "_portfolio_figures"):
            self._portfolio_figures = ms.portfolio_figures(
                self.user, [self.portfolio], today=self.today
            )[self.portfolio.pk]
        return self._portfolio_figures

    def progress(self) -> ms.PortfolioProgress:
        return self._figures().progress

    def categories(self) -> list[ms.CategoryProgress]:
        return self._figures().categories

    def milestones(self) -> MilestoneQuerySet:
        """Milestones with ``delay_days`` and the other figures; ``id`` is the
        milestone id on both sources (``pk`` is not, on the historical one)."""
        return ms.milestone_list(self.user, portfolio=self.portfolio, today=self.today)

    def budget(self) -> tuple[Decimal, Decimal, Decimal | None]:
        metrics = ms.success_metrics(self.user, self.portfolio, today=self.today)
        return (
            metrics.actual_spend,
            metrics.approved_budget,
            metrics.budget_utilisation,
        )

    def fte_by_unit(self) -> list[UnitFTE]:
        rows = (
            ResourceAllocation.objects.restrict(self.user, VIEW)
            .filter(open_q("milestone__"), milestone__portfolio=self.portfolio)
            .order_by()
            .values("org_unit__name")
            .annotate(total=Sum("fte"))
            .order_by("-total", "org_unit__name")
        )
        return [UnitFTE(r["org_unit__name"], r["total"]) for r in rows]

    def top_risks(self, limit: int) -> list[Any]:
        return first_rows(
            rs.risks_for(self.user)
            .filter(portfolio=self.portfolio)
            .open()
            .order_by("-score", "-impact", "title"),
            limit,
        )

    def heat_cells(self) -> list[charts.HeatCell]:
        return heat_cells_from(rs.risk_heat_map(self.user, portfolio=self.portfolio))

    def escalations(self, limit: int = LIST_LIMIT) -> tuple[list[Any], int]:
        return limited(
            rs.escalations_for(self.user).filter(portfolio=self.portfolio).active(),
            limit,
        )

    def status_milestones(self) -> QuerySet[Any, Any] | None:
        """The rows ``reporting.status`` reads (None: today's, its default)."""
        return None

    def status_escalations(self) -> QuerySet[Any, Any] | None:
        return None

    def links(self) -> list[tuple[int, int, str, int]]:
        return list(
            Dependency.objects.restrict(self.user, VIEW)
            .filter(successor__portfolio=self.portfolio)
            .values_list("predecessor_id", "successor_id", "type", "lag_days")
        )

    def burn_up(self) -> BurnUp:
        return burn_up_from(
            Milestone.objects.restrict(self.user, VIEW).filter(
                portfolio=self.portfolio
            ),
            self.today,
        )

    def kpis(self) -> list[KPIStatus]:
        return kpi_statuses(
            KPI.objects.restrict(self.user, VIEW).filter(portfolio=self.portfolio),
            self.today,
        )

    def updates(self) -> QuerySet[Any, Any]:
        """Progress updates submitted by the end of the report day."""
        return ProgressUpdate.objects.restrict(self.user, VIEW).filter(
            milestone__portfolio=self.portfolio,
            submitted_at__lte=end_of_day(self.today),
        )

    def approvals(self) -> list[Any]:
        return pending_approvals(self.user, self.portfolio)

    def reauthorizations(self) -> list[Any]:
        return open_reauthorizations(self.user, self.portfolio)


# Dashboard -------------------------------------------------------------------


def milestone_href(portfolio: Portfolio) -> Callable[[Any], str]:
    def href(m: Any) -> str:
        return reverse("reporting:milestone", args=[portfolio.slug, m.id])

    return href


@dataclass
class PortfolioCard:
    """A portfolio on the dashboard: overall progress and its scorecard."""

    portfolio: Portfolio
    progress: ms.PortfolioProgress
    categories: list[ms.CategoryProgress]
    chart: SafeString
    # P80 finish and odds of finishing on time (None: nothing to schedule).
    outlook: sched.ScheduleOutlook | None = None
    # The one status of the portfolio, its categories and milestones.
    status: rag.PortfolioStatus | None = None

    @property
    def status_counts(self) -> list[tuple[str, str, int]]:
        return status_counts(self.progress.counts)

    @property
    def scorecard(self) -> list[tuple[ms.CategoryProgress, rag.RagStatus]]:
        return scorecard_rows(self.categories, self.status)


def scorecard_rows(
    categories: list[ms.CategoryProgress], status: rag.PortfolioStatus | None
) -> list[tuple[ms.CategoryProgress, rag.RagStatus]]:
    """Each category with its status, for the scorecard tables."""
    return [(c, rag.category_of(status, c.category.pk)) for c in categories]


def status_counts(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(status, label, count) for every status, in the workflow's order."""
    return [(s.value, s.label, counts.get(s.value, 0)) for s in Status]


@dataclass
class Dashboard:
    """The home page: every portfolio in scope and what needs attention."""

    today: date
    cards: list[PortfolioCard]
    top_risks: list[Risk]
    escalations: list[Escalation]
    escalation_count: int
    approvals: list[Any]
    due_soon: list[Milestone]
    due_count: int
    regions: list[ms.RegionFigures]
    heat_map: SafeString
    due_within_days: int = DUE_WITHIN_DAYS

    @property
    def single(self) -> PortfolioCard | None:
        return self.cards[0] if len(self.cards) == 1 else None


def first_rows(queryset: QuerySet[Any, Any], limit: int) -> list[Any]:
    """The first ``limit`` rows of an ordered queryset, its joins
    (``select_related``) made for those rows only.

    Sorting first and joining after is what a top-N list needs: joined
    first, PostgreSQL builds a hash of every related row (all 10,000
    milestones for five risks) before it sorts. The ids are picked by a
    subquery without the joins; one query in all.
    """
    return list(queryset.filter(pk__in=queryset.values("pk")[:limit]))


def limited(queryset: QuerySet[Any, Any], limit: int) -> tuple[list[Any], int]:
    """The first ``limit`` rows (see :func:`first_rows`) and how many there
    are in all: two queries."""
    rows = first_rows(queryset, limit)
    total = queryset.count() if len(rows) == limit else len(rows)
    return rows, total


def dashboard(user: Viewer, *, today: date | None = None) -> Dashboard:
    """Everything the home page shows, for the portfolios ``user`` may view.

    A fixed number of queries whatever the number of portfolios and
    milestones: two for every portfolio's figures, one or two for the
    schedule outlooks (memoised, see ``portfolio_outlooks``), one per panel.
    """
    today = today or timezone.localdate()
    portfolios = list(portfolios_for(user))
    outlooks = sched.portfolio_outlooks(user, portfolios, today=today, allow_stale=True)
    figures = ms.portfolio_figures(user, portfolios, today=today)
    statuses = rag.statuses(user, portfolios, outlooks)
    cards = []
    for portfolio in portfolios:
        categories = figures[portfolio.pk].categories
        status = statuses.get(portfolio.pk)
        cards.append(
            PortfolioCard(
                portfolio=portfolio,
                progress=figures[portfolio.pk].progress,
                categories=categories,
                chart=charts.progress_by_category(category_bars(categories, status)),
                outlook=outlooks.get(portfolio.pk),
                status=status,
            )
        )
    ids = [p.pk for p in portfolios]
    risks = (
        rs.risks_for(user)
        .filter(portfolio_id__in=ids)
        .open()
        .order_by("-score", "-impact", "title")
    )
    escalations, escalation_count = limited(
        rs.escalations_for(user).filter(portfolio_id__in=ids).active(), LIST_LIMIT
    )
    due_soon, due_count = limited(
        ms.milestone_list(user, today=today)
        .filter(portfolio_id__in=ids)
        .due_within(DUE_WITHIN_DAYS, today)
        .order_by("planned_completion", "name"),
        LIST_LIMIT,
    )
    heat = rs.risk_heat_map(user)
    return Dashboard(
        today=today,
        cards=cards,
        top_risks=first_rows(risks, TOP_RISKS_DASHBOARD),
        escalations=escalations,
        escalation_count=escalation_count,
        approvals=pending_approvals(user),
        due_soon=due_soon,
        due_count=due_count,
        regions=ms.regional_comparison(user, today=today),
        heat_map=charts.risk_heat_map(
            heat_cells_from(heat), severity_of=lambda s: str(severity_for(s))
        ),
    )


@dataclass
class PortfolioDashboard:
    """Drill-down level 1: one portfolio with its charts."""

    portfolio: Portfolio
    today: date
    progress: ms.PortfolioProgress
    categories: list[ms.CategoryProgress]
    metrics: ms.SuccessMetrics
    top_risks: list[Risk]
    escalations: list[Escalation]
    escalation_count: int
    approvals: list[Any]
    due_soon: list[Milestone]
    due_count: int
    regions: list[ms.RegionFigures]
    charts: dict[str, SafeString] = field(default_factory=dict)
    due_within_days: int = DUE_WITHIN_DAYS
    outlook: sched.ScheduleOutlook | None = None
    status: rag.PortfolioStatus | None = None

    @property
    def status_counts(self) -> list[tuple[str, str, int]]:
        return status_counts(self.progress.counts)

    @property
    def scorecard(self) -> list[tuple[ms.CategoryProgress, rag.RagStatus]]:
        return scorecard_rows(self.categories, self.status)


def portfolio_dashboard(
    user: Viewer, portfolio: Portfolio, *, today: date | None = None
) -> PortfolioDashboard:
    """One portfolio's dashboard: figures, lists and the four charts."""
    source = LiveSource(user, portfolio, today)
    today = source.today
    categories = source.categories()
    escalations, escalation_count = source.escalations()
    due_soon, due_count = limited(
        source.milestones()
        .due_within(DUE_WITHIN_DAYS, today)
        .order_by("planned_completion", "name"),
        LIST_LIMIT,
    )
    timeline = list(source.milestones().order_by("planned_start", "id"))
    outlooks = sched.portfolio_outlooks(
        user, [portfolio], today=today, allow_stale=True
    )
    status = rag.statuses(user, [portfolio], outlooks).get(portfolio.pk)
    return PortfolioDashboard(
        outlook=outlooks.get(portfolio.pk),
        status=status,
        portfolio=portfolio,
        today=today,
        progress=source.progress(),
        categories=categories,
        metrics=ms.success_metrics(user, portfolio, today=today),
        top_risks=source.top_risks(TOP_RISKS_DASHBOARD),
        escalations=escalations,
        escalation_count=escalation_count,
        approvals=source.approvals(),
        due_soon=due_soon,
        due_count=due_count,
        regions=ms.regional_comparison(user, portfolio, today=today),
        charts={
            "categories": charts.progress_by_category(
                category_bars(categories, status)
            ),
            "heat_map": charts.risk_heat_map(source.heat_cells()),
            "gantt": gantt_chart(
                timeline,
                source.links(),
                today=today,
                timings=sched.network_timings(portfolio, today=today),
                href=milestone_href(portfolio),
            ),
            "burn_up": burn_up_chart(source.burn_up(), today),
        },
    )


@dataclass
class CategoryDetail:
    """Drill-down level 2: a category and its milestones."""

    portfolio: Portfolio
    figures: ms.CategoryProgress
    milestones: list[Milestone]
    status: rag.PortfolioStatus | None = None

    @property
    def category(self) -> MilestoneCategory:
        return self.figures.category

    @property
    def category_status(self) -> rag.RagStatus:
        return rag.category_of(self.status, self.category.pk)

    @property
    def rows(self) -> list[tuple[Milestone, rag.RagStatus | None]]:
        found = self.status.milestones if self.status else {}
        return [(m, found.get(m.pk)) for m in self.milestones]


def category_detail(
    user: Viewer, portfolio: Portfolio, category_id: int, *, today: date | None = None
) -> CategoryDetail:
    """A category of ``portfolio`` with its figures and visible milestones;
    ``NotFound`` when it is not one of the portfolio's categories."""
    from portal.errors import NotFound

    figures = next(
        (
            c
            for c in ms.category_progress(user, portfolio, today=today)
            if c.category.pk == category_id
        ),
        None,
    )
    if figures is None:
        raise NotFound("No such category.")
    milestones = (
        ms.milestone_list(user, portfolio=portfolio, today=today)
        .filter(category_id=category_id)
        .order_by("planned_completion", "name")
    )
    outlooks = sched.portfolio_outlooks(
        user, [portfolio], today=today, allow_stale=True
    )
    status = rag.statuses(user, [portfolio], outlooks).get(portfolio.pk)
    return CategoryDetail(portfolio, figures, list(milestones), status)


@dataclass
class MilestoneDetail:
    """Drill-down level 3: one milestone, its latest reports and its risks."""

    milestone: Milestone
    updates: list[ProgressUpdate]
    risks: list[Risk]
    predecessors: list[Dependency]
    successors: list[Dependency]
    # Neighbours outside the reader's scope: counted, never named.
    hidden_predecessors: int = 0
    hidden_successors: int = 0
    # Its one status and its float against the plan (None: not scheduled).
    status: rag.RagStatus | None = None
    float_days: int | None = None


def milestone_detail(
    user: Viewer, portfolio: Portfolio, milestone_id: int, *, today: date | None = None
) -> MilestoneDetail:
    """One milestone of ``portfolio`` (404 when unseen) with its context."""
    milestone = get_for_user(
        ms.milestone_list(user, portfolio=portfolio, today=today),
        user,
        VIEW,
        pk=milestone_id,
    )
    updates = (
        ProgressUpdate.objects.restrict(user, VIEW)
        .filter(milestone=milestone)
        .select_related("author")
        .order_by("-submitted_at", "-id")[:LIST_LIMIT]
    )
    links = Dependency.objects.restrict(user, VIEW).select_related(
        "predecessor", "successor"
    )
    predecessors = list(links.filter(successor=milestone))
    successors = list(links.filter(predecessor=milestone))
    # How many links the milestone has in all (one query): those the reader
    # may not see are counted on the page, never named.
    all_links = Dependency.objects.aggregate(
        before=Count("pk", filter=Q(successor=milestone)),
        after=Count("pk", filter=Q(predecessor=milestone)),
    )
    outlooks = sched.portfolio_outlooks(
        user, [portfolio], today=today, allow_stale=True
    )
    status = rag.statuses(user, [portfolio], outlooks).get(portfolio.pk)
    outlook = outlooks.get(portfolio.pk)
    found = outlook.milestones.get(milestone.pk) if outlook else None
    return MilestoneDetail(
        status=status.milestones.get(milestone.pk) if status else None,
        float_days=None if found is None or found.done else found.plan_float,
        milestone=milestone,
        updates=list(updates),
        risks=list(
            rs.risks_for(user).filter(milestone=milestone).order_by("-score", "title")
        ),
        predecessors=predecessors,
        successors=successors,
        hidden_predecessors=all_links.get("before", 0) - len(predecessors),
        hidden_successors=all_links.get("after", 0) - len(successors),
    )


# Executive status report ---------------------------------------------------


@dataclass(frozen=True)
class Achievement:
    milestone: str
    day: date
    text: str


@dataclass
class CategorySection:
    figures: ms.CategoryProgress
    milestones: list[Any]
    hidden: int
    # The one status of each of ``milestones`` (same order).
    statuses: list[Any] = field(default_factory=list)

    @property
    def rows(self) -> list[Any]:
        return list(zip(self.milestones, self.statuses, strict=False))


@dataclass
class ExecutiveReport:
    """The executive status report of the seed's template, as data.

    ``as_of`` is the report day: today for a live report, a past day for one
    rebuilt from history (``historical``). The period is the
    ``REPORT_PERIOD_DAYS`` days ending on ``as_of``.
    """

    portfolio: Portfolio
    as_of: date
    period_start: date
    period_end: date
    generated_at: datetime
    historical: bool
    progress: ms.PortfolioProgress
    categories: list[ms.CategoryProgress]
    sections: list[CategorySection]
    achievements: list[Achievement]
    completed_in_period: list[Any]
    top_risks: list[Any]
    kpis: list[KPIStatus]
    budget_spent: Decimal
    budget_allocated: Decimal
    budget_utilisation: Decimal | None
    fte_units: list[UnitFTE]
    technology: list[Any]
    technology_total: int
    technology_done: int
    upcoming: list[Any]
    resource_needs: list[Any]
    approvals: list[Any]
    escalations: list[Any]
    escalation_count: int
    charts: dict[str, SafeString]
    # The portfolio's P80 finish and odds of finishing on time, as of the
    # report day (None: nothing to schedule).
    schedule: sched.ScheduleOutlook | None = None
    # The one status of the portfolio, its categories and milestones, as of
    # the report day.
    status: rag.PortfolioStatus | None = None
    # The audit chain's head when the report was generated ("SEQ:HASH"): an
    # anchor kept outside the database (verify_audit_chain --expect-head).
    audit_anchor: str = ""

    @property
    def fte_total(self) -> Decimal:
        return sum((u.fte for u in self.fte_units), Decimal("0"))

    @property
    def status_counts(self) -> list[tuple[str, str, int]]:
        return status_counts(self.progress.counts)

    @property
    def title(self) -> str:
        return f"{self.portfolio.name} Progress Report - {self.as_of:%d %B %Y}"

    @property
    def scorecard(self) -> list[tuple[ms.CategoryProgress, rag.RagStatus]]:
        return scorecard_rows(self.categories, self.status)

    def milestone_status(self, milestone_id: int) -> rag.RagStatus | None:
        return self.status.milestones.get(milestone_id) if self.status else None


def report_source(
    user: Viewer, portfolio: Portfolio, as_of: date | None
) -> LiveSource | HistorySource:
    """The live source for today (``as_of`` None), else the historical one."""
    if as_of is None:
        return LiveSource(user, portfolio)
    from .history import HistorySource

    return HistorySource(user, portfolio, as_of)


def executive_report(
    user: Viewer,
    portfolio: Portfolio,
    *,
    as_of: date | None = None,
    period_days: int = REPORT_PERIOD_DAYS,
) -> ExecutiveReport:
    """Assemble the executive status report of ``portfolio`` for ``user``.

    Without ``as_of`` the report shows today's figures (the dashboard's
    selectors); with a past ``as_of`` every figure is rebuilt from history as
    it stood at the end of that day.
    """
    source = report_source(user, portfolio, as_of)
    day = source.today
    period_start = day - timedelta(days=period_days - 1)
    categories = source.categories()
    milestones = list(
        source.milestones()
        .select_related("org_unit", "category")
        .order_by("planned_completion", "name", "id")
    )
    by_category: dict[int, list[Any]] = {}
    for m in milestones:
        by_category.setdefault(m.category_id, []).append(m)
    sections = []
    for c in categories:
        rows = by_category.get(c.category.id, [])
        # Troubled first: late, then at risk; then by planned completion.
        rows.sort(
            key=lambda m: (
                m.status in (Status.COMPLETED, Status.CANCELLED),
                -(m.delay_days or 0),
                m.status != Status.AT_RISK,
                m.planned_completion,
            )
        )
        shown = rows[:REPORT_MILESTONES_PER_CATEGORY]
        sections.append(CategorySection(c, shown, len(rows) - len(shown)))

    updates = (
        source.updates()
        .filter(submitted_at__gte=start_of_day(period_start))
        .exclude(achievements="")
        .select_related("milestone")
        .order_by("-submitted_at", "-id")[:ACHIEVEMENTS_LIMIT]
    )
    achievements = [
        Achievement(
            u.milestone.name, timezone.localdate(u.submitted_at), u.achievements
        )
        for u in updates
    ]
    completed = [
        m
        for m in milestones
        if m.status == Status.COMPLETED
        and m.actual_completion
        and period_start <= m.actual_completion <= day
    ]
    spent, allocated, utilisation = source.budget()
    technology = sorted(
        (m for m in milestones if (m.technology_required or "").strip()),
        key=lambda m: (m.status in (Status.COMPLETED, Status.CANCELLED),),
    )
    upcoming = [
        m
        for m in milestones
        if m.status not in (Status.COMPLETED, Status.CANCELLED)
        and day <= m.planned_completion <= day + timedelta(days=DUE_WITHIN_DAYS)
    ]
    escalations, escalation_count = source.escalations()
    if source.is_history:
        outlook = sched.portfolio_outlook_as_of(user, portfolio, day)
    else:
        outlook = sched.portfolio_outlook(user, portfolio, today=day)
    status = rag.statuses(
        user,
        [portfolio],
        {portfolio.pk: outlook},
        milestones=source.status_milestones(),
        escalations=source.status_escalations(),
    ).get(portfolio.pk)
    for section in sections:
        section.statuses = [
            status.milestones.get(m.id) if status else None for m in section.milestones
        ]
    return ExecutiveReport(
        status=status,
        portfolio=portfolio,
        as_of=day,
        period_start=period_start,
        period_end=day,
        generated_at=timezone.now(),
        historical=source.is_history,
        progress=source.progress(),
        categories=categories,
        sections=sections,
        achievements=achievements,
        completed_in_period=completed,
        top_risks=source.top_risks(TOP_RISKS_REPORT),
        kpis=source.kpis(),
        budget_spent=spent,
        budget_allocated=allocated,
        budget_utilisation=utilisation,
        fte_units=source.fte_by_unit(),
        technology=technology[:LIST_LIMIT],
        technology_total=len(technology),
        technology_done=sum(1 for m in technology if m.status == Status.COMPLETED),
        upcoming=upcoming[:LIST_LIMIT],
        resource_needs=source.reauthorizations(),
        approvals=source.approvals(),
        escalations=escalations,
        escalation_count=escalation_count,
        charts={
            "categories": charts.progress_by_category(
                category_bars(categories, status)
            ),
            "heat_map": charts.risk_heat_map(source.heat_cells()),
            "gantt": gantt_chart(
                milestones,
                source.links(),
                today=day,
                timings=sched.network_timings(
                    portfolio, today=day, as_of=day if source.is_history else None
                ),
            ),
            "burn_up": burn_up_chart(source.burn_up(), day),
        },
        schedule=outlook,
    )


# Status summary (API) ---------------------------------------------------------


def status_summary(
    user: Viewer, portfolio: Portfolio, *, today: date | None = None
) -> dict[str, Any]:
    """The one status of ``portfolio``, its categories and the milestones
    ``user`` may view, as plain data for the API (four queries when the
    outlook is memoised: outlook key, escalations, milestones, categories)."""
    outlooks = sched.portfolio_outlooks(user, [portfolio], today=today)
    outlook = outlooks.get(portfolio.pk)
    status = rag.statuses(user, [portfolio], outlooks)[portfolio.pk]
    categories = (
        MilestoneCategory.objects.restrict(user, VIEW)
        .filter(portfolio=portfolio)
        .order_by("order", "name")
        .values_list("pk", "name")
    )

    def plain(s: rag.RagStatus) -> dict[str, Any]:
        return {"rag": s.rag, "label": s.label, "reason": s.reason}

    def float_of(pk: int) -> int | None:
        found = outlook.milestones.get(pk) if outlook else None
        return None if found is None or found.done else found.plan_float

    return {
        "portfolio": portfolio.slug,
        "status": plain(status.overall),
        "categories": [
            {"id": pk, "name": name, **plain(rag.category_of(status, pk))}
            for pk, name in categories
        ],
        "milestones": [
            {
                "id": pk,
                "name": status.names[pk],
                "float_days": float_of(pk),
                **plain(s),
            }
            for pk, s in status.milestones.items()
        ],
    }


# Schedule page ---------------------------------------------------------------

SCHEDULE_GANTT_MAX_ROWS = 150


@dataclass
class SchedulePage:
    """The schedule of a portfolio (``scheduling.selectors``) and its
    timeline."""

    schedule: sched.PortfolioSchedule
    gantt: SafeString
    status: rag.PortfolioStatus | None = None

    @property
    def portfolio(self) -> Portfolio:
        return self.schedule.portfolio

    @property
    def rows(self) -> list[tuple[sched.MilestoneSchedule, rag.RagStatus | None]]:
        """Each visible milestone with its one status."""
        found = self.status.milestones if self.status else {}
        return [(m, found.get(m.id)) for m in self.schedule.milestones]


def schedule_gantt(
    schedule: sched.PortfolioSchedule,
    *,
    href: Callable[[Any], str] | None = None,
    max_rows: int = SCHEDULE_GANTT_MAX_ROWS,
) -> SafeString:
    """The timeline of the visible milestones of ``schedule``: planned bars,
    the scheduled finish beyond plan hatched, the critical path (of the whole
    portfolio) in red. Beyond ``max_rows`` the critical milestones and those
    with the least float are kept."""
    rows = schedule.milestones
    note = ""
    if len(rows) > max_rows:
        kept = sorted(rows, key=lambda m: (not m.critical, m.total_float, m.es, m.id))
        rows = sorted(kept[:max_rows], key=lambda m: (m.es, m.ef, m.id))
        note = (
            f"Showing {max_rows} of {len(schedule.milestones)} milestones: the "
            "critical path first, then the least float."
        )
    return charts.gantt(
        [
            charts.GanttRow(
                id=m.id,
                label=m.name,
                start=m.planned_start,
                finish=m.planned_completion,
                forecast=m.ef if m.ef > m.planned_completion else None,
                percent=float(m.percent_complete),
                status=m.status,
                critical=m.critical,
                href=href(m) if href else None,
            )
            for m in rows
        ],
        [charts.GanttLink(p, s, kind) for p, s, kind, _lag in schedule.links],
        today=schedule.today,
        title="Schedule",
        note=note,
    )


def schedule_page(
    user: Viewer, portfolio: Portfolio, *, today: date | None = None
) -> SchedulePage:
    """The schedule page of ``portfolio`` as ``user`` may see it."""
    schedule = sched.portfolio_schedule(user, portfolio, today=today)
    status = rag.statuses(user, [portfolio], {portfolio.pk: schedule.outlook})
    return SchedulePage(
        schedule,
        schedule_gantt(schedule, href=milestone_href(portfolio)),
        status=status.get(portfolio.pk),
    )
