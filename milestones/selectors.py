"""Reads of the milestones app: the milestone list with its figures, weighted
progress per category and per portfolio, the scorecard, success metrics and the
regional comparison.

Every function takes the reading ``user`` and sees only the milestones the
access policy lets them view (``Milestone.objects.restrict(user, "view")``), so
a contributor's figures cover their region only. Every figure is computed by
the database (annotations and aggregates, divisions through
``portal.db.Ratio``); Python only reshapes the handful of aggregate rows into
dataclasses. Each function runs a fixed number of queries whatever the number
of milestones.

Formulas (DESIGN.md)
--------------------
- Category progress = sum(weight x percent complete) / sum(weight) over the
  category's visible, non-cancelled milestones (milestone weight defaults to
  1); 0 without milestones.
- Overall progress = sum(category weight x category progress) / sum(category
  weight) over the portfolio's categories (weights sum to 100).
- Planned progress: the same two-level average of each milestone's elapsed
  share of its planned duration by today, clipped to 0..100.
- Delay (days) = forecast completion - planned completion; actual - planned
  once completed; 0 without a forecast.
- Budget overrun (%) = (estimate at completion - approved budget) / approved
  budget x 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, overload

from django.core.cache import cache
from django.db import models
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Max,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, StrIndex, Substr
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from accounts import policy
from accounts.models import OrgUnit
from accounts.policy import Viewer
from accounts.roles import VIEW
from portal.db import Ratio, newest_history_id

from .models import Milestone, MilestoneCategory, Portfolio, Status
from .querysets import (
    MilestoneQuerySet,
    active_q,
    late_q,
    open_q,
    overrun_q,
    planned_share_expr,
)

# Overall progress within this many percentage points of the planned progress
# is "on plan"; further above is "ahead", further below "behind".
SCHEDULE_TOLERANCE_PCT = Decimal("5")
# Share (%) of a category's open milestones that are troubled (late, at risk or
# over budget) from which its risk level is Critical / High.
RISK_CRITICAL_SHARE_PCT = Decimal("50")
RISK_HIGH_SHARE_PCT = Decimal("25")

CENT = Decimal("0.01")
# Bump when the figures change for the same data; kept figures expire anyway.
FIGURES_MEMO_VERSION = 1
FIGURES_MEMO_SECONDS = 6 * 60 * 60
ZERO_PCT = Decimal("0.00")


class CategoryStatus(models.TextChoices):
    """A category's status, derived from its milestones (see ``category_status``)."""

    NOT_STARTED = Status.NOT_STARTED.value, Status.NOT_STARTED.label
    ON_TRACK = Status.ON_TRACK.value, Status.ON_TRACK.label
    AT_RISK = Status.AT_RISK.value, Status.AT_RISK.label
    DELAYED = Status.DELAYED.value, Status.DELAYED.label
    COMPLETED = Status.COMPLETED.value, Status.COMPLETED.label


class RiskLevel(models.TextChoices):
    """Severity vocabulary of DESIGN.md (Critical red ... Low green)."""

    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class ScheduleStatus(models.TextChoices):
    """Overall progress relative to the progress planned by today."""

    AHEAD = "ahead", "ahead of plan"
    ON_PLAN = "on_plan", "on plan"
    BEHIND = "behind", "behind plan"


def _today(today: date | None) -> date:
    return today or timezone.localdate()


@overload
def percent_figure(value: None) -> None: ...
@overload
def percent_figure(value: Decimal | float | str) -> Decimal: ...
def percent_figure(value: Any) -> Decimal | None:
    """A database percentage as a Decimal rounded to 0.01 (None stays None)."""
    if value is None:
        return None
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money_figure(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def _visible_milestones(user: Viewer) -> MilestoneQuerySet:
    return Milestone.objects.restrict(user, VIEW)


def status_count_aggregates() -> dict[str, Count]:
    """One conditional COUNT per status, keyed ``n_<status>``."""
    return {f"n_{status}": Count("pk", filter=Q(status=status)) for status in Status}


def counts_from_row(row: Mapping[str, Any]) -> dict[str, int]:
    return {status.value: int(row.get(f"n_{status}") or 0) for status in Status}


# Milestone list -------------------------------------------------------------


# What ``with_related_names`` reads of the related rows.
RELATED_NAME_COLUMNS = {
    "portfolio_slug": "portfolio__slug",
    "category_name": "category__name",
    "org_unit_name": "org_unit__name",
    "owner_username": "owner__username",
    "owner_first_name": "owner__first_name",
    "owner_last_name": "owner__last_name",
}


def milestone_list(
    user: Viewer,
    *,
    portfolio: Portfolio | None = None,
    today: date | None = None,
    related: bool = True,
) -> MilestoneQuerySet:
    """The milestones ``user`` may view, with their related rows and figures.

    Annotated with ``days_remaining``, ``delay_days``,
    ``budget_consumption_pct``, ``budget_overrun_pct``, ``last_update_at``,
    ``is_overdue``, ``is_due_soon`` and ``is_stale`` (see
    ``MilestoneQuerySet.with_figures``). ``today`` (default: the local date)
    allows an as-of view; staleness is then judged at the end of that day.
    One query.

    ``related=False`` leaves the related rows out: a page of the API list
    adds only their names to the rows it shows (``with_related_names``).
    """
    if today is None:
        today, now = timezone.localdate(), timezone.now()
    else:
        now = timezone.make_aware(datetime.combine(today + timedelta(days=1), time()))
    queryset = _visible_milestones(user)
    if related:
        queryset = queryset.select_related("portfolio", "category", "org_unit", "owner")
    if portfolio is not None:
        queryset = queryset.filter(portfolio=portfolio)
    return queryset.with_figures(today=today, now=now)


def with_related_names(queryset: MilestoneQuerySet) -> MilestoneQuerySet:
    """Milestones with what a list shows of their related rows, as columns
    (``RELATED_NAME_COLUMNS``: the portfolio's slug, the category's and org
    unit's names, the owner's names) instead of the rows themselves: a list
    builds one object a milestone instead of five."""
    return queryset.annotate(
        **{name: F(path) for name, path in RELATED_NAME_COLUMNS.items()}
    )


# Categories, portfolio, scorecard ------------------------------------------


@dataclass(frozen=True)
class CategoryProgress:
    """Figures of one category over the milestones the user may view."""

    category: MilestoneCategory
    weight: Decimal
    progress: Decimal
    planned_progress: Decimal
    milestone_count: int
    counts: dict[str, int]
    open_count: int
    late_count: int
    at_risk_count: int
    overrun_count: int
    troubled_count: int
    status: str
    risk_level: str | None

    @property
    def name(self) -> str:
        return self.category.name

    @property
    def business_impact(self) -> str:
        return self.category.business_impact

    @property
    def status_label(self) -> str:
        return CategoryStatus(self.status).label

    @property
    def risk_label(self) -> str:
        return RiskLevel(self.risk_level).label if self.risk_level else "TBD"


def category_status(counts: dict[str, int], late: int) -> str:
    """Completed if all its (non-cancelled) milestones are; Delayed if any is
    late; At risk if any is at risk; Not started if none has started (or it
    has none); otherwise On track."""
    active = sum(counts.values()) - counts[Status.CANCELLED]
    if active and counts[Status.COMPLETED] == active:
        return CategoryStatus.COMPLETED
    if late:
        return CategoryStatus.DELAYED
    if counts[Status.AT_RISK]:
        return CategoryStatus.AT_RISK
    if counts[Status.NOT_STARTED] == active:
        return CategoryStatus.NOT_STARTED
    return CategoryStatus.ON_TRACK


def risk_level_of(open_count: int, troubled: int, completed: int) -> str | None:
    """Risk level from the share of open milestones that are troubled.

    Troubled = late, at risk, or over budget by more than 15 %. Share >= 50 %
    Critical, >= 25 % High, any Medium, none Low. Without open milestones the
    level is Low when some are completed, else not assessed (None, "TBD").
    """
    if not open_count:
        return RiskLevel.LOW if completed else None
    share = Decimal(troubled) * 100 / open_count
    if share >= RISK_CRITICAL_SHARE_PCT:
        return RiskLevel.CRITICAL
    if share >= RISK_HIGH_SHARE_PCT:
        return RiskLevel.HIGH
    if troubled:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def _category_figures(
    user: Viewer, portfolio_ids: list[int], today: date
) -> dict[tuple[int, int | None], Mapping[str, Any]]:
    """Aggregates of the visible milestones of the portfolios, one row per
    (portfolio, category) (a single GROUP BY), keyed by those two ids."""
    active = active_q()
    opened = open_q()
    late = late_q(today)
    at_risk = Q(status=Status.AT_RISK)
    overrun = opened & overrun_q()
    weight_sum = Sum("weight", filter=active)
    rows = (
        _visible_milestones(user)
        .filter(portfolio__in=portfolio_ids)
        .order_by()
        .values("portfolio", "category")
        .annotate(
            milestone_count=Count("pk"),
            **status_count_aggregates(),
            open_count=Count("pk", filter=opened),
            late_count=Count("pk", filter=late),
            at_risk_count=Count("pk", filter=at_risk),
            overrun_count=Count("pk", filter=overrun),
            troubled_count=Count("pk", filter=late | at_risk | overrun),
            progress_pct=Ratio(
                Sum(F("weight") * F("percent_complete"), filter=active), weight_sum
            ),
            planned_pct=Ratio(
                Sum(F("weight") * planned_share_expr(today), filter=active),
                weight_sum,
            ),
        )
    )
    return {(row["portfolio"], row["category"]): row for row in rows}


def _category_progress(
    category: MilestoneCategory, row: Mapping[str, Any]
) -> CategoryProgress:
    counts = counts_from_row(row)
    open_count = row.get("open_count", 0)
    troubled = row.get("troubled_count", 0)
    return CategoryProgress(
        category=category,
        weight=category.weight,
        progress=percent_figure(row.get("progress_pct")) or ZERO_PCT,
        planned_progress=percent_figure(row.get("planned_pct")) or ZERO_PCT,
        milestone_count=row.get("milestone_count", 0),
        counts=counts,
        open_count=open_count,
        late_count=row.get("late_count", 0),
        at_risk_count=row.get("at_risk_count", 0),
        overrun_count=row.get("overrun_count", 0),
        troubled_count=troubled,
        status=category_status(counts, row.get("late_count", 0)),
        risk_level=risk_level_of(open_count, troubled, counts[Status.COMPLETED]),
    )


@dataclass(frozen=True)
class PortfolioProgress:
    """Overall weighted progress of a portfolio against its plan."""

    portfolio: Portfolio
    progress: Decimal
    planned_progress: Decimal
    variance: Decimal
    schedule_status: str
    milestone_count: int
    counts: dict[str, int]

    @property
    def schedule_label(self) -> str:
        return ScheduleStatus(self.schedule_status).label


@dataclass(frozen=True)
class PortfolioFigures:
    """A portfolio's overall progress and its categories' figures."""

    progress: PortfolioProgress
    categories: list[CategoryProgress]


def schedule_status(progress: Decimal, planned: Decimal) -> str:
    """Ahead / on plan / behind, with ``SCHEDULE_TOLERANCE_PCT`` either way."""
    variance = progress - planned
    if variance > SCHEDULE_TOLERANCE_PCT:
        return ScheduleStatus.AHEAD
    if variance < -SCHEDULE_TOLERANCE_PCT:
        return ScheduleStatus.BEHIND
    return ScheduleStatus.ON_PLAN


def _weighted(pairs: list[tuple[Decimal, Any]]) -> Decimal | None:
    """sum(weight x figure) / sum(weight); a missing figure counts as 0."""
    total = sum((weight for weight, _ in pairs), Decimal(0))
    if not total:
        return None
    return (
        sum((weight * Decimal(figure or 0) for weight, figure in pairs), Decimal(0))
        / total
    )


def portfolio_figures(
    user: Viewer, portfolios: list[Portfolio], *, today: date | None = None
) -> dict[int, PortfolioFigures]:
    """Category and overall figures of each portfolio, by portfolio id, over
    the milestones ``user`` may view.

    Two queries for any number of portfolios: the per-(portfolio, category)
    aggregates, then the categories themselves (a category without visible
    milestones still has a row, at 0 %). Overall progress is the
    category-weight average of the categories' exact (unrounded) figures, over
    the handful of categories; status counts add up the category rows.

    Within a request (``policy.grants_read_once``) each portfolio's figures
    are kept in the cache under the newest history ids of its milestones and
    categories, the day and the reader's scope (``policy.scope_signature``):
    every change adds a history row, so a kept figure is never stale, and a
    dashboard of unchanged portfolios costs one query. Only the portfolios
    that changed are aggregated again.
    """
    today = _today(today)
    portfolios = list(portfolios)
    signature = policy.scope_signature(user, VIEW)
    if signature is None or not portfolios:
        return _compute_portfolio_figures(user, portfolios, today=today)
    keys = {
        pk: f"figures:v{FIGURES_MEMO_VERSION}:{pk}:{version}:{today}:{signature}"
        for pk, version in _portfolio_versions([p.pk for p in portfolios]).items()
    }
    kept = cache.get_many(list(keys.values()))
    result = {}
    for portfolio in portfolios:
        figures = kept.get(keys[portfolio.pk])
        if figures is not None:
            # The portfolio itself is today's row (a rename is no new figure).
            result[portfolio.pk] = PortfolioFigures(
                progress=replace(figures.progress, portfolio=portfolio),
                categories=figures.categories,
            )
    changed = [p for p in portfolios if p.pk not in result]
    if changed:
        fresh = _compute_portfolio_figures(user, changed, today=today)
        cache.set_many(
            {keys[pk]: figures for pk, figures in fresh.items()}, FIGURES_MEMO_SECONDS
        )
        result.update(fresh)
    return result


def _portfolio_versions(ids: list[int]) -> dict[int, str]:
    """The newest history ids of each portfolio's milestones and categories
    (one query, an index probe each)."""
    rows = (
        Portfolio.objects.filter(pk__in=ids)
        .annotate(
            m=newest_history_id(Milestone, portfolio_id=OuterRef("pk")),
            c=newest_history_id(MilestoneCategory, portfolio_id=OuterRef("pk")),
        )
        .values_list("pk", "m", "c")
    )
    return {pk: f"{m}-{c}" for pk, m, c in rows}


def _compute_portfolio_figures(
    user: Viewer, portfolios: list[Portfolio], *, today: date | None = None
) -> dict[int, PortfolioFigures]:
    today = _today(today)
    ids = [p.pk for p in portfolios]
    figures = _category_figures(user, ids, today)
    categories = (
        MilestoneCategory.objects.restrict(user, VIEW)
        .filter(portfolio__in=ids)
        .order_by("portfolio", "order", "name")
    )
    rows_of: dict[int, list[tuple[MilestoneCategory, Mapping[str, Any]]]] = {
        pk: [] for pk in ids
    }
    for category in categories:
        row = figures.get((category.portfolio_id, category.pk), {})
        rows_of[category.portfolio_id].append((category, row))
    totals: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    for (portfolio_id, _category), row in figures.items():
        total = totals[portfolio_id]
        for key in ("milestone_count", *(f"n_{status}" for status in Status)):
            total[key] = total.get(key, 0) + (row.get(key) or 0)
    result = {}
    for portfolio in portfolios:
        pairs = rows_of[portfolio.pk]
        progress = percent_figure(
            _weighted([(c.weight, row.get("progress_pct")) for c, row in pairs])
        )
        planned = percent_figure(
            _weighted([(c.weight, row.get("planned_pct")) for c, row in pairs])
        )
        progress, planned = progress or ZERO_PCT, planned or ZERO_PCT
        total = totals[portfolio.pk]
        result[portfolio.pk] = PortfolioFigures(
            progress=PortfolioProgress(
                portfolio=portfolio,
                progress=progress,
                planned_progress=planned,
                variance=progress - planned,
                schedule_status=schedule_status(progress, planned),
                milestone_count=total.get("milestone_count", 0),
                counts=counts_from_row(total),
            ),
            categories=[_category_progress(c, row) for c, row in pairs],
        )
    return result


def category_progress(
    user: Viewer, portfolio: Portfolio, *, today: date | None = None
) -> list[CategoryProgress]:
    """Weighted progress, status counts, derived status and risk level of each
    category of ``portfolio``, over the milestones ``user`` may view. Two
    queries (see :func:`portfolio_figures`)."""
    return portfolio_figures(user, [portfolio], today=today)[portfolio.pk].categories


def portfolio_progress(
    user: Viewer, portfolio: Portfolio, *, today: date | None = None
) -> PortfolioProgress:
    """Overall progress (category-weight-averaged category progress), the
    progress planned by ``today``, the schedule status and counts by status.
    Two queries (see :func:`portfolio_figures`)."""
    return portfolio_figures(user, [portfolio], today=today)[portfolio.pk].progress


@dataclass(frozen=True)
class ScorecardRow:
    """One line of the Milestone Tracking Scorecard."""

    category: MilestoneCategory
    weight: Decimal
    status: str
    status_label: str
    progress: Decimal
    risk_level: str | None
    risk_label: str
    business_impact: str


def scorecard(
    user: Viewer, portfolio: Portfolio, *, today: date | None = None
) -> list[ScorecardRow]:
    """The Milestone Tracking Scorecard: category, weight, status, progress %,
    risk level, business impact. Two queries (those of ``category_progress``)."""
    return [
        ScorecardRow(
            category=c.category,
            weight=c.weight,
            status=c.status,
            status_label=c.status_label,
            progress=c.progress,
            risk_level=c.risk_level,
            risk_label=c.risk_label,
            business_impact=c.business_impact,
        )
        for c in category_progress(user, portfolio, today=today)
    ]


# Success metrics and regions -----------------------------------------------


def _delivery_aggregates(today: date) -> dict[str, Any]:
    """Counts and rates on a non-cancelled milestone queryset.

    On time: completed with actual completion <= planned completion (a
    completed milestone without an actual date does not count as on time).
    Achieved: completed among those due (planned completion <= today).
    """
    completed = Q(status=Status.COMPLETED)
    on_time = completed & Q(actual_completion__lte=F("planned_completion"))
    due = Q(planned_completion__lte=today)
    return {
        "milestone_count": Count("pk"),
        "completed_count": Count("pk", filter=completed),
        "on_time_count": Count("pk", filter=on_time),
        "due_count": Count("pk", filter=due),
        "achieved_count": Count("pk", filter=due & completed),
        "on_time_rate": Ratio(
            Count("pk", filter=on_time), Count("pk", filter=completed), scale=100
        ),
        "achievement_rate": Ratio(
            Count("pk", filter=due & completed), Count("pk", filter=due), scale=100
        ),
    }


def _delivered(user: Viewer, portfolio: Portfolio | None) -> MilestoneQuerySet:
    queryset = _visible_milestones(user).filter(active_q())
    if portfolio is not None:
        queryset = queryset.filter(portfolio=portfolio)
    return queryset.order_by()


@dataclass(frozen=True)
class SuccessMetrics:
    """Milestone achievement metrics; rates are % (None when undefined)."""

    milestone_count: int
    completed_count: int
    on_time_count: int
    on_time_rate: Decimal | None
    due_count: int
    achieved_count: int
    achievement_rate: Decimal | None
    within_budget_count: int
    budget_adherence_rate: Decimal | None
    actual_spend: Decimal
    approved_budget: Decimal
    budget_utilisation: Decimal | None


def success_metrics(
    user: Viewer, portfolio: Portfolio | None = None, *, today: date | None = None
) -> SuccessMetrics:
    """On-time delivery rate, achievement rate and budget adherence over the
    non-cancelled milestones ``user`` may view (in ``portfolio`` if given).

    Budget adherence: share of milestones whose estimate at completion (actual
    spend when there is no estimate) is within the approved budget; budget
    utilisation: total actual spend / total approved budget. One query.
    """
    today = _today(today)
    within = Q(
        LessThanOrEqual(
            Coalesce(F("estimate_at_completion"), F("actual_spend")),
            F("approved_budget"),
        )
    )
    row = _delivered(user, portfolio).aggregate(
        **_delivery_aggregates(today),
        within_budget_count=Count("pk", filter=within),
        budget_adherence_rate=Ratio(Count("pk", filter=within), Count("pk"), scale=100),
        spend_total=Sum("actual_spend"),
        budget_total=Sum("approved_budget"),
        budget_utilisation=Ratio(
            Sum("actual_spend"), Sum("approved_budget"), scale=100
        ),
    )
    return SuccessMetrics(
        milestone_count=row["milestone_count"],
        completed_count=row["completed_count"],
        on_time_count=row["on_time_count"],
        on_time_rate=percent_figure(row["on_time_rate"]),
        due_count=row["due_count"],
        achieved_count=row["achieved_count"],
        achievement_rate=percent_figure(row["achievement_rate"]),
        within_budget_count=row["within_budget_count"],
        budget_adherence_rate=percent_figure(row["budget_adherence_rate"]),
        actual_spend=money_figure(row["spend_total"]),
        approved_budget=money_figure(row["budget_total"]),
        budget_utilisation=percent_figure(row["budget_utilisation"]),
    )


@dataclass(frozen=True)
class RegionFigures:
    """Delivery figures of one region (``region`` None: milestones held at the
    global level, above any region)."""

    region: OrgUnit | None
    milestone_count: int
    completed_count: int
    on_time_count: int
    on_time_rate: Decimal | None
    due_count: int
    achieved_count: int
    achievement_rate: Decimal | None

    @property
    def name(self) -> str:
        return self.region.name if self.region else "Global (no region)"


def region_path_expr(path: str = "org_unit__path") -> Substr:
    """The path of the region above-or-at an org unit: its path cut after the
    second segment ("/global/emea/fr/" -> "/global/emea/"; "/global/" stays)."""
    field = F(path)
    root_end = StrIndex(Substr(field, 2), Value("/")) + Value(1)
    region_end = root_end + StrIndex(Substr(field, root_end + Value(1)), Value("/"))
    return Substr(field, 1, region_end)


def regional_comparison(
    user: Viewer, portfolio: Portfolio | None = None, *, today: date | None = None
) -> list[RegionFigures]:
    """Milestone count, achievement rate and on-time rate per region, over the
    non-cancelled milestones ``user`` may view.

    A milestone belongs to the region that is the ancestor-or-self of its org
    unit, found in SQL by cutting the materialised path after the region
    segment and grouping on it. The regions listed are those holding visible
    milestones plus those the user may view. Two queries (the grouped
    aggregate, then the region rows matched by path).

    Within a request the result is kept like :func:`portfolio_figures`, under
    the newest milestone and org unit history ids (any change anywhere makes
    a new key), the day and the reader's scope: two queries when kept.
    """
    today = _today(today)
    signature = policy.scope_signature(user, VIEW)
    if signature is None:
        return _compute_regional_comparison(user, portfolio, today=today)
    newest = [
        model.history.aggregate(newest=Max("history_id"))["newest"]
        for model in (Milestone, OrgUnit)
    ]
    key = (
        f"regions:v{FIGURES_MEMO_VERSION}:{portfolio.pk if portfolio else '-'}:"
        f"{newest[0]}-{newest[1]}:{today}:{signature}"
    )
    kept: list[RegionFigures] | None = cache.get(key)
    if kept is None:
        kept = _compute_regional_comparison(user, portfolio, today=today)
        cache.set(key, kept, FIGURES_MEMO_SECONDS)
    return kept


def _compute_regional_comparison(
    user: Viewer, portfolio: Portfolio | None = None, *, today: date | None = None
) -> list[RegionFigures]:
    today = _today(today)
    above_regions = ""
    grouped = {
        row["region_path"]: row
        for row in _delivered(user, portfolio)
        .annotate(
            region_path=Case(
                When(org_unit__kind=OrgUnit.Kind.GLOBAL, then=Value(above_regions)),
                default=region_path_expr(),
                output_field=CharField(),
            )
        )
        .values("region_path")
        .annotate(**_delivery_aggregates(today))
    }
    regions = OrgUnit.objects.filter(kind=OrgUnit.Kind.REGION).filter(
        Q(path__in=list(grouped))
        | Q(pk__in=OrgUnit.objects.restrict(user, VIEW).values("pk"))
    )
    result = [
        _region_figures(region, grouped.get(region.path))
        for region in regions.order_by("path")
    ]
    if above_regions in grouped:
        result.append(_region_figures(None, grouped[above_regions]))
    return result


def _region_figures(
    region: OrgUnit | None, row: Mapping[str, Any] | None
) -> RegionFigures:
    row = row or {}
    return RegionFigures(
        region=region,
        milestone_count=row.get("milestone_count", 0),
        completed_count=row.get("completed_count", 0),
        on_time_count=row.get("on_time_count", 0),
        on_time_rate=percent_figure(row.get("on_time_rate")),
        due_count=row.get("due_count", 0),
        achieved_count=row.get("achieved_count", 0),
        achievement_rate=percent_figure(row.get("achievement_rate")),
    )
