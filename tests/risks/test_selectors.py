"""Selectors of the risks app: the 5x5 heat map, recipients."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from risks import selectors, services
from risks.models import Risk, Severity

from ..factories import make_member

pytestmark = pytest.mark.django_db


def _risk(portfolio, milestone, probability, impact, **fields):
    return services.risk_create(
        actor=None,
        portfolio=portfolio,
        milestone=milestone,
        title=f"p{probability} i{impact}",
        probability=probability,
        impact=impact,
        **fields,
    )


def test_heat_map_counts_open_risks_by_probability_and_impact(
    portfolio, milestone_in, org, pmo, django_assert_num_queries
):
    fr, jp = milestone_in(org.fr), milestone_in(org.jp)
    _risk(portfolio, fr, 5, 5)
    _risk(portfolio, fr, 5, 5)
    _risk(portfolio, jp, 2, 4)
    _risk(portfolio, fr, 1, 1, status=Risk.Status.CLOSED)

    with django_assert_num_queries(1):
        heat = selectors.risk_heat_map(pmo, portfolio=portfolio)
    assert heat.count(5, 5) == 2
    assert heat.count(2, 4) == 1
    assert heat.count(1, 1) == 0
    assert heat.total == 3
    assert len(heat.rows) == 5 and all(len(row) == 5 for row in heat.rows)
    # Drawn with the highest impact on top: rows[0] is impact 5.
    assert [c.impact for c in heat.rows[0]] == [5] * 5
    assert heat.rows[0][4].severity == Severity.CRITICAL
    assert heat.rows[4][0].severity == Severity.LOW

    contributor = make_member(Role.CONTRIBUTOR, org.emea)
    assert selectors.risk_heat_map(contributor).total == 2
    assert selectors.risk_heat_map(pmo, include_closed=True).total == 4


def test_role_members_cover_ancestors_and_the_portfolio(org, portfolio):
    world = make_member(Role.EXECUTIVE, org.world)
    fr = make_member(Role.EXECUTIVE, org.fr)
    on_portfolio = make_member(Role.EXECUTIVE, portfolio)
    make_member(Role.EXECUTIVE, org.de)
    make_member(Role.EXECUTIVE, org.paris)  # below the milestone's unit
    audience = selectors.Audience(
        role=Role.EXECUTIVE,
        portfolio_id=portfolio.pk,
        unit_paths=(org.fr.path, portfolio.org_unit.path),
    )
    found = selectors.role_members({"x": audience})["x"]
    assert {u.pk for u in found} == {world.pk, fr.pk, on_portfolio.pk}
