"""The schedule selectors: a stored portfolio gives the hand-computed critical
path, the engine's Monte Carlo with history-based or three-point uncertainty,
bottlenecks and overallocations, scoped to what the reader may see, in a
constant number of queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.roles import Role
from milestones import services
from milestones.models import Dependency, Status
from portal.errors import Conflict, Invalid
from scheduling import selectors as sched
from scheduling.engine import Link, Task, monte_carlo

from ..factories import UserFactory, make_member, make_milestone, make_portfolio
from ..milestones.conftest_api import count_queries
from ..milestones.schedule_helpers import (
    CRITICAL_CHAIN,
    EXPECTED,
    PLAN,
    PROJECT_FINISH,
    TODAY,
    build_network,
    day,
    submit_forecasts,
)
from ..reporting.helpers import backdate_history


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def network(org, portfolio):
    return build_network(portfolio, org)


def engine_inputs(network):
    """The network as the engine's Tasks and Links, built independently."""
    tasks = [
        Task(
            id=m.pk,
            planned_start=m.planned_start,
            planned_finish=m.planned_completion,
            forecast_finish=m.forecast_completion,
            org_unit_id=m.org_unit_id,
        )
        for m in sorted(
            network.by_key().values(),
            key=lambda m: (m.planned_start, m.planned_completion, m.pk),
        )
    ]
    links = [
        Link(d.predecessor_id, d.successor_id, d.type, d.lag_days)
        for d in Dependency.objects.order_by("pk")
    ]
    return tasks, links


# Critical path ---------------------------------------------------------------


def test_schedule_matches_the_hand_computation(network, portfolio, pmo):
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)

    rows = {m.id: m for m in result.milestones}
    for key, milestone in network.by_key().items():
        es, ef, _ls, _lf, _float, critical, inherited, own = EXPECTED[key]
        ls, lf, total_float = PLAN[key]  # float against the plan
        row = rows[milestone.pk]
        assert (row.es, row.ef, row.ls, row.lf) == (day(es), day(ef), day(ls), day(lf))
        assert (row.total_float, row.critical) == (total_float, critical), key
        assert row.total_float <= (row.planned_completion - row.ef).days
        assert (row.inherited_slip, row.own_slip) == (inherited, own), key
    keys = {m.pk: k for k, m in network.by_key().items()}
    assert [keys[m.id] for m in result.critical_chain] == CRITICAL_CHAIN
    assert result.critical_chain_hidden == 0
    assert result.project_finish == PROJECT_FINISH
    assert result.outlook.forecast_finish == PROJECT_FINISH
    assert result.outlook.planned_finish == day(17)  # B's planned completion
    assert result.outlook.slip_days == 4
    assert result.hidden_count == 0
    # Schedule order: by early start.
    assert [keys[m.id] for m in result.milestones] == ["a", "c", "e", "b", "d"]


def test_bottlenecks_rank_critical_milestones_by_work_waiting_on_them(
    network, portfolio, pmo
):
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)

    # A drives B, C, D, E; B drives D; D ends the project (nothing waits).
    assert [(b.milestone.id, b.downstream_count) for b in result.bottlenecks] == [
        (network.a.pk, 4),
        (network.b.pk, 1),
    ]
    assert result.bottlenecks[0].direct_successor_count == 2


def test_monte_carlo_is_the_engine_seeded_per_portfolio(network, portfolio, pmo):
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)

    tasks, links = engine_inputs(network)
    expected = monte_carlo(
        tasks,
        links,
        iterations=10_000,
        seed=portfolio.pk,
        slip_samples=[],
        three_point=sched.THREE_POINT,
        today=TODAY,
    )
    outlook = result.outlook
    assert (outlook.iterations, outlook.seed, outlook.source) == (
        10_000,
        portfolio.pk,
        "three_point",
    )
    assert outlook.probability_on_time == expected.probability_on_time
    assert (outlook.p50, outlook.p80, outlook.p95) == (
        expected.p50,
        expected.p80,
        expected.p95,
    )
    for row in result.milestones:
        odds = expected.tasks[row.id]
        assert row.probability_on_time == odds.probability_on_time
        assert (row.p50, row.p80, row.p95) == (odds.p50, odds.p80, odds.p95)
        assert row.p50 <= row.p80 <= row.p95
    # Reproducible: the same data on the same day gives the same figures.
    again = sched.portfolio_schedule(pmo, portfolio, today=TODAY)
    assert again.outlook == outlook
    assert again.milestones == result.milestones


def test_a_changed_dependency_changes_the_figures_at_once(network, portfolio, pmo):
    before = sched.portfolio_schedule(pmo, portfolio, today=TODAY)
    link = Dependency.objects.get(predecessor=network.b, successor=network.d)

    services.dependency_update(actor=pmo, dependency=link, lag_days=11)

    after = sched.portfolio_schedule(pmo, portfolio, today=TODAY)
    assert after.project_finish == before.project_finish + timedelta(days=10)
    assert after.outlook.p80 > before.outlook.p80


def test_portfolio_without_dependencies(org, portfolio, pmo):
    short = make_milestone(
        portfolio, org.fr, planned_start=day(0), planned_completion=day(10)
    )
    long = make_milestone(
        portfolio, org.de, planned_start=day(2), planned_completion=day(30)
    )
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)

    rows = {m.id: m for m in result.milestones}
    assert rows[long.pk].critical and rows[long.pk].total_float == 0
    # 20 days of network float to the portfolio finish, but none against its
    # own planned completion: it finishes exactly on plan.
    assert not rows[short.pk].critical and rows[short.pk].total_float == 0
    assert [m.id for m in result.critical_chain] == [long.pk]
    assert result.bottlenecks == []
    assert result.links == []
    assert result.outlook.forecast_finish == day(30)
    assert 0 <= result.outlook.probability_on_time <= 1


def test_portfolio_without_milestones(portfolio, pmo):
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)

    assert result.milestones == [] and result.critical_chain == []
    assert result.outlook.milestone_count == 0
    assert result.outlook.probability_on_time is None
    assert result.outlook.p80 is None and result.project_finish is None
    assert sched.portfolio_outlook(pmo, portfolio, today=TODAY) is None


def test_cancelled_milestones_and_their_links_are_left_out(
    network, portfolio, pmo, root
):
    network.b.refresh_from_db()
    services.milestone_submit_update(
        actor=root,
        milestone=network.b,
        expected_version=network.b.version,
        status=Status.CANCELLED,
        percent_complete=Decimal("0"),
        actual_spend=Decimal("0"),
    )
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)

    rows = {m.id: m for m in result.milestones}
    assert network.b.pk not in rows
    # Without B, D is free to keep its plan.
    assert rows[network.d.pk].ef == day(11)


# Cycles --------------------------------------------------------------------


def test_cycles_are_refused_before_they_reach_the_scheduler(network, portfolio, pmo):
    with pytest.raises(Invalid, match="cycle"):
        services.dependency_add(
            actor=pmo, predecessor=network.d, successor=network.a, type="FS"
        )

    assert not Dependency.objects.filter(predecessor=network.d).exists()
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)
    assert result.project_finish == PROJECT_FINISH


def test_a_stored_cycle_is_a_conflict_not_a_crash(network, portfolio, pmo):
    # Only raw SQL around the services could store one.
    Dependency.objects.bulk_create(
        [Dependency(predecessor=network.d, successor=network.a)]
    )

    with pytest.raises(Conflict, match="cycle"):
        sched.portfolio_schedule(pmo, portfolio, today=TODAY)
    with pytest.raises(Conflict):
        sched.portfolio_outlooks(pmo, [portfolio], today=TODAY)


# Uncertainty from history ------------------------------------------------------


@pytest.fixture
def reported(org, portfolio, root):
    """A milestone planned over 100 days and its forecasts."""
    milestone = make_milestone(
        portfolio, org.fr, planned_start=day(0), planned_completion=day(100)
    )

    def report(*offsets):
        submit_forecasts(root, milestone, [day(o) for o in offsets])

    return milestone, report


def test_five_past_forecasts_replace_the_three_point_estimate(reported, portfolio, pmo):
    milestone, report = reported
    report(150, 110, 130, 120, 140)
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY)

    assert result.outlook.source == "history"
    assert result.outlook.sample_count == 5
    milestone.refresh_from_db()
    task = Task(
        id=milestone.pk,
        planned_start=day(0),
        planned_finish=day(100),
        forecast_finish=day(140),
        org_unit_id=milestone.org_unit_id,
    )
    expected = monte_carlo(
        [task],
        [],
        seed=portfolio.pk,
        slip_samples=[1.1, 1.2, 1.3, 1.4, 1.5],
        today=TODAY,
    )
    assert result.outlook.probability_on_time == expected.probability_on_time
    assert result.outlook.p80 == expected.p80
    assert expected.source == "history"


def test_fewer_than_five_forecasts_keep_the_three_point_estimate(
    reported, portfolio, pmo
):
    _milestone, report = reported
    report(110, 120, 130, 140)

    outlook = sched.portfolio_outlook(pmo, portfolio, today=TODAY)

    assert (outlook.source, outlook.sample_count) == ("three_point", 4)


def test_repeated_forecasts_count_once_per_update(reported, portfolio, pmo):
    _milestone, report = reported
    report(120, 120, 120, 120, 120)

    outlook = sched.portfolio_outlook(pmo, portfolio, today=TODAY)

    assert (outlook.source, outlook.sample_count) == ("history", 5)


def test_slip_samples_are_the_portfolio_own(reported, org, portfolio, pmo, root):
    _milestone, report = reported
    report(110, 120)
    other = make_portfolio(org.world)
    elsewhere = make_milestone(
        other, org.fr, planned_start=day(0), planned_completion=day(10)
    )
    submit_forecasts(root, elsewhere, [day(20)] * 5)

    assert sched.portfolio_outlook(pmo, portfolio, today=TODAY).sample_count == 2
    assert sched.portfolio_outlook(pmo, other, today=TODAY).source == "history"


# Scope -----------------------------------------------------------------------


def test_a_contributor_sees_their_rows_moved_by_milestones_they_cannot_see(
    org, portfolio, pmo, contributor_apac
):
    network = build_network(portfolio, org, d_unit=org.jp)

    result = sched.portfolio_schedule(contributor_apac, portfolio, today=TODAY)

    assert [m.id for m in result.milestones] == [network.d.pk]
    row = result.milestones[0]
    # D's start is pushed by B in France (FF+1), which the contributor
    # cannot see: the slip shows as inherited.
    assert (row.es, row.inherited_slip, row.own_slip) == (day(15), 10, 0)
    assert result.hidden_count == 4
    assert [m.id for m in result.critical_chain] == [network.d.pk]
    assert result.critical_chain_hidden == 2
    assert result.bottlenecks == []
    assert result.links == []
    # The portfolio-level figures are the whole portfolio's.
    assert (
        result.outlook == sched.portfolio_schedule(pmo, portfolio, today=TODAY).outlook
    )
    text = repr(result)
    for hidden in ("A foundation", "B build", "C design", "E sign-off"):
        assert hidden not in text


# Overallocation --------------------------------------------------------------


def test_overallocated_weeks_count_every_portfolio_load(
    network, org, portfolio, pmo, contributor_emea, contributor_apac
):
    account_services.org_unit_update(actor=None, unit=org.fr, fte_capacity=2)
    allocate = services.allocation_create
    allocate(
        actor=None,
        milestone=network.a,
        org_unit=org.fr,
        fte=Decimal("1.5"),
        role="Data",
    )
    allocate(
        actor=None, milestone=network.b, org_unit=org.fr, fte=Decimal("1"), role="Data"
    )
    other = make_milestone(
        make_portfolio(org.world),
        org.fr,
        planned_start=day(7),
        planned_completion=day(14),
    )
    allocate(
        actor=None, milestone=other, org_unit=org.fr, fte=Decimal("1"), role="Data"
    )

    # Week of day 0: A 1.5. Week of day 7: A 1.5 + B 1 + other 1 = 3.5 > 2.
    # Week of day 14: B 1.
    result = sched.portfolio_schedule(contributor_emea, portfolio, today=TODAY)

    assert [
        (r.org_unit, r.week_start, r.allocated, r.capacity)
        for r in result.overallocations
    ] == [("France", day(7), 3.5, 2.0)]
    assert result.overallocations[0].excess == 1.5
    [period] = result.overallocation_periods
    assert (period.first_week, period.end, period.weeks) == (day(7), day(13), 1)
    # A reader who sees no milestone drawing on France is not shown it.
    assert sched.portfolio_schedule(contributor_apac, portfolio).overallocations == []
    # Past weeks are history, not a warning.
    later = sched.portfolio_schedule(pmo, portfolio, today=day(14))
    assert later.overallocations == []


def test_overallocation_periods_merge_consecutive_weeks():
    row = sched.OverallocationRow
    rows = [
        row(1, "France", day(0), 3.0, 2.0),
        row(1, "France", day(7), 3.0, 2.0),
        row(1, "France", day(14), 4.0, 2.0),
        row(1, "France", day(28), 4.0, 2.0),
        row(2, "Japan", day(35), 4.0, 2.0),
    ]

    periods = sched.overallocation_periods(rows)

    assert [(p.org_unit, p.first_week, p.weeks, p.allocated) for p in periods] == [
        ("France", day(0), 2, 3.0),
        ("France", day(14), 1, 4.0),
        ("France", day(28), 1, 4.0),
        ("Japan", day(35), 1, 4.0),
    ]


# Input and queries -------------------------------------------------------------


@pytest.mark.parametrize("iterations", [999, 50_001, 0, -5, "1000", 2.5, True])
def test_iterations_outside_the_bounds_are_invalid(portfolio, pmo, iterations):
    with pytest.raises(Invalid) as exc:
        sched.portfolio_schedule(pmo, portfolio, iterations=iterations)
    assert "iterations" in exc.value.errors


def test_iterations_within_the_bounds(network, portfolio, pmo):
    result = sched.portfolio_schedule(pmo, portfolio, today=TODAY, iterations=1_000)
    assert result.outlook.iterations == 1_000


def _grow(portfolio, org, root, size: int) -> None:
    """``size`` chained milestones with allocations and forecast history."""
    previous = None
    account_services.org_unit_update(actor=None, unit=org.fr, fte_capacity=1)
    for n in range(size):
        milestone = make_milestone(
            portfolio,
            org.fr if n % 2 else org.jp,
            planned_start=day(n),
            planned_completion=day(n + 10),
        )
        services.allocation_create(
            actor=None,
            milestone=milestone,
            org_unit=org.fr,
            fte=Decimal("0.5"),
            role="Data",
        )
        submit_forecasts(root, milestone, [day(n + 12)])
        if previous is not None:
            services.dependency_add(
                actor=None, predecessor=previous, successor=milestone, type="SS"
            )
        previous = milestone


def test_query_count_does_not_grow_with_the_portfolio(org, root, contributor_emea):
    small = make_portfolio(org.world)
    large = make_portfolio(org.world)
    _grow(small, org, root, 2)
    _grow(large, org, root, 20)

    def run(portfolio):
        return lambda: sched.portfolio_schedule(
            contributor_emea, portfolio, today=TODAY
        )

    few, result_few = count_queries(run(small))
    many, result_many = count_queries(run(large))

    assert few == many <= 4
    assert len(result_many.milestones) == 10  # the French half
    assert result_many.overallocations


def test_outlooks_of_many_portfolios_cost_the_same_queries(org, root, pmo):
    portfolios = [make_portfolio(org.world) for _ in range(4)]
    for n, portfolio in enumerate(portfolios):
        _grow(portfolio, org, root, 2 + 6 * n)

    one, _ = count_queries(lambda: sched.portfolio_outlooks(pmo, portfolios[:1]))
    four, outlooks = count_queries(lambda: sched.portfolio_outlooks(pmo, portfolios))
    kept, again = count_queries(lambda: sched.portfolio_outlooks(pmo, portfolios))

    # Memo keys, then milestones, dependencies and samples of the changed ones.
    assert one == four == 4
    assert sorted(outlooks) == sorted(p.pk for p in portfolios)
    # Nothing changed: the memo keys alone.
    assert kept == 1
    assert again == outlooks


def test_a_changed_portfolio_is_rescheduled_and_the_others_are_not(
    org, root, pmo, monkeypatch
):
    first, second = make_portfolio(org.world), make_portfolio(org.world)
    _grow(first, org, root, 3)
    _grow(second, org, root, 3)
    before = sched.portfolio_outlooks(pmo, [first, second], today=TODAY)
    scheduled = []
    real = sched._outlook_of
    monkeypatch.setattr(
        sched,
        "_outlook_of",
        lambda pid, *args, **kwargs: (
            scheduled.append(pid) or real(pid, *args, **kwargs)
        ),
    )
    last = first.milestones.order_by("-planned_completion").first()
    submit_forecasts(root, last, [last.planned_completion + timedelta(days=40)])

    after = sched.portfolio_outlooks(pmo, [first, second], today=TODAY)

    assert scheduled == [first.pk]
    assert after[second.pk] == before[second.pk]
    assert after[first.pk].forecast_finish > before[first.pk].forecast_finish
    assert after[first.pk] == sched.portfolio_schedule(pmo, first, today=TODAY).outlook


def test_the_dashboard_shows_the_last_outlook_while_the_worker_refreshes(
    org, root, pmo, monkeypatch, django_capture_on_commit_callbacks
):
    """Right after a change a dashboard gets the last outlook, marked
    refreshing, at the cost of the memo keys, and queues one refresh for the
    worker; once the worker ran, the current outlook. Other readers (the
    report, the schedule page) always compute the current one."""
    portfolio = make_portfolio(org.world)
    _grow(portfolio, org, root, 3)
    before = sched.portfolio_outlooks(pmo, [portfolio], today=TODAY)[portfolio.pk]
    last = portfolio.milestones.order_by("-planned_completion").first()
    submit_forecasts(root, last, [last.planned_completion + timedelta(days=40)])
    simulated = []
    real = sched._outlook_of
    monkeypatch.setattr(
        sched,
        "_outlook_of",
        lambda pid, *a, **k: simulated.append(pid) or real(pid, *a, **k),
    )

    with django_capture_on_commit_callbacks() as queued:
        queries, shown = count_queries(
            lambda: sched.portfolio_outlooks(
                pmo, [portfolio], today=TODAY, allow_stale=True
            )
        )
    stale = shown[portfolio.pk]
    assert (stale.refreshing, stale.forecast_finish) == (True, before.forecast_finish)
    assert (queries, simulated) == (1, [])
    assert len(queued) == 1  # the worker's refresh
    with django_capture_on_commit_callbacks() as again:
        sched.portfolio_outlooks(pmo, [portfolio], today=TODAY, allow_stale=True)
    assert again == []  # queued once a minute per portfolio at most

    current = sched.portfolio_outlook(pmo, portfolio, today=TODAY)
    assert current.refreshing is False
    assert current.forecast_finish > before.forecast_finish
    sched.outlooks_refresh([portfolio.pk], today=TODAY)  # what the worker does
    fresh = sched.portfolio_outlooks(pmo, [portfolio], today=TODAY, allow_stale=True)
    assert fresh[portfolio.pk] == current


def test_a_changed_dependency_reschedules_the_outlook(org, root, pmo):
    portfolio = make_portfolio(org.world)
    _grow(portfolio, org, root, 3)
    before = sched.portfolio_outlook(pmo, portfolio, today=TODAY)
    link = Dependency.objects.filter(successor__portfolio=portfolio).first()

    services.dependency_update(actor=None, dependency=link, lag_days=30)
    after = sched.portfolio_outlook(pmo, portfolio, today=TODAY)

    assert after.forecast_finish > before.forecast_finish
    assert after == sched.portfolio_schedule(pmo, portfolio, today=TODAY).outlook


def test_outlooks_skip_portfolios_the_reader_cannot_view(org, contributor_apac):
    emea_only = make_portfolio(org.emea)
    make_milestone(emea_only, org.fr)

    assert sched.portfolio_outlooks(contributor_apac, [emea_only]) == {}


def test_outlook_equals_the_full_schedule_outlook(network, portfolio, pmo):
    outlook = sched.portfolio_outlook(pmo, portfolio, today=TODAY)
    assert outlook == sched.portfolio_schedule(pmo, portfolio, today=TODAY).outlook


# History -----------------------------------------------------------------------


def test_outlook_as_of_a_past_day_uses_the_network_as_it_was(org, portfolio, pmo):
    today = timezone.localdate()
    first = make_milestone(
        portfolio,
        org.fr,
        planned_start=today + timedelta(days=10),
        planned_completion=today + timedelta(days=20),
    )
    second = make_milestone(
        portfolio,
        org.fr,
        planned_start=today + timedelta(days=10),
        planned_completion=today + timedelta(days=30),
    )
    backdate_history(3)
    services.dependency_add(actor=pmo, predecessor=first, successor=second)

    past = sched.portfolio_outlook_as_of(pmo, portfolio, today - timedelta(days=2))
    live = sched.portfolio_outlook(pmo, portfolio)

    assert past.forecast_finish == today + timedelta(days=30)
    assert live.forecast_finish == today + timedelta(days=40)
    assert past.milestone_count == live.milestone_count == 2
    before_anything = today - timedelta(days=5)
    assert sched.portfolio_outlook_as_of(pmo, portfolio, before_anything) is None


def test_outlook_as_of_needs_the_portfolio_in_scope(org, portfolio):
    make_milestone(portfolio, org.fr)
    outsider = make_member(Role.CONTRIBUTOR, make_portfolio(org.apac))

    assert (
        sched.portfolio_outlook_as_of(outsider, portfolio, timezone.localdate()) is None
    )


def test_a_progress_update_reschedules_its_portfolio_in_the_background(
    org, root, pmo, django_capture_on_commit_callbacks
):
    portfolio = make_portfolio(org.world)
    _grow(portfolio, org, root, 3)
    before = sched.portfolio_outlook(pmo, portfolio)
    last = portfolio.milestones.order_by("-planned_completion").first()

    # The update's on-commit signal queues the refresh (run eagerly here).
    with django_capture_on_commit_callbacks(execute=True):
        submit_forecasts(root, last, [last.planned_completion + timedelta(days=40)])
    queries, after = count_queries(lambda: sched.portfolio_outlooks(pmo, [portfolio]))

    assert queries == 1  # found memoised: the reader schedules nothing
    assert after[portfolio.pk].forecast_finish > before.forecast_finish
    assert after[portfolio.pk] == sched.portfolio_schedule(pmo, portfolio).outlook
