"""Schedule intelligence: critical path, knock-on delays, completion odds.

Pure computation (Python and NumPy, no Django); the milestone services turn
model rows into :class:`Task` and :class:`Link` values and call:

- :func:`critical_path` -- forward and backward pass over the dependency
  network, floats, slips and the critical chain (:class:`ScheduleResult`).
- :func:`monte_carlo` -- probability of finishing on time and P50/P80/P95
  finish dates, per task and for the whole portfolio
  (:class:`MonteCarloResult`).
- :func:`bottlenecks` -- critical tasks ranked by how much work depends on
  them.
- :func:`overallocated_units` -- org unit weeks whose FTE allocations exceed
  capacity.

Conventions
-----------
Time is counted in calendar days (no working calendars). Dates become integer
day offsets from the earliest planned start; results are converted back to
dates. A task occupies the half-open interval ``[start, finish)``:

- ``duration = (planned_finish - planned_start).days``, ``EF = ES + duration``;
  zero-duration tasks (milestones) are allowed.
- Finish-to-start with lag 0 lets the successor start on the day the
  predecessor finishes (offsets, not inclusive day counts). The four
  dependency types with lag ``L`` (negative lag is a lead) constrain::

      FS: succ.ES >= pred.EF + L      SS: succ.ES >= pred.ES + L
      FF: succ.EF >= pred.EF + L      SF: succ.EF >= pred.ES + L

- Every task also has a "start no earlier than planned start" constraint, so
  ``ES = max(planned_start, dependency constraints)`` and a task without
  predecessors starts on its planned start.
- The backward pass starts from the project finish (the latest EF), and late
  finishes are capped by it, so total float ``LS - ES`` (= ``LF - EF``) is never
  negative; a task is critical when its float is 0 (it is on the longest
  path, the one that drives the project finish).

Float against the plan
----------------------
Network float alone misleads a reader: a task without successors that is a
month late still "has" every day up to the project finish. So a second
backward pass measures ``plan_float``, the float people act on: every task
must finish by its own planned finish and by the project's planned end (the
latest planned finish), and those deadlines travel back to predecessors
through the links. ``plan_float = LF_plan - EF``; it is negative by as many
days as the task (or what waits on it) is already late, and never larger than
``planned_finish - EF``. Completed tasks keep 0 (their dates are facts).

Progress and forecasts
----------------------
A ``forecast_finish`` later than the computed finish extends the task to that
date (the task is known to be late); successors move with it and the extra
days count as part of its duration for the backward pass and the simulation.

Actual dates and percent complete only mean something against a status date,
so they are used when ``today`` is given (progress overrides logic, as in most
scheduling tools):

- completed (``actual_finish`` set, or 100 %): the finish is fixed at
  ``actual_finish`` (or the earlier of planned finish and today when no date
  was recorded); incoming dependencies no longer constrain it;
- in progress (``actual_start`` set, or 0 < percent < 100): the remaining
  ``ceil(duration * (1 - percent / 100))`` days start no earlier than today;
  only finish-type dependencies (FF, SF) still constrain it;
- not started: the task cannot start before today.

Without ``today`` the network is scheduled from planned dates and forecasts.

Slip attribution: ``inherited_slip_days`` is how much later the start is than
planned because of predecessors; ``own_slip_days`` is the rest of the finish
slip (``EF - planned_finish - inherited``), i.e. the task's own lateness
(forecast, slow progress, not started yet); negative means ahead of plan.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

import numpy as np

__all__ = [
    "DEPENDENCY_TYPES",
    "Bottleneck",
    "CycleError",
    "Link",
    "MonteCarloResult",
    "Overallocation",
    "ScheduleResult",
    "Task",
    "TaskForecast",
    "TaskSchedule",
    "bottlenecks",
    "critical_path",
    "monte_carlo",
    "overallocated_units",
]

DEPENDENCY_TYPES: tuple[str, ...] = ("FS", "SS", "FF", "SF")

# Integer codes keep the inner loops free of string comparisons.
_FS, _SS, _FF, _SF = range(4)
_KIND = {name: code for code, name in enumerate(DEPENDENCY_TYPES)}

_NOT_STARTED, _IN_PROGRESS, _DONE = range(3)

# Below any real day offset; stands for "no constraint of this kind".
_UNCONSTRAINED = -(10**9)

# Multiplier block size for the simulation (elements, ~32 MB of float64): big
# enough for vectorized draws, small enough that 10k tasks x 10k iterations
# never materialise at once.
_BLOCK_ELEMENTS = 1 << 22

_PERCENTILES = (50, 80, 95)

# Simulated day offsets: int32 halves memory and bandwidth against int64, and
# dates only span about 3.7 million days anyway.
_DAYS = np.int32
_MAX_SIMULATED_DAYS = 1_000_000

# Sums of FTE fractions (0.1 + 0.2 ...) carry float noise; never flag it.
_FTE_TOLERANCE = 1e-9


# --------------------------------------------------------------------------
# Inputs and results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A schedulable unit (milestone) with its plan and progress."""

    id: int
    planned_start: date
    planned_finish: date
    percent_complete: float = 0.0
    forecast_finish: date | None = None
    actual_finish: date | None = None
    actual_start: date | None = None
    org_unit_id: int | None = None

    def __post_init__(self) -> None:
        if self.planned_finish < self.planned_start:
            raise ValueError(
                f"Task {self.id}: planned_finish {self.planned_finish} is before "
                f"planned_start {self.planned_start}"
            )
        if not 0 <= self.percent_complete <= 100:
            raise ValueError(
                f"Task {self.id}: percent_complete {self.percent_complete} "
                "is outside 0..100"
            )

    @property
    def duration(self) -> int:
        """Planned duration in calendar days."""
        return (self.planned_finish - self.planned_start).days


@dataclass(frozen=True)
class Link:
    """A dependency: ``successor`` waits on ``predecessor`` (FS, SS, FF, SF)."""

    predecessor: int
    successor: int
    type: str = "FS"
    lag_days: int = 0

    def __post_init__(self) -> None:
        if self.type not in _KIND:
            raise ValueError(
                f"Link {self.predecessor}->{self.successor}: unknown dependency "
                f"type {self.type!r} (expected one of {', '.join(DEPENDENCY_TYPES)})"
            )


class CycleError(ValueError):
    """The dependency links contain a cycle; ``cycle`` lists its task ids."""

    def __init__(self, cycle: Sequence[int]) -> None:
        self.cycle: list[int] = list(cycle)
        path = " -> ".join(str(task_id) for task_id in [*self.cycle, self.cycle[0]])
        super().__init__(f"Dependency cycle between tasks {path}")


@dataclass(frozen=True)
class TaskSchedule:
    """Computed dates of one task; float and slips are in days."""

    task_id: int
    es: date
    ef: date
    ls: date
    lf: date
    total_float: int
    critical: bool
    own_slip_days: int
    inherited_slip_days: int
    # Float against the plan: how many days the task may slip before it
    # finishes after its own planned finish, pushes a successor past that
    # successor's planned finish, or pushes the project past its planned end
    # (the latest planned finish). Negative when already that late. See
    # "Float against the plan" in the module docstring.
    plan_float: int = 0
    # Late start and finish of that pass (``plan_lf - ef == plan_float``).
    plan_ls: date | None = None
    plan_lf: date | None = None


@dataclass(frozen=True)
class ScheduleResult:
    """Outcome of :func:`critical_path`.

    ``order`` is a topological order of the task ids; ``critical_chain`` runs
    from the first to the last task of one critical path. The project dates are
    ``None`` only when there are no tasks.
    """

    tasks: dict[int, TaskSchedule]
    critical_chain: list[int]
    project_start: date | None
    project_finish: date | None
    order: list[int]


@dataclass(frozen=True)
class TaskForecast:
    """Simulated finish of one task."""

    task_id: int
    probability_on_time: float  # P(finish <= planned_finish)
    p50: date
    p80: date
    p95: date


@dataclass(frozen=True)
class MonteCarloResult:
    """Outcome of :func:`monte_carlo`.

    The portfolio finish is the latest task finish of each iteration;
    ``probability_on_time`` is the chance it is no later than
    ``planned_finish`` (the latest planned finish). ``source`` says where the
    duration multipliers came from: ``"history"`` or ``"three_point"``.
    """

    iterations: int
    seed: int
    source: str
    tasks: dict[int, TaskForecast]
    planned_finish: date | None
    probability_on_time: float
    p50: date | None
    p80: date | None
    p95: date | None


@dataclass(frozen=True)
class Bottleneck:
    """A critical task and how much of the network depends on it."""

    task_id: int
    downstream_count: int  # transitive successors
    direct_successor_count: int


class Overallocation(NamedTuple):
    """One org unit week whose allocated FTE exceeds capacity."""

    org_unit_id: int
    week_start: date  # the Monday of the ISO week
    allocated: float
    capacity: float


# --------------------------------------------------------------------------
# Network preparation (shared by the deterministic pass and the simulation)
# --------------------------------------------------------------------------


def _topological_order(
    ids: Sequence[int], edges: Sequence[tuple[int, int]]
) -> list[int]:
    """Kahn's algorithm over task indices; raises CycleError on a cycle.

    ``ids`` are the task ids by index (for the error message); ``edges`` are
    (predecessor index, successor index) pairs. Returns indices.
    """
    n = len(ids)
    indegree = [0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for p, s in edges:
        out[p].append(s)
        indegree[s] += 1
    # Seeding in input order keeps the order (and tie-breaks) deterministic.
    queue = deque(i for i in range(n) if indegree[i] == 0)
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for s in out[i]:
            indegree[s] -= 1
            if indegree[s] == 0:
                queue.append(s)
    if len(order) < n:
        raise CycleError([ids[i] for i in _find_cycle(indegree, edges)])
    return order


def _find_cycle(indegree: list[int], edges: Sequence[tuple[int, int]]) -> list[int]:
    """Indices of one cycle among the nodes Kahn's algorithm could not order.

    Every leftover node still has a leftover predecessor, so walking backwards
    from any of them must revisit a node; the revisited stretch is a cycle.
    """
    leftover_pred: dict[int, int] = {}
    for p, s in edges:
        if indegree[s] > 0 and indegree[p] > 0:
            leftover_pred.setdefault(s, p)
    node = next(iter(leftover_pred))
    seen: dict[int, int] = {}
    walk: list[int] = []
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = leftover_pred[node]
    cycle = walk[seen[node] :]
    cycle.reverse()  # the walk went against the links
    return cycle


class _Network:
    """Tasks and links as index-based lists, with status fixed for ``today``."""

    def __init__(
        self, tasks: Sequence[Task], links: Iterable[Link], today: date | None
    ) -> None:
        self.tasks = list(tasks)
        n = len(self.tasks)
        self.n = n
        self.index: dict[int, int] = {}
        for i, task in enumerate(self.tasks):
            if task.id in self.index:
                raise ValueError(f"Duplicate task id {task.id}")
            self.index[task.id] = i

        self.origin = min((t.planned_start for t in self.tasks), default=date.min)
        origin = self.origin.toordinal()

        def offset(day: date) -> int:
            return day.toordinal() - origin

        # Incoming links per task as (predecessor, kind, lag); `honoured` are
        # the links the forward pass obeys (progress overrides the others).
        self.preds: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
        self.honoured_succs: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
        self.out_degree = [0] * n
        self.start_read = [False] * n  # some SS/SF successor reads ES
        self.finish_read = [False] * n  # some FS/FF successor reads EF
        edges: list[tuple[int, int]] = []
        for link in links:
            try:
                p = self.index[link.predecessor]
                s = self.index[link.successor]
            except KeyError as exc:
                raise ValueError(
                    f"Link {link.predecessor}->{link.successor} refers to unknown "
                    f"task {exc.args[0]}"
                ) from None
            kind = _KIND[link.type]
            self.preds[s].append((p, kind, int(link.lag_days)))
            self.out_degree[p] += 1
            if kind in (_SS, _SF):
                self.start_read[p] = True
            else:
                self.finish_read[p] = True
            edges.append((p, s))
        self.order = _topological_order([t.id for t in self.tasks], edges)

        self.planned_start = [offset(t.planned_start) for t in self.tasks]
        self.planned_finish = [offset(t.planned_finish) for t in self.tasks]
        self.duration = [t.duration for t in self.tasks]
        self.forecast = [
            None if t.forecast_finish is None else offset(t.forecast_finish)
            for t in self.tasks
        ]
        today_off = None if today is None else offset(today)

        self.status = [_NOT_STARTED] * n
        self.work = list(self.duration)  # days of work still to schedule
        self.earliest = list(self.planned_start)  # lower bound on ES
        self.fixed_start = [0] * n  # ES of started tasks
        self.fixed_finish = [0] * n  # EF of completed tasks
        self.work_floor = [0] * n  # remaining work of started tasks begins here
        if today_off is not None:
            for i, t in enumerate(self.tasks):
                self._apply_progress(i, t, today_off, offset)

        for s in range(n):
            status = self.status[s]
            if status == _DONE:
                continue
            for p, kind, lag in self.preds[s]:
                if status == _NOT_STARTED or kind in (_FF, _SF):
                    self.honoured_succs[p].append((s, kind, lag))

    def _apply_progress(
        self, i: int, t: Task, today: int, offset: Callable[[date], int]
    ) -> None:
        duration = self.duration[i]
        if t.actual_finish is not None or t.percent_complete >= 100:
            finish = (
                offset(t.actual_finish)
                if t.actual_finish is not None
                else min(self.planned_finish[i], today)
            )
            start = (
                offset(t.actual_start)
                if t.actual_start is not None
                else finish - duration
            )
            self.status[i] = _DONE
            self.fixed_start[i] = min(start, finish)
            self.fixed_finish[i] = finish
            self.work[i] = 0
        elif t.actual_start is not None or t.percent_complete > 0:
            start = (
                offset(t.actual_start)
                if t.actual_start is not None
                else min(self.planned_start[i], today)
            )
            self.status[i] = _IN_PROGRESS
            self.fixed_start[i] = start
            self.work_floor[i] = max(start, today)
            # round() first so 10 * (100 - 70) / 100 style float noise cannot
            # add a day.
            self.work[i] = math.ceil(
                round(duration * (100 - t.percent_complete) / 100, 9)
            )
        else:
            self.earliest[i] = max(self.planned_start[i], today)

    def to_date(self, offset: int) -> date:
        return self.origin + timedelta(days=int(offset))


class _Pass(NamedTuple):
    """Deterministic forward pass: early dates and the scheduled span."""

    es: list[int]
    ef: list[int]
    # Days the task is scheduled to take from ES (or, when started, from the
    # work floor) including any forecast extension; what the simulation scales.
    extended: list[int]
    dependency_start: list[int]  # start the predecessors alone would allow


def _forward(net: _Network) -> _Pass:
    n = net.n
    es = [0] * n
    ef = [0] * n
    extended = [0] * n
    dep_start = [_UNCONSTRAINED] * n
    for i in net.order:
        start_c = _UNCONSTRAINED
        finish_c = _UNCONSTRAINED
        for p, kind, lag in net.preds[i]:
            if kind == _FS:
                c = ef[p] + lag
                if c > start_c:
                    start_c = c
            elif kind == _SS:
                c = es[p] + lag
                if c > start_c:
                    start_c = c
            elif kind == _FF:
                c = ef[p] + lag
                if c > finish_c:
                    finish_c = c
            else:
                c = es[p] + lag
                if c > finish_c:
                    finish_c = c
        dep_start[i] = max(start_c, finish_c - net.duration[i])

        status = net.status[i]
        forecast = net.forecast[i]
        work = net.work[i]
        if status == _NOT_STARTED:
            start = max(net.earliest[i], start_c, finish_c - work)
            finish = start + work
            if forecast is not None and forecast > finish:
                finish = forecast
            extended[i] = finish - start
        elif status == _IN_PROGRESS:
            start = net.fixed_start[i]
            floor = net.work_floor[i]
            span = work
            if forecast is not None and forecast - floor > span:
                span = forecast - floor
            extended[i] = span
            finish = max(floor + span, finish_c)
        else:
            start = net.fixed_start[i]
            finish = net.fixed_finish[i]
        es[i] = start
        ef[i] = finish
    return _Pass(es, ef, extended, dep_start)


# --------------------------------------------------------------------------
# Critical path
# --------------------------------------------------------------------------


def critical_path(
    tasks: Sequence[Task], links: Iterable[Link], *, today: date | None = None
) -> ScheduleResult:
    """Schedule the network and find its critical path.

    Forward pass for early dates, backward pass from the project finish for
    late dates, total float, slip attribution and the critical chain. See the
    module docstring for the conventions. Raises :class:`CycleError` when the
    links form a cycle and ``ValueError`` for links to unknown tasks or
    duplicate task ids. Linear in tasks + links.
    """
    net = _Network(tasks, links, today)
    n = net.n
    if n == 0:
        return ScheduleResult({}, [], None, None, [])
    fwd = _forward(net)
    es, ef = fwd.es, fwd.ef
    project_end = max(ef)

    ls, lf = _backward(net, fwd, [project_end] * n)
    plan_ls, plan_lf = _plan_late_dates(net, fwd)
    schedules: dict[int, TaskSchedule] = {}
    for i, task in enumerate(net.tasks):
        total_float = ls[i] - es[i]
        inherited = max(0, min(es[i], fwd.dependency_start[i]) - net.planned_start[i])
        schedules[task.id] = TaskSchedule(
            task_id=task.id,
            es=net.to_date(es[i]),
            ef=net.to_date(ef[i]),
            ls=net.to_date(ls[i]),
            lf=net.to_date(lf[i]),
            total_float=total_float,
            critical=total_float == 0,
            own_slip_days=ef[i] - net.planned_finish[i] - inherited,
            inherited_slip_days=inherited,
            plan_float=0 if net.status[i] == _DONE else plan_lf[i] - ef[i],
            plan_ls=net.to_date(plan_ls[i]),
            plan_lf=net.to_date(plan_lf[i]),
        )

    chain = _critical_chain(net, fwd, ls, project_end)
    return ScheduleResult(
        tasks=schedules,
        critical_chain=[net.tasks[i].id for i in chain],
        project_start=net.to_date(min(es)),
        project_finish=net.to_date(project_end),
        order=[net.tasks[i].id for i in net.order],
    )


def _plan_late_dates(net: _Network, fwd: _Pass) -> tuple[list[int], list[int]]:
    """Late starts and finishes against the plan (see "Float against the
    plan").

    The same backward pass as the network's, started at the planned end
    (the latest planned finish) and with each task's own planned finish as a
    deadline. Unlike the network pass, late dates may fall before early ones.
    """
    planned_end = max(net.planned_finish)
    return _backward(net, fwd, [min(planned_end, f) for f in net.planned_finish])


def _backward(
    net: _Network, fwd: _Pass, deadlines: list[int]
) -> tuple[list[int], list[int]]:
    """The backward pass: late starts and finishes, each task finishing by
    its ``deadlines`` entry and in time for its honoured successors."""
    es, ef = fwd.es, fwd.ef
    lf = [0] * net.n
    ls = [0] * net.n
    for i in reversed(net.order):
        span = ef[i] - es[i]
        late = deadlines[i]
        for s, kind, lag in net.honoured_succs[i]:
            if kind == _FS:
                c = ls[s] - lag
            elif kind == _SS:
                c = ls[s] - lag + span
            elif kind == _FF:
                c = lf[s] - lag
            else:
                c = lf[s] - lag + span
            if c < late:
                late = c
        lf[i] = late
        ls[i] = late - span
    return ls, lf


def _critical_chain(
    net: _Network, fwd: _Pass, ls: list[int], project_end: int
) -> list[int]:
    """Walk back from the project finish along driving links to critical tasks.

    A link drives its successor when its constraint equals the date it
    constrains (ties count, so the chain reaches as far back as it can). The
    walk starts at the last task in topological order that ends the project,
    so a trailing zero-duration milestone ends the chain rather than its
    predecessor. Among several driving critical predecessors the
    earliest-starting, then the first in topological order, wins, which keeps
    the answer deterministic.
    """
    es, ef = fwd.es, fwd.ef
    position = {i: k for k, i in enumerate(net.order)}

    def is_critical(i: int) -> bool:
        return ls[i] == es[i]

    # The task finishing last always has float 0 (its LF is the project end).
    current = next(
        i for i in reversed(net.order) if ef[i] == project_end and is_critical(i)
    )
    chain = [current]
    while True:
        status = net.status[current]
        if status == _DONE:
            break
        start_target = es[current]
        if status == _NOT_STARTED:
            finish_target = es[current] + net.work[current]
        else:
            finish_target = ef[current]
        best: int | None = None
        for p, kind, lag in net.preds[current]:
            if status == _IN_PROGRESS and kind in (_FS, _SS):
                continue  # progress overrides start dependencies
            if kind == _FS:
                driving = ef[p] + lag == start_target
            elif kind == _SS:
                driving = es[p] + lag == start_target
            elif kind == _FF:
                driving = ef[p] + lag == finish_target
            else:
                driving = es[p] + lag == finish_target
            if not driving or not is_critical(p):
                continue
            if best is None or (es[p], position[p]) < (es[best], position[best]):
                best = p
        if best is None:
            break
        current = best
        chain.append(current)
    chain.reverse()
    return chain


# --------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------


def monte_carlo(
    tasks: Sequence[Task],
    links: Iterable[Link],
    *,
    iterations: int = 10_000,
    seed: int = 0,
    slip_samples: Sequence[float] | None = None,
    three_point: tuple[float, float, float] = (0.9, 1.0, 1.5),
    today: date | None = None,
) -> MonteCarloResult:
    """Simulate the schedule with uncertain durations.

    Each iteration multiplies every task's remaining (forecast-extended) work
    by a random factor and reschedules the network with the same rules as
    :func:`critical_path`; sampled durations are rounded to whole days. The
    factors are bootstrapped from ``slip_samples`` (historical
    actual-or-forecast / planned duration ratios) when there are at least 5
    of them, otherwise drawn from a triangular distribution over
    ``three_point`` = (optimistic, most likely, pessimistic). Percentile dates
    are the earliest date by which at least that share of iterations has
    finished. The same ``seed`` gives the same result; with no uncertainty the
    result equals the critical path result.
    """
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    history = _history_samples(slip_samples)
    low, mode, high = (float(x) for x in three_point)
    if history is None and not 0 <= low <= mode <= high:
        raise ValueError(
            "three_point must be (optimistic, most likely, pessimistic) with "
            "0 <= optimistic <= most likely <= pessimistic"
        )
    source = "history" if history is not None else "three_point"

    net = _Network(tasks, links, today)
    n = net.n
    if n == 0:
        return MonteCarloResult(
            iterations, seed, source, {}, None, 0.0, None, None, None
        )
    fwd = _forward(net)
    rng = np.random.default_rng(seed)

    def draw(columns: int) -> np.ndarray:
        shape = (iterations, columns)
        if history is not None:
            return history[rng.integers(0, history.size, size=shape)]
        if low == high:
            return np.full(shape, low)
        return rng.triangular(low, mode, high, size=shape)

    ranks = [-(-pct * iterations // 100) - 1 for pct in _PERCENTILES]
    es_runs: list[np.ndarray | None] = [None] * n
    ef_runs: list[np.ndarray | None] = [None] * n
    # Runs are dropped once their last successor has used them, so memory
    # follows the width of the network rather than its size.
    uses_left = list(net.out_degree)
    portfolio = np.full(iterations, _UNCONSTRAINED, dtype=_DAYS)
    forecasts: dict[int, TaskForecast] = {}

    block = max(1, _BLOCK_ELEMENTS // iterations)
    for first in range(0, n, block):
        chunk = net.order[first : first + block]
        # One (iterations, tasks) multiplier matrix per block, stored task-major
        # so each task reads a contiguous row.
        multipliers = np.ascontiguousarray(draw(len(chunk)).T)
        for row, i in enumerate(chunk):
            es_run, ef_run = _simulate_task(
                net, fwd, i, multipliers[row], es_runs, ef_runs
            )
            np.maximum(portfolio, ef_run, out=portfolio)
            forecasts[net.tasks[i].id] = _summarise(
                net, net.tasks[i].id, ef_run, net.planned_finish[i], ranks
            )
            for p, _kind, _lag in net.preds[i]:
                uses_left[p] -= 1
                if uses_left[p] == 0:
                    es_runs[p] = ef_runs[p] = None
            # Keep only what successors read: SS/SF read starts, FS/FF finishes.
            if net.start_read[i]:
                es_runs[i] = es_run
            if net.finish_read[i]:
                ef_runs[i] = ef_run

    latest_planned = max(net.planned_finish)
    p50, p80, p95 = (net.to_date(x) for x in np.partition(portfolio, ranks)[ranks])
    return MonteCarloResult(
        iterations=iterations,
        seed=seed,
        source=source,
        tasks={t.id: forecasts[t.id] for t in net.tasks},  # input order
        planned_finish=net.to_date(latest_planned),
        probability_on_time=float(np.count_nonzero(portfolio <= latest_planned))
        / iterations,
        p50=p50,
        p80=p80,
        p95=p95,
    )


def _history_samples(slip_samples: Sequence[float] | None) -> np.ndarray | None:
    """Historical multipliers as an array, or None when too few to bootstrap."""
    if slip_samples is None or len(slip_samples) < 5:
        return None
    samples = np.asarray(slip_samples, dtype=float)
    if not np.all(np.isfinite(samples)) or np.any(samples < 0):
        raise ValueError("slip_samples must be finite, non-negative ratios")
    return samples


def _scaled(days: int, multipliers: np.ndarray) -> np.ndarray:
    """Whole-day durations ``days * multiplier`` for every iteration."""
    if days == 0:
        return np.zeros(multipliers.size, dtype=_DAYS)
    # The clip keeps absurd historical ratios from overflowing int32.
    scaled = np.clip(np.rint(multipliers * days), 0, _MAX_SIMULATED_DAYS)
    return scaled.astype(_DAYS)


def _simulate_task(
    net: _Network,
    fwd: _Pass,
    i: int,
    multipliers: np.ndarray,
    es_runs: list[np.ndarray | None],
    ef_runs: list[np.ndarray | None],
) -> tuple[np.ndarray, np.ndarray]:
    """Early start and finish of task ``i`` in every iteration (vectorized)."""
    iterations = multipliers.size
    status = net.status[i]
    if status == _DONE:
        return (
            np.full(iterations, net.fixed_start[i], dtype=_DAYS),
            np.full(iterations, net.fixed_finish[i], dtype=_DAYS),
        )

    start_c: np.ndarray | None = None
    finish_c: np.ndarray | None = None
    for p, kind, lag in net.preds[i]:
        if kind in (_FS, _SS):
            if status != _NOT_STARTED:
                continue  # progress overrides start dependencies
            source = ef_runs[p] if kind == _FS else es_runs[p]
            assert source is not None
            if start_c is None:
                start_c = source + lag
            else:
                np.maximum(start_c, source + lag, out=start_c)
        else:
            source = ef_runs[p] if kind == _FF else es_runs[p]
            assert source is not None
            if finish_c is None:
                finish_c = source + lag
            else:
                np.maximum(finish_c, source + lag, out=finish_c)

    work = net.work[i]
    extended = fwd.extended[i]
    work_run = _scaled(work, multipliers)
    span_run = work_run if extended == work else _scaled(extended, multipliers)

    if status == _NOT_STARTED:
        es_run = np.full(iterations, net.earliest[i], dtype=_DAYS)
        if start_c is not None:
            np.maximum(es_run, start_c, out=es_run)
        if finish_c is not None:
            # FF/SF push the start so the (unextended) work still fits.
            np.maximum(es_run, finish_c - work_run, out=es_run)
        return es_run, es_run + span_run

    es_run = np.full(iterations, net.fixed_start[i], dtype=_DAYS)
    ef_run = span_run + net.work_floor[i]
    if finish_c is not None:
        np.maximum(ef_run, finish_c, out=ef_run)
    return es_run, ef_run


def _summarise(
    net: _Network, task_id: int, finish: np.ndarray, planned: int, ranks: list[int]
) -> TaskForecast:
    p50, p80, p95 = (net.to_date(x) for x in np.partition(finish, ranks)[ranks])
    return TaskForecast(
        task_id=task_id,
        probability_on_time=float(np.count_nonzero(finish <= planned)) / finish.size,
        p50=p50,
        p80=p80,
        p95=p95,
    )


# --------------------------------------------------------------------------
# Bottlenecks and capacity
# --------------------------------------------------------------------------


def bottlenecks(
    result: ScheduleResult, links: Iterable[Link], limit: int = 10
) -> list[Bottleneck]:
    """Critical tasks ranked by how many tasks transitively depend on them.

    Ties go to the task that starts earlier, then the lower id. Descendant
    sets are Python-int bitsets built in reverse topological order, so 10,000
    tasks cost a few tens of milliseconds.
    """
    ids = list(result.tasks)
    index = {task_id: k for k, task_id in enumerate(ids)}
    out: list[set[int]] = [set() for _ in ids]
    edges: list[tuple[int, int]] = []
    for link in links:
        if link.predecessor not in index or link.successor not in index:
            raise ValueError(
                f"Link {link.predecessor}->{link.successor} refers to a task "
                "missing from the schedule"
            )
        p, s = index[link.predecessor], index[link.successor]
        out[p].add(s)
        edges.append((p, s))
    order = _topological_order(ids, edges)

    pending_preds = [0] * len(ids)
    for successors in out:
        for s in successors:
            pending_preds[s] += 1
    reach: list[int | None] = [None] * len(ids)
    counts = [0] * len(ids)
    for i in reversed(order):
        bits = 0
        for s in out[i]:
            bits |= reach[s] | (1 << s)  # type: ignore[operator]
            pending_preds[s] -= 1
            if pending_preds[s] == 0:
                reach[s] = None  # every predecessor has folded it in
        counts[i] = bits.bit_count()
        reach[i] = bits

    ranked = sorted(
        (i for i, task_id in enumerate(ids) if result.tasks[task_id].critical),
        key=lambda i: (-counts[i], result.tasks[ids[i]].es, ids[i]),
    )
    return [
        Bottleneck(
            task_id=ids[i],
            downstream_count=counts[i],
            direct_successor_count=len(out[i]),
        )
        for i in ranked[:limit]
    ]


def overallocated_units(
    tasks: Sequence[Task],
    allocations: Iterable[tuple[int, int, float]],
    capacities: Mapping[int, float],
) -> list[Overallocation]:
    """Org unit ISO weeks where allocated FTE exceeds capacity.

    ``allocations`` are ``(task_id, org_unit_id, fte)``. A task loads every
    ISO week (Monday to Sunday) that its planned interval
    ``[planned_start, planned_finish)`` overlaps, so zero-duration milestones
    load nothing. Units missing from ``capacities`` are not checked. A sweep
    over week boundaries per unit keeps this near-linear. Rows are sorted by
    unit, then week.
    """
    by_id = {task.id: task for task in tasks}
    deltas: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for task_id, unit_id, fte in allocations:
        task = by_id.get(task_id)
        if task is None:
            raise ValueError(f"Allocation refers to unknown task {task_id}")
        if unit_id not in capacities or task.duration == 0 or fte == 0:
            continue
        first_week = _monday_ordinal(task.planned_start)
        last_week = _monday_ordinal(task.planned_finish - timedelta(days=1))
        unit_deltas = deltas[unit_id]
        unit_deltas[first_week] += fte
        unit_deltas[last_week + 7] -= fte

    rows: list[Overallocation] = []
    for unit_id in sorted(deltas):
        capacity = float(capacities[unit_id])
        weeks = sorted(deltas[unit_id].items())
        load = 0.0
        for (week, delta), (next_week, _) in zip(weeks, weeks[1:], strict=False):
            load += delta
            if load > capacity + _FTE_TOLERANCE:
                # The load is flat between boundaries: emit each week of it.
                allocated = round(load, 6)
                rows.extend(
                    Overallocation(unit_id, date.fromordinal(w), allocated, capacity)
                    for w in range(week, next_week, 7)
                )
    return rows


def _monday_ordinal(day: date) -> int:
    return day.toordinal() - day.weekday()
