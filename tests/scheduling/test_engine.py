"""Tests for scheduling.engine (pure computation, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.engine import (
    Bottleneck,
    CycleError,
    Link,
    Overallocation,
    ScheduleResult,
    Task,
    bottlenecks,
    critical_path,
    monte_carlo,
    overallocated_units,
)

D0 = date(2025, 1, 6)  # a Monday


def day(offset: int) -> date:
    return D0 + timedelta(days=offset)


def task(task_id: int, duration: int, start: int = 0, **fields) -> Task:
    return Task(task_id, day(start), day(start + duration), **fields)


def offsets(result: ScheduleResult, task_id: int) -> tuple[int, int, int, int, int]:
    """(ES, EF, LS, LF, float) of a task as day offsets from D0."""
    s = result.tasks[task_id]
    return (
        (s.es - D0).days,
        (s.ef - D0).days,
        (s.ls - D0).days,
        (s.lf - D0).days,
        s.total_float,
    )


# ---------------------------------------------------------------------------
# Hand-computed networks
# ---------------------------------------------------------------------------


def test_classic_finish_to_start_network_has_textbook_dates_and_floats():
    # Durations A=3, B=4, C=2, D=5, E=3, F=2, all planned from day 0;
    # links A->B, A->C, B->D, C->D, C->E, D->F, E->F (FS, lag 0).
    # Forward:  A 0-3; B 3-7; C 3-5; D max(7, 5)=7-12; E 5-8; F max(12, 8)=12-14.
    # Backward from 14: F LF14 LS12; D LF12 LS7; E LF12 LS9; B LF7 LS3;
    #   C LF min(7, 9)=7 LS5; A LF min(3, 5)=3 LS0.
    # Float: A0 B0 C2 D0 E4 F0 -> critical path A-B-D-F.
    a, b, c, d, e, f = 1, 2, 3, 4, 5, 6
    tasks = [task(a, 3), task(b, 4), task(c, 2), task(d, 5), task(e, 3), task(f, 2)]
    links = [
        Link(a, b),
        Link(a, c),
        Link(b, d),
        Link(c, d),
        Link(c, e),
        Link(d, f),
        Link(e, f),
    ]

    result = critical_path(tasks, links)

    assert offsets(result, a) == (0, 3, 0, 3, 0)
    assert offsets(result, b) == (3, 7, 3, 7, 0)
    assert offsets(result, c) == (3, 5, 5, 7, 2)
    assert offsets(result, d) == (7, 12, 7, 12, 0)
    assert offsets(result, e) == (5, 8, 9, 12, 4)
    assert offsets(result, f) == (12, 14, 12, 14, 0)
    assert {i for i, s in result.tasks.items() if s.critical} == {a, b, d, f}
    assert result.critical_chain == [a, b, d, f]
    assert result.project_start == day(0)
    assert result.project_finish == day(14)


def test_ss_ff_sf_links_with_lags_and_a_lead_follow_their_formulas():
    # Durations A=10, B=6, C=4, D=10, E=3, F=2, all planned from day 0.
    # Links: A->B SS+2, A->C FF+3, B->D FS-3 (a lead), B->E SF+4, D->F SF+12.
    # Forward:
    #   A 0-10
    #   B: ES >= A.ES+2 = 2                     -> 2-8
    #   C: EF >= A.EF+3 = 13 -> ES = 13-4 = 9     -> 9-13
    #   D: ES >= B.EF-3 = 5                     -> 5-15
    #   E: EF >= B.ES+4 = 6  -> ES = max(0, 6-3)  -> 3-6
    #   F: EF >= D.ES+12 = 17 -> ES = 17-2 = 15   -> 15-17
    # Project finish 17. Backward:
    #   F LF 17, LS 15, TF 0;  E LF 17, LS 14, TF 11;  C LF 17, LS 13, TF 4
    #   D: SF to F: D.LS <= F.LF-12 = 5 -> LF <= 5+10 = 15 -> LF 15 LS 5 TF 0
    #   B: FS-3 to D: LF <= D.LS+3 = 8; SF+4 to E: LS <= 17-4 -> LF <= 19
    #      -> LF 8 LS 2 TF 0
    #   A: SS+2 to B: LS <= B.LS-2 = 0 -> LF <= 10; FF+3 to C: LF <= 17-3 = 14
    #      -> LF 10 LS 0 TF 0
    # Driving links back from F: SF (5+12=17), FS-3 (8-3=5), SS+2 (0+2=2).
    a, b, c, d, e, f = 11, 12, 13, 14, 15, 16
    tasks = [
        task(a, 10),
        task(b, 6),
        task(c, 4),
        task(d, 10),
        task(e, 3),
        task(f, 2),
    ]
    links = [
        Link(a, b, "SS", 2),
        Link(a, c, "FF", 3),
        Link(b, d, "FS", -3),
        Link(b, e, "SF", 4),
        Link(d, f, "SF", 12),
    ]

    result = critical_path(tasks, links)

    assert offsets(result, a) == (0, 10, 0, 10, 0)
    assert offsets(result, b) == (2, 8, 2, 8, 0)
    assert offsets(result, c) == (9, 13, 13, 17, 4)
    assert offsets(result, d) == (5, 15, 5, 15, 0)
    assert offsets(result, e) == (3, 6, 14, 17, 11)
    assert offsets(result, f) == (15, 17, 15, 17, 0)
    assert result.critical_chain == [a, b, d, f]
    assert result.project_finish == day(17)


def test_lead_never_pulls_a_task_before_its_planned_start():
    # B follows A (0-10) with FS-4, so logic allows day 6, but B is planned
    # to start on day 8: "start no earlier than planned start" wins.
    result = critical_path([task(1, 10), task(2, 5, start=8)], [Link(1, 2, "FS", -4)])

    assert offsets(result, 2)[:2] == (8, 13)
    assert result.tasks[2].inherited_slip_days == 0
    # Nothing drives B from A, so the chain is B alone. Backward: B LS 8, so
    # A.LF <= 8 - (-4) = 12 and A's float is 12 - 10 = 2.
    assert result.critical_chain == [2]
    assert result.tasks[1].total_float == 2


def test_knock_on_delay_late_forecast_pushes_finish_to_start_successor():
    # A is planned 0-5 but forecast to finish on day 15 (10 days late);
    # B (planned 5-8) cannot start until day 15 and ends on day 18.
    tasks = [
        task(1, 5, forecast_finish=day(15)),
        task(2, 3, start=5),
    ]

    result = critical_path(tasks, [Link(1, 2)])

    late, pushed = result.tasks[1], result.tasks[2]
    assert (late.ef, late.own_slip_days, late.inherited_slip_days) == (day(15), 10, 0)
    assert (pushed.es, pushed.ef) == (day(15), day(18))
    assert pushed.inherited_slip_days == 10
    assert pushed.own_slip_days == 0
    assert result.critical_chain == [1, 2]


def test_forecast_earlier_than_computed_finish_is_ignored():
    result = critical_path([task(1, 10, forecast_finish=day(4))], [])

    assert result.tasks[1].ef == day(10)
    assert result.tasks[1].own_slip_days == 0


def test_in_progress_task_at_half_done_moves_remaining_work_after_today():
    # A planned 0-10 is 50 % done on day 7: ceil(10 * 0.5) = 5 days remain,
    # so it finishes on day 12 (2 days own slip); B (planned 10-14, FS)
    # starts on day 12 and finishes on day 16 (2 days inherited).
    tasks = [task(1, 10, percent_complete=50), task(2, 4, start=10)]

    result = critical_path(tasks, [Link(1, 2)], today=day(7))

    a, b = result.tasks[1], result.tasks[2]
    assert (a.es, a.ef) == (day(0), day(12))
    assert (a.own_slip_days, a.inherited_slip_days) == (2, 0)
    assert (b.es, b.ef) == (day(12), day(16))
    assert (b.own_slip_days, b.inherited_slip_days) == (0, 2)


def test_in_progress_task_ahead_of_plan_finishes_early():
    # 50 % done on day 2: remaining 5 days end on day 7, three days early.
    # The successor still waits for its planned start (day 10).
    tasks = [task(1, 10, percent_complete=50), task(2, 4, start=10)]

    result = critical_path(tasks, [Link(1, 2)], today=day(2))

    assert result.tasks[1].ef == day(7)
    assert result.tasks[1].own_slip_days == -3
    assert result.tasks[2].es == day(10)


def test_progress_is_ignored_without_a_status_date():
    result = critical_path([task(1, 10, percent_complete=50)], [])

    assert result.tasks[1].ef == day(10)


def test_completed_task_finish_is_fixed_at_its_actual_finish():
    # A (planned 0-10) actually finished on day 12; with no actual start it is
    # taken to have run its planned 10 days (2-12). B (FS) starts on day 12.
    # C finished on day 3 although its predecessor B is far from done:
    # progress overrides logic, so C keeps its actual dates.
    tasks = [
        task(1, 10, actual_finish=day(12), percent_complete=100),
        task(2, 5, start=10),
        task(3, 2, actual_start=day(1), actual_finish=day(3)),
    ]

    result = critical_path(tasks, [Link(1, 2), Link(2, 3)], today=day(20))

    assert (result.tasks[1].es, result.tasks[1].ef) == (day(2), day(12))
    assert result.tasks[1].own_slip_days == 2
    # Not started and today is day 20: the successor cannot start earlier.
    assert (result.tasks[2].es, result.tasks[2].ef) == (day(20), day(25))
    assert (result.tasks[3].es, result.tasks[3].ef) == (day(1), day(3))
    assert all(s.total_float >= 0 for s in result.tasks.values())


def test_not_started_task_cannot_start_in_the_past():
    # Planned 0-5, nothing done by day 3: it now runs 3-8, 3 days own slip.
    result = critical_path([task(1, 5)], [], today=day(3))

    s = result.tasks[1]
    assert (s.es, s.ef) == (day(3), day(8))
    assert (s.own_slip_days, s.inherited_slip_days) == (3, 0)


def test_portfolio_without_dependencies_measures_float_to_the_latest_finish():
    # Independent tasks: 1 runs 0-10, 2 runs 0-4, 3 runs 5-20. The project
    # ends on day 20, so float = 20 - EF: 10, 16 and 0.
    tasks = [task(1, 10), task(2, 4), task(3, 15, start=5)]

    result = critical_path(tasks, [])

    assert offsets(result, 1) == (0, 10, 10, 20, 10)
    assert offsets(result, 2) == (0, 4, 16, 20, 16)
    assert offsets(result, 3) == (5, 20, 5, 20, 0)
    assert result.critical_chain == [3]
    assert result.project_finish == day(20)


def test_zero_duration_milestone_takes_no_time():
    result = critical_path([task(1, 5), task(2, 0, start=5)], [Link(1, 2)])

    assert offsets(result, 2) == (5, 5, 5, 5, 0)
    assert result.critical_chain == [1, 2]


def test_no_tasks_gives_an_empty_schedule():
    result = critical_path([], [])

    assert result.tasks == {}
    assert result.critical_chain == []
    assert result.project_finish is None


def test_cycle_raises_cycle_error_naming_the_task_ids():
    tasks = [task(i, 3) for i in (101, 102, 103, 104)]
    links = [Link(104, 101), Link(101, 102), Link(102, 103), Link(103, 101)]

    with pytest.raises(CycleError) as excinfo:
        critical_path(tasks, links)

    assert sorted(excinfo.value.cycle) == [101, 102, 103]
    message = str(excinfo.value)
    assert all(str(i) in message for i in (101, 102, 103))
    assert "104" not in message


def test_self_link_is_a_cycle():
    with pytest.raises(CycleError) as excinfo:
        critical_path([task(7, 1)], [Link(7, 7)])

    assert excinfo.value.cycle == [7]


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="unknown dependency type"):
        Link(1, 2, "XX")
    with pytest.raises(ValueError, match="unknown task"):
        critical_path([task(1, 1)], [Link(1, 2)])
    with pytest.raises(ValueError, match="Duplicate task id"):
        critical_path([task(1, 1), task(1, 2)], [])
    with pytest.raises(ValueError, match="before"):
        Task(1, day(5), day(4))


# ---------------------------------------------------------------------------
# Property tests on random acyclic networks
# ---------------------------------------------------------------------------

DEPENDENCY = st.sampled_from(["FS", "SS", "FF", "SF"])


@st.composite
def networks(draw, *, with_progress: bool = False):
    """Random DAGs: links only go from a lower to a higher index."""
    n = draw(st.integers(1, 12))
    tasks = []
    for i in range(n):
        start = draw(st.integers(0, 20))
        duration = draw(st.integers(0, 60))
        fields = {}
        if with_progress:
            fields["percent_complete"] = draw(st.sampled_from([0, 0, 25, 50, 100]))
            if draw(st.booleans()):
                fields["forecast_finish"] = day(start + draw(st.integers(0, 90)))
            if draw(st.integers(0, 4)) == 0:
                fields["actual_start"] = day(start + draw(st.integers(-3, 5)))
                fields["actual_finish"] = day(start + draw(st.integers(0, 70)))
        tasks.append(task(i, duration, start=start, **fields))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
                lambda p: p[0] != p[1]
            ),
            max_size=3 * n,
        )
        if n > 1
        else st.just([])
    )
    links = [
        Link(min(p), max(p), draw(DEPENDENCY), draw(st.integers(-5, 10))) for p in pairs
    ]
    today = day(draw(st.integers(0, 60))) if with_progress else None
    return tasks, links, today


def assert_consistent_schedule(result: ScheduleResult, links: list[Link]) -> None:
    floats = [s.total_float for s in result.tasks.values()]
    assert min(floats) >= 0
    critical = {i for i, s in result.tasks.items() if s.critical}
    assert critical
    assert all(result.tasks[i].total_float == 0 for i in critical)
    assert max(s.ef for s in result.tasks.values()) == result.project_finish
    chain = result.critical_chain
    assert chain and set(chain) <= critical
    assert result.tasks[chain[-1]].ef == result.project_finish
    linked = {(link.predecessor, link.successor) for link in links}
    assert all(pair in linked for pair in zip(chain, chain[1:], strict=False))


@settings(max_examples=60, deadline=None)
@given(networks())
def test_float_is_never_negative_and_critical_tasks_exist(network):
    tasks, links, _ = network

    result = critical_path(tasks, links)

    assert_consistent_schedule(result, links)
    binding: set[int] = set()
    for link in links:
        pred, succ = result.tasks[link.predecessor], result.tasks[link.successor]
        lag = timedelta(link.lag_days)
        source = pred.ef if link.type in ("FS", "FF") else pred.es
        target = succ.es if link.type in ("FS", "SS") else succ.ef
        assert target >= source + lag  # every dependency is honoured
        if target == source + lag:
            binding.add(link.successor)
    for t in tasks:
        s = result.tasks[t.id]
        assert (s.ef - s.es).days == t.duration
        assert s.lf <= result.project_finish
        # Early dates are tight: held by the planned start or by a link.
        assert s.es == t.planned_start or (s.es > t.planned_start and t.id in binding)


@settings(max_examples=60, deadline=None)
@given(networks(with_progress=True))
def test_float_stays_non_negative_with_progress_and_forecasts(network):
    tasks, links, today = network

    result = critical_path(tasks, links, today=today)

    assert_consistent_schedule(result, links)


@settings(max_examples=60, deadline=None)
@given(networks(), st.data())
def test_lengthening_a_task_within_its_float_keeps_the_project_finish(network, data):
    tasks, links, _ = network
    result = critical_path(tasks, links)
    slack = [t for t in tasks if result.tasks[t.id].total_float > 0]
    if not slack:
        return
    chosen = data.draw(st.sampled_from(slack))
    extra = data.draw(st.integers(1, result.tasks[chosen.id].total_float))
    longer = replace(chosen, planned_finish=chosen.planned_finish + timedelta(extra))

    changed = critical_path([longer if t is chosen else t for t in tasks], links)

    assert changed.project_finish == result.project_finish


@settings(max_examples=60, deadline=None)
@given(networks(with_progress=True), st.booleans())
def test_monte_carlo_without_uncertainty_equals_the_critical_path(network, use_history):
    tasks, links, today = network
    plan = critical_path(tasks, links, today=today)
    uncertainty = (
        {"slip_samples": [1.0] * 6} if use_history else {"three_point": (1, 1, 1)}
    )

    sim = monte_carlo(tasks, links, iterations=40, today=today, **uncertainty)

    for t in tasks:
        forecast, scheduled = sim.tasks[t.id], plan.tasks[t.id]
        assert forecast.p50 == forecast.p80 == forecast.p95 == scheduled.ef
        on_time = 1.0 if scheduled.ef <= t.planned_finish else 0.0
        assert forecast.probability_on_time == on_time
    assert sim.p50 == sim.p80 == sim.p95 == plan.project_finish
    assert sim.planned_finish == max(t.planned_finish for t in tasks)


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------


def sample_network() -> tuple[list[Task], list[Link]]:
    tasks = [task(i, 5 + 3 * (i % 7), start=i % 4) for i in range(20)]
    links = [Link(i, i + 1 + (i % 3)) for i in range(17)]
    links += [Link(i, i + 2, "SS", 2) for i in range(0, 18, 5)]
    return tasks, links


def test_monte_carlo_is_reproducible_for_a_seed_and_varies_across_seeds():
    tasks, links = sample_network()

    first = monte_carlo(tasks, links, iterations=2_000, seed=7)
    again = monte_carlo(tasks, links, iterations=2_000, seed=7)
    other = monte_carlo(tasks, links, iterations=2_000, seed=8)

    assert first == again
    assert first != other
    assert [f.probability_on_time for f in first.tasks.values()] != [
        f.probability_on_time for f in other.tasks.values()
    ]


def test_monte_carlo_percentiles_are_ordered_and_probabilities_bounded():
    tasks, links = sample_network()
    plan = critical_path(tasks, links)

    sim = monte_carlo(tasks, links, iterations=3_000, seed=1)

    assert sim.source == "three_point"
    assert sim.iterations == 3_000
    assert sim.p50 <= sim.p80 <= sim.p95
    assert 0.0 <= sim.probability_on_time <= 1.0
    for f in sim.tasks.values():
        assert f.p50 <= f.p80 <= f.p95
        assert 0.0 <= f.probability_on_time <= 1.0
    # Multipliers skew late (0.9, 1.0, 1.5), so the P95 finish cannot beat
    # the deterministic plan.
    assert sim.p95 >= plan.project_finish


def test_monte_carlo_with_historical_ratios_all_one_equals_critical_path():
    tasks, links = sample_network()
    plan = critical_path(tasks, links)

    sim = monte_carlo(tasks, links, iterations=500, slip_samples=[1.0] * 10)

    assert sim.source == "history"
    assert sim.p50 == sim.p95 == plan.project_finish
    assert all(sim.tasks[i].p95 == plan.tasks[i].ef for i in plan.tasks)


def test_monte_carlo_bootstraps_history_and_falls_back_when_too_short():
    tasks = [task(1, 10)]

    slow = monte_carlo(tasks, [], iterations=1_000, slip_samples=[2.0] * 5)
    short = monte_carlo(tasks, [], iterations=1_000, slip_samples=[2.0] * 4)

    # Every historical ratio doubles the work: 20 days, never on time.
    assert slow.source == "history"
    assert slow.p50 == day(20)
    assert slow.probability_on_time == 0.0
    # Four samples are too few: the triangular default (0.9, 1.0, 1.5) applies.
    assert short.source == "three_point"
    assert day(9) <= short.p50 <= short.p95 <= day(15)


def test_monte_carlo_rejects_bad_parameters():
    with pytest.raises(ValueError):
        monte_carlo([task(1, 1)], [], iterations=0)
    with pytest.raises(ValueError):
        monte_carlo([task(1, 1)], [], three_point=(1.5, 1.0, 0.9))


# ---------------------------------------------------------------------------
# Bottlenecks and capacity
# ---------------------------------------------------------------------------


def test_bottlenecks_rank_critical_tasks_by_downstream_dependents():
    # The classic network: critical A, B, D, F. Downstream of A: B, C, D, E, F
    # (5); of B: D, F (2); of D: F (1); of F: none.
    tasks = [task(1, 3), task(2, 4), task(3, 2), task(4, 5), task(5, 3), task(6, 2)]
    links = [
        Link(1, 2),
        Link(1, 3),
        Link(2, 4),
        Link(3, 4),
        Link(3, 5),
        Link(4, 6),
        Link(5, 6),
    ]
    result = critical_path(tasks, links)

    ranked = bottlenecks(result, links)

    assert ranked == [
        Bottleneck(1, downstream_count=5, direct_successor_count=2),
        Bottleneck(2, downstream_count=2, direct_successor_count=1),
        Bottleneck(4, downstream_count=1, direct_successor_count=1),
        Bottleneck(6, downstream_count=0, direct_successor_count=0),
    ]
    assert [b.task_id for b in bottlenecks(result, links, limit=2)] == [1, 2]


def test_overlapping_allocations_flag_only_the_overloaded_week():
    # Unit 7 (capacity 1.0): task 1 runs the weeks of Jan 6 and Jan 13, task 2
    # the weeks of Jan 13 and Jan 20, 0.6 FTE each -> 1.2 in the week of
    # Jan 13 only. Unit 8 has 0.5 FTE against capacity 1.0.
    tasks = [
        Task(1, date(2025, 1, 6), date(2025, 1, 20)),
        Task(2, date(2025, 1, 13), date(2025, 1, 27)),
        Task(3, date(2025, 1, 6), date(2025, 3, 3)),
    ]
    allocations = [(1, 7, 0.6), (2, 7, 0.6), (3, 8, 0.5)]

    rows = overallocated_units(tasks, allocations, {7: 1.0, 8: 1.0})

    assert rows == [Overallocation(7, date(2025, 1, 13), 1.2, 1.0)]


def test_allocation_loads_every_iso_week_a_task_overlaps():
    # Wednesday Jan 8 to Wednesday Jan 22 (exclusive) touches three ISO weeks;
    # capacity 0.2 is exceeded by 0.3 FTE in each of them, and a capacity of
    # 0.3 is not exceeded despite float noise in 0.1 + 0.2.
    tasks = [
        Task(1, date(2025, 1, 8), date(2025, 1, 22)),
        Task(2, date(2025, 1, 8), date(2025, 1, 22)),
    ]

    rows = overallocated_units(tasks, [(1, 5, 0.1), (2, 5, 0.2)], {5: 0.2})
    noisy = overallocated_units(tasks, [(1, 5, 0.1), (2, 5, 0.2)], {5: 0.3})

    assert [r.week_start for r in rows] == [
        date(2025, 1, 6),
        date(2025, 1, 13),
        date(2025, 1, 20),
    ]
    assert all(r.allocated == 0.3 for r in rows)
    assert noisy == []


# ---------------------------------------------------------------------------
# Float against the plan
# ---------------------------------------------------------------------------


def test_plan_float_of_a_late_milestone_is_its_lateness_not_the_network_slack():
    # 1 is planned 0-10 but forecast to finish on day 15 and nothing waits on
    # it; 2 runs 0-100 and sets the project finish. Network float of 1 is
    # 100 - 15 = 85 days; against its own plan it is 5 days late: -5.
    # 3 finishes exactly on its planned day 20: network float 80, plan float 0.
    tasks = [
        task(1, 10, forecast_finish=day(15)),
        task(2, 100),
        task(3, 20),
    ]

    result = critical_path(tasks, [])

    one, three = result.tasks[1], result.tasks[3]
    assert (one.total_float, one.plan_float) == (85, -5)
    # Its 15 days of work would have had to start 5 days before day 0.
    assert (one.plan_ls, one.plan_lf) == (day(-5), day(10))
    assert (three.total_float, three.plan_float) == (80, 0)
    assert result.tasks[2].plan_float == 0


def test_plan_deadlines_travel_back_to_predecessors():
    # 4 (0-5, forecast day 8) -FS-> 5 (5-10): 5 now finishes on day 13, three
    # days after its plan, and 4 drives it: both have plan float -3, though 4
    # itself is only 3 days past its own planned day 5.
    tasks = [task(4, 5, forecast_finish=day(8)), task(5, 5, start=5), task(6, 30)]

    result = critical_path(tasks, [Link(4, 5)])

    assert result.tasks[5].ef == day(13)
    assert result.tasks[5].plan_float == -3
    assert result.tasks[4].plan_float == -3
    assert result.tasks[4].total_float == 30 - 13  # network slack to day 30


def test_completed_task_has_no_plan_float():
    result = critical_path(
        [task(1, 10, percent_complete=100, actual_finish=day(14)), task(2, 30)],
        [],
        today=day(20),
    )

    assert result.tasks[1].plan_float == 0


@settings(max_examples=60, deadline=None)
@given(networks(with_progress=True))
def test_plan_float_never_exceeds_what_the_own_plan_allows(network):
    tasks, links, today = network

    result = critical_path(tasks, links, today=today)

    by_id = {t.id: t for t in tasks}
    for task_id, s in result.tasks.items():
        assert s.plan_lf is not None and s.plan_ls is not None
        assert (s.plan_lf - s.plan_ls) == (s.ef - s.es)
        if s.plan_float:
            assert s.plan_float == (s.plan_lf - s.ef).days
            assert s.plan_float <= (by_id[task_id].planned_finish - s.ef).days


@settings(max_examples=60, deadline=None)
@given(networks(), st.data())
def test_slipping_within_plan_float_keeps_every_milestone_within_its_plan(
    network, data
):
    tasks, links, _ = network
    result = critical_path(tasks, links)
    slack = [t for t in tasks if result.tasks[t.id].plan_float > 0]
    if not slack:
        return
    chosen = data.draw(st.sampled_from(slack))
    before = result.tasks[chosen.id]
    extra = data.draw(st.integers(1, before.plan_float))
    late = replace(chosen, forecast_finish=before.ef + timedelta(extra))

    changed = critical_path([late if t is chosen else t for t in tasks], links)

    for t in tasks:
        limit = max(result.tasks[t.id].ef, t.planned_finish)
        assert changed.tasks[t.id].ef <= limit, t.id
