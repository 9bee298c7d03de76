"""Out-of-scope neighbours are counted, never named; KPIs follow their
milestone's scope (#14 item 8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from milestones import services
from milestones.models import KPI
from tests.factories import make_milestone
from tests.milestones.conftest_api import API, client_for

pytestmark = pytest.mark.django_db

SECRET = "ZZ-SECRET-TOKYO-NAME"


@pytest.fixture
def neighbours(portfolio, org):
    paris = make_milestone(portfolio, org.fr, name="Paris rollout")
    tokyo = make_milestone(portfolio, org.jp, name=SECRET)
    osaka = make_milestone(portfolio, org.jp, name="ZZ-SECRET-OSAKA-NAME")
    lyon = make_milestone(portfolio, org.fr, name="Lyon rollout")
    services.dependency_add(actor=None, predecessor=tokyo, successor=paris)
    services.dependency_add(actor=None, predecessor=lyon, successor=paris)
    services.dependency_add(actor=None, predecessor=paris, successor=osaka)
    kpi = services.kpi_create(
        actor=None,
        portfolio=portfolio,
        milestone=tokyo,
        name="ZZ-SECRET-KPI",
        baseline=Decimal("0"),
        target=Decimal("10"),
    )
    return paris, tokyo, lyon, kpi


def test_the_milestone_page_counts_out_of_scope_neighbours(
    client, neighbours, contributor_emea, portfolio
):
    paris, tokyo, lyon, _ = neighbours
    client.force_login(contributor_emea)

    page = client.get(f"/portfolios/{portfolio.slug}/milestones/{paris.pk}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert SECRET not in text and "ZZ-SECRET-OSAKA-NAME" not in text
    assert "Lyon rollout" in text  # in scope: named
    assert "Waits on 1 milestone outside your scope" in text
    assert "Holds up 1 milestone outside your scope" in text


def test_dependency_api_lists_only_links_between_visible_milestones(
    neighbours, contributor_emea
):
    paris, tokyo, lyon, _ = neighbours
    response = client_for(contributor_emea).get(f"{API}/dependencies/")
    rows = response.json()["results"]
    assert [(r["predecessor"], r["successor"]) for r in rows] == [(lyon.pk, paris.pk)]
    assert SECRET not in response.content.decode()


def test_kpis_follow_their_milestones_scope(neighbours, contributor_emea, pmo):
    *_, kpi = neighbours
    emea = client_for(contributor_emea)
    listing = emea.get(f"{API}/kpis/")
    assert "ZZ-SECRET-KPI" not in listing.content.decode()
    assert emea.get(f"{API}/kpis/{kpi.pk}/").status_code == 404
    assert KPI.objects.restrict(contributor_emea, "view").filter(pk=kpi.pk).count() == 0
    assert client_for(pmo).get(f"{API}/kpis/{kpi.pk}/").status_code == 200
