"""Plan governance through every door (#14): an owner cannot switch off the
completion gate, a contributor cannot cancel a milestone through a progress
update, and the update form does not offer Cancelled."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from milestones.forms import ProgressUpdateForm
from milestones.models import Milestone, Status
from tests.factories import make_member, make_milestone

from .conftest_api import API, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(org, portfolio):
    owner = make_member(Role.MILESTONE_OWNER, org.emea, username="gate-owner")
    milestone = make_milestone(portfolio, org.fr, owner=owner, requires_validation=True)
    return owner, milestone


def test_an_owner_cannot_switch_off_the_gate_by_patch(plan):
    owner, milestone = plan
    response = client_for(owner).patch(
        f"{API}/milestones/{milestone.pk}/",
        {"requires_validation": False, "version": milestone.version},
        format="json",
    )
    assert response.status_code == 403
    assert "requires_validation" in response.json()
    milestone.refresh_from_db()
    assert (milestone.requires_validation, milestone.version) == (True, 1)


def test_a_planner_can_before_any_validation(plan, pmo):
    _, milestone = plan
    response = client_for(pmo).patch(
        f"{API}/milestones/{milestone.pk}/",
        {"requires_validation": False, "version": milestone.version},
        format="json",
    )
    assert response.status_code == 200
    assert Milestone.objects.get(pk=milestone.pk).requires_validation is False


def test_a_contributor_cannot_cancel_through_a_progress_update(plan, contributor_emea):
    _, milestone = plan
    response = client_for(contributor_emea).post(
        f"{API}/updates/",
        {
            "milestone": milestone.pk,
            "version": milestone.version,
            "status": Status.CANCELLED,
            "percent_complete": "10",
            "actual_spend": "0",
        },
        format="json",
    )
    assert response.status_code == 403
    assert "status" in response.json()
    milestone.refresh_from_db()
    assert milestone.status != Status.CANCELLED and milestone.version == 1


def test_the_update_form_does_not_offer_cancelled(plan):
    _, milestone = plan
    form = ProgressUpdateForm(milestone=milestone)
    values = [value for value, _ in form.fields["status"].choices]
    assert Status.CANCELLED not in values and Status.ON_TRACK in values
    bound = ProgressUpdateForm(
        data={
            "version": milestone.version,
            "status": Status.CANCELLED,
            "percent_complete": "10",
            "actual_spend": "0",
        },
        milestone=milestone,
    )
    assert not bound.is_valid() and "status" in bound.errors


def test_a_planner_cancels_through_the_bulk_status_action(plan, pmo):
    from milestones import services

    _, milestone = plan
    (saved,) = services.milestones_bulk_set_progress(
        actor=pmo,
        changes={milestone.pk: {"status": Status.CANCELLED}},
        reason="Descoped by the steering committee",
    )
    assert saved.status == Status.CANCELLED
