"""API v1 of the approvals flow: ``/api/v1/approvals/`` with its ``approve``,
``reject`` and ``withdraw`` actions, and the refusal of direct baseline edits
through ``PATCH /api/v1/milestones/<id>/``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.roles import Role
from approvals import services as approval_services
from approvals.models import ApprovalRequest
from milestones.models import Milestone
from tests.factories import make_member

from ..factories import make_milestone
from ..milestones.conftest_api import API, client_for, count_queries
from .helpers import (
    build_scene,
    milestone_state,
    planner_and_executive,
    reauthorization,
    superuser,
)

pytestmark = pytest.mark.django_db

APPROVALS = f"{API}/approvals/"


@pytest.fixture
def scene(org, portfolio, executive):
    return build_scene(org, portfolio, executive)


def action(approval, name: str) -> str:
    return f"{APPROVALS}{approval.pk}/{name}/"


# Reading -----------------------------------------------------------------------


def test_anonymous_gets_401(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    client = client_for(None)
    assert client.get(APPROVALS).status_code == 401
    assert client.post(action(approval, "approve"), {}).status_code == 401


def test_list_shows_requests_in_scope(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    apac = make_milestone(scene.portfolio, scene.org.jp)
    reauthorization(None, apac, "999999")

    rows = client_for(scene.contributor).get(APPROVALS).json()["results"]
    assert [r["id"] for r in rows] == [approval.pk]
    row = rows[0]
    assert row["kind"] == "reauthorization"
    assert row["status"] == "pending"
    assert row["new_approved_budget"] == "150000.00"
    assert row["old_approved_budget"] == "100000.00"
    assert row["amount"] == "50000.00"
    assert row["milestone_name"] == "Paris data platform"
    assert row["portfolio"] == scene.portfolio.slug
    assert row["decisions"] == []
    assert client_for(scene.executive_apac).get(APPROVALS).json()["count"] == 1


def test_list_filters(scene):
    first = reauthorization(scene.owner, scene.milestone, "150000")
    reauthorization(scene.pmo, scene.milestone, "160000")
    approval_services.approval_decide(
        actor=scene.executive, approval=first, outcome="reject", comment="No"
    )
    client = client_for(scene.executive)
    assert client.get(APPROVALS, {"status": "rejected"}).json()["count"] == 1
    assert client.get(APPROVALS, {"status": "pending"}).json()["count"] == 1
    completions = client.get(APPROVALS, {"kind": "completion_validation"})
    assert completions.json()["count"] == 0
    assert client.get(APPROVALS, {"status": "nonsense"}).status_code == 400


def test_detail_out_of_scope_is_404(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    url = f"{APPROVALS}{approval.pk}/"
    assert client_for(scene.executive_apac).get(url).status_code == 404
    assert client_for(scene.executive).get(url).status_code == 200


@pytest.mark.parametrize(("few", "many"), [(2, 20)])
def test_list_query_count_is_constant(scene, few, many, django_assert_max_num_queries):
    def grow(n):
        for i in range(n):
            milestone = make_milestone(scene.portfolio, scene.org.fr, owner=scene.owner)
            approval = reauthorization(scene.owner, milestone, 700000 + i)
            approval_services.approval_decide(
                actor=scene.executive, approval=approval, outcome="approve"
            )

    grow(few)
    client = client_for(scene.contributor)
    baseline, response = count_queries(lambda: client.get(APPROVALS))
    assert response.json()["count"] == few
    grow(many - few)
    with django_assert_max_num_queries(baseline):
        response = client.get(APPROVALS)
    assert response.json()["count"] == many


# Requesting ------------------------------------------------------------------


def test_owner_requests_through_the_api(scene):
    response = client_for(scene.owner).post(
        APPROVALS,
        {
            "milestone": scene.milestone.pk,
            "kind": "baseline_change",
            "reason": "Scope extended",
            "new_success_criteria": "Live in France and Germany",
            "new_planned_completion": (
                scene.milestone.planned_completion + timedelta(days=20)
            ).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["requested_by"] == scene.owner.pk
    assert body["new_success_criteria"] == "Live in France and Germany"
    assert ApprovalRequest.objects.get().kind == "baseline_change"


def test_request_input_errors_are_400(scene, contributor_apac):
    client = client_for(scene.owner)
    missing = client.post(APPROVALS, {"milestone": scene.milestone.pk}, format="json")
    assert missing.status_code == 400
    assert {"kind", "reason"} <= set(missing.json())
    wrong_kind = client.post(
        APPROVALS,
        {
            "milestone": scene.milestone.pk,
            "kind": "baseline_change",
            "reason": "More money",
            "new_approved_budget": "200000",
        },
        format="json",
    )
    assert wrong_kind.status_code == 400
    assert "new_approved_budget" in wrong_kind.json()
    smuggled = client.post(
        APPROVALS,
        {
            "milestone": scene.milestone.pk,
            "kind": "reauthorization",
            "reason": "x",
            "new_approved_budget": "200000",
            "status": "approved",
        },
        format="json",
    )
    assert smuggled.status_code == 400
    assert "status" in smuggled.json()
    # A milestone out of scope is "does not exist", like a missing one.
    hidden = client_for(contributor_apac).post(
        APPROVALS,
        {
            "milestone": scene.milestone.pk,
            "kind": "reauthorization",
            "reason": "x",
            "new_approved_budget": "200000",
        },
        format="json",
    )
    assert hidden.status_code == 400
    assert "milestone" in hidden.json()
    assert not ApprovalRequest.objects.exists()


def test_contributor_may_not_request(scene):
    response = client_for(scene.contributor).post(
        APPROVALS,
        {
            "milestone": scene.milestone.pk,
            "kind": "reauthorization",
            "reason": "x",
            "new_approved_budget": "200000",
        },
        format="json",
    )
    assert response.status_code == 403


# Deciding --------------------------------------------------------------------


def test_executive_approves_through_the_api(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    response = client_for(scene.executive).post(
        action(approval, "approve"), {"comment": "OK", "version": 1}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "approved"
    assert body["decisions"][0]["approver"] == scene.executive.pk
    assert body["decisions"][0]["snapshot"]["approved_budget"] == "100000.00"
    milestone = Milestone.objects.get(pk=scene.milestone.pk)
    assert milestone.approved_budget == Decimal("150000")
    assert milestone.history.latest("history_id").history_change_reason == (
        f"Approved request #{approval.pk}"
    )


def test_own_request_is_403(scene, org):
    both = planner_and_executive(org, username="pm-exec-api")
    approval = reauthorization(both, scene.milestone, "150000")
    response = client_for(both).post(action(approval, "approve"), {}, format="json")
    assert response.status_code == 403
    assert "own request" in response.json()["detail"]


def test_out_of_scope_decision_is_404(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    client = client_for(scene.executive_apac)
    assert client.post(action(approval, "approve"), {}).status_code == 404
    rejected = client.post(action(approval, "reject"), {"comment": "x"})
    assert rejected.status_code == 404


def test_contributor_decision_is_403(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    response = client_for(scene.contributor).post(action(approval, "approve"), {})
    assert response.status_code == 403


def test_over_limit_needs_an_executive_whose_limit_covers_it(scene):
    approval = reauthorization(scene.owner, scene.milestone, "700000")
    first = client_for(scene.executive).post(action(approval, "approve"), {})
    assert first.status_code == 200
    assert first.json()["status"] == "pending"
    assert first.json()["awaiting_second"] is True
    assert first.json()["decisions"][0]["within_limit"] is False
    again = client_for(scene.executive).post(action(approval, "approve"), {})
    assert again.status_code == 403
    # Below the amount too (limit 100,000): recorded, still pending.
    second = client_for(scene.executive2).post(action(approval, "approve"), {})
    assert second.json()["status"] == "pending"
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "100000.00"
    )
    big = make_member(
        Role.EXECUTIVE, scene.org.world, username="exec-big", authority_limit=10**6
    )
    third = client_for(big).post(action(approval, "approve"), {})
    assert third.json()["status"] == "approved"
    assert [d["within_limit"] for d in third.json()["decisions"]] == [
        False,
        False,
        True,
    ]
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "700000"
    )


def test_reject_without_comment_is_400_and_changes_nothing(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    before = milestone_state(scene.milestone)
    client = client_for(scene.executive)
    response = client.post(action(approval, "reject"), {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"comment": ["A rejection needs a comment."]}
    rejected = client.post(
        action(approval, "reject"), {"comment": "Cut scope"}, format="json"
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert milestone_state(scene.milestone) == before


def test_decided_request_and_stale_version_are_409(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    stale = client_for(scene.executive).post(
        action(approval, "approve"), {"version": 7}, format="json"
    )
    assert stale.status_code == 409
    applied = client_for(scene.executive).post(action(approval, "approve"), {})
    assert applied.status_code == 200
    conflict = client_for(scene.executive2).post(action(approval, "approve"), {})
    assert conflict.status_code == 409


def test_requester_withdraws_through_the_api(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    not_theirs = client_for(scene.pmo).post(action(approval, "withdraw"), {})
    assert not_theirs.status_code == 403
    response = client_for(scene.owner).post(
        action(approval, "withdraw"), {"comment": "Not needed"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    twice = client_for(scene.owner).post(action(approval, "withdraw"), {})
    assert twice.status_code == 409


# Direct baseline edits are refused --------------------------------------------


@pytest.mark.parametrize("who", ["pmo", "superuser"])
@pytest.mark.parametrize(
    "payload",
    [
        {"approved_budget": "250000"},
        {"weight": "3"},
        {"success_criteria": "Something else"},
    ],
)
def test_patching_the_baseline_is_refused_and_points_to_approvals(scene, who, payload):
    user = scene.pmo if who == "pmo" else superuser(username="root-api")
    before = milestone_state(scene.milestone)
    response = client_for(user).patch(
        f"{API}/milestones/{scene.milestone.pk}/",
        {"version": 1, "reason": "Board decision", **payload},
        format="json",
    )
    assert response.status_code == 403
    (field,) = payload
    assert f"/milestones/{scene.milestone.pk}/request/" in response.json()[field][0]
    assert milestone_state(scene.milestone) == before
