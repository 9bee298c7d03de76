"""The one status (``reporting.status``): its rules with figures, its
thresholds from settings, the pages and API that show it, and the demo's
status, forecast and float telling one story."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from milestones.models import Milestone, Portfolio, Status
from reporting import selectors
from reporting import status as rag
from scheduling import selectors as sched
from scheduling.selectors import MilestoneOutlook, ScheduleOutlook

from ..factories import make_milestone, make_portfolio

PLAN = date(2027, 3, 1)
T = rag.Thresholds(
    amber_slip_days=0,
    red_slip_days=14,
    amber_p80_days=14,
    red_p80_days=42,
    amber_escalations=1,
    red_escalations=3,
)


def outlook_of(*, finish_days=0, p80_days=0, probability=0.9, done=False):
    return MilestoneOutlook(
        planned_finish=PLAN,
        finish=PLAN + timedelta(finish_days),
        p80=PLAN + timedelta(p80_days),
        probability_on_time=probability,
        plan_float=-max(finish_days, 0),
        done=done,
    )


def portfolio_outlook(*, slip=0, p80_days=0, probability=0.9, count=3):
    return ScheduleOutlook(
        milestone_count=count,
        planned_finish=PLAN,
        forecast_finish=PLAN + timedelta(slip),
        probability_on_time=probability,
        p50=PLAN,
        p80=PLAN + timedelta(p80_days),
        p95=PLAN + timedelta(p80_days + 10),
        iterations=1000,
        seed=1,
        source="three_point",
        sample_count=0,
    )


# Rules, with figures ---------------------------------------------------------


def test_span_reads_days_then_weeks():
    assert [rag.span(d) for d in (1, 9, 33, 55, 56, 77)] == [
        "1 day",
        "9 days",
        "33 days",
        "55 days",
        "8 weeks",
        "11 weeks",
    ]


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        ({}, "green: on schedule"),
        ({"p80_days": 10}, "green: on schedule; P80 finish 10 days after plan"),
        (
            {"finish_days": 3, "p80_days": 5},
            "amber: scheduled finish 3 days after plan",
        ),
        (
            {"p80_days": 15, "probability": 0.61},
            "amber: P80 finish 15 days after plan (61 % chance of finishing by "
            "1 Mar 2027)",
        ),
        (
            {"finish_days": 15, "p80_days": 20},
            "red: scheduled finish 15 days after plan",
        ),
        (
            {"p80_days": 77, "probability": 0.12},
            "red: P80 finish 11 weeks after plan (12 % chance of finishing by "
            "1 Mar 2027)",
        ),
        ({"done": True, "finish_days": 30}, "green: done"),
    ],
)
def test_milestone_status_from_its_figures(figures, expected):
    assert rag.milestone_status(outlook_of(**figures), status="on_track", t=T).text == (
        expected
    )


def test_escalations_make_a_milestone_amber_then_red():
    on_time = outlook_of()
    assert rag.milestone_status(
        on_time, status="on_track", escalations=1, t=T
    ).text == ("amber: 1 open escalation")
    assert rag.milestone_status(
        on_time, status="on_track", escalations=3, t=T
    ).text == ("red: 3 open escalations")
    # A late finish leads; the escalations follow in the reason.
    late = outlook_of(finish_days=33, p80_days=36)
    assert rag.milestone_status(late, status="delayed", escalations=1, t=T).text == (
        "red: scheduled finish 33 days after plan; 1 open escalation"
    )


def test_reported_completion_is_green_and_unscheduled_is_no_data():
    assert rag.milestone_status(None, status=Status.COMPLETED, t=T).rag == "green"
    assert rag.milestone_status(None, status=Status.PENDING_VALIDATION, t=T).rag == (
        "green"
    )
    assert rag.milestone_status(None, status=Status.ON_TRACK, t=T).text == (
        "no data: not scheduled"
    )


def test_category_is_its_worst_milestone_with_the_reason():
    green = rag.RagStatus("green", "on schedule")
    amber = rag.RagStatus("amber", "scheduled finish 7 days after plan")
    red = rag.RagStatus("red", "scheduled finish 33 days after plan; 1 open escalation")
    assert rag.worst_of([("A", green), ("B", green)], "milestone").text == (
        "green: all 2 milestones green"
    )
    assert (
        rag.worst_of([("A", green), ("B", amber), ("C", red)], "milestone").text
        == "red: 1 of 3 milestones red (C: scheduled finish 33 days after plan)"
    )
    assert rag.worst_of([], "milestone").text == "no data: no milestones"


def test_portfolio_status_from_its_forecast_escalations_and_categories():
    red_category = [
        ("Quick Wins", rag.RagStatus("red", "x")),
        ("F", rag.RagStatus("green", "y")),
    ]
    # The AI programme of the issue: P80 eleven weeks late, 12 % on time.
    assert rag.portfolio_status(
        portfolio_outlook(p80_days=77, probability=0.12), t=T
    ).text == (
        "red: P80 finish 11 weeks after plan (12 % chance of finishing by 1 Mar 2027)"
    )
    # On time itself, but a red category: amber, never green.
    assert rag.portfolio_status(
        portfolio_outlook(), categories=red_category, t=T
    ).text == ("amber: 1 of 2 categories red (Quick Wins)")
    assert rag.portfolio_status(portfolio_outlook(), escalations=2, t=T).text == (
        "amber: 2 open escalations"
    )
    assert rag.portfolio_status(portfolio_outlook(), t=T).text == "green: on schedule"


def test_a_portfolio_without_milestones_has_no_data_never_on_plan():
    assert rag.portfolio_status(None, t=T).text == (
        "no data: no milestones to schedule"
    )
    empty = portfolio_outlook(count=0)
    assert rag.portfolio_status(empty, t=T).rag == "no_data"


def test_thresholds_come_from_settings(settings):
    settings.CAIRN_STATUS = {"red_p80_days": 90, "amber_escalations": 2}

    t = rag.thresholds()

    assert (t.red_p80_days, t.amber_escalations, t.red_slip_days) == (90, 2, 14)
    eleven_weeks = portfolio_outlook(p80_days=77, probability=0.12)
    assert rag.portfolio_status(eleven_weeks).rag == "amber"
    assert rag.portfolio_status(portfolio_outlook(), escalations=1).rag == "green"


# Pages and API ---------------------------------------------------------------


def test_dashboard_shows_no_data_for_an_empty_portfolio(client, executive, org):
    make_portfolio(org.world, slug="empty", name="Empty Programme")
    client.force_login(executive)

    html = client.get("/").content.decode()

    card = html.split('data-portfolio="empty"')[1].split("</article>")[0]
    assert 'data-status="no_data"' in card
    assert "no milestones to schedule" in card
    assert "on plan" not in html


def test_statuses_cost_two_queries_whatever_the_number_of_milestones(
    django_assert_num_queries, org, portfolio, pmo
):
    def count_for(n: int) -> None:
        for i in range(n):
            make_milestone(
                portfolio,
                org.fr,
                planned_start=date(2031, 1, 6),
                planned_completion=date(2031, 1, 20) + timedelta(i),
            )
        outlooks = sched.portfolio_outlooks(pmo, [portfolio])
        with django_assert_num_queries(2):
            found = rag.statuses(pmo, [portfolio], outlooks)[portfolio.pk]
        assert len(found.milestones) == Milestone.objects.count()

    count_for(2)
    count_for(18)


def test_status_api_answers_the_pages_figures(client, programme, executive):
    client.force_login(executive)
    slug = programme.portfolio.slug

    response = client.get(f"/api/v1/portfolios/{slug}/status/")

    assert response.status_code == 200
    body = response.json()
    page = selectors.portfolio_dashboard(executive, programme.portfolio)
    assert body["status"] == {
        "rag": page.status.overall.rag,
        "label": page.status.overall.label,
        "reason": page.status.overall.reason,
    }
    assert {c["id"] for c in body["categories"]} == {
        c.category.pk for c in page.categories
    }
    rows = {m["id"]: m for m in body["milestones"]}
    late = rows[programme.platform.pk]
    assert late["rag"] == page.status.milestones[programme.platform.pk].rag
    assert set(late) >= {"name", "rag", "label", "reason", "float_days"}


def test_status_api_hides_other_portfolios_and_refuses_anonymous(
    client, programme, member, org
):
    from accounts.roles import Role

    assert client.get("/api/v1/portfolios/ai-transformation/status/").status_code in (
        401,
        403,
    )
    other = make_portfolio(org.world, slug="elsewhere", name="Elsewhere")
    outsider = member(Role.CONTRIBUTOR, other, username="outsider")
    client.force_login(outsider)
    assert client.get("/api/v1/portfolios/ai-transformation/status/").status_code == (
        404
    )


# The demo tells one story ---------------------------------------------------


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo, seeded once for this module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(DEBUG=True):
            call_command("seed_demo", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


@pytest.mark.usefixtures("db", "demo")
def test_the_demo_status_forecast_and_float_tell_one_story(client):
    from accounts.models import User

    reader = User.objects.get(username="exec")
    portfolios = list(Portfolio.objects.order_by("name"))
    outlooks = sched.portfolio_outlooks(reader, portfolios)
    found = rag.statuses(reader, portfolios, outlooks)
    t = rag.thresholds()
    assert portfolios
    for portfolio in portfolios:
        outlook, bundle = outlooks[portfolio.pk], found[portfolio.pk]
        overall = bundle.overall
        # Never green with a P80 finish beyond the amber threshold, never red
        # without a signal past a red threshold.
        if outlook.p80_days_late > t.amber_p80_days:
            assert overall.rag != "green", portfolio.name
            assert "P80 finish" in overall.reason
        if outlook.p80_days_late > t.red_p80_days:
            assert overall.rag == "red", portfolio.name
        # A red category makes the portfolio at least amber.
        if any(s.rag == "red" for s in bundle.categories.values()):
            assert overall.rag in ("amber", "red")
        schedule = sched.portfolio_schedule(reader, portfolio)
        assert schedule.outlook.p80 == outlook.p80  # one forecast
        for m in schedule.milestones:
            status = bundle.milestones[m.id]
            lateness = (m.ef - m.planned_completion).days
            if m.is_done:
                assert status.rag == "green"
                continue
            # A late milestone never has more float than its lateness allows.
            assert m.total_float <= -lateness, m.name
            if lateness > t.red_slip_days:
                assert status.rag == "red", m.name
            elif lateness > t.amber_slip_days:
                assert status.rag in ("amber", "red"), m.name
            if status.rag == "green":
                assert lateness <= t.amber_slip_days
                assert (m.p80 - m.planned_completion).days <= t.amber_p80_days
    # The figures of the issue: the AI programme's P80 is 11 weeks late, so it
    # is red, and says why; "Proof of Value" is late and has negative float.
    ai = next(p for p in portfolios if p.slug == "ai-transformation")
    assert found[ai.pk].overall.rag == "red"
    assert found[ai.pk].overall.reason.startswith("P80 finish")
    proof = Milestone.objects.get(portfolio=ai, name="Proof of Value Demonstrated")
    row = next(
        m for m in sched.portfolio_schedule(reader, ai).milestones if m.id == proof.pk
    )
    assert row.ef > row.planned_completion
    assert row.total_float == -(row.ef - row.planned_completion).days
    # The pages show that one status, and no "on plan".
    client.force_login(reader)
    for url in (
        "/",
        reverse("reporting:portfolio", args=[ai.slug]),
        reverse("reporting:schedule", args=[ai.slug]),
        reverse("reporting:executive_preview", args=[ai.slug]),
    ):
        html = client.get(url).content.decode()
        assert found[ai.pk].overall.reason in html.replace("&#x27;", "'"), url
        assert "on plan" not in html, url
    # Its category and its own page say the same.
    category = client.get(
        reverse("reporting:category", args=[ai.slug, proof.category_id])
    ).content.decode()
    assert found[ai.pk].categories[proof.category_id].reason in category
    page = client.get(
        reverse("reporting:milestone", args=[ai.slug, proof.pk])
    ).content.decode()
    assert found[ai.pk].milestones[proof.pk].reason in page
    assert f'data-figure="float">{row.total_float} days' in page
