"""The milestone list of API v1 at speed: one query a page, the same rows and
figures as the detail route, DRF's pagination answers (#20)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.roles import Role
from milestones import services
from milestones.models import Status

from ..factories import UserFactory, make_milestone
from .conftest_api import API, client_for

TODAY = timezone.localdate()
LIST = f"{API}/milestones/"


def _grow(portfolio, unit, n):
    for i in range(n):
        make_milestone(
            portfolio,
            unit,
            name=f"Grown {i:03d}",
            planned_completion=TODAY + timedelta(days=10 + i),
        )


@pytest.mark.parametrize("role", [Role.EXECUTIVE, Role.CONTRIBUTOR])
def test_a_list_page_is_five_queries_for_few_or_many_rows(
    org, portfolio, member, role, django_assert_max_num_queries
):
    # Token, user, the reader's grants (two), and the page with its total.
    reader = member(role, org.world if role == Role.EXECUTIVE else org.emea)
    client = client_for(reader)
    _grow(portfolio, org.fr, 3)
    with django_assert_max_num_queries(5):
        few = client.get(LIST, {"page_size": 100})
    _grow(portfolio, org.fr, 40)
    with django_assert_max_num_queries(5):
        many = client.get(LIST, {"page_size": 100, "status": "not_started"})
    assert few.json()["count"] == 3
    assert many.json()["count"] == 43
    assert len(many.json()["results"]) == 43


def test_list_rows_are_the_detail_routes_rows(org, portfolio, member, superuser):
    reader = member(Role.EXECUTIVE, org.world)
    named = UserFactory(username="named-owner", first_name="Ada", last_name="Byron")
    bare = UserFactory(username="bare-owner", first_name="", last_name="")
    make_milestone(portfolio, org.fr, name="Owned by Ada", owner=named)
    make_milestone(portfolio, org.paris, name="Owned, no name", owner=bare)
    make_milestone(portfolio, org.jp, name="Nobody's", owner=None)
    late = make_milestone(
        portfolio,
        org.jp,
        name="Late and over",
        planned_start=TODAY - timedelta(days=90),
        planned_completion=TODAY - timedelta(days=5),
    )
    services.milestone_submit_update(
        actor=superuser,
        milestone=late,
        expected_version=late.version,
        status=Status.DELAYED,
        percent_complete=Decimal("40.5"),
        actual_spend=Decimal("123456.78"),
        estimate_at_completion=Decimal("130000.10"),
        forecast_completion=TODAY + timedelta(days=12),
        achievements="Some.",
    )
    client = client_for(reader)
    rows = client.get(LIST).json()["results"]
    assert len(rows) == 4
    for row in rows:
        detail = client.get(f"{LIST}{row['id']}/").json()
        assert row == detail
    by_name = {row["name"]: row for row in rows}
    assert by_name["Owned by Ada"]["owner_name"] == "Ada Byron"
    assert by_name["Owned, no name"]["owner_name"] == "bare-owner"
    assert by_name["Nobody's"]["owner_name"] is None
    assert by_name["Late and over"]["delay_days"] == 17
    assert by_name["Late and over"]["percent_complete"] == "40.50"
    assert by_name["Late and over"]["portfolio"] == portfolio.slug


def test_pages_count_link_and_refuse_what_is_past_the_end(org, portfolio, member):
    reader = member(Role.EXECUTIVE, org.world)
    _grow(portfolio, org.fr, 5)
    client = client_for(reader)
    first = client.get(LIST, {"page_size": 2}).json()
    assert first["count"] == 5
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert [r["name"] for r in first["results"]] == ["Grown 000", "Grown 001"]
    third = client.get(LIST, {"page_size": 2, "page": 3}).json()
    assert third["count"] == 5
    assert third["next"] is None
    assert [r["name"] for r in third["results"]] == ["Grown 004"]
    last = client.get(LIST, {"page_size": 2, "page": "last"}).json()
    assert last["results"] == third["results"]
    for page in ("4", "0", "-1", "abc", "2.5", str(10**30)):
        response = client.get(LIST, {"page_size": 2, "page": page})
        assert response.status_code == 404, page
        assert response.json() == {"detail": "Invalid page."}


def test_an_empty_list_is_a_first_page_with_no_rows(org, member):
    reader = member(Role.CONTRIBUTOR, org.emea)
    body = client_for(reader).get(LIST).json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


def test_ordering_and_filters_apply_before_the_page(org, portfolio, member):
    reader = member(Role.EXECUTIVE, org.world)
    _grow(portfolio, org.fr, 4)
    make_milestone(
        portfolio, org.jp, name="In Japan", planned_completion=TODAY + timedelta(1)
    )
    client = client_for(reader)
    newest = client.get(LIST, {"ordering": "-planned_completion", "page_size": 1})
    assert newest.json()["results"][0]["name"] == "Grown 003"
    assert newest.json()["count"] == 5
    japan = client.get(LIST, {"org_unit": org.jp.pk}).json()
    assert [r["name"] for r in japan["results"]] == ["In Japan"]
    assert japan["count"] == 1


def test_filters_named_in_the_query_are_still_checked(org, portfolio, member):
    reader = member(Role.CONTRIBUTOR, org.emea)
    make_milestone(portfolio, org.fr)
    client = client_for(reader)
    assert client.get(LIST, {"org_unit": org.jp.pk}).status_code == 400
    assert client.get(LIST, {"portfolio": "nope"}).status_code == 400
    response = client.get(LIST, {"due_within": "-3"})
    assert response.status_code == 400
    assert "due_within" in response.json()
