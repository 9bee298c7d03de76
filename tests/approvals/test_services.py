"""The approvals services: request, withdraw, decide; the baseline governance;
completion gates; escalation-raised reauthorizations; concurrent decisions.

Each rule of the approvals issue is exercised at the service level, where the
admin, the pages and the API all obey it.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from accounts.roles import Role
from approvals import selectors as approval_selectors
from approvals import services as approval_services
from approvals.models import ApprovalDecision, ApprovalRequest
from milestones import services
from milestones.models import Milestone, Status
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import Notification

from ..factories import make_member
from .helpers import (
    build_scene,
    milestone_state,
    planner_and_executive,
    reauthorization,
    superuser,
)

pytestmark = pytest.mark.django_db

Kind = ApprovalRequest.Kind
Outcome = ApprovalDecision.Outcome


@pytest.fixture
def scene(org, portfolio, executive):
    return build_scene(org, portfolio, executive)


def approve(actor, approval, **kwargs):
    return approval_services.approval_decide(
        actor=actor, approval=approval, outcome=Outcome.APPROVE, **kwargs
    )


def reject(actor, approval, comment="Not justified", **kwargs):
    return approval_services.approval_decide(
        actor=actor,
        approval=approval,
        outcome=Outcome.REJECT,
        comment=comment,
        **kwargs,
    )


# Requests -------------------------------------------------------------------------


def test_owner_requests_a_reauthorization_and_approvers_are_notified(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")

    assert approval.status == ApprovalRequest.Status.PENDING
    assert approval.requested_by == scene.owner
    assert (approval.old_approved_budget, approval.new_approved_budget) == (
        Decimal("100000.00"),
        Decimal("150000"),
    )
    assert approval.amount == Decimal("50000")
    record = approval.history.get()
    assert (record.history_user, record.history_change_reason) == (
        scene.owner,
        "Requested",
    )
    # Nothing reaches the milestone before a decision.
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "100000.00"
    )
    notified = set(
        Notification.objects.filter(
            dedupe_key__startswith=f"approval:{approval.pk}:requested:"
        ).values_list("recipient__username", "channel")
    )
    # Executives covering France, by email and in the portal; the APAC
    # executive, the requester and non-approvers are not asked.
    assert notified == {
        ("exec", "portal"),
        ("exec", "email"),
        ("exec2", "portal"),
        ("exec2", "email"),
    }


def test_notifications_are_not_duplicated_when_enqueued_again(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    before = Notification.objects.count()
    approval_services._notify_approvers([approval], event="requested")
    assert Notification.objects.count() == before


def test_portfolio_manager_requests_a_baseline_change(scene):
    new_end = scene.milestone.planned_completion + timedelta(days=30)
    approval = approval_services.approval_request(
        actor=scene.pmo,
        milestone=scene.milestone,
        kind=Kind.BASELINE_CHANGE,
        reason="Scope extended to Germany",
        new_planned_completion=new_end,
        new_success_criteria="Live in France and Germany",
        new_weight=Decimal("2"),
    )
    assert approval.proposed() == {
        "planned_completion": new_end,
        "success_criteria": "Live in France and Germany",
        "weight": Decimal("2"),
    }
    assert approval.old_weight == Decimal("1.00")
    assert approval.amount == 0


@pytest.mark.parametrize("who", ["contributor", "executive", "auditor"])
def test_only_owners_and_planners_may_request(scene, who):
    with pytest.raises(Forbidden):
        reauthorization(getattr(scene, who), scene.milestone, "150000")
    assert not ApprovalRequest.objects.exists()


def test_request_out_of_scope_is_not_found(scene, contributor_apac):
    with pytest.raises(NotFound):
        reauthorization(contributor_apac, scene.milestone, "150000")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"reason": "  "}, "reason"),
        ({"new_approved_budget": Decimal("100000")}, "new_approved_budget"),
        ({"new_success_criteria": "Other"}, "new_success_criteria"),
        ({"new_planned_start": timezone.localdate() + timedelta(days=400)}, None),
        ({"kind": "bonus"}, "kind"),
        ({"kind": Kind.COMPLETION, "new_approved_budget": None}, "kind"),
    ],
    ids=["no-reason", "unchanged", "wrong-kind", "dates-reversed", "kind", "gate"],
)
def test_bad_requests_are_refused_with_a_reason(scene, fields, error):
    values = {
        "actor": scene.owner,
        "milestone": scene.milestone,
        "kind": Kind.REAUTHORIZATION,
        "reason": "Because",
        "new_approved_budget": Decimal("120000"),
    }
    values.update(fields)
    with pytest.raises(Invalid) as refused:
        approval_services.approval_request(**values)
    if error:
        assert error in refused.value.errors
    else:
        assert "planned completion cannot be before" in refused.value.message
    assert not ApprovalRequest.objects.exists()


def test_closed_milestones_take_no_request(scene):
    services.milestones_bulk_set_progress(
        actor=None,
        changes={scene.milestone.pk: {"status": Status.CANCELLED}},
        reason="Stopped",
    )
    with pytest.raises(Invalid, match="cancelled"):
        reauthorization(scene.owner, scene.milestone, "150000")


# Deciding: who may --------------------------------------------------------------


def test_requester_never_decides_their_own_request(scene, org):
    both = planner_and_executive(org, username="pm-exec")
    approval = reauthorization(both, scene.milestone, "150000")
    with pytest.raises(Forbidden, match="your own request"):
        approve(both, approval)
    with pytest.raises(Forbidden, match="your own request"):
        reject(both, approval)
    root = superuser(username="root-approvals")
    own = reauthorization(root, scene.milestone, "160000")
    with pytest.raises(Forbidden, match="your own request"):
        approve(root, own)
    assert not ApprovalDecision.objects.exists()


def test_approver_out_of_scope_gets_not_found(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    with pytest.raises(NotFound):
        approve(scene.executive_apac, approval)
    with pytest.raises(NotFound):
        approval_services.approval_decide(
            actor=scene.executive, approval=999999, outcome=Outcome.APPROVE
        )


@pytest.mark.parametrize("who", ["contributor", "owner", "pmo", "auditor"])
def test_who_sees_but_may_not_approve_is_forbidden(scene, who):
    approval = reauthorization(scene.pmo, scene.milestone, "150000")
    if who == "pmo":
        approval = reauthorization(scene.owner, scene.milestone, "160000")
    with pytest.raises(Forbidden):
        approve(getattr(scene, who), approval)
    assert not ApprovalDecision.objects.exists()


def test_a_per_object_validator_may_decide(scene):
    from accounts import policy
    from accounts.roles import APPROVE, VIEW

    validator = make_member(Role.CONTRIBUTOR, scene.org.de, username="validator")
    policy.grant(validator, [VIEW, APPROVE], scene.milestone)
    approval = approval_services.approval_request(
        actor=scene.owner,
        milestone=scene.milestone,
        kind=Kind.BASELINE_CHANGE,
        reason="Clearer criteria",
        new_success_criteria="Adopted by 80 % of analysts",
    )
    approve(validator, approval)
    assert Milestone.objects.get(pk=scene.milestone.pk).success_criteria == (
        "Adopted by 80 % of analysts"
    )


# Approving ---------------------------------------------------------------------------


def test_approved_change_is_applied_with_its_reason_in_history(scene):
    approval = reauthorization(
        scene.owner,
        scene.milestone,
        "150000",
        new_planned_completion=scene.milestone.planned_completion + timedelta(days=45),
    )
    decided = approve(scene.executive, approval, comment="Go", expected_version=1)

    assert decided.status == ApprovalRequest.Status.APPROVED
    assert decided.decided_at is not None
    milestone = Milestone.objects.get(pk=scene.milestone.pk)
    assert milestone.approved_budget == Decimal("150000")
    assert milestone.planned_completion == approval.new_planned_completion
    assert milestone.version == 2
    record = milestone.history.latest("history_id")
    assert record.history_change_reason == f"Approved request #{approval.pk}"
    assert record.history_user == scene.executive
    assert record.approved_budget == Decimal("150000")
    decision = decided.decisions.get()
    assert (decision.approver, decision.outcome, decision.comment) == (
        scene.executive,
        Outcome.APPROVE,
        "Go",
    )
    # What the approver saw, for the auditor.
    assert decision.snapshot["approved_budget"] == "100000.00"
    assert decision.snapshot["version"] == 1
    assert decision.authority_limit == Decimal("500000")
    assert decision.within_limit is True
    assert decided.history.latest("history_id").history_change_reason == (
        f"Approved by {scene.executive}"
    )
    # The requester hears about it.
    assert Notification.objects.filter(
        recipient=scene.owner, dedupe_key__startswith=f"approval:{approval.pk}:approved"
    ).exists()


def test_over_limit_reauthorization_needs_an_approver_whose_limit_covers_it(scene, org):
    approval = reauthorization(scene.owner, scene.milestone, "700000")
    assert approval.amount == Decimal("600000")  # above exec's 500,000

    first = approve(scene.executive, approval)
    assert first.status == ApprovalRequest.Status.PENDING
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "100000.00"
    )
    decision = first.decisions.get()
    assert decision.within_limit is False
    assert decision.authority_limit == Decimal("500000")
    assert approval_selectors.awaiting_second(
        approval_selectors.approval_requests(scene.executive2).get(pk=approval.pk)
    )
    # The others are asked; the first approver is not.
    asked = set(
        Notification.objects.filter(
            dedupe_key__startswith=f"approval:{approval.pk}:second:"
        ).values_list("recipient__username", flat=True)
    )
    assert asked == {"exec2"}

    with pytest.raises(Forbidden, match="second executive"):
        approve(scene.executive, approval)

    # A second approver below the amount (100,000) cannot complete it either:
    # two approvals under the amount never add up to it.
    second = approve(scene.executive2, approval)
    assert second.status == ApprovalRequest.Status.PENDING
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "100000.00"
    )

    # An executive whose limit covers the amount completes it.
    big = make_member(
        Role.EXECUTIVE, org.world, username="exec-big", authority_limit=10**6
    )
    third = approve(big, approval)
    assert third.status == ApprovalRequest.Status.APPROVED
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "700000"
    )
    decisions = list(third.decisions.order_by("pk"))
    assert [(d.approver, d.authority_limit, d.within_limit) for d in decisions] == [
        (scene.executive, Decimal("500000"), False),
        (scene.executive2, Decimal("100000"), False),
        (big, Decimal("1000000"), True),
    ]


def test_executive_without_a_limit_cannot_approve_an_amount_alone(scene, org):
    no_limit = make_member(Role.EXECUTIVE, org.emea, username="exec-nolimit")
    approval = reauthorization(scene.owner, scene.milestone, "100001")
    assert approve(no_limit, approval).status == ApprovalRequest.Status.PENDING
    # A date-only reauthorization has no amount: one approval is enough.
    dates = approval_services.approval_request(
        actor=scene.owner,
        milestone=scene.milestone,
        kind=Kind.REAUTHORIZATION,
        reason="Supplier slipped",
        new_planned_completion=scene.milestone.planned_completion + timedelta(days=9),
    )
    assert approve(no_limit, dates).status == ApprovalRequest.Status.APPROVED


def test_budget_decrease_counts_as_an_amount(scene):
    approval = reauthorization(scene.owner, scene.milestone, "40000")
    assert approval.amount == Decimal("60000")
    assert approve(scene.executive2, approval).status == "approved"


def test_deciding_a_decided_request_is_a_conflict(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    approve(scene.executive, approval)
    with pytest.raises(Conflict, match="already approved"):
        approve(scene.executive2, approval)
    with pytest.raises(Conflict):
        reject(scene.executive2, approval)
    milestone = Milestone.objects.get(pk=scene.milestone.pk)
    assert milestone.approved_budget == Decimal("150000")
    assert milestone.version == 2


def test_stale_milestone_version_is_a_conflict(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    services.milestone_update(
        actor=scene.pmo,
        milestone=scene.milestone,
        expected_version=1,
        name="Renamed meanwhile",
    )
    with pytest.raises(Conflict):
        approve(scene.executive, approval, expected_version=1)
    assert not ApprovalDecision.objects.exists()
    approve(scene.executive, approval, expected_version=2)


def test_request_whose_baseline_moved_cannot_be_approved(scene):
    first = reauthorization(scene.owner, scene.milestone, "150000")
    second = reauthorization(scene.pmo, scene.milestone, "130000")
    approve(scene.executive, first)
    with pytest.raises(Conflict, match="approved budget changed"):
        approve(scene.executive, second)
    # It can still be rejected (or withdrawn).
    assert reject(scene.executive, second).status == ApprovalRequest.Status.REJECTED
    assert Milestone.objects.get(pk=scene.milestone.pk).approved_budget == Decimal(
        "150000"
    )


# Rejecting ---------------------------------------------------------------------------


def test_rejection_needs_a_comment(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    with pytest.raises(Invalid) as refused:
        reject(scene.executive, approval, comment="   ")
    assert refused.value.status_code == 400
    assert "comment" in refused.value.errors
    assert not ApprovalDecision.objects.exists()
    assert ApprovalRequest.objects.get(pk=approval.pk).is_pending


def test_rejected_request_changes_nothing(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    before = milestone_state(scene.milestone)

    decided = reject(scene.executive, approval, comment="Find savings first")

    assert decided.status == ApprovalRequest.Status.REJECTED
    assert milestone_state(scene.milestone) == before
    assert decided.decisions.get().comment == "Find savings first"
    notice = Notification.objects.get(
        recipient=scene.owner, channel="portal", dedupe_key__contains=":rejected"
    )
    assert "Find savings first" in notice.body


# Withdrawing --------------------------------------------------------------------------


def test_requester_withdraws_a_pending_request(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    with pytest.raises(Forbidden):
        approval_services.approval_withdraw(actor=scene.pmo, approval=approval)
    with pytest.raises(NotFound):
        approval_services.approval_withdraw(
            actor=scene.executive_apac, approval=approval
        )
    withdrawn = approval_services.approval_withdraw(
        actor=scene.owner, approval=approval, comment="Found savings"
    )
    assert withdrawn.status == ApprovalRequest.Status.WITHDRAWN
    assert withdrawn.history.latest("history_id").history_change_reason == (
        "Withdrawn: Found savings"
    )
    with pytest.raises(Conflict):
        approval_services.approval_withdraw(actor=scene.owner, approval=approval)
    with pytest.raises(Conflict):
        approve(scene.executive, approval)


# Governance of baselines ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("approved_budget", Decimal("1")),
        ("planned_start", timedelta(days=-1)),
        ("planned_completion", timedelta(days=1)),
        ("success_criteria", "Something else"),
        ("weight", Decimal("3")),
    ],
)
@pytest.mark.parametrize("who", ["pmo", "superuser", "system"])
def test_direct_baseline_edit_is_refused_for_everyone(scene, field, value, who):
    actor = {"pmo": scene.pmo, "superuser": superuser(), "system": None}[who]
    if isinstance(value, timedelta):
        value = getattr(scene.milestone, field) + value
    before = milestone_state(scene.milestone)
    with pytest.raises(Forbidden) as refused:
        services.milestone_update(
            actor=actor,
            milestone=scene.milestone,
            expected_version=1,
            reason="Steering committee said so",
            **{field: value},
        )
    assert f"/milestones/{scene.milestone.pk}/request/" in refused.value.message
    assert field in refused.value.errors
    assert milestone_state(scene.milestone) == before


def test_unchanged_baseline_values_and_other_fields_still_save(scene):
    milestone = services.milestone_update(
        actor=scene.pmo,
        milestone=scene.milestone,
        expected_version=1,
        approved_budget=Decimal("100000"),
        name="Paris data lake",
    )
    assert milestone.name == "Paris data lake"
    assert milestone.version == 2


# Completion gates -------------------------------------------------------------------


def report_completed(actor, milestone):
    return services.milestone_submit_update(
        actor=actor,
        milestone=milestone,
        expected_version=None,
        status=Status.COMPLETED,
        percent_complete=Decimal("100"),
        actual_spend=Decimal("90000"),
    )


@pytest.fixture
def gated(org, portfolio, executive):
    return build_scene(org, portfolio, executive, requires_validation=True)


def test_completion_waits_for_a_validator(gated):
    update = report_completed(gated.contributor, gated.milestone)
    assert update.status == Status.PENDING_VALIDATION
    approval = ApprovalRequest.objects.get(milestone=gated.milestone)
    assert (approval.kind, approval.requested_by, approval.status) == (
        Kind.COMPLETION,
        gated.contributor,
        ApprovalRequest.Status.PENDING,
    )
    assert f"progress update #{update.pk}" in approval.reason
    assert Notification.objects.filter(
        recipient=gated.executive,
        dedupe_key__startswith=f"approval:{approval.pk}:requested",
    ).exists()

    approve(gated.executive, approval)

    milestone = Milestone.objects.get(pk=gated.milestone.pk)
    assert milestone.status == Status.COMPLETED
    assert milestone.actual_completion == timezone.localdate()
    assert milestone.percent_complete == Decimal("100")
    assert milestone.history.latest("history_id").history_change_reason == (
        f"Approved request #{approval.pk}"
    )


def test_rejected_completion_stays_pending_and_can_be_asked_again(gated):
    report_completed(gated.contributor, gated.milestone)
    approval = ApprovalRequest.objects.get(milestone=gated.milestone)
    reject(gated.executive, approval, comment="Evidence missing")
    assert Milestone.objects.get(pk=gated.milestone.pk).status == (
        Status.PENDING_VALIDATION
    )
    again = approval_services.approval_request(
        actor=gated.owner,
        milestone=gated.milestone,
        kind=Kind.COMPLETION,
        reason="Evidence attached",
    )
    with pytest.raises(Invalid, match="already awaits validation"):
        approval_services.approval_request(
            actor=gated.owner,
            milestone=gated.milestone,
            kind=Kind.COMPLETION,
            reason="Twice",
        )
    approve(gated.executive2, again)
    assert Milestone.objects.get(pk=gated.milestone.pk).status == Status.COMPLETED


def test_leaving_pending_validation_withdraws_the_completion_request(gated):
    report_completed(gated.contributor, gated.milestone)
    services.milestone_submit_update(
        actor=gated.owner,
        milestone=gated.milestone,
        expected_version=None,
        status=Status.IN_PROGRESS,
        percent_complete=Decimal("90"),
        actual_spend=Decimal("90000"),
    )
    approval = ApprovalRequest.objects.get(milestone=gated.milestone)
    assert approval.status == ApprovalRequest.Status.WITHDRAWN
    with pytest.raises(Conflict):
        approve(gated.executive, approval)


def test_bulk_progress_opens_completion_requests(gated, milestone_in, org):
    other = milestone_in(org.fr, requires_validation=True)
    services.milestones_bulk_set_progress(
        actor=gated.pmo,
        changes={
            gated.milestone.pk: {"status": Status.COMPLETED},
            other.pk: {"status": Status.COMPLETED},
        },
        reason="Steering review",
    )
    requests = ApprovalRequest.objects.filter(kind=Kind.COMPLETION)
    assert {r.milestone_id for r in requests} == {gated.milestone.pk, other.pk}
    assert {r.requested_by for r in requests} == {gated.pmo}


def test_the_gate_cannot_be_lifted_once_a_validation_is_pending(gated):
    """The completion gate is governed like the baseline (#14): with a
    validation pending, not even a planner switches it off to complete."""
    report_completed(gated.contributor, gated.milestone)
    approval = ApprovalRequest.objects.get(milestone=gated.milestone)
    with pytest.raises(Forbidden, match="pending or past completion validation"):
        services.milestone_update(
            actor=gated.pmo,
            milestone=gated.milestone,
            expected_version=None,
            requires_validation=False,
        )
    milestone = Milestone.objects.get(pk=gated.milestone.pk)
    assert milestone.requires_validation is True
    assert milestone.status == Status.PENDING_VALIDATION
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"


def test_after_a_past_validation_the_gate_is_part_of_the_baseline(gated):
    """A rejected validation, then back to work: a planner's direct edit is
    refused with the way to ask; only a baseline change carries the gate."""
    report_completed(gated.contributor, gated.milestone)
    reject(gated.executive, ApprovalRequest.objects.get(milestone=gated.milestone))
    services.milestone_submit_update(
        actor=gated.owner,
        milestone=gated.milestone,
        expected_version=None,
        status=Status.IN_PROGRESS,
        percent_complete=Decimal("90"),
        actual_spend=Decimal("90000"),
    )
    with pytest.raises(Forbidden, match="approved baseline change request") as refused:
        services.milestone_update(
            actor=gated.pmo,
            milestone=gated.milestone,
            expected_version=None,
            requires_validation=False,
        )
    assert "requires_validation" in refused.value.errors
    with pytest.raises(Invalid, match="baseline change for .* completion gate"):
        approval_services.approval_request(
            actor=gated.owner,
            milestone=gated.milestone,
            kind=Kind.REAUTHORIZATION,
            reason="Gate",
            new_requires_validation=False,
        )
    request = approval_services.approval_request(
        actor=gated.owner,
        milestone=gated.milestone,
        kind=Kind.BASELINE_CHANGE,
        reason="Gate",
        new_requires_validation=False,
    )
    approve(gated.executive, request)
    assert Milestone.objects.get(pk=gated.milestone.pk).requires_validation is False


def test_a_pending_validations_gate_is_lifted_only_by_approval(gated):
    report_completed(gated.contributor, gated.milestone)
    request = approval_services.approval_request(
        actor=gated.owner,
        milestone=gated.milestone,
        kind=Kind.BASELINE_CHANGE,
        reason="Validation is not needed for this pilot",
        new_requires_validation=False,
    )
    assert (request.old_requires_validation, request.new_requires_validation) == (
        True,
        False,
    )
    assert Milestone.objects.get(pk=gated.milestone.pk).requires_validation is True

    approve(gated.executive, request)

    milestone = Milestone.objects.get(pk=gated.milestone.pk)
    assert milestone.requires_validation is False
    assert milestone.history.latest("history_id").history_change_reason == (
        f"Approved request #{request.pk}"
    )
    note = Notification.objects.filter(dedupe_key__startswith=f"approval:{request.pk}:")
    assert any("Completion needs validation: yes → no" in n.body for n in note)


def test_only_planners_set_the_gate_and_only_before_a_validation(gated, org):
    # The owner may edit the milestone, but not switch its gate off.
    with pytest.raises(Forbidden, match="plan's editors"):
        services.milestone_update(
            actor=gated.owner,
            milestone=gated.milestone,
            expected_version=None,
            requires_validation=False,
        )
    changed = services.milestone_update(
        actor=gated.pmo,
        milestone=gated.milestone,
        expected_version=None,
        requires_validation=False,
    )
    assert changed.requires_validation is False


# Escalations ---------------------------------------------------------------


def test_escalation_service_is_idempotent(scene):
    services.milestone_submit_update(
        actor=scene.owner,
        milestone=scene.milestone,
        expected_version=None,
        status=Status.AT_RISK,
        percent_complete=Decimal("50"),
        actual_spend=Decimal("80000"),
        estimate_at_completion=Decimal("130000"),
    )
    first, created = approval_services.approval_request_for_escalation(
        milestone=scene.milestone, escalation_id=41, summary="30 % over budget"
    )
    again, created_again = approval_services.approval_request_for_escalation(
        milestone=scene.milestone.pk, escalation_id=41
    )
    assert (created, created_again) == (True, False)
    assert again == first
    assert (first.requested_by, first.kind) == (None, Kind.REAUTHORIZATION)
    assert first.new_approved_budget == Decimal("130000")
    assert first.escalation_summary == "30 % over budget"
    assert ApprovalRequest.objects.count() == 1


def test_escalation_without_an_estimate_raises_no_request(scene):
    assert approval_services.approval_request_for_escalation(
        milestone=scene.milestone, escalation_id=42
    ) == (None, False)
    assert not ApprovalRequest.objects.exists()


def test_budget_overrun_escalation_opens_one_request_per_escalation(scene):
    from risks import engine
    from risks.models import Escalation, Trigger
    from risks.services import escalation_rules_ensure_defaults

    escalation_rules_ensure_defaults()
    services.milestone_submit_update(
        actor=scene.owner,
        milestone=scene.milestone,
        expected_version=None,
        status=Status.AT_RISK,
        percent_complete=Decimal("50"),
        actual_spend=Decimal("80000"),
        estimate_at_completion=Decimal("130000"),
    )
    engine.escalations_sweep()
    escalation = Escalation.objects.get(rule__trigger=Trigger.BUDGET_OVERRUN)
    approval = ApprovalRequest.objects.get()
    assert approval.escalation_id == escalation.pk
    assert approval.escalation_summary == escalation.summary
    assert approval.new_approved_budget == Decimal("130000")
    assert approval.requested_by is None
    assert f"escalation #{escalation.pk}" in approval.reason

    engine.escalations_sweep()
    engine.escalations_sweep(milestone_ids=[scene.milestone.pk])
    assert ApprovalRequest.objects.count() == 1

    # Approved, the new budget clears the overrun and the escalation resolves.
    approve(scene.executive, approval)
    engine.escalations_sweep()
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.RESOLVED


def test_a_rejected_escalation_request_is_not_raised_again(scene):
    from risks import engine
    from risks.services import escalation_rules_ensure_defaults

    escalation_rules_ensure_defaults()
    services.milestone_submit_update(
        actor=scene.owner,
        milestone=scene.milestone,
        expected_version=None,
        status=Status.AT_RISK,
        percent_complete=Decimal("50"),
        actual_spend=Decimal("80000"),
        estimate_at_completion=Decimal("130000"),
    )
    engine.escalations_sweep()
    reject(scene.executive, ApprovalRequest.objects.get(), comment="Cut scope")
    engine.escalations_sweep()
    assert ApprovalRequest.objects.count() == 1


# Reads ---------------------------------------------------------------------


def test_reporting_lists_pending_requests_in_scope(scene, contributor_apac):
    from reporting import selectors as reporting

    approval = reauthorization(scene.owner, scene.milestone, "150000")
    assert reporting.pending_approvals(scene.executive) == [approval]
    assert reporting.open_reauthorizations(scene.executive, scene.portfolio) == [
        approval
    ]
    assert reporting.pending_approvals(contributor_apac) == []
    assert str(approval) == f"#{approval.pk} Budget/timeline reauthorization: " + (
        "Paris data platform"
    )


def test_baseline_trail_lists_budget_and_date_changes(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    approve(scene.executive, approval)
    trail = approval_selectors.baseline_trail(scene.milestone)
    assert [step.approved_budget for step in trail] == [
        Decimal("150000"),
        Decimal("100000"),
    ]
    assert trail[0].reason == f"Approved request #{approval.pk}"
    assert trail[0].changed == ("approved_budget",)


# Concurrency (PostgreSQL) --------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_executives_approving_at_once_apply_one_decision(org, portfolio, executive):
    if connection.vendor != "postgresql":
        pytest.skip(
            "Row locks (select_for_update) need PostgreSQL; SQLite serialises "
            "whole-database writes instead. CI runs this with DATABASE_URL."
        )
    scene = build_scene(org, portfolio, executive)
    other = make_member(
        Role.EXECUTIVE, org.world, username="exec3", authority_limit=500000
    )
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(user):
        try:
            barrier.wait(timeout=10)
            approve(user, approval.pk)
            outcomes[user.username] = "applied"
        except Conflict:
            outcomes[user.username] = "conflict"
        finally:
            close_old_connections()

    threads = [
        threading.Thread(target=decide, args=(user,))
        for user in (scene.executive, other)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["applied", "conflict"]
    assert ApprovalDecision.objects.filter(request=approval).count() == 1
    milestone = Milestone.objects.get(pk=scene.milestone.pk)
    assert milestone.approved_budget == Decimal("150000")
    assert milestone.version == 2
    applied = milestone.history.filter(
        history_change_reason=f"Approved request #{approval.pk}"
    )
    assert applied.count() == 1


def test_a_decided_request_resolves_the_approvers_asks_not_the_outcome(scene):
    """#18 item 3: once decided, "approval needed" in every approver's list
    is resolved with how it ended; the requester's outcome message is not."""
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    asks = Notification.objects.in_portal().filter(
        dedupe_key__startswith=f"approval:{approval.pk}:requested:"
    )
    assert asks.count() == 2
    assert not asks.filter(resolved_at__isnull=False).exists()
    approve(scene.executive, approval)
    assert asks.filter(resolved_at__isnull=True).count() == 0
    assert set(asks.values_list("resolution", flat=True)) == {
        f"Approved by {scene.executive}"
    }
    outcome = Notification.objects.in_portal().get(
        dedupe_key__startswith=f"approval:{approval.pk}:approved:"
    )
    assert outcome.recipient == scene.owner
    assert outcome.resolved_at is None


def test_a_withdrawn_request_resolves_the_asks(scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    approval_services.approval_withdraw(actor=scene.owner, approval=approval)
    asks = Notification.objects.in_portal().filter(
        dedupe_key__startswith=f"approval:{approval.pk}:requested:"
    )
    assert asks.count() == 2
    assert set(asks.values_list("resolution", flat=True)) == {
        f"Withdrawn by {scene.owner}"
    }


def test_messages_show_amounts_and_dates_as_people_read_them(scene):
    """#18 item 7: no raw "150000.00" or ISO dates in what approvers read."""
    new_end = scene.milestone.planned_completion + timedelta(days=30)
    approval = approval_services.approval_request(
        actor=scene.owner,
        milestone=scene.milestone,
        kind=ApprovalRequest.Kind.REAUTHORIZATION,
        reason="Scope grew",
        new_approved_budget=Decimal("1404000"),
        new_planned_completion=new_end,
    )
    body = (
        Notification.objects.in_portal()
        .filter(dedupe_key__startswith=f"approval:{approval.pk}:requested:")
        .values_list("body", flat=True)
        .first()
    )
    assert "Approved budget: 100,000.00 → 1,404,000.00" in body
    shown = f"{new_end.day} {new_end:%b %Y}"
    assert f"→ {shown}" in body
    assert new_end.isoformat() not in body
