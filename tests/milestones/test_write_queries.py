"""The write path's query budget (issue #21): a milestone PATCH in at most 12
queries and a progress update in at most 18, through the API as a milestone
owner whose grants cover a region, and each permission answered once per
request (the grants read once for every action, ``can`` answered from them).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from milestones.models import Milestone, ProgressUpdate, Status
from tests.factories import make_milestone

from .conftest_api import API, client_for

pytestmark = pytest.mark.django_db

PATCH_BUDGET = 12
UPDATE_BUDGET = 18


@pytest.fixture
def owner_and_milestone(org, portfolio, member):
    owner = member(Role.MILESTONE_OWNER, org.emea, username="owner-emea")
    milestone = make_milestone(portfolio, org.fr, owner=owner, name="Paris pilot")
    client = client_for(owner)
    client.get(f"{API}/milestones/{milestone.pk}/")  # warm caches (content types)
    return owner, milestone, client


def _grant_reads(queries) -> int:
    return sum(
        1
        for q in queries
        if "userobjectpermission" in q["sql"].lower() and "union" in q["sql"].lower()
    )


def test_milestone_patch_within_the_query_budget(owner_and_milestone):
    owner, milestone, client = owner_and_milestone

    with CaptureQueriesContext(connection) as ctx:
        response = client.patch(
            f"{API}/milestones/{milestone.pk}/",
            {"name": "Paris pilot, phase 2", "version": milestone.version},
            format="json",
        )

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Paris pilot, phase 2"
    milestone.refresh_from_db()
    assert (milestone.name, milestone.version) == ("Paris pilot, phase 2", 2)
    assert len(ctx.captured_queries) <= PATCH_BUDGET, "\n".join(
        q["sql"][:160] for q in ctx.captured_queries
    )
    # The user's grants are read once for the view and the change checks.
    assert _grant_reads(ctx.captured_queries) == 1
    # No scope re-check of the same row by query: answered from the grants.
    rechecks = [q for q in ctx.captured_queries if q["sql"].startswith("SELECT 1 AS")]
    assert rechecks == []


def test_progress_update_within_the_query_budget(owner_and_milestone):
    owner, milestone, client = owner_and_milestone

    with CaptureQueriesContext(connection) as ctx:
        response = client.post(
            f"{API}/updates/",
            {
                "milestone": milestone.pk,
                "version": milestone.version,
                "status": Status.ON_TRACK,
                "percent_complete": "40",
                "actual_spend": "1000",
            },
            format="json",
        )

    assert response.status_code == 201, response.content
    milestone.refresh_from_db()
    assert (milestone.percent_complete, milestone.version) == (40, 2)
    assert ProgressUpdate.objects.filter(milestone=milestone).count() == 1
    assert len(ctx.captured_queries) <= UPDATE_BUDGET, "\n".join(
        q["sql"][:160] for q in ctx.captured_queries
    )
    assert _grant_reads(ctx.captured_queries) == 1


def test_can_from_grants_read_agrees_with_the_database(org, portfolio, member):
    """The query-free answer of ``can`` is the one ``restrict`` gives in SQL,
    for every action, for readers with org unit, portfolio, owner and
    per-object grants, in and out of scope."""
    from accounts import policy
    from accounts.roles import ACTIONS

    owner = member(Role.MILESTONE_OWNER, org.emea, username="o")
    pm = member(Role.PORTFOLIO_MANAGER, portfolio, username="pm")
    apac = member(Role.CONTRIBUTOR, org.apac, username="apac")
    validator = member(Role.CONTRIBUTOR, org.amer, username="validator")
    rows = [
        make_milestone(portfolio, org.fr, owner=owner, name="fr"),
        make_milestone(portfolio, org.jp, name="jp"),
        make_milestone(portfolio, org.de, name="de"),
    ]
    policy.grant(validator, ["view"], rows[1])
    checked = 0
    for user in (owner, pm, apac, validator):
        for action in ACTIONS:
            for obj in [*rows, portfolio, org.fr, org.jp]:
                expected = policy.restrict(
                    type(obj)._default_manager.filter(pk=obj.pk), user, action
                ).exists()
                with policy.grants_read_once():
                    assert policy.can(user, action, obj) == expected, (
                        user.username,
                        action,
                        obj,
                    )
                checked += 1
    assert checked == 4 * len(ACTIONS) * 6
    assert Milestone.objects.count() == 3
