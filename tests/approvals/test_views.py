"""The approvals pages (``/approvals/``, a request, decide, withdraw, the
change request form) and the back office: the admin of approval requests and
the milestone admin's read-only baseline."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.roles import Role
from approvals import services as approval_services
from approvals.models import ApprovalRequest
from milestones import services
from milestones.models import Milestone, Status

from ..factories import make_member, make_milestone
from .helpers import (
    build_scene,
    milestone_state,
    planner_and_executive,
    reauthorization,
    superuser,
)

pytestmark = pytest.mark.django_db

QUEUE = reverse("approvals:queue")


@pytest.fixture
def scene(org, portfolio, executive):
    return build_scene(org, portfolio, executive)


@pytest.fixture
def as_user(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def detail_url(approval) -> str:
    return reverse("approvals:detail", args=[approval.pk])


def decide_url(approval) -> str:
    return reverse("approvals:decide", args=[approval.pk])


def request_url(milestone) -> str:
    return reverse("approvals:request", args=[milestone.pk])


# The queue -------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    for url in (QUEUE, detail_url(approval), request_url(scene.milestone)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")
    response = client.post(decide_url(approval), {"outcome": "approve"})
    assert response.status_code == 302
    assert ApprovalRequest.objects.get().is_pending


def test_queue_lists_pending_requests_in_scope_with_context(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    apac = make_milestone(scene.portfolio, scene.org.jp, name="Tokyo hub")
    hidden = reauthorization(None, apac, "999999")

    emea_executive = make_member(
        Role.EXECUTIVE, scene.org.emea, username="exec-emea", authority_limit=10**6
    )

    response = as_user(emea_executive).get(QUEUE)

    assert response.status_code == 200
    html = response.content.decode()
    assert [i.approval for i in response.context["awaiting_items"]] == [approval]
    assert f'data-request="{approval.pk}"' in html
    assert f'data-request="{hidden.pk}"' not in html
    assert "Paris data platform" in html
    assert "100,000.00 → <strong>150,000.00</strong> EUR" in html
    assert "Vendor contract renegotiated" in html
    assert reverse("approvals:detail", args=[approval.pk]) in html


def test_out_of_scope_executive_sees_nothing(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    client = as_user(scene.executive_apac)
    assert client.get(QUEUE).context["awaiting_items"] == []
    assert client.get(detail_url(approval)).status_code == 404
    response = client.post(decide_url(approval), {"outcome": "approve", "version": "1"})
    assert response.status_code == 404
    assert ApprovalRequest.objects.get().is_pending


def test_requester_sees_their_pending_requests_not_the_queue(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    response = as_user(scene.owner).get(QUEUE)
    assert response.context["awaiting_items"] == []
    assert [i.approval for i in response.context["mine_items"]] == [approval]


@pytest.mark.parametrize("rows", [2, 20])
def test_queue_query_count_is_constant(
    as_user, scene, rows, django_assert_max_num_queries
):
    for i in range(rows):
        milestone = make_milestone(
            scene.portfolio,
            scene.org.fr,
            owner=scene.owner,
            estimate_at_completion=Decimal("130000"),
        )
        approval = reauthorization(scene.owner, milestone, 150000 + i)
        if i % 2:
            approval_services.approval_decide(
                actor=scene.executive2,
                approval=approval,
                outcome="reject",
                comment="No",
            )
        elif i % 3 == 0:
            reauthorization(scene.pmo, milestone, 900000 + i)
    client = as_user(scene.executive)
    client.get(QUEUE)  # warm the session and the content types
    # 11, plus the executive's grants read once for "view" and "approve"
    # (three small queries each; see accounts.policy.grants_read_once).
    with django_assert_max_num_queries(17):
        response = client.get(QUEUE)
    assert response.status_code == 200
    assert response.context["awaiting_items"]


# A request ---------------------------------------------------------------------------


def test_detail_shows_history_overrun_and_escalation(as_user, scene):
    services.milestone_submit_update(
        actor=scene.owner,
        milestone=scene.milestone,
        expected_version=None,
        status=Status.AT_RISK,
        percent_complete=Decimal("50"),
        actual_spend=Decimal("80000"),
        estimate_at_completion=Decimal("130000"),
    )
    approval, _ = approval_services.approval_request_for_escalation(
        milestone=scene.milestone, escalation_id=7, summary="30 % over budget"
    )
    response = as_user(scene.executive).get(detail_url(approval))
    assert response.status_code == 200
    html = response.content.decode()
    assert "escalation #7" in html
    assert "30 % over budget" in html
    assert "+30 %" in html  # overrun figure
    assert "Budget and dates history" in html
    assert response.context["trail"][0].approved_budget == Decimal("100000.00")
    assert response.context["can_decide"] is True
    assert 'value="approve"' in html and 'value="reject"' in html


def test_executive_approves_and_the_budget_changes(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    client = as_user(scene.executive)
    response = client.post(
        decide_url(approval),
        {"outcome": "approve", "comment": "Fine", "version": "1"},
        follow=True,
    )
    assert response.status_code == 200
    assert "approved and applied" in response.content.decode()
    milestone = Milestone.objects.get(pk=scene.milestone.pk)
    assert milestone.approved_budget == Decimal("150000")
    assert milestone.history.latest("history_id").history_change_reason == (
        f"Approved request #{approval.pk}"
    )
    assert "150,000.00 EUR" in response.content.decode()


def test_own_request_cannot_be_decided_on_the_page(as_user, scene, org):
    both = planner_and_executive(org, username="pm-exec-page")
    approval = reauthorization(both, scene.milestone, "150000")
    client = as_user(both)
    page = client.get(detail_url(approval))
    assert page.context["can_decide"] is False
    assert "You made this request" in page.content.decode()
    response = client.post(decide_url(approval), {"outcome": "approve", "version": "1"})
    assert response.status_code == 403
    assert ApprovalRequest.objects.get().is_pending


def test_contributor_may_look_but_not_decide(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    client = as_user(scene.contributor)
    assert client.get(detail_url(approval)).status_code == 200
    response = client.post(decide_url(approval), {"outcome": "approve", "version": "1"})
    assert response.status_code == 403


def test_reject_without_comment_shows_the_form_again(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    before = milestone_state(scene.milestone)
    response = as_user(scene.executive).post(
        decide_url(approval), {"outcome": "reject", "comment": " ", "version": "1"}
    )
    assert response.status_code == 200
    assert "A rejection needs a comment." in response.content.decode()
    assert ApprovalRequest.objects.get().is_pending
    assert milestone_state(scene.milestone) == before


def test_deciding_a_decided_request_says_so(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    approval_services.approval_decide(
        actor=scene.executive2, approval=approval, outcome="approve"
    )
    response = as_user(scene.executive).post(
        decide_url(approval), {"outcome": "approve", "version": "2"}, follow=True
    )
    assert "already approved" in response.content.decode()
    assert approval.decisions.count() == 1


def test_bad_decision_input_is_a_form_error(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    response = as_user(scene.executive).post(decide_url(approval), {"outcome": "maybe"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert ApprovalRequest.objects.get().is_pending


def test_requester_withdraws_from_the_page(as_user, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    url = reverse("approvals:withdraw", args=[approval.pk])
    assert as_user(scene.pmo).post(url).status_code == 403
    response = as_user(scene.owner).post(url, follow=True)
    assert "withdrawn" in response.content.decode()
    assert ApprovalRequest.objects.get().status == ApprovalRequest.Status.WITHDRAWN


# The change request form --------------------------------------------------------


def test_owner_requests_a_change_from_the_page(as_user, scene):
    client = as_user(scene.owner)
    page = client.get(request_url(scene.milestone) + "?kind=baseline_change")
    assert page.status_code == 200
    assert page.context["form"]["new_approved_budget"].value() == Decimal("100000.00")
    data = {
        "kind": "reauthorization",
        "reason": "Licences cost more",
        "new_approved_budget": "125000",
        "new_planned_start": scene.milestone.planned_start.isoformat(),
        "new_planned_completion": scene.milestone.planned_completion.isoformat(),
        "new_success_criteria": scene.milestone.success_criteria.replace("\n", "\r\n"),
        "new_weight": "1",
    }
    response = client.post(request_url(scene.milestone), data)
    approval = ApprovalRequest.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(approval)
    assert approval.proposed() == {"approved_budget": Decimal("125000")}


def test_the_completion_gate_is_requested_on_the_page(as_user, scene):
    client = as_user(scene.owner)
    page = client.get(request_url(scene.milestone))
    assert page.context["form"]["new_requires_validation"].value() == "no"
    data = {
        "kind": "baseline_change",
        "reason": "Regulated deliverable: completion must be validated",
        "new_requires_validation": "yes",
    }
    response = client.post(request_url(scene.milestone), data)
    approval = ApprovalRequest.objects.get()
    assert response.status_code == 302, response.context["form"].errors
    assert approval.proposed() == {"requires_validation": True}
    detail = client.get(detail_url(approval)).content.decode()
    assert '<td data-label="Proposed"><strong>yes</strong></td>' in detail
    queue = client.get(QUEUE).content.decode()
    assert "Completion needs validation: no → <strong>yes</strong>" in queue


def test_bad_change_request_keeps_the_input(as_user, scene):
    data = {
        "kind": "baseline_change",
        "reason": "Bigger",
        "new_approved_budget": "125000",
        "new_planned_start": scene.milestone.planned_start.isoformat(),
        "new_planned_completion": scene.milestone.planned_completion.isoformat(),
        "new_success_criteria": scene.milestone.success_criteria,
        "new_weight": "1",
    }
    response = as_user(scene.owner).post(request_url(scene.milestone), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert "new_approved_budget" in form.errors
    assert form["new_approved_budget"].value() == "125000"
    assert not ApprovalRequest.objects.exists()


def test_change_request_page_needs_change_rights(as_user, scene, contributor_apac):
    url = request_url(scene.milestone)
    assert as_user(scene.contributor).get(url).status_code == 403
    assert as_user(scene.executive).get(url).status_code == 403
    assert as_user(contributor_apac).get(url).status_code == 404


# The back office ----------------------------------------------------------------


def admin_change_url(approval) -> str:
    return reverse("admin:approvals_approvalrequest_change", args=[approval.pk])


def admin_decision(**fields) -> dict:
    """The admin change form's POST: the decision, plus the (read-only)
    decisions inline's management form."""
    return {
        "decisions-TOTAL_FORMS": "0",
        "decisions-INITIAL_FORMS": "0",
        "expected_version": "1",
        "comment": "",
        **fields,
    }


def test_executive_decides_in_the_admin_through_the_service(as_user, scene):
    scene.executive.is_staff = True
    scene.executive.save()
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    client = as_user(scene.executive)
    page = client.get(admin_change_url(approval))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert set(form.fields) == {"outcome", "comment", "expected_version"}

    refused = client.post(
        admin_change_url(approval),
        admin_decision(outcome="reject"),
    )
    assert refused.status_code == 200
    assert "A rejection needs a comment." in str(
        refused.context["adminform"].form.errors
    )
    assert ApprovalRequest.objects.get().is_pending

    done = client.post(
        admin_change_url(approval),
        admin_decision(outcome="approve", comment="OK"),
    )
    assert done.status_code == 302
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "150000"
    )
    # Decided: read-only from now on, for everyone.
    again = client.get(admin_change_url(approval))
    assert again.context["has_change_permission"] is False
    assert "Your decision" not in again.content.decode()


def test_admin_refuses_own_request_and_offers_no_add(as_user, scene, org):
    both = planner_and_executive(org, username="pm-exec-admin", is_staff=True)
    approval = reauthorization(both, scene.milestone, "150000")
    client = as_user(both)
    response = client.post(
        admin_change_url(approval),
        admin_decision(outcome="approve"),
    )
    assert response.status_code == 200
    assert "You cannot decide your own request." in response.content.decode()
    assert ApprovalRequest.objects.get().is_pending
    add = client.get(reverse("admin:approvals_approvalrequest_add"))
    assert add.status_code == 403


def test_milestone_admin_keeps_the_baseline_read_only(as_user, scene):
    root = superuser(username="root-admin")
    client = as_user(root)
    url = reverse("admin:milestones_milestone_change", args=[scene.milestone.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    for field in ("approved_budget", "planned_start", "success_criteria", "weight"):
        assert field not in form.fields
    html = page.content.decode()
    assert request_url(scene.milestone) in html
    assert "change only through an approved request" in html

    # Posting a baseline value anyway changes nothing.
    data = {
        "name": "Renamed in the admin",
        "code": "",
        "objective": "",
        "category": scene.milestone.category_id,
        "org_unit": scene.milestone.org_unit_id,
        "owner": scene.owner.pk,
        "type": "strategic",
        "description": "",
        "validation_method": "",
        "risk_factors": "",
        "stakeholder_impact": "",
        "communication_plan": "",
        "technology_required": "",
        "business_impact": "",
        "actual_start": "",
        "expected_version": "1",
        "change_reason": "",
        "approved_budget": "1",
        "planned_completion": (
            scene.milestone.planned_completion + timedelta(days=99)
        ).isoformat(),
    }
    for prefix in (
        "predecessor_links",
        "successor_links",
        "checkpoints",
        "allocations",
    ):
        data[f"{prefix}-TOTAL_FORMS"] = "0"
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    milestone = Milestone.objects.get(pk=scene.milestone.pk)
    assert milestone.name == "Renamed in the admin"
    assert milestone.approved_budget == Decimal("100000.00")
    assert milestone.planned_completion == scene.milestone.planned_completion
