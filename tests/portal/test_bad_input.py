"""Bad input answers 400 with field errors (the API) or a clear error (pages),
never a 500: NUL characters anywhere, huge numbers and dates in filters, odd
time-zone offsets, implausible ``as_of``. An unexpected failure still answers
JSON on the API. The NUL cases crash PostgreSQL (it refuses NUL in a query);
run this module on PostgreSQL too (CI does)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.roles import Role
from milestones.api.views import MilestoneViewSet
from milestones.models import Milestone, StrategicObjective

from ..factories import make_member
from ..milestones.conftest_api import API, client_for

NUL_MESSAGE = "Null characters are not allowed."


@pytest.fixture
def manager(org, portfolio):
    return make_member(Role.PORTFOLIO_MANAGER, org.world, username="pm")


@pytest.fixture
def api(manager):
    client = client_for(manager)
    client.raise_request_exception = False
    return client


@pytest.fixture
def milestone(org, milestone_in):
    return milestone_in(org.fr, name="FR rollout")


# Filters: numbers, dates, offsets ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("/milestones/?due_within=2915000", "due_within", "less than or equal"),
        ("/milestones/?due_within=-1", "due_within", "greater than or equal"),
        ("/milestones/?portfolio=99999999999999999999", "portfolio", "valid choice"),
        ("/milestones/?owner=99999999999999999999", "owner", "valid choice"),
        (
            "/milestones/?planned_completion_after=0001-01-01",
            "planned_completion_after",
            "between 1900-01-01 and 2199-12-31",
        ),
        (
            "/updates/?submitted_after=2024-01-01T00:00:00-17:32",
            "submitted_after",
            "offset must be between -12:00 and +14:00",
        ),
        (
            "/updates/?submitted_before=9999-12-31T23:59:59%2B14:00",
            "submitted_before",
            "between 1900-01-01 and 2199-12-31",
        ),
        ("/risks/?min_score=99999999999999999999", "min_score", "Enter a number"),
        ("/approvals/?escalation=99999999999999999999", "escalation", "Enter a number"),
    ],
)
def test_implausible_filters_answer_400_with_the_field(api, url, field, message):
    response = api.get(API + url)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert message in " ".join(response.json()[field])


def test_plausible_filters_still_filter(api, milestone):
    assert api.get(API + "/milestones/?due_within=36600").json()["count"] == 1
    ok = api.get(API + "/updates/?submitted_after=2024-01-01T00:00:00%2B13:45")
    assert ok.status_code == 200


# NUL characters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/milestones/?q=a%00b", "q"),
        ("/milestones/?portfolio=a%00b", "portfolio"),
        ("/milestones/?status=on_track%00", "status"),
        ("/milestones/?ordering=%00", "ordering"),
        ("/portfolios/a%00b/", "path"),
        ("/milestones/?page=1%00", "page"),
    ],
)
def test_nul_in_a_query_parameter_or_path_answers_400(api, milestone, url, field):
    response = api.get(API + url)

    assert response.status_code == 400, response.content
    assert response.json() == {field: [NUL_MESSAGE]}


def test_nul_in_a_json_body_answers_400_and_creates_nothing(api, portfolio):
    response = api.post(
        API + "/objectives/",
        data=json.dumps({"portfolio": "ai-\u0000transformation", "title": "X"}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {"portfolio": [NUL_MESSAGE]}
    assert not StrategicObjective.objects.exists()


def test_nul_in_a_form_body_or_a_nested_value_answers_400(api, milestone):
    form = api.post(API + "/objectives/", data={"portfolio": "a\x00b", "title": "X"})
    nested = api.patch(
        f"{API}/milestones/{milestone.pk}/",
        data=json.dumps({"version": milestone.version, "name": "Ren\u0000amed"}),
        content_type="application/json",
    )

    assert form.status_code == 400
    assert form.json() == {"portfolio": [NUL_MESSAGE]}
    assert nested.status_code == 400
    assert nested.json() == {"name": [NUL_MESSAGE]}
    assert Milestone.objects.get(pk=milestone.pk).name == "FR rollout"


def test_nul_in_a_page_query_answers_400_naming_the_parameter(client, manager):
    client.force_login(manager)

    response = client.get("/milestones/mine/?q=a%00b")

    assert response.status_code == 400
    assert b"q: Null characters are not allowed." in response.content


def test_nul_in_a_page_form_redisplays_the_form_with_the_error(
    client, manager, milestone
):
    client.force_login(manager)

    response = client.post(
        f"/milestones/{milestone.pk}/update/",
        {"version": milestone.version, "achievements": "x\x00y"},
    )

    assert response.status_code == 200
    assert b"Null characters are not allowed." in response.content
    assert not milestone.updates.exists()


# Pages: filters and as_of -----------------------------------------------------


def test_page_list_with_huge_days_and_odd_values_still_answers(
    client, manager, milestone
):
    client.force_login(manager)

    # The page offers no due_within filter: the parameter is ignored.
    response = client.get("/milestones/mine/?due_within=2915000&status=bogus")

    assert response.status_code == 200
    assert b"Select a valid choice" in response.content


def test_report_as_of_year_one_is_a_clear_400(client, manager, portfolio):
    client.force_login(manager)

    response = client.get(f"/reports/{portfolio.slug}/executive/?as_of=0001-01-01")

    assert response.status_code == 400
    assert b"did not exist on 0001-01-01" in response.content


# Error envelope -----------------------------------------------------------------


def test_unknown_api_url_answers_json_404(api):
    response = api.get(API + "/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unexpected_api_failure_answers_json_500_with_request_id(api, monkeypatch):
    def boom(self, request, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(MilestoneViewSet, "list", boom)

    response = api.get(API + "/milestones/", HTTP_X_REQUEST_ID="req-abc-123")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Server error", "request_id": "req-abc-123"}


def test_unexpected_page_failure_keeps_an_html_page(manager, monkeypatch):
    from milestones import views

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "MyMilestoneFilterSet", boom)
    client = Client(raise_request_exception=False)
    client.force_login(manager)

    response = client.get("/milestones/mine/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_api_module_imports_first_without_a_cycle():
    """DRF imports portal.api (a renderer) while importing its views; the
    first request may import portal.api first (the NUL middleware does)."""
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup(); import portal.api; "
        "from rest_framework.views import APIView; "
        "print(APIView.renderer_classes[-1].__name__)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 0, run.stderr[-500:]
    assert run.stdout.strip() == "BrowsableAPIRenderer"
