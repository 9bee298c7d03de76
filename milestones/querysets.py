"""Query vocabulary of the milestones app."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Self, TypeVar

from django.db.models import (
    BooleanField,
    Case,
    DateField,
    DateTimeField,
    DecimalField,
    Expression,
    F,
    IntegerField,
    Model,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from accounts.querysets import RestrictedQuerySet
from portal.db import DaysBetween, Ratio

if TYPE_CHECKING:
    # Named (as strings) in the queryset base classes below.
    from .models import Milestone, Portfolio, ProgressUpdate  # noqa: F401

_M = TypeVar("_M", bound=Model)


class ScopedQuerySet(RestrictedQuerySet[_M]):
    pass


class PortfolioQuerySet(RestrictedQuerySet["Portfolio"]):
    pass


class MilestoneQuerySet(RestrictedQuerySet["Milestone"]):
    def open(self) -> Self:
        from .models import CLOSED_STATUSES

        return self.exclude(status__in=CLOSED_STATUSES)

    def overdue(self, today: date | None = None) -> Self:
        """Open milestones whose planned completion has passed."""
        today = today or timezone.localdate()
        return self.open().filter(planned_completion__lt=today)

    def due_within(self, days: int, today: date | None = None) -> Self:
        today = today or timezone.localdate()
        return self.open().filter(
            planned_completion__gte=today,
            planned_completion__lte=today + timedelta(days=days),
        )

    def stale(self, days: int = 14, now: datetime | None = None) -> Self:
        """Open milestones with no progress update for ``days`` days."""
        now = now or timezone.now()
        cutoff = now - timedelta(days=days)
        return self.open().filter(
            Q(last_progress_at__lt=cutoff)
            | Q(last_progress_at__isnull=True, created_at__lt=cutoff)
        )

    def with_figures(
        self, *, today: date | None = None, now: datetime | None = None
    ) -> Self:
        """Annotate the per-milestone figures that lists, API and reports show.

        ``days_remaining`` (planned completion - today), ``delay_days`` (see
        :func:`delay_days_expr`), ``budget_consumption_pct`` (actual spend /
        approved budget x 100; NULL for a zero budget), ``budget_overrun_pct``
        ((estimate at completion - approved budget) / approved budget x 100; NULL
        without an estimate or budget), ``last_update_at`` (the last progress
        update), and the flags ``is_overdue``, ``is_due_soon`` (due within
        ``DUE_SOON_DAYS``) and ``is_stale`` (no update for ``STALE_DAYS``),
        which are only ever true for open milestones.
        """
        from .models import ProgressUpdate as Updates

        today = today or timezone.localdate()
        now = now or timezone.now()
        latest_update = (
            Updates.objects.filter(milestone=OuterRef("pk"))
            .order_by("-submitted_at")
            .values("submitted_at")[:1]
        )
        stale_cutoff = now - timedelta(days=STALE_DAYS)
        return self.annotate(
            days_remaining=DaysBetween(
                F("planned_completion"), Value(today, output_field=DateField())
            ),
            delay_days=delay_days_expr(),
            budget_consumption_pct=Ratio(
                F("actual_spend"), F("approved_budget"), scale=100
            ),
            budget_overrun_pct=Ratio(
                F("estimate_at_completion") - F("approved_budget"),
                F("approved_budget"),
                scale=100,
            ),
            last_update_at=Coalesce(
                F("last_progress_at"),
                Subquery(latest_update, output_field=DateTimeField()),
            ),
            is_overdue=_flag(open_q() & Q(planned_completion__lt=today)),
            is_due_soon=_flag(
                open_q()
                & Q(
                    planned_completion__gte=today,
                    planned_completion__lte=today + timedelta(days=DUE_SOON_DAYS),
                )
            ),
            is_stale=_flag(
                open_q()
                & (
                    Q(last_update_at__lt=stale_cutoff)
                    | Q(last_update_at__isnull=True, created_at__lt=stale_cutoff)
                )
            ),
        )


class ProgressUpdateQuerySet(RestrictedQuerySet["ProgressUpdate"]):
    pass


# Expression builders shared by ``MilestoneQuerySet.with_figures`` and the
# selectors. ``prefix`` is the lookup path to the milestone ("" on a milestone
# queryset, "milestones__" when aggregating from a category), so the rules are
# written once whichever side the query starts from.

DUE_SOON_DAYS = 14
STALE_DAYS = 14
# Budget overrun above which a milestone counts as troubled (DESIGN.md trigger).
OVERRUN_THRESHOLD_PCT = 15


def _flag(condition: Q) -> Case:
    return Case(
        When(condition, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def open_q(prefix: str = "") -> Q:
    """Not completed and not cancelled."""
    from .models import CLOSED_STATUSES, Status

    # Listed positively so that, across a LEFT JOIN, a missing milestone is
    # never counted as open.
    return Q(**{f"{prefix}status__in": [s for s in Status if s not in CLOSED_STATUSES]})


def active_q(prefix: str = "") -> Q:
    """Every status but cancelled: the milestones that count towards progress."""
    from .models import Status

    return Q(**{f"{prefix}status__in": [s for s in Status if s != Status.CANCELLED]})


def delay_days_expr(prefix: str = "") -> Expression:
    """Delay in days (DESIGN.md): forecast completion - planned completion.

    A completed milestone with an actual completion uses actual - planned; a
    milestone without a forecast has no delay (0). Negative means early.
    """
    from .models import Status

    planned = F(f"{prefix}planned_completion")
    return Case(
        When(
            Q(**{f"{prefix}status": Status.COMPLETED})
            & Q(**{f"{prefix}actual_completion__isnull": False}),
            then=DaysBetween(F(f"{prefix}actual_completion"), planned),
        ),
        When(
            Q(**{f"{prefix}forecast_completion__isnull": False}),
            then=DaysBetween(F(f"{prefix}forecast_completion"), planned),
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def late_q(today: date, prefix: str = "") -> Q:
    """An open milestone that is late: status Delayed, past its planned
    completion, or forecast to finish after it."""
    from .models import Status

    planned = F(f"{prefix}planned_completion")
    return open_q(prefix) & (
        Q(**{f"{prefix}status": Status.DELAYED})
        | Q(**{f"{prefix}planned_completion__lt": today})
        | Q(**{f"{prefix}forecast_completion__gt": planned})
    )


def overrun_q(prefix: str = "", threshold_pct: int = OVERRUN_THRESHOLD_PCT) -> Q:
    """Estimate at completion above the approved budget by more than
    ``threshold_pct`` % (written without a division, so exact on both backends)."""
    return Q(
        GreaterThan(
            F(f"{prefix}estimate_at_completion") * Value(100),
            F(f"{prefix}approved_budget") * Value(100 + int(threshold_pct)),
        )
    )


def planned_share_expr(today: date, prefix: str = "") -> Expression:
    """Percent of the planned duration elapsed by ``today``, clipped to 0..100.

    100 once the planned completion is reached, 0 until the planned start;
    in between (today - planned start) / (planned completion - planned start).
    """
    start = F(f"{prefix}planned_start")
    end = F(f"{prefix}planned_completion")
    today_value = Value(today, output_field=DateField())
    return Case(
        When(Q(**{f"{prefix}planned_completion__lte": today}), then=Value(100)),
        When(Q(**{f"{prefix}planned_start__gte": today}), then=Value(0)),
        default=Ratio(
            DaysBetween(today_value, start), DaysBetween(end, start), scale=100
        ),
        output_field=DecimalField(),
    )
