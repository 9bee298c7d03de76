"""Schedule intelligence wired to the data: a portfolio's critical path,
knock-on slips, completion odds, bottlenecks and overallocated org units.

``scheduling.engine`` is the pure engine; this module loads a portfolio
into its `~scheduling.engine.Task` and
`~scheduling.engine.Link` values with a fixed number of
``values_list`` queries, runs it with today as the status date, and returns
bundles that the API, the schedule page, the dashboard and the executive
report share:

- :func:`portfolio_schedule` -- everything, for the schedule page and the API
  (:class:`PortfolioSchedule`; four queries whatever the size);
- :func:`portfolio_outlooks` / :func:`portfolio_outlook` -- the portfolio-level
  forecast only (:class:`ScheduleOutlook`), for the dashboard cards (three
  queries for any number of portfolios) and the report;
- :func:`portfolio_outlook_as_of` -- the same forecast rebuilt from history as
  it stood at the end of a past day, for a past executive report.

Whose milestones
----------------
A schedule is a property of the whole dependency network: a milestone in
France waits on its predecessor in Japan whoever is looking. Computing over
the milestones a reader may view would drop those links and show a regional
contributor dates that are wrong. So the network is always the *whole*
portfolio (cancelled milestones and their links left out), and the reader
gets rows only for the milestones they may view
(``Milestone.objects.restrict(user, "view")``). Milestones outside their scope
still move their dates (as inherited slip) and the portfolio-level figures,
but their names, codes and ids never leave this module: the critical chain
and the bottleneck list show visible milestones only and count the others;
overallocated org units are listed only when a visible milestone of the
portfolio draws on them. Callers must have checked that the reader may view
the portfolio itself (a 404 otherwise).

Where the uncertainty comes from
--------------------------------
Each past progress update with a forecast completion is one sample of how
long work really takes against its plan: ``(forecast completion - planned
start) / (planned completion - planned start)`` of its milestone, computed in
SQL (``portal.db.DaysBetween`` and ``Ratio``) over the portfolio's own
updates. With at least five samples the simulation bootstraps its duration
multipliers from them (``source = "history"``); with fewer it uses the
three-point estimate :data:`THREE_POINT` (``source = "three_point"``).

The simulation runs :data:`DEFAULT_ITERATIONS` iterations with a seed fixed
per portfolio (its id), so the same data on the same day gives the same
figures. Its result is memoised in Django's cache under a digest of its exact
inputs (tasks, links, samples, status date, iterations, seed): a changed
milestone, dependency or update changes the key, so a memoised result is
never stale and nothing needs invalidating. The portfolio-level outlook is
also kept under a cheaper key, read without loading the network: the newest
history ids of the portfolio's milestones and of the dependencies (every write
adds one; see ``_outlook_keys``), so a dashboard of unchanged portfolios costs
one query, and only the portfolios that changed are loaded and rescheduled.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypedDict, TypeVar, overload

from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone
from simple_history.utils import get_history_manager_for_model

from accounts.policy import Viewer
from accounts.roles import VIEW
from milestones.models import (
    CLOSED_STATUSES,
    Dependency,
    Milestone,
    Portfolio,
    ProgressUpdate,
    ResourceAllocation,
    Status,
)
from portal.db import DaysBetween, Ratio, newest_history_id
from portal.errors import Conflict, Invalid

from .engine import (
    CycleError,
    Link,
    MonteCarloResult,
    ScheduleResult,
    Task,
    TaskSchedule,
    bottlenecks,
    critical_path,
    monte_carlo,
    overallocated_units,
)

logger = logging.getLogger(__name__)

DEFAULT_ITERATIONS = 10_000
MIN_ITERATIONS = 1_000
MAX_ITERATIONS = 50_000
# Duration multipliers without history: optimistic, most likely, pessimistic.
THREE_POINT = (0.9, 1.0, 1.5)
# Samples needed before history replaces the three-point estimate (the
# engine's own threshold, restated for the page).
MIN_HISTORY_SAMPLES = 5
BOTTLENECK_LIMIT = 10
MEMO_SECONDS = 6 * 60 * 60
# Bump when the engine's results change for the same inputs.
_MEMO_VERSION = 3

T = TypeVar("T")

CYCLE_MESSAGE = (
    "The portfolio's dependencies form a cycle, so it cannot be scheduled; "
    "remove one of the dependencies involved."
)


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MilestoneOutlook:
    """One milestone's dates as the outlook saw them (for its status).

    ``finish`` is its scheduled finish (critical path, forecasts and
    knock-on included), ``p80`` the date 80 % of simulated runs finish by,
    ``plan_float`` its float against the plan (see ``scheduling.engine``).
    """

    planned_finish: date
    finish: date
    p80: date
    probability_on_time: float
    plan_float: int
    done: bool


@dataclass(frozen=True)
class ScheduleOutlook:
    """A portfolio's finish as planned, as scheduled and as simulated.

    ``forecast_finish`` is the critical path's finish (no uncertainty);
    ``probability_on_time`` is the share of simulated runs finishing by
    ``planned_finish`` (the latest planned completion), ``p50``/``p80``/
    ``p95`` the dates by which that share of runs has finished. Dates and the
    probability are ``None`` for a portfolio without milestones.
    """

    milestone_count: int
    planned_finish: date | None
    forecast_finish: date | None
    probability_on_time: float | None
    p50: date | None
    p80: date | None
    p95: date | None
    iterations: int
    seed: int
    source: str  # "history" or "three_point"
    sample_count: int
    # The last outlook computed, shown while the worker computes the current
    # one (a dashboard read right after a change; see ``portfolio_outlooks``).
    refreshing: bool = False
    # Every scheduled milestone of the network by id, hidden ones included:
    # callers pick the ids their reader may see (``reporting.status``).
    milestones: dict[int, MilestoneOutlook] = field(default_factory=dict)

    @property
    def p80_days_late(self) -> int | None:
        """Days the P80 finish lies beyond the planned one (negative: before)."""
        if self.p80 is None or self.planned_finish is None:
            return None
        return (self.p80 - self.planned_finish).days

    @property
    def slip_days(self) -> int | None:
        """Days the scheduled finish lies beyond the planned one."""
        if self.forecast_finish is None or self.planned_finish is None:
            return None
        return (self.forecast_finish - self.planned_finish).days

    @property
    def probability_pct(self) -> float | None:
        if self.probability_on_time is None:
            return None
        return self.probability_on_time * 100


@dataclass(frozen=True)
class MilestoneSchedule:
    """One visible milestone: its plan, its computed dates and its odds.

    ``ls``/``lf`` are the latest start and finish that keep it within the
    plan. Floats and slips are whole days: ``total_float`` is its float against the
    plan (the engine's ``plan_float``): how far it may slip before it misses
    its own planned completion, a successor's or the portfolio's planned end,
    negative when already late; ``critical`` says it is on the longest path
    (the engine's network float is 0); ``inherited_slip`` how much later it
    starts than planned because of its predecessors; ``own_slip`` the rest of
    its finish slip (its own lateness; negative when ahead).
    """

    id: int
    code: str
    name: str
    org_unit: str
    status: str
    percent_complete: Decimal
    planned_start: date
    planned_completion: date
    forecast_completion: date | None
    es: date
    ef: date
    ls: date
    lf: date
    total_float: int
    critical: bool
    own_slip: int
    inherited_slip: int
    probability_on_time: float
    p50: date
    p80: date
    p95: date

    @property
    def status_label(self) -> str:
        return Status(self.status).label

    @property
    def is_done(self) -> bool:
        """Finished work: its dates are facts, its float means nothing."""
        return (
            self.status
            in (
                Status.COMPLETED,
                Status.PENDING_VALIDATION,
            )
            or self.percent_complete >= 100
        )

    @property
    def slip(self) -> int:
        return self.own_slip + self.inherited_slip

    @property
    def probability_pct(self) -> float:
        return self.probability_on_time * 100


@dataclass(frozen=True)
class BottleneckRow:
    """A visible critical milestone and how much work waits on it."""

    milestone: MilestoneSchedule
    downstream_count: int
    direct_successor_count: int


@dataclass(frozen=True)
class OverallocationRow:
    """One week an org unit is asked for more FTE than it has.

    ``allocated`` sums the unit's allocations to open milestones of *every*
    portfolio planned to run that week: capacity is the unit's, not the
    portfolio's.
    """

    org_unit_id: int
    org_unit: str
    week_start: date  # a Monday
    allocated: float
    capacity: float

    @property
    def excess(self) -> float:
        return round(self.allocated - self.capacity, 6)


@dataclass(frozen=True)
class OverallocationPeriod:
    """Consecutive overallocated weeks of one unit at the same load."""

    org_unit_id: int
    org_unit: str
    first_week: date
    last_week: date
    allocated: float
    capacity: float

    @property
    def weeks(self) -> int:
        return (self.last_week - self.first_week).days // 7 + 1

    @property
    def end(self) -> date:
        """The Sunday closing the period."""
        return self.last_week + timedelta(days=6)

    @property
    def excess(self) -> float:
        return round(self.allocated - self.capacity, 6)


@dataclass(frozen=True)
class PortfolioSchedule:
    """The schedule of a portfolio as one reader may see it.

    ``milestones`` are the visible milestones in schedule order (early start,
    early finish); ``hidden_count`` counts the portfolio's other (non-
    cancelled) milestones, which are scheduled but not shown. ``links`` are
    the dependencies between visible milestones, as (predecessor id,
    successor id, type, lag days), for the timeline.
    """

    portfolio: Portfolio
    today: date
    outlook: ScheduleOutlook
    project_start: date | None
    project_finish: date | None
    milestones: list[MilestoneSchedule]
    hidden_count: int
    critical_chain: list[MilestoneSchedule]
    critical_chain_hidden: int
    bottlenecks: list[BottleneckRow]
    overallocations: list[OverallocationRow]
    links: list[tuple[int, int, str, int]]

    @property
    def critical_count(self) -> int:
        return sum(1 for m in self.milestones if m.critical)

    @property
    def overallocation_periods(self) -> list[OverallocationPeriod]:
        return overallocation_periods(self.overallocations)


def overallocation_periods(
    rows: Iterable[OverallocationRow],
) -> list[OverallocationPeriod]:
    """Merge consecutive weeks of one unit at the same load into periods."""
    periods: list[OverallocationPeriod] = []
    for row in rows:
        last = periods[-1] if periods else None
        if (
            last is not None
            and last.org_unit_id == row.org_unit_id
            and last.allocated == row.allocated
            and last.capacity == row.capacity
            and row.week_start - last.last_week == timedelta(days=7)
        ):
            periods[-1] = OverallocationPeriod(
                last.org_unit_id,
                last.org_unit,
                last.first_week,
                row.week_start,
                last.allocated,
                last.capacity,
            )
        else:
            periods.append(
                OverallocationPeriod(
                    row.org_unit_id,
                    row.org_unit,
                    row.week_start,
                    row.week_start,
                    row.allocated,
                    row.capacity,
                )
            )
    return periods


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

_TASK_FIELDS = (
    "id",
    "planned_start",
    "planned_completion",
    "percent_complete",
    "forecast_completion",
    "actual_start",
    "actual_completion",
    "status",
    "org_unit_id",
)


def check_iterations(iterations: int) -> int:
    """``iterations`` if within the allowed range; ``Invalid`` otherwise."""
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, int)
        or not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS
    ):
        message = (
            f"iterations must be a whole number from {MIN_ITERATIONS:,} to "
            f"{MAX_ITERATIONS:,}."
        )
        raise Invalid(message, errors={"iterations": [message]})
    return iterations


#: Dates handed to the scheduling engine are kept within these bounds: a row
#: stored before the input rules (or around them) with a forecast of
#: 9999-12-31 or a start of 0001-01-01 would otherwise overflow the date
#: arithmetic of every schedule, report and PDF of its portfolio.
ENGINE_FLOOR = date(1900, 1, 1)
ENGINE_CEILING = date(2199, 12, 31)


@overload
def bounded_date(day: date) -> date: ...
@overload
def bounded_date(day: None) -> None: ...
def bounded_date(day: date | None) -> date | None:
    """``day`` within the engine's bounds (``ENGINE_FLOOR``..``ENGINE_CEILING``)."""
    if day is None:
        return None
    return min(max(day, ENGINE_FLOOR), ENGINE_CEILING)


def _task(row: Mapping[str, Any]) -> Task:
    """A milestone row (``_TASK_FIELDS``) as a Task.

    A completed milestone counts as done even if its percent was never set to
    100 (status is what the owner reported); without an actual completion the
    engine takes the earlier of its planned completion and today.
    """
    percent = float(row["percent_complete"])
    if row["status"] == Status.COMPLETED:
        percent = 100.0
    planned_start = bounded_date(row["planned_start"])
    return Task(
        id=row["id"],
        planned_start=planned_start,
        planned_finish=max(bounded_date(row["planned_completion"]), planned_start),
        percent_complete=percent,
        forecast_finish=bounded_date(row["forecast_completion"]),
        actual_finish=bounded_date(row["actual_completion"]),
        actual_start=bounded_date(row["actual_start"]),
        org_unit_id=row["org_unit_id"],
    )


def _links_by_portfolio(
    portfolio_ids: Sequence[int],
) -> dict[int, list[tuple[int, int, str, int]]]:
    """Dependencies between non-cancelled milestones, per portfolio (1 query)."""
    rows = (
        Dependency.objects.filter(successor__portfolio_id__in=portfolio_ids)
        .exclude(successor__status=Status.CANCELLED)
        .exclude(predecessor__status=Status.CANCELLED)
        .order_by("pk")
        .values_list(
            "successor__portfolio_id",
            "predecessor_id",
            "successor_id",
            "type",
            "lag_days",
        )
    )
    links: dict[int, list[tuple[int, int, str, int]]] = defaultdict(list)
    for portfolio_id, predecessor, successor, kind, lag in rows:
        links[portfolio_id].append((predecessor, successor, kind, lag))
    return links


def _ratio_expr(forecast: Any, start: Any, finish: Any) -> Ratio:
    """(forecast - planned start) / (planned completion - planned start)."""
    return Ratio(DaysBetween(forecast, start), DaysBetween(finish, start))


def _samples_from(rows: Iterable[tuple[int, Any, int]]) -> dict[int, list[float]]:
    """Expand (portfolio id, ratio, count) rows into sample lists."""
    samples: dict[int, list[float]] = defaultdict(list)
    for portfolio_id, ratio, count in rows:
        if ratio is None:
            continue
        samples[portfolio_id].extend([float(ratio)] * count)
    return samples


def _slip_samples(portfolio_ids: Sequence[int]) -> dict[int, list[float]]:
    """Duration ratios of every past update with a forecast, per portfolio.

    One grouped query: identical ratios come back once with their count (a
    forecast repeated report after report is common), in a fixed order so the
    bootstrap is reproducible. Zero-length plans and forecasts before the
    planned start carry no duration information and are left out.
    """
    rows = (
        ProgressUpdate.objects.filter(
            milestone__portfolio_id__in=portfolio_ids,
            forecast_completion__isnull=False,
            milestone__planned_completion__gt=F("milestone__planned_start"),
            forecast_completion__gte=F("milestone__planned_start"),
        )
        .annotate(
            ratio=_ratio_expr(
                F("forecast_completion"),
                F("milestone__planned_start"),
                F("milestone__planned_completion"),
            )
        )
        .order_by()
        .values_list("milestone__portfolio_id", "ratio")
        .annotate(n=Count("pk"))
        .order_by("milestone__portfolio_id", "ratio")
    )
    return _samples_from(rows)


# --------------------------------------------------------------------------
# Computing
# --------------------------------------------------------------------------


def _to_links(rows: Iterable[tuple[int, int, str, int]]) -> list[Link]:
    return [Link(p, s, kind, lag) for p, s, kind, lag in rows]


def _ordinal(day: date | None) -> int | None:
    return None if day is None else day.toordinal()


def _memo_key(
    kind: str,
    tasks: Sequence[Task],
    link_rows: Sequence[tuple[int, int, str, int]],
    samples: Sequence[float],
    *,
    today: date,
    seed: int,
    iterations: int,
) -> str:
    """A digest of everything a result depends on, as plain values."""
    payload = (
        _MEMO_VERSION,
        kind,
        today.toordinal(),
        seed,
        iterations,
        THREE_POINT,
        [
            (
                t.id,
                t.planned_start.toordinal(),
                t.planned_finish.toordinal(),
                t.percent_complete,
                _ordinal(t.forecast_finish),
                _ordinal(t.actual_finish),
                _ordinal(t.actual_start),
            )
            for t in tasks
        ],
        [tuple(link) for link in link_rows],
        list(samples),
    )
    digest = hashlib.sha256(pickle.dumps(payload, protocol=5)).hexdigest()
    return f"cairn:schedule:{kind}:{digest}"


def _memoised(key: str, compute: Callable[[], T]) -> T:
    """``compute()``, kept in the cache under ``key`` (a digest of its inputs,
    so a kept value can never be stale)."""
    value: T | None = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, MEMO_SECONDS)
    return value


class _RunOptions(TypedDict):
    """The keyword arguments of ``_run`` (and ``_memo_key``) besides the network."""

    today: date
    seed: int
    iterations: int


def _run(
    tasks: Sequence[Task],
    links: Sequence[Link],
    samples: Sequence[float],
    *,
    today: date,
    seed: int,
    iterations: int,
) -> tuple[ScheduleResult, MonteCarloResult]:
    """The critical path and the simulation of one network."""
    try:
        return (
            critical_path(tasks, links, today=today),
            monte_carlo(
                tasks,
                links,
                iterations=iterations,
                seed=seed,
                slip_samples=list(samples),
                three_point=THREE_POINT,
                today=today,
            ),
        )
    except CycleError as exc:
        # Unreachable through the services (dependency_add refuses cycles);
        # data stored around them must not turn into a 500.
        raise Conflict(CYCLE_MESSAGE) from exc


def _outlook(
    schedule: ScheduleResult,
    forecast: MonteCarloResult,
    *,
    count: int,
    samples: Sequence[float],
    tasks: Sequence[Task] = (),
) -> ScheduleOutlook:
    milestones = {
        t.id: MilestoneOutlook(
            planned_finish=t.planned_finish,
            finish=schedule.tasks[t.id].ef,
            p80=forecast.tasks[t.id].p80,
            probability_on_time=forecast.tasks[t.id].probability_on_time,
            plan_float=schedule.tasks[t.id].plan_float,
            done=t.actual_finish is not None or t.percent_complete >= 100,
        )
        for t in tasks
    }
    return ScheduleOutlook(
        milestones=milestones,
        milestone_count=count,
        planned_finish=forecast.planned_finish,
        forecast_finish=schedule.project_finish,
        probability_on_time=forecast.probability_on_time if count else None,
        p50=forecast.p50,
        p80=forecast.p80,
        p95=forecast.p95,
        iterations=forecast.iterations,
        seed=forecast.seed,
        source=forecast.source,
        sample_count=len(samples),
    )


def _forecast(
    portfolio_id: int,
    tasks: Sequence[Task],
    link_rows: Sequence[tuple[int, int, str, int]],
    samples: Sequence[float],
    *,
    today: date,
    iterations: int,
) -> tuple[ScheduleResult, MonteCarloResult, list[Link]]:
    """The full results for one portfolio (memoised)."""
    links = _to_links(link_rows)
    options: _RunOptions = {
        "today": today,
        "seed": portfolio_id,
        "iterations": iterations,
    }
    key = _memo_key("full", tasks, link_rows, samples, **options)
    schedule, forecast = _memoised(key, lambda: _run(tasks, links, samples, **options))
    return schedule, forecast, links


def _outlook_of(
    portfolio_id: int,
    tasks: Sequence[Task],
    link_rows: Sequence[tuple[int, int, str, int]],
    samples: Sequence[float],
    *,
    today: date,
    iterations: int,
) -> ScheduleOutlook:
    """The portfolio-level figures only (memoised on their own: small to
    keep, quick to read back for a dashboard of many portfolios)."""
    options: _RunOptions = {
        "today": today,
        "seed": portfolio_id,
        "iterations": iterations,
    }

    def compute() -> ScheduleOutlook:
        schedule, forecast = _run(tasks, _to_links(link_rows), samples, **options)
        return _outlook(
            schedule, forecast, count=len(tasks), samples=samples, tasks=tasks
        )

    return _memoised(
        _memo_key("outlook", tasks, link_rows, samples, **options), compute
    )


# --------------------------------------------------------------------------
# The full schedule (page and API)
# --------------------------------------------------------------------------


def _milestone_rows(user: Viewer, portfolio: Portfolio) -> list[dict[str, Any]]:
    """The portfolio's non-cancelled milestones with a ``visible`` flag (1
    query); names of the others are blanked in SQL, never loaded."""
    visible = Exists(
        Milestone.objects.restrict(user, VIEW).filter(pk=OuterRef("pk")).values("pk")
    )

    def shown(field: str) -> Case:
        return Case(When(visible, then=F(field)), default=Value(""))

    return list(
        Milestone.objects.filter(portfolio=portfolio)
        .exclude(status=Status.CANCELLED)
        .annotate(
            visible=visible,
            shown_code=shown("code"),
            shown_name=shown("name"),
            shown_org_unit=shown("org_unit__name"),
        )
        .order_by("planned_start", "planned_completion", "pk")
        .values(*_TASK_FIELDS, "visible", "shown_code", "shown_name", "shown_org_unit")
    )


def _allocations(
    portfolio: Portfolio, visible_ids: set[int], today: date
) -> list[OverallocationRow]:
    """Weeks from the current one on where an org unit drawn on by a visible
    milestone of ``portfolio`` is allocated beyond its capacity (1 query).

    The load of a unit counts its allocations to the open milestones of every
    portfolio over their planned dates.
    """
    units = ResourceAllocation.objects.filter(milestone__portfolio=portfolio).values(
        "org_unit_id"
    )
    rows = list(
        ResourceAllocation.objects.filter(
            org_unit_id__in=units, org_unit__fte_capacity__isnull=False
        )
        .exclude(milestone__status__in=CLOSED_STATUSES)
        .order_by("pk")
        .values_list(
            "milestone_id",
            "milestone__portfolio_id",
            "milestone__planned_start",
            "milestone__planned_completion",
            "org_unit_id",
            "org_unit__name",
            "org_unit__fte_capacity",
            "fte",
        )
    )
    shown: set[int] = set()
    names: dict[int, str] = {}
    capacities: dict[int, float] = {}
    tasks: dict[int, Task] = {}
    loads: list[tuple[int, int, float]] = []
    for mid, pid, start, finish, unit, name, capacity, fte in rows:
        names[unit] = name
        assert capacity is not None  # filtered out above
        capacities[unit] = float(capacity)
        tasks.setdefault(mid, Task(id=mid, planned_start=start, planned_finish=finish))
        loads.append((mid, unit, float(fte)))
        if pid == portfolio.pk and mid in visible_ids:
            shown.add(unit)
    this_week = today - timedelta(days=today.weekday())
    return [
        OverallocationRow(
            org_unit_id=row.org_unit_id,
            org_unit=names[row.org_unit_id],
            week_start=row.week_start,
            allocated=row.allocated,
            capacity=row.capacity,
        )
        for row in overallocated_units(list(tasks.values()), loads, capacities)
        if row.org_unit_id in shown and row.week_start >= this_week
    ]


def portfolio_schedule(
    user: Viewer,
    portfolio: Portfolio,
    *,
    today: date | None = None,
    iterations: int = DEFAULT_ITERATIONS,
) -> PortfolioSchedule:
    """The schedule of ``portfolio`` with the rows ``user`` may see.

    Four queries whatever the number of milestones (milestones, dependencies,
    update history, allocations). Raises ``Invalid`` for ``iterations``
    outside :data:`MIN_ITERATIONS`..:data:`MAX_ITERATIONS` and ``Conflict``
    if the stored dependencies form a cycle.
    """
    check_iterations(iterations)
    today = today or timezone.localdate()
    rows = _milestone_rows(user, portfolio)
    link_rows = _links_by_portfolio([portfolio.pk]).get(portfolio.pk, [])
    samples = _slip_samples([portfolio.pk]).get(portfolio.pk, [])
    tasks = [_task(row) for row in rows]
    schedule, forecast, links = _forecast(
        portfolio.pk, tasks, link_rows, samples, today=today, iterations=iterations
    )
    visible = {row["id"]: row for row in rows if row["visible"]}
    by_id = {
        mid: _milestone_schedule(row, schedule, forecast)
        for mid, row in visible.items()
    }
    ordered = sorted(
        by_id.values(), key=lambda m: (m.es, m.ef, m.planned_completion, m.id)
    )
    chain = schedule.critical_chain
    ranked = [
        b
        for b in bottlenecks(schedule, links, limit=len(tasks))
        if b.task_id in by_id and b.downstream_count > 0
    ]
    return PortfolioSchedule(
        portfolio=portfolio,
        today=today,
        outlook=_outlook(
            schedule, forecast, count=len(tasks), samples=samples, tasks=tasks
        ),
        project_start=schedule.project_start,
        project_finish=schedule.project_finish,
        milestones=ordered,
        hidden_count=len(rows) - len(visible),
        critical_chain=[by_id[mid] for mid in chain if mid in by_id],
        critical_chain_hidden=sum(1 for mid in chain if mid not in by_id),
        bottlenecks=[
            BottleneckRow(
                by_id[b.task_id], b.downstream_count, b.direct_successor_count
            )
            for b in ranked[:BOTTLENECK_LIMIT]
        ],
        overallocations=_allocations(portfolio, set(visible), today),
        links=[link for link in link_rows if link[0] in by_id and link[1] in by_id],
    )


def _milestone_schedule(
    row: Mapping[str, Any], schedule: ScheduleResult, forecast: MonteCarloResult
) -> MilestoneSchedule:
    planned = schedule.tasks[row["id"]]
    odds = forecast.tasks[row["id"]]
    return MilestoneSchedule(
        id=row["id"],
        code=row["shown_code"],
        name=row["shown_name"],
        org_unit=row["shown_org_unit"],
        status=row["status"],
        percent_complete=row["percent_complete"],
        planned_start=row["planned_start"],
        planned_completion=row["planned_completion"],
        forecast_completion=row["forecast_completion"],
        es=planned.es,
        ef=planned.ef,
        ls=planned.plan_ls or planned.ls,
        lf=planned.plan_lf or planned.lf,
        total_float=planned.plan_float,
        critical=planned.critical,
        own_slip=planned.own_slip_days,
        inherited_slip=planned.inherited_slip_days,
        probability_on_time=odds.probability_on_time,
        p50=odds.p50,
        p80=odds.p80,
        p95=odds.p95,
    )


# --------------------------------------------------------------------------
# Portfolio-level outlook (dashboard and report)
# --------------------------------------------------------------------------


def _outlook_keys(
    readable: QuerySet[Portfolio, Portfolio],
    ids: Sequence[int],
    today: date,
    iterations: int,
) -> dict[int, str]:
    """The memo key of each readable portfolio's outlook (one query).

    Every write to a milestone, including a progress update, a baseline
    change and a deletion, adds a row to its history, and every write to a
    dependency to theirs; history ids only grow. So the newest milestone
    history id of the portfolio (one probe of the ``milestone_hist_latest``
    index) and the newest dependency history id name the state of everything
    an outlook is computed from: a changed portfolio gets a new key, an
    unchanged one finds its outlook without loading its network.
    """
    rows = (
        readable.filter(pk__in=ids)
        .annotate(
            changed=newest_history_id(Milestone, portfolio_id=OuterRef("pk")),
            linked=newest_history_id(Dependency),
        )
        .values_list("pk", "changed", "linked")
    )
    return {
        pk: f"outlook:v{_MEMO_VERSION}:{pk}:{changed}:{linked}:{today}:{iterations}"
        for pk, changed, linked in rows
    }


def portfolio_outlooks(
    user: Viewer,
    portfolios: Iterable[Portfolio],
    *,
    today: date | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    allow_stale: bool = False,
) -> dict[int, ScheduleOutlook]:
    """The outlook of each of ``portfolios`` the user may view, by portfolio id.

    One query when every outlook is memoised (see :func:`_outlook_keys`);
    otherwise three more for the portfolios that changed (milestones,
    dependencies, update history), each scheduled as a whole (see the module
    docstring). A portfolio without milestones to schedule has no outlook.

    ``allow_stale`` (the dashboard): a portfolio changed since its outlook
    was computed today gets that last outlook, marked ``refreshing``, and
    its refresh is queued for the worker (once a minute per portfolio at
    most), instead of a simulation inside the request: under a stream of
    updates readers do not each pay for one. The report and the schedule
    page always compute the current outlook.
    """
    check_iterations(iterations)
    return _outlooks(
        Portfolio.objects.restrict(user, VIEW),
        [p.pk for p in portfolios],
        today=today or timezone.localdate(),
        iterations=iterations,
        allow_stale=allow_stale,
    )


def outlooks_refresh(
    portfolio_ids: Iterable[int], *, today: date | None = None
) -> dict[int, ScheduleOutlook]:
    """Compute and memoise the current outlook of the portfolios (system work,
    after a change), so the next reader finds it ready. Returns them."""
    return _outlooks(
        Portfolio.objects.all(),
        list(portfolio_ids),
        today=today or timezone.localdate(),
        iterations=DEFAULT_ITERATIONS,
    )


def _last_key(pk: int, today: date, iterations: int) -> str:
    return f"outlook:v{_MEMO_VERSION}:last:{pk}:{today}:{iterations}"


def _queue_refresh(portfolio_ids: list[int]) -> None:
    """Ask the worker to compute these outlooks, once a minute per portfolio
    at most; a broker outage leaves the last outlook shown a little longer."""
    from .tasks import refresh_outlooks

    wanted = [pk for pk in portfolio_ids if cache.add(f"outlook:queued:{pk}", 1, 60)]
    if not wanted:
        return
    try:
        transaction.on_commit(lambda: refresh_outlooks.delay(wanted))
    except Exception:  # noqa: BLE001 - the broker is down: readers keep the last one
        logger.exception("Could not queue the outlook refresh of %s", wanted)


def _outlooks(
    readable: QuerySet[Portfolio, Portfolio],
    ids: list[int],
    *,
    today: date,
    iterations: int,
    allow_stale: bool = False,
) -> dict[int, ScheduleOutlook]:
    if not ids:
        return {}
    keys = _outlook_keys(readable, ids, today, iterations)
    kept = cache.get_many(list(keys.values()))
    outlooks = {pk: kept[key] for pk, key in keys.items() if key in kept}
    stale = [pk for pk in ids if pk in keys and pk not in outlooks]
    if stale and allow_stale:
        last = cache.get_many([_last_key(pk, today, iterations) for pk in stale])
        shown = []
        for pk in stale:
            previous = last.get(_last_key(pk, today, iterations))
            if previous is not None:
                outlooks[pk] = replace(previous, refreshing=True)
                shown.append(pk)
        if shown:
            _queue_refresh(shown)
            stale = [pk for pk in stale if pk not in shown]
    if not stale:
        return {pk: o for pk, o in outlooks.items() if o is not None}
    tasks: dict[int, list[Task]] = defaultdict(list)
    rows = (
        Milestone.objects.filter(portfolio__in=stale)
        .exclude(status=Status.CANCELLED)
        .order_by("portfolio_id", "planned_start", "planned_completion", "pk")
        .values("portfolio_id", *_TASK_FIELDS)
    )
    for row in rows:
        tasks[row["portfolio_id"]].append(_task(row))
    links = _links_by_portfolio(stale)
    samples = _slip_samples(stale)
    fresh: dict[str, ScheduleOutlook | None] = {}
    for pid in stale:
        outlook = None
        if tasks.get(pid):
            outlook = _outlook_of(
                pid,
                tasks[pid],
                links.get(pid, []),
                samples.get(pid, []),
                today=today,
                iterations=iterations,
            )
        outlooks[pid] = fresh[keys[pid]] = outlook
        if outlook is not None:
            fresh[_last_key(pid, today, iterations)] = outlook
    # ``None`` (nothing to schedule) is kept too, as a marker.
    cache.set_many(fresh, MEMO_SECONDS)
    return {pk: outlooks[pk] for pk in ids if outlooks.get(pk) is not None}


def portfolio_outlook(
    user: Viewer, portfolio: Portfolio, *, today: date | None = None
) -> ScheduleOutlook | None:
    """The outlook of one portfolio; ``None`` when it has no milestones to
    schedule (or the user may not view it)."""
    return portfolio_outlooks(user, [portfolio], today=today).get(portfolio.pk)


# --------------------------------------------------------------------------
# The network's timings (every timeline: page, API, dashboard, report, PDF)
# --------------------------------------------------------------------------


def network_timings(
    portfolio: Portfolio, *, today: date, as_of: date | None = None
) -> dict[int, TaskSchedule]:
    """The critical-path schedule of the portfolio's whole network, by
    milestone id: what every timeline draws (scheduled finish, critical flag,
    slips), so a milestone shows the same figures on the schedule page, in the
    API, on the dashboard and in the report and its PDF, whatever its reader
    may see. Hidden predecessors still push their successors; callers draw
    only the ids their reader sees.

    Live (``as_of`` None) or as the network stood at the end of ``as_of``,
    from history. Two queries (milestones, dependencies); memoised on its
    inputs. Empty when the stored links form a cycle (the timeline then shows
    the plan without analysis).
    """
    if as_of is None:
        rows = (
            Milestone.objects.filter(portfolio=portfolio)
            .exclude(status=Status.CANCELLED)
            .order_by("planned_start", "planned_completion", "pk")
            .values(*_TASK_FIELDS)
        )
        tasks = [_task(row) for row in rows]
        link_rows = _links_by_portfolio([portfolio.pk]).get(portfolio.pk, [])
    else:
        tasks, link_rows = _history_network(portfolio, _end_of_day(as_of))
    if not tasks:
        return {}

    def compute() -> dict[int, TaskSchedule]:
        try:
            return critical_path(tasks, _to_links(link_rows), today=today).tasks
        except ValueError:  # a cycle or a link to a missing task
            logger.warning(
                "No critical path for portfolio %s", portfolio.pk, exc_info=True
            )
            return {}

    key = _memo_key("cpm", tasks, link_rows, (), today=today, seed=0, iterations=0)
    return _memoised(key, compute)


def _history_network(
    portfolio: Portfolio, moment: datetime
) -> tuple[list[Task], list[tuple[int, int, str, int]]]:
    """The portfolio's non-cancelled milestones and their dependencies as
    they stood at ``moment`` (two queries)."""
    milestones = _snapshot(Milestone, moment, portfolio_id=portfolio.pk).exclude(
        status=Status.CANCELLED
    )
    tasks = [
        _task(row)
        for row in milestones.order_by(
            "planned_start", "planned_completion", "id"
        ).values(*_TASK_FIELDS)
    ]
    if not tasks:
        return [], []
    ids = milestones.values("id")
    link_rows = list(
        _snapshot(Dependency, moment, successor_id__in=ids)
        .filter(predecessor_id__in=ids)
        .order_by("id")
        .values_list("predecessor_id", "successor_id", "type", "lag_days")
    )
    return tasks, link_rows


def _end_of_day(day: date) -> datetime:
    start = datetime.combine(day + timedelta(days=1), time())
    return timezone.make_aware(start) - timedelta(microseconds=1)


def _snapshot(
    model: type[Model], moment: datetime, **filters: Any
) -> QuerySet[Any, Any]:
    """The latest historical row of each object by ``moment``, deletions
    dropped (what ``Model.history.as_of`` gives, as a queryset)."""
    rows: QuerySet[Any, Any] = (
        get_history_manager_for_model(model)
        .filter(history_date__lte=moment)
        .latest_of_each()
        .exclude(history_type="-")
        .filter(**filters)
    )
    return rows


def portfolio_outlook_as_of(
    user: Viewer, portfolio: Portfolio, as_of: date
) -> ScheduleOutlook | None:
    """The outlook as it stood at the end of ``as_of``, from history.

    The milestones and dependencies are their historical rows at that moment,
    ``as_of`` is the status date, and the samples are the updates written and
    submitted by then, against the plans their milestones had then. Three
    queries. ``None`` without milestones then (or when the user may not view
    the portfolio).
    """
    if not Portfolio.objects.restrict(user, VIEW).filter(pk=portfolio.pk).exists():
        return None
    moment = _end_of_day(as_of)
    tasks, link_rows = _history_network(portfolio, moment)
    if not tasks:
        return None
    planned = Milestone.history.filter(
        id=OuterRef("milestone_id"), history_date__lte=moment
    ).order_by("-history_date", "-history_id")
    start = Subquery(planned.values("planned_start")[:1])
    finish = Subquery(planned.values("planned_completion")[:1])
    written = ProgressUpdate.history.filter(
        history_type="+", history_date__lte=moment
    ).values("id")
    rows = (
        ProgressUpdate.objects.filter(
            milestone__portfolio=portfolio,
            submitted_at__lte=moment,
            pk__in=written,
            forecast_completion__isnull=False,
        )
        .annotate(plan_start=start, plan_finish=finish)
        .filter(
            Q(plan_finish__gt=F("plan_start"))
            & Q(forecast_completion__gte=F("plan_start"))
        )
        .annotate(
            ratio=_ratio_expr(
                F("forecast_completion"), F("plan_start"), F("plan_finish")
            )
        )
        .order_by()
        .values_list("milestone__portfolio_id", "ratio")
        .annotate(n=Count("pk"))
        .order_by("ratio")
    )
    samples = _samples_from(rows).get(portfolio.pk, [])
    return _outlook_of(
        portfolio.pk,
        tasks,
        link_rows,
        samples,
        today=as_of,
        iterations=DEFAULT_ITERATIONS,
    )
