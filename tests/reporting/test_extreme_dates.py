"""Dates and numbers out of any plausible range: refused where they enter,
and rows stored before the rule (or around the application) never break a
page (#14 item 6)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from milestones.models import Milestone
from tests.milestones.conftest_api import API, client_for

from .helpers import pdf_text

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "stored",
    [
        {"forecast_completion": date(9999, 12, 31)},
        {"forecast_completion": date(1, 1, 1)},
        {"planned_completion": date(9999, 12, 31)},
        {"planned_start": date(1, 1, 1)},
        {"actual_start": date(1, 1, 1), "forecast_completion": date(9999, 12, 30)},
    ],
    ids=["forecast-9999", "forecast-0001", "planned-9999", "start-0001", "both"],
)
def test_extreme_stored_dates_never_break_a_page(client, executive, programme, stored):
    Milestone.objects.filter(pk=programme.platform.pk).update(**stored)
    slug = programme.portfolio.slug
    client.force_login(executive)

    for url in (
        "/",
        f"/portfolios/{slug}/",
        f"/portfolios/{slug}/schedule/",
        f"/reports/{slug}/executive/",
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    pdf = client.get(f"/reports/{slug}/executive.pdf")
    assert pdf.status_code == 200
    assert "AI Transformation" in pdf_text(pdf.content)
    api = client_for(executive).get(f"{API}/portfolios/{slug}/schedule/")
    assert api.status_code in (200, 409), api.content[:300]


def test_an_implausible_forecast_is_refused_by_the_api_and_form(
    programme, executive, org, member
):
    from accounts.roles import Role

    owner = member(Role.MILESTONE_OWNER, org.emea, username="far-owner")
    platform = programme.platform
    Milestone.objects.filter(pk=platform.pk).update(owner=owner)
    platform.refresh_from_db()
    response = client_for(owner).post(
        f"{API}/updates/",
        {
            "milestone": platform.pk,
            "version": platform.version,
            "status": "in_progress",
            "percent_complete": "10",
            "actual_spend": "0",
            "forecast_completion": "9999-12-31",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "forecast_completion" in response.json()
    platform.refresh_from_db()
    assert platform.forecast_completion != date(9999, 12, 31)

    today = timezone.localdate()
    ok = client_for(owner).post(
        f"{API}/updates/",
        {
            "milestone": platform.pk,
            "version": platform.version,
            "status": "in_progress",
            "percent_complete": "10",
            "actual_spend": "0",
            "forecast_completion": (today + timedelta(days=400)).isoformat(),
        },
        format="json",
    )
    assert ok.status_code == 201, ok.content
