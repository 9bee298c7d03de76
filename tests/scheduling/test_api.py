"""``GET /api/v1/portfolios/<slug>/schedule/``: access, input and figures."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role
from milestones.models import Dependency
from scheduling import selectors as sched

from ..factories import UserFactory, make_member, make_portfolio
from ..milestones.conftest_api import client_for, count_queries
from ..milestones.schedule_helpers import PROJECT_FINISH, build_network


@pytest.fixture
def network(org, portfolio):
    return build_network(portfolio, org, d_unit=org.jp)


def url(portfolio, **query) -> str:
    path = reverse("api:portfolio-schedule", args=[portfolio.slug])
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return path


def test_the_route_is_the_documented_one(portfolio):
    assert url(portfolio) == "/api/v1/portfolios/ai-transformation/schedule/"


def test_in_scope_answers_the_selector_figures(network, portfolio, pmo):
    response = client_for(pmo).get(url(portfolio))

    assert response.status_code == 200
    body = response.json()
    expected = sched.portfolio_schedule(pmo, portfolio)
    assert body["portfolio"] == "ai-transformation"
    assert body["status_date"] == expected.today.isoformat()
    assert body["project_finish"] == PROJECT_FINISH.isoformat()
    assert body["critical_chain"] == [network.a.pk, network.b.pk, network.d.pk]
    assert body["critical_chain_outside_scope"] == 0
    assert body["milestones_outside_scope"] == 0
    outlook = expected.outlook
    assert body["monte_carlo"] == {
        "milestone_count": 5,
        "planned_finish": outlook.planned_finish.isoformat(),
        "forecast_finish": outlook.forecast_finish.isoformat(),
        "probability_on_time": outlook.probability_on_time,
        "p50": outlook.p50.isoformat(),
        "p80": outlook.p80.isoformat(),
        "p95": outlook.p95.isoformat(),
        "iterations": 10_000,
        "seed": portfolio.pk,
        "source": "three_point",
        "sample_count": 0,
    }
    rows = {row["id"]: row for row in body["milestones"]}
    assert [row["id"] for row in body["milestones"]] == [
        m.id for m in expected.milestones
    ]
    for m in expected.milestones:
        row = rows[m.id]
        assert row["name"] == m.name
        assert (row["es"], row["ef"], row["ls"], row["lf"]) == tuple(
            d.isoformat() for d in (m.es, m.ef, m.ls, m.lf)
        )
        assert (row["total_float"], row["critical"]) == (m.total_float, m.critical)
        assert (row["own_slip"], row["inherited_slip"]) == (
            m.own_slip,
            m.inherited_slip,
        )
        assert row["probability_on_time"] == m.probability_on_time
        assert (row["p50"], row["p80"], row["p95"]) == tuple(
            d.isoformat() for d in (m.p50, m.p80, m.p95)
        )
    d = rows[network.d.pk]
    # Ten days late against its plan (pushed by B): float -10, not 0.
    assert (d["total_float"], d["critical"], d["inherited_slip"]) == (-10, True, 10)
    assert body["bottlenecks"][0] == {
        "milestone": network.a.pk,
        "name": "A foundation",
        "downstream_count": 4,
        "direct_successor_count": 2,
    }
    assert body["overallocations"] == []


def test_out_of_scope_portfolio_is_404(network, org, portfolio):
    outsider = make_member(Role.PORTFOLIO_MANAGER, make_portfolio(org.world))

    response = client_for(outsider).get(url(portfolio))

    assert response.status_code == 404


def test_missing_portfolio_is_404(pmo):
    response = client_for(pmo).get("/api/v1/portfolios/nope/schedule/")
    assert response.status_code == 404


def test_anonymous_is_401(portfolio):
    assert client_for().get(url(portfolio)).status_code == 401


def test_user_without_role_is_404(portfolio):
    assert client_for(UserFactory()).get(url(portfolio)).status_code == 404


@pytest.mark.parametrize("value", ["999", "50001", "abc", "2.5", "-1", "1e4"])
def test_bad_iterations_is_400_naming_the_field(network, portfolio, pmo, value):
    response = client_for(pmo).get(url(portfolio, iterations=value))

    assert response.status_code == 400
    assert "iterations" in response.json()


def test_iterations_within_bounds(network, portfolio, pmo):
    response = client_for(pmo).get(url(portfolio, iterations=1000))

    assert response.status_code == 200
    assert response.json()["monte_carlo"]["iterations"] == 1000


def test_a_contributor_gets_their_rows_and_no_hidden_names(
    network, portfolio, contributor_apac
):
    response = client_for(contributor_apac).get(url(portfolio))

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["milestones"]] == [network.d.pk]
    assert body["milestones"][0]["inherited_slip"] == 10
    assert body["milestones_outside_scope"] == 4
    assert body["critical_chain"] == [network.d.pk]
    assert body["critical_chain_outside_scope"] == 2
    assert body["bottlenecks"] == []
    text = response.content.decode()
    for hidden in ("A foundation", "B build", "C design", "E sign-off"):
        assert hidden not in text
    for hidden in (network.a, network.b, network.c, network.e):
        assert f'"id":{hidden.pk},' not in text.replace(" ", "")


def test_stored_cycle_is_409(network, portfolio, pmo):
    Dependency.objects.bulk_create(
        [Dependency(predecessor=network.d, successor=network.a)]
    )

    response = client_for(pmo).get(url(portfolio))

    assert response.status_code == 409
    assert "cycle" in response.json()["detail"]


def test_query_count_does_not_grow_with_milestones(org, portfolio, pmo):
    from ..factories import make_milestone

    client = client_for(pmo)
    make_milestone(portfolio, org.fr)
    few, _ = count_queries(lambda: client.get(url(portfolio, iterations=1000)))
    for _ in range(15):
        make_milestone(portfolio, org.jp)
    many, response = count_queries(lambda: client.get(url(portfolio, iterations=1000)))

    assert response.status_code == 200
    assert len(response.json()["milestones"]) == 16
    assert few == many


def test_the_schema_documents_the_endpoint(pmo):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(pmo)
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/portfolios/{slug}/schedule/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"slug", "iterations"}
    assert {"200", "400", "404"} <= set(operation["responses"])
