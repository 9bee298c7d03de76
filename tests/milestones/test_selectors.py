"""Tests for milestones.selectors: hand-computed figures, scoping, query counts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from milestones import services
from milestones.models import Status
from milestones.selectors import (
    CategoryStatus,
    RiskLevel,
    ScheduleStatus,
    category_progress,
    milestone_list,
    portfolio_progress,
    regional_comparison,
    risk_level_of,
    schedule_status,
    scorecard,
    success_metrics,
)

from ..factories import UserFactory, make_milestone, make_portfolio

D = Decimal
TODAY = date(2026, 6, 15)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


@pytest.fixture
def two_categories(org):
    """Alpha 60 % and Beta 40 %."""
    portfolio = make_portfolio(
        org.world,
        slug="sixty-forty",
        categories=[("Alpha", D("60"), "Strategic"), ("Beta", D("40"), "Operational")],
    )
    alpha, beta = portfolio.categories.order_by("order")
    return portfolio, alpha, beta


def build(portfolio, category, unit, **fields):
    fields.setdefault("planned_start", day(-30))
    fields.setdefault("planned_completion", day(30))
    return make_milestone(portfolio, unit, category=category, **fields)


@pytest.fixture
def hand_case(org, two_categories):
    """Alpha: 50 % weight 1 and 100 % weight 3; Beta: 20 % weight 2 plus a
    cancelled 90 % weight 1 that does not count."""
    portfolio, alpha, beta = two_categories
    ms = {
        "m1": build(
            portfolio,
            alpha,
            org.fr,
            status=Status.IN_PROGRESS,
            percent_complete=D("50"),
            weight=D("1"),
            planned_start=day(-10),
            planned_completion=day(10),
        ),
        "m2": build(
            portfolio,
            alpha,
            org.jp,
            status=Status.COMPLETED,
            percent_complete=D("100"),
            weight=D("3"),
            planned_start=day(-40),
            planned_completion=day(-5),
            actual_completion=day(-6),
        ),
        "m3": build(
            portfolio,
            beta,
            org.paris,
            status=Status.ON_TRACK,
            percent_complete=D("20"),
            weight=D("2"),
            planned_start=day(1),
            planned_completion=day(30),
        ),
        "m4": build(
            portfolio,
            beta,
            org.us,
            status=Status.CANCELLED,
            percent_complete=D("90"),
            weight=D("1"),
        ),
    }
    return portfolio, alpha, beta, ms


# Weighted progress ---------------------------------------------------------


def test_category_progress_is_weight_averaged_percent_complete(hand_case, superuser):
    portfolio, alpha, beta, _ = hand_case
    rows = category_progress(superuser, portfolio, today=TODAY)
    assert [r.name for r in rows] == ["Alpha", "Beta"]
    a, b = rows
    # (1 x 50 + 3 x 100) / 4 = 87.5 ; Beta ignores the cancelled milestone.
    assert a.progress == D("87.50")
    assert b.progress == D("20.00")
    assert a.weight == D("60") and b.weight == D("40")
    # Planned: m1 half-way (10 of 20 days), m2 past its end, m3 not started.
    assert a.planned_progress == D("87.50")
    assert b.planned_progress == D("0.00")
    assert a.counts[Status.IN_PROGRESS] == 1 and a.counts[Status.COMPLETED] == 1
    assert b.counts[Status.CANCELLED] == 1 and b.milestone_count == 2
    assert a.business_impact == "Strategic"


def test_overall_progress_is_category_weight_averaged(hand_case, superuser):
    portfolio, *_ = hand_case
    result = portfolio_progress(superuser, portfolio, today=TODAY)
    # (60 x 87.5 + 40 x 20) / 100 = 60.5 ; planned (60 x 87.5 + 40 x 0) / 100.
    assert result.progress == D("60.50")
    assert result.planned_progress == D("52.50")
    assert result.variance == D("8.00")
    assert result.schedule_status == ScheduleStatus.AHEAD
    assert result.schedule_label == "ahead of plan"
    assert result.milestone_count == 4
    assert result.counts[Status.CANCELLED] == 1
    assert result.counts[Status.ON_TRACK] == 1
    assert sum(result.counts.values()) == 4


def test_category_without_milestones_counts_as_zero(org, superuser):
    portfolio = make_portfolio(org.world)  # the five default categories
    foundation = portfolio.categories.get(name="Foundation")
    build(portfolio, foundation, org.fr, percent_complete=D("80"))
    rows = {r.name: r for r in category_progress(superuser, portfolio, today=TODAY)}
    assert rows["Foundation"].progress == D("80.00")
    assert rows["Optimization"].progress == D("0.00")
    assert rows["Optimization"].status == CategoryStatus.NOT_STARTED
    assert rows["Optimization"].risk_label == "TBD"
    # Foundation weighs 25 %: 25 x 80 / 100.
    assert portfolio_progress(superuser, portfolio, today=TODAY).progress == D("20")


def test_fractional_weights_divide_exactly(org, two_categories, superuser):
    portfolio, alpha, beta = two_categories
    build(portfolio, alpha, org.fr, percent_complete=D("10"), weight=D("1"))
    build(portfolio, alpha, org.fr, percent_complete=D("20"), weight=D("1"))
    build(portfolio, alpha, org.fr, percent_complete=D("33"), weight=D("1"))
    # 63 / 3 = 21 ; then 1 / 3 must not be truncated to 0 by integer division.
    build(portfolio, beta, org.fr, percent_complete=D("1"), weight=D("3"))
    build(portfolio, beta, org.fr, percent_complete=D("0"), weight=D("6"))
    rows = category_progress(superuser, portfolio, today=TODAY)
    assert [r.progress for r in rows] == [D("21.00"), D("0.33")]
    # 0.6 x 21 + 0.4 x 1/3 = 12.7333...
    assert portfolio_progress(superuser, portfolio, today=TODAY).progress == D("12.73")


def test_schedule_status_tolerance_is_five_points():
    assert schedule_status(D("50"), D("45")) == ScheduleStatus.ON_PLAN
    assert schedule_status(D("50"), D("55")) == ScheduleStatus.ON_PLAN
    assert schedule_status(D("50"), D("44.99")) == ScheduleStatus.AHEAD
    assert schedule_status(D("50"), D("55.01")) == ScheduleStatus.BEHIND


def test_planned_progress_clips_and_handles_zero_length_plans(
    org, two_categories, superuser
):
    portfolio, alpha, _ = two_categories
    # Same-day plan due today: fully expected. Starting today: nothing yet.
    build(portfolio, alpha, org.fr, planned_start=TODAY, planned_completion=TODAY)
    build(portfolio, alpha, org.fr, planned_start=TODAY, planned_completion=day(9))
    # A third of the way through a 3-day plan.
    build(portfolio, alpha, org.fr, planned_start=day(-1), planned_completion=day(2))
    alpha_row = category_progress(superuser, portfolio, today=TODAY)[0]
    # (100 + 0 + 33.333) / 3
    assert alpha_row.planned_progress == D("44.44")


# Derived status and risk ---------------------------------------------------


def test_derived_category_status(org, two_categories, superuser):
    portfolio, alpha, beta = two_categories

    def status_of(category):
        rows = category_progress(superuser, portfolio, today=TODAY)
        return {r.category.pk: r for r in rows}[category.pk].status

    assert status_of(alpha) == CategoryStatus.NOT_STARTED
    build(portfolio, alpha, org.fr, status=Status.COMPLETED, percent_complete=100)
    build(portfolio, alpha, org.fr, status=Status.CANCELLED)
    assert status_of(alpha) == CategoryStatus.COMPLETED
    build(portfolio, alpha, org.fr, status=Status.NOT_STARTED)
    assert status_of(alpha) == CategoryStatus.ON_TRACK
    at_risk = build(portfolio, alpha, org.fr, status=Status.AT_RISK)
    assert status_of(alpha) == CategoryStatus.AT_RISK
    # Late by forecast (no Delayed status needed).
    build(
        portfolio,
        alpha,
        org.fr,
        status=Status.ON_TRACK,
        planned_completion=day(5),
        forecast_completion=day(8),
    )
    assert status_of(alpha) == CategoryStatus.DELAYED
    assert at_risk.pk
    # Overdue: past the planned completion and still open.
    build(
        portfolio, beta, org.fr, status=Status.IN_PROGRESS, planned_completion=day(-1)
    )
    assert status_of(beta) == CategoryStatus.DELAYED


def test_risk_level_rule():
    assert risk_level_of(0, 0, 0) is None
    assert risk_level_of(0, 0, 3) == RiskLevel.LOW
    assert risk_level_of(4, 0, 0) == RiskLevel.LOW
    assert risk_level_of(5, 1, 0) == RiskLevel.MEDIUM
    assert risk_level_of(4, 1, 0) == RiskLevel.HIGH
    assert risk_level_of(4, 2, 0) == RiskLevel.CRITICAL


def test_risk_counts_each_troubled_milestone_once(org, two_categories, superuser):
    portfolio, alpha, _ = two_categories
    build(portfolio, alpha, org.fr, status=Status.ON_TRACK)
    build(portfolio, alpha, org.fr, status=Status.ON_TRACK)
    build(portfolio, alpha, org.fr, status=Status.ON_TRACK)
    # Late, at risk and over budget at once: one troubled milestone of 5.
    build(
        portfolio,
        alpha,
        org.fr,
        status=Status.AT_RISK,
        planned_completion=day(-2),
        approved_budget=D("1000"),
        estimate_at_completion=D("1200"),
    )
    # 15 % over is within the tolerance; 15.01 % is not (exact, no rounding).
    build(
        portfolio,
        alpha,
        org.fr,
        approved_budget=D("1000"),
        estimate_at_completion=D("1150"),
    )
    row = category_progress(superuser, portfolio, today=TODAY)[0]
    assert (row.open_count, row.late_count, row.at_risk_count) == (5, 1, 1)
    assert (row.overrun_count, row.troubled_count) == (1, 1)
    assert row.risk_level == RiskLevel.MEDIUM
    build(
        portfolio,
        alpha,
        org.fr,
        approved_budget=D("1000"),
        estimate_at_completion=D("1150.10"),
    )
    row = category_progress(superuser, portfolio, today=TODAY)[0]
    # 2 troubled of 6 open = 33 %: High.
    assert (row.overrun_count, row.troubled_count) == (2, 2)
    assert row.risk_level == RiskLevel.HIGH


def test_scorecard_rows_follow_the_seed_layout(hand_case, superuser):
    portfolio, *_ = hand_case
    rows = scorecard(superuser, portfolio, today=TODAY)
    assert [
        (r.category.name, r.weight, r.status_label, r.progress, r.risk_label)
        for r in rows
    ] == [
        ("Alpha", D("60"), "On track", D("87.50"), "Low"),
        ("Beta", D("40"), "On track", D("20.00"), "Low"),
    ]
    assert [r.business_impact for r in rows] == ["Strategic", "Operational"]


# Milestone list ------------------------------------------------------------


def _row(queryset, milestone):
    return {m.pk: m for m in queryset}[milestone.pk]


def test_milestone_list_figures(org, two_categories, superuser):
    portfolio, alpha, _ = two_categories
    forecast = build(
        portfolio,
        alpha,
        org.fr,
        planned_completion=day(10),
        forecast_completion=day(25),
        approved_budget=D("200000"),
        actual_spend=D("50000"),
        estimate_at_completion=D("230000"),
    )
    completed = build(
        portfolio,
        alpha,
        org.fr,
        status=Status.COMPLETED,
        percent_complete=D("100"),
        planned_completion=day(-10),
        forecast_completion=day(20),
        actual_completion=day(-13),
    )
    no_budget = build(
        portfolio,
        alpha,
        org.fr,
        planned_completion=day(-1),
        approved_budget=D("0"),
        actual_spend=D("10"),
    )
    qs = milestone_list(superuser, portfolio=portfolio, today=TODAY)
    f = _row(qs, forecast)
    assert (f.days_remaining, f.delay_days) == (10, 15)
    assert f.budget_consumption_pct == D("25")
    assert f.budget_overrun_pct == D("15")
    assert (f.is_overdue, f.is_due_soon) == (False, True)
    c = _row(qs, completed)
    # Completed: actual - planned wins over the forecast; closed, never overdue.
    assert (c.days_remaining, c.delay_days) == (-10, -3)
    assert c.budget_overrun_pct is None
    assert (c.is_overdue, c.is_due_soon, c.is_stale) == (False, False, False)
    n = _row(qs, no_budget)
    assert n.delay_days == 0
    assert n.budget_consumption_pct is None and n.budget_overrun_pct is None
    assert (n.is_overdue, n.is_due_soon) == (True, False)
    assert {m.pk for m in qs} == {forecast.pk, completed.pk, no_budget.pk}


def test_milestone_list_staleness_and_last_update(org, two_categories, superuser):
    portfolio, alpha, _ = two_categories
    quiet = build(portfolio, alpha, org.fr)
    updated = build(portfolio, alpha, org.fr)
    update = services.milestone_submit_update(
        actor=superuser,
        milestone=updated,
        expected_version=updated.version,
        status=Status.IN_PROGRESS,
        percent_complete=D("10"),
        actual_spend=D("0"),
    )
    today = timezone.localdate()
    now_rows = milestone_list(superuser, portfolio=portfolio)
    assert _row(now_rows, quiet).is_stale is False
    assert _row(now_rows, quiet).last_update_at is None
    assert _row(now_rows, updated).last_update_at == update.submitted_at
    # 13 days on nothing is stale yet; 14 days on both are.
    later = milestone_list(superuser, portfolio=portfolio, today=today + timedelta(13))
    assert not any(m.is_stale for m in later)
    later = milestone_list(superuser, portfolio=portfolio, today=today + timedelta(14))
    assert all(m.is_stale for m in later)


@pytest.mark.parametrize(
    ("today", "planned", "expected"),
    [
        (date(2024, 2, 28), date(2024, 3, 1), 2),  # leap year
        (date(2023, 2, 28), date(2023, 3, 1), 1),
        (date(2023, 12, 31), date(2024, 1, 1), 1),  # year boundary
        (date(2024, 1, 31), date(2024, 3, 1), 30),  # months of 31 and 29 days
        (date(2024, 3, 1), date(2024, 2, 1), -29),
        (date(2023, 1, 1), date(2025, 1, 1), 731),  # across 29 Feb 2024
        (date(2024, 3, 31), date(2024, 3, 31), 0),  # DST change in Europe
    ],
)
def test_days_between_across_month_and_leap_year_boundaries(
    org, two_categories, superuser, today, planned, expected
):
    portfolio, alpha, _ = two_categories
    forecast = planned + timedelta(days=expected)
    milestone = build(
        portfolio,
        alpha,
        org.fr,
        planned_start=min(today, planned, forecast),
        planned_completion=planned,
        forecast_completion=forecast,
    )
    row = _row(milestone_list(superuser, today=today), milestone)
    assert row.days_remaining == expected
    assert row.delay_days == expected


# Success metrics and regions ----------------------------------------------


@pytest.fixture
def delivery(org, two_categories):
    portfolio, alpha, beta = two_categories
    done = {"status": Status.COMPLETED, "percent_complete": D("100")}
    budget = {"approved_budget": D("1000")}
    return portfolio, [
        # EMEA: on time, within budget (estimate).
        build(
            portfolio,
            alpha,
            org.fr,
            **done,
            **budget,
            planned_completion=day(-5),
            actual_completion=day(-5),
            estimate_at_completion=D("1000"),
        ),
        # EMEA: completed late; no estimate, spend over budget.
        build(
            portfolio,
            alpha,
            org.paris,
            **done,
            **budget,
            planned_completion=day(-20),
            actual_completion=day(-2),
            actual_spend=D("1500"),
        ),
        # EMEA: due, not done; estimate over budget even though spend is low.
        build(
            portfolio,
            beta,
            org.de,
            **budget,
            planned_completion=day(-1),
            actual_spend=D("100"),
            estimate_at_completion=D("1001"),
        ),
        # APAC: completed early, before it was due.
        build(
            portfolio,
            beta,
            org.jp,
            **done,
            **budget,
            planned_completion=day(10),
            actual_completion=day(-1),
            actual_spend=D("400"),
        ),
        # AMER: due today, not done.
        build(portfolio, beta, org.us, **budget, planned_completion=TODAY),
        # Global level: not due yet.
        build(portfolio, alpha, org.world, **budget, planned_completion=day(40)),
        # Cancelled: ignored everywhere.
        build(
            portfolio,
            alpha,
            org.fr,
            status=Status.CANCELLED,
            planned_completion=day(-3),
            actual_spend=D("9999"),
        ),
    ]


def test_success_metrics(delivery, superuser):
    portfolio, _ = delivery
    m = success_metrics(superuser, portfolio, today=TODAY)
    assert m.milestone_count == 6
    # On time: 2 of 3 completed (the late one is not).
    assert (m.completed_count, m.on_time_count, m.on_time_rate) == (3, 2, D("66.67"))
    # Due by today: fr, paris, de, us -> 2 completed of 4.
    assert (m.due_count, m.achieved_count, m.achievement_rate) == (4, 2, D("50.00"))
    # Within budget: fr (estimate), jp, us, world (spend) -> 4 of 6.
    assert m.within_budget_count == 4
    assert m.budget_adherence_rate == D("66.67")
    assert m.actual_spend == D("2000.00")
    assert m.approved_budget == D("6000.00")
    assert m.budget_utilisation == D("33.33")


def test_success_metrics_without_data_has_no_rates(org, superuser):
    m = success_metrics(superuser, today=TODAY)
    assert m.milestone_count == 0
    assert m.on_time_rate is m.achievement_rate is m.budget_adherence_rate is None
    assert m.budget_utilisation is None and m.actual_spend == D("0")


def test_regional_comparison_groups_by_region_ancestor(delivery, superuser, org):
    portfolio, _ = delivery
    rows = regional_comparison(superuser, portfolio, today=TODAY)
    by_name = {r.name: r for r in rows}
    assert [r.name for r in rows] == ["AMER", "APAC", "EMEA", "Global (no region)"]
    emea = by_name["EMEA"]
    assert emea.region == org.emea
    # fr, paris (a site under fr) and de; the cancelled one is left out.
    assert (emea.milestone_count, emea.due_count, emea.achieved_count) == (3, 3, 2)
    assert emea.achievement_rate == D("66.67")
    assert (emea.completed_count, emea.on_time_rate) == (2, D("50.00"))
    apac = by_name["APAC"]
    assert (apac.milestone_count, apac.on_time_rate) == (1, D("100.00"))
    assert apac.achievement_rate is None  # nothing due yet
    amer = by_name["AMER"]
    assert (amer.achievement_rate, amer.on_time_rate) == (D("0.00"), None)
    assert by_name["Global (no region)"].milestone_count == 1


def test_contributor_sees_only_their_regions_figures(
    delivery, contributor_emea, contributor_apac
):
    portfolio, _ = delivery
    rows = regional_comparison(contributor_emea, today=TODAY)
    assert [(r.name, r.milestone_count) for r in rows] == [("EMEA", 3)]
    m = success_metrics(contributor_emea, portfolio, today=TODAY)
    assert (m.milestone_count, m.completed_count, m.on_time_count) == (3, 2, 1)
    assert m.achievement_rate == D("66.67")
    assert m.approved_budget == D("3000.00")
    assert {r.pk for r in milestone_list(contributor_emea)} == {
        ms.pk for ms in delivery[1][:3]
    } | {delivery[1][6].pk}
    # APAC: one completed milestone of 100 % in Beta (weight 1 of its own).
    cats = category_progress(contributor_apac, portfolio, today=TODAY)
    assert [(c.name, c.progress, c.milestone_count) for c in cats] == [
        ("Alpha", D("0.00"), 0),
        ("Beta", D("100.00"), 1),
    ]
    overall = portfolio_progress(contributor_apac, portfolio, today=TODAY)
    assert overall.progress == D("40.00")  # 40 % weight x 100
    assert overall.milestone_count == 1


def test_hand_case_restricted_to_a_region(hand_case, contributor_emea):
    portfolio, *_ = hand_case
    # EMEA sees m1 (fr, 50 %, Alpha) and m3 (paris, 20 %, Beta) only.
    rows = category_progress(contributor_emea, portfolio, today=TODAY)
    assert [r.progress for r in rows] == [D("50.00"), D("20.00")]
    # 0.6 x 50 + 0.4 x 20 = 38 ; planned 0.6 x 50 + 0.4 x 0 = 30.
    overall = portfolio_progress(contributor_emea, portfolio, today=TODAY)
    assert (overall.progress, overall.planned_progress) == (D("38.00"), D("30.00"))
    assert overall.schedule_status == ScheduleStatus.AHEAD


def test_anonymous_and_unscoped_users_get_empty_figures(hand_case):
    portfolio, *_ = hand_case
    for user in (AnonymousUser(), UserFactory()):
        assert not milestone_list(user).exists()
        assert success_metrics(user, today=TODAY).milestone_count == 0
        result = portfolio_progress(user, portfolio, today=TODAY)
        assert result.progress == D("0") and result.milestone_count == 0
        assert category_progress(user, portfolio) == []
        assert scorecard(user, portfolio) == []
        assert regional_comparison(user) == []


def test_cancelled_milestones_make_no_progress(hand_case, member, org):
    portfolio, *_ = hand_case
    # AMER only sees the cancelled Beta milestone.
    user = member("contributor", org.amer)
    result = portfolio_progress(user, portfolio, today=TODAY)
    assert (result.progress, result.milestone_count) == (D("0"), 1)
    beta = category_progress(user, portfolio, today=TODAY)[1]
    assert (beta.milestone_count, beta.status, beta.risk_level) == (
        1,
        CategoryStatus.NOT_STARTED,
        None,
    )
    assert success_metrics(user, today=TODAY).milestone_count == 0


# Query counts --------------------------------------------------------------

SELECTORS = {
    "milestone_list": (1, lambda u, p: [str(m.owner) for m in milestone_list(u)]),
    "category_progress": (2, lambda u, p: category_progress(u, p)),
    "portfolio_progress": (2, lambda u, p: portfolio_progress(u, p)),
    "scorecard": (2, lambda u, p: scorecard(u, p)),
    "success_metrics": (1, lambda u, p: success_metrics(u, p)),
    "regional_comparison": (2, lambda u, p: regional_comparison(u, p)),
}


def _populate(portfolio, org, count: int, owner) -> None:
    units = [org.fr, org.paris, org.de, org.jp, org.us]
    categories = list(portfolio.categories.all())
    statuses = list(Status)
    for i in range(count):
        make_milestone(
            portfolio,
            units[i % len(units)],
            category=categories[i % len(categories)],
            status=statuses[i % len(statuses)],
            percent_complete=D(i % 101),
            owner=owner,
            planned_completion=day(i % 40 - 20),
            planned_start=day(-60),
        )


def test_query_counts_do_not_grow_with_milestones(
    org, portfolio, contributor_emea, superuser, django_assert_num_queries
):
    _populate(portfolio, org, 10, owner=superuser)
    for user in (contributor_emea, superuser):
        for expected, run in SELECTORS.values():
            with django_assert_num_queries(expected):
                run(user, portfolio)
    _populate(portfolio, org, 190, owner=superuser)
    for user in (contributor_emea, superuser):
        for expected, run in SELECTORS.values():
            with django_assert_num_queries(expected):
                run(user, portfolio)
    assert success_metrics(superuser, portfolio).milestone_count > 150


# Figures kept between readers of the same scope ----------------------------------


def test_kept_figures_follow_every_change_and_never_cross_scopes(
    org, portfolio, pmo, contributor_emea
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts import policy
    from milestones.selectors import portfolio_figures

    fr = make_milestone(portfolio, org.fr, percent_complete=D("40"))
    make_milestone(portfolio, org.jp, percent_complete=D("80"))

    def read(user):
        with policy.grants_read_once():
            policy.scope_signature(user)  # grants read outside the count
            with CaptureQueriesContext(connection) as queries:
                figures = portfolio_figures(user, [portfolio])[portfolio.pk]
        return figures.progress, len(queries.captured_queries)

    first, cold = read(pmo)
    again, warm = read(pmo)
    assert again == first and warm < cold
    assert warm == 1  # the portfolio's versions; the figures were kept
    # A contributor of EMEA sees France only: their own figures, not the kept ones.
    emea, _ = read(contributor_emea)
    assert emea.milestone_count == 1 and first.milestone_count == 2

    services.milestone_submit_update(
        actor=pmo,
        milestone=fr,
        expected_version=fr.version,
        status="on_track",
        percent_complete=D("90"),
        actual_spend=D("0"),
    )
    after, recomputed = read(pmo)
    assert recomputed == cold
    assert after.progress > first.progress
    assert after == portfolio_progress(pmo, portfolio)  # as computed outside


def test_kept_regional_figures_follow_changes(org, portfolio, pmo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts import policy

    make_milestone(portfolio, org.fr)

    def read():
        with policy.grants_read_once():
            policy.scope_signature(pmo)
            with CaptureQueriesContext(connection) as queries:
                figures = regional_comparison(pmo)
        return figures, len(queries.captured_queries)

    first, _ = read()
    again, kept = read()
    assert again == first and kept == 2  # the two newest history ids
    make_milestone(portfolio, org.jp)
    after, _ = read()
    counts = {r.region.code if r.region else None: r.milestone_count for r in after}
    assert counts["apac"] == 1 and counts["emea"] == 1
    assert after == regional_comparison(pmo)
