"""The approvals flow in a real browser (Chromium): an executive on a phone
opens the queue, reviews the reauthorization a budget overrun raised, approves
it and sees the milestone's new budget; an owner asks for one."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from approvals.models import ApprovalRequest
from milestones import services
from milestones.models import Milestone, Status

from ..factories import make_member

pytestmark = pytest.mark.e2e

SCREENSHOTS = "/tmp"


@pytest.fixture
def owner(org):
    return make_member(Role.MILESTONE_OWNER, org.emea, username="owner-emea")


@pytest.fixture
def paris(milestone_in, org, owner):
    """A milestone whose latest report forecasts a 30 % budget overrun: the
    escalation engine (run after the report) raises a reauthorization."""
    from risks.services import escalation_rules_ensure_defaults

    escalation_rules_ensure_defaults()
    milestone = milestone_in(
        org.fr,
        name="Paris data platform",
        owner=owner,
        approved_budget=Decimal("100000"),
    )
    services.milestone_submit_update(
        actor=owner,
        milestone=milestone,
        expected_version=None,
        status=Status.AT_RISK,
        percent_complete=Decimal("40"),
        actual_spend=Decimal("70000"),
        estimate_at_completion=Decimal("130000"),
    )
    return Milestone.objects.get(pk=milestone.pk)


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide on a {viewport}px screen"


def test_executive_approves_a_reauthorization_on_a_phone(
    phone, sign_in, live_server, executive, owner, paris
):
    from risks.models import Escalation

    # Raised by the budget overrun escalation of the latest report.
    approval = ApprovalRequest.objects.get(milestone=paris)
    escalation = Escalation.objects.get(pk=approval.escalation_id)
    page = sign_in(phone, executive, next="/approvals/")

    expect(page.locator("h1")).to_have_text("Approvals")
    row = page.locator(f"#queue tr[data-request='{approval.pk}']")
    expect(row).to_contain_text("Paris data platform")
    expect(row).to_contain_text("100,000.00 → 130,000.00")
    expect(row).to_contain_text("+30 %")
    expect(row).to_contain_text(f"Raised by escalation #{escalation.pk}")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-approvals.png", full_page=True)

    row.get_by_role("link", name="Review").click()
    page.wait_for_url(re.compile(rf"/approvals/{approval.pk}/$"))
    expect(page.locator(".cairn-request")).to_contain_text(escalation.summary)
    expect(page.locator(".cairn-trail").first).to_contain_text("100,000.00")
    no_horizontal_scroll(page)
    page.fill("#id_comment", "Within the programme reserve")
    page.get_by_role("button", name="Approve").click()

    expect(page.locator(".messagelist .success")).to_contain_text(
        "approved and applied"
    )
    expect(page.locator(".cairn-budget")).to_have_text("130,000.00 EUR")
    expect(page.locator(".cairn-trail").first).to_contain_text(
        f"Approved request #{approval.pk}"
    )
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-approved.png", full_page=True)

    paris.refresh_from_db()
    assert paris.approved_budget == Decimal("130000")
    assert ApprovalRequest.objects.get().status == ApprovalRequest.Status.APPROVED
    # The new budget clears the overrun: the escalation resolves.
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.RESOLVED


def test_owner_requests_a_reauthorization_on_a_phone(
    phone, sign_in, live_server, owner, paris
):
    page = sign_in(phone, owner, next=f"/milestones/{paris.pk}/request/")
    expect(page.locator("h1")).to_have_text("Request a change")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-request.png", full_page=True)
    page.get_by_label("Budget/timeline reauthorization").check()
    page.fill("#id_reason", "")
    page.fill("#id_new_approved_budget", "135000")
    page.get_by_role("button", name="Send the request").click()
    # No reason: the form comes back with the input kept.
    expect(page.locator(".errornote")).to_contain_text("Nothing was sent")
    expect(page.locator("#id_new_approved_budget")).to_have_value("135000")

    page.fill("#id_reason", "Vendor uplift")
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r"/approvals/\d+/$"))
    expect(page.locator(".messagelist .success")).to_contain_text("sent")
    expect(page.locator(".cairn-proposal")).to_contain_text("135,000.00")
    expect(page.locator(".cairn-note")).to_contain_text("You made this request")
    mine = ApprovalRequest.objects.get(requested_by=owner)
    assert mine.new_approved_budget == Decimal("135000")
