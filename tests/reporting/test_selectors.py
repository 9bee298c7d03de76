"""reporting.selectors: scope, the approvals hook, the timeline's critical path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from portal.errors import NotFound
from reporting import selectors
from scheduling import selectors as sched
from scheduling.engine import Link, Task, critical_path

from ..factories import UserFactory, make_portfolio

pytestmark = pytest.mark.django_db


def test_portfolios_follow_the_access_policy(programme, org, contributor_apac):
    japan = make_portfolio(org.jp, slug="japan-only")
    make_portfolio(org.fr, slug="france-only")

    assert [p.slug for p in selectors.portfolios_for(contributor_apac)] == [
        programme.portfolio.slug,  # through the Tokyo milestone
        japan.slug,
    ]
    assert list(selectors.portfolios_for(AnonymousUser())) == []
    assert list(selectors.portfolios_for(UserFactory())) == []
    with pytest.raises(NotFound):
        selectors.portfolio_for(contributor_apac, "france-only")


def test_system_reader_sees_every_portfolio(programme, org):
    make_portfolio(org.jp, slug="japan-only")
    assert selectors.portfolios_for(selectors.SYSTEM).count() == 2


def test_timeline_marks_the_scheduler_critical_path(programme, executive):
    source = selectors.LiveSource(executive, programme.portfolio)
    milestones = list(source.milestones())
    links = source.links()
    today = timezone.localdate()
    expected = critical_path(
        [
            Task(
                m.id,
                m.planned_start,
                m.planned_completion,
                float(m.percent_complete),
                m.forecast_completion,
                m.actual_completion,
                m.actual_start,
            )
            for m in milestones
        ],
        [Link(p, s, t, lag) for p, s, t, lag in links],
        today=today,
    )
    critical_names = {m.name for m in milestones if expected.tasks[m.id].critical}
    assert programme.scaling.name in critical_names  # ends the project

    timings = sched.network_timings(programme.portfolio, today=today)
    assert {mid: t.critical for mid, t in timings.items()} == {
        mid: t.critical for mid, t in expected.tasks.items()
    }
    svg = selectors.gantt_chart(milestones, links, today=today, timings=timings)

    for m in milestones:
        marker = f'font-weight="bold">{m.name}</text>'
        assert (marker in svg) == (m.name in critical_names), m.name


def test_timeline_keeps_the_critical_path_when_rows_are_capped(programme, executive):
    source = selectors.LiveSource(executive, programme.portfolio)
    milestones = list(source.milestones())

    today = timezone.localdate()
    svg = selectors.gantt_chart(
        milestones,
        source.links(),
        today=today,
        timings=sched.network_timings(programme.portfolio, today=today),
        max_rows=2,
    )

    assert "Showing 2 of 4 milestones" in svg
    assert programme.scaling.name in svg


def test_burn_up_counts_completions_up_to_the_day(programme, executive):
    from milestones.models import Milestone

    from .conftest import report

    report(programme.platform, status="completed", percent=100, spend="1")
    milestones = Milestone.objects.filter(portfolio=programme.portfolio)
    today = timezone.localdate()

    assert selectors.burn_up_from(milestones, today).completed == [(today, 1)]
    assert selectors.burn_up_from(milestones, today - timedelta(days=1)).completed == []
    assert selectors.burn_up_from(milestones, today).total == 4
