"""Writes of the approvals flow: requests, decisions, withdrawals, the
completion gate's validations and the messages they send.

Baselines (approved budget, planned dates, success criteria, weight, the
completion gate) change only through an approved request: ``approval_request``
records what someone asks for, ``approval_decide`` checks the decision and has
``milestones.services.milestone_apply_approved`` apply it. What each kind may
propose and what approving it does is the kind's (``approvals.kinds``).
Failures raise ``portal.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts import policy
from accounts.roles import APPROVE, CHANGE, VIEW
from milestones import services as milestone_services
from milestones.models import Milestone
from milestones.signals import completion_gate_moved
from portal.audit import bulk_create_with_history, bulk_update_with_history
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.kernel import set_change_reason, set_history_user, validated_save
from portal.notifications import Message
from portal.notifications.services import notifications_enqueue, notifications_resolve
from portal.retry import retry_on_deadlock

from . import kinds
from .models import APPROVAL_CHANGE_FIELDS, ApprovalDecision, ApprovalRequest

if TYPE_CHECKING:
    from accounts.models import User

_require = policy.require
_save_new = validated_save


def _approval_reason(text: str) -> str:
    # simple-history keeps 100 characters of change reason.
    return text[:100]


def _request_link(approval: ApprovalRequest) -> str:
    return reverse("approvals:detail", args=[approval.pk])


@transaction.atomic
def approval_request(
    *,
    actor: User | None,
    milestone: Milestone | int,
    kind: str,
    reason: str,
    new_approved_budget: Decimal | None = None,
    new_planned_start: date | None = None,
    new_planned_completion: date | None = None,
    new_success_criteria: str = "",
    new_weight: Decimal | None = None,
    new_requires_validation: bool | None = None,
    escalation_id: int | None = None,
    escalation_summary: str = "",
) -> ApprovalRequest:
    """Ask for a baseline change, a reauthorization or a completion validation.

    Owners and plan changers of the milestone may ask (``change`` on it). Only
    the fields the kind covers may change (see ``APPROVAL_KIND_FIELDS``);
    values equal to the milestone's are ignored, and at least one must change
    (none for a completion validation, which needs the milestone to be
    Pending validation). The approvers in scope are notified once it commits.
    """
    milestone_id = milestone.pk if isinstance(milestone, Milestone) else milestone
    current = (
        Milestone.objects.select_related("portfolio", "org_unit", "owner")
        .filter(pk=milestone_id)
        .first()
    )
    if current is None:
        raise NotFound("No such milestone.")
    _require(actor, CHANGE, current)
    spec = kinds.KINDS.get(kind)
    if spec is None:
        raise Invalid(
            f"Unknown kind of request {kind!r}.",
            errors={"kind": [f"Choose one of {', '.join(kinds.KINDS)}."]},
        )
    if not (reason or "").strip():
        raise Invalid(
            "Say why the change is needed.",
            errors={"reason": ["Say why the change is needed."]},
        )
    if current.is_closed:
        raise Invalid(
            f"{current} is {current.get_status_display().lower()}: its baseline "
            "and completion are final."
        )
    offered: dict[str, Any] = {
        "new_approved_budget": new_approved_budget,
        "new_planned_start": new_planned_start,
        "new_planned_completion": new_planned_completion,
        "new_success_criteria": (new_success_criteria or "").strip(),
        "new_weight": new_weight,
        "new_requires_validation": new_requires_validation,
    }
    changes = {
        field: value
        for field, value in offered.items()
        if value is not None
        and value != ""
        and value != getattr(current, APPROVAL_CHANGE_FIELDS[field])
    }
    outside = [field for field in changes if field not in spec.fields]
    if outside:
        raise Invalid(spec.hint, errors={field: [spec.hint] for field in outside})
    spec.check_request(
        current,
        changes,
        pending=ApprovalRequest.objects.filter(
            milestone=current, kind=kind, status=ApprovalRequest.Status.PENDING
        ).exists(),
    )
    start = new_planned_start if "new_planned_start" in changes else None
    end = new_planned_completion if "new_planned_completion" in changes else None
    if (end or current.planned_completion) < (start or current.planned_start):
        field = (
            "new_planned_completion"
            if "new_planned_completion" in changes
            else "new_planned_start"
        )
        raise Invalid(
            "The planned completion cannot be before the planned start.",
            errors={field: ["The planned completion cannot precede the start."]},
        )
    approval = ApprovalRequest(
        milestone=current,
        kind=kind,
        requested_by=actor,
        requested_at=timezone.now(),
        reason=reason.strip(),
        escalation_id=escalation_id,
        escalation_summary=escalation_summary[:400],
        **changes,
    )
    for field in changes:
        target = APPROVAL_CHANGE_FIELDS[field]
        setattr(approval, field.replace("new_", "old_", 1), getattr(current, target))
    _save_new(approval, actor=actor, reason="Requested")
    approval.milestone = current
    _notify_approvers([approval], event="requested")
    return approval


@transaction.atomic
def approval_request_for_escalation(
    *,
    milestone: Milestone | int,
    escalation_id: int,
    summary: str = "",
) -> tuple[ApprovalRequest | None, bool]:
    """The reauthorization request of one budget-overrun escalation, raised by
    the system; idempotent: one request per escalation however often it is
    called (a later call returns the first request and ``created`` False).

    The proposed budget is the milestone's estimate at completion. Returns
    ``(None, False)`` when there is nothing to reauthorize (the milestone is
    closed, or has no estimate other than its approved budget).
    """
    milestone_id = milestone.pk if isinstance(milestone, Milestone) else milestone
    try:
        with transaction.atomic():
            created = approval_requests_for_escalations(
                [(escalation_id, milestone_id, summary)]
            )
    except IntegrityError:
        created = []  # a concurrent caller created it first
    if created:
        return created[0], True
    return ApprovalRequest.objects.filter(escalation_id=escalation_id).first(), False


@transaction.atomic
def approval_requests_for_escalations(
    escalations: Iterable[tuple[int, int, str]],
) -> list[ApprovalRequest]:
    """Open the missing reauthorization requests of budget-overrun escalations,
    given as ``(escalation_id, milestone_id, summary)``; returns the new ones.

    The escalation engine calls this on every sweep with its unresolved
    budget-overrun escalations: those that already have a request are skipped
    (one query), so a second sweep opens nothing. Each new request proposes
    the milestone's estimate at completion as its approved budget, is made by
    the system (no requester: any approver in scope may decide it) and is
    announced to the approvers. A fixed number of queries whatever the number.
    """
    wanted = {int(e): (int(m), s or "") for e, m, s in escalations}
    if not wanted:
        return []
    existing = set(
        ApprovalRequest.objects.filter(escalation_id__in=list(wanted)).values_list(
            "escalation_id", flat=True
        )
    )
    todo = {e: v for e, v in wanted.items() if e not in existing}
    if not todo:
        return []
    milestones = Milestone.objects.select_related("portfolio").in_bulk(
        {m for m, _ in todo.values()}
    )
    now = timezone.now()
    rows = []
    for escalation_id, (milestone_id, summary) in sorted(todo.items()):
        milestone = milestones.get(milestone_id)
        if milestone is None or milestone.is_closed:
            continue
        budget = milestone.estimate_at_completion
        if budget is None or budget == milestone.approved_budget:
            continue
        summary = summary.strip()
        reason = (
            f"Financial review of budget overrun escalation #{escalation_id}: "
            "reauthorize the estimate at completion as the approved budget."
        )
        rows.append(
            ApprovalRequest(
                milestone=milestone,
                kind=ApprovalRequest.Kind.REAUTHORIZATION,
                requested_by=None,
                requested_at=now,
                reason=reason,
                new_approved_budget=budget,
                old_approved_budget=milestone.approved_budget,
                escalation_id=escalation_id,
                escalation_summary=summary[:400],
            )
        )
    if not rows:
        return []
    created = bulk_create_with_history(
        rows,
        ApprovalRequest,
        default_user=None,
        default_change_reason="Requested by a budget overrun escalation",
        default_date=now,
    )
    _notify_approvers(created, event="requested")
    return created


def _fetch_request(approval: ApprovalRequest | int, *, lock: bool) -> ApprovalRequest:
    approval_id = approval.pk if isinstance(approval, ApprovalRequest) else approval
    queryset = ApprovalRequest.objects.all()
    if lock:
        queryset = queryset.select_for_update(of=("self",), no_key=True)
    found = queryset.filter(pk=approval_id).first()
    if found is None:
        raise NotFound("No such approval request.")
    return found


def _require_pending(approval: ApprovalRequest) -> None:
    if not approval.is_pending:
        raise Conflict(
            f"Request #{approval.pk} is already {approval.get_status_display().lower()}"
            "; nothing was changed.",
            errors={"status": [f"Already {approval.get_status_display().lower()}."]},
        )


@transaction.atomic
def approval_withdraw(
    *, actor: User | None, approval: ApprovalRequest | int, comment: str = ""
) -> ApprovalRequest:
    """Withdraw a pending request: its requester may (or, for a request the
    system raised, anyone who may change the milestone)."""
    current = _fetch_request(approval, lock=True)
    milestone = Milestone.objects.get(pk=current.milestone_id)
    _require(actor, VIEW, milestone)
    if actor is not None and not actor.is_superuser:
        if current.requested_by_id is not None:
            if current.requested_by_id != actor.pk:
                raise Forbidden("Only the requester may withdraw this request.")
        elif not policy.can(actor, CHANGE, milestone):
            raise Forbidden("You may not withdraw this request.")
    _require_pending(current)
    current.status = ApprovalRequest.Status.WITHDRAWN
    current.decided_at = timezone.now()
    set_history_user(current, actor)
    set_change_reason(
        current,
        _approval_reason(
            "Withdrawn" + (f": {comment.strip()}" if (comment or "").strip() else "")
        ),
    )
    current.save(update_fields=["status", "decided_at"])
    _resolve_asks(current, f"Withdrawn by {actor or 'the system'}")
    current.milestone = milestone
    return current


def _snapshot(milestone: Milestone) -> dict[str, Any]:
    """The milestone as the approver saw it, JSON-ready."""
    fields = (
        "name",
        "status",
        "percent_complete",
        "approved_budget",
        "actual_spend",
        "estimate_at_completion",
        "planned_start",
        "planned_completion",
        "forecast_completion",
        "actual_completion",
        "success_criteria",
        "weight",
        "version",
    )
    values: dict[str, Any] = {}
    for field in fields:
        value = getattr(milestone, field)
        if isinstance(value, Decimal | date):
            value = str(value) if isinstance(value, Decimal) else value.isoformat()
        values[field] = value
    return values


def _authority(
    actor: User, milestone: Milestone, amount: Decimal
) -> tuple[Decimal | None, bool]:
    """(the approver's limit, whether ``amount`` is within it)."""
    if amount == 0:
        return None, True
    if actor.is_superuser:
        return None, True
    limit = policy.authority_limit(
        actor, org_unit=milestone.org_unit, portfolio=milestone.portfolio
    )
    # No limit on record means no authority to approve an amount alone.
    return limit, limit is not None and amount <= limit


@retry_on_deadlock
@transaction.atomic
def approval_decide(
    *,
    actor: User | None,
    approval: ApprovalRequest | int,
    outcome: str,
    comment: str = "",
    expected_version: int | None = None,
) -> ApprovalRequest:
    """Approve or reject a pending request, applying an approved change.

    Rules: the approver needs ``approve`` on the milestone (404 when they
    cannot see it, 403 when they see it but may not approve) and never
    decides a request they made (403); a rejection needs a comment (400); a
    request already decided, or decided meanwhile by someone else, answers
    409. ``expected_version`` is the milestone version the approver saw (409
    if it moved). A reauthorization whose amount (the budget change,
    |new - current|) exceeds the approver's authority limit stays pending
    until a second, different executive approves it too. The approved change
    is applied in this transaction, with the rows locked, and recorded in the
    milestone's history as "Approved request #N"; a rejection changes nothing
    but the request. The requester (the owner, for a request the system
    raised) is told the outcome.
    """
    if actor is None:
        raise Forbidden("A decision needs an approver.")
    # The request row is the lock two deciders compete for: the second waits,
    # then sees the first's outcome and is refused.
    current = _fetch_request(approval, lock=True)
    if not policy.can(actor, VIEW, current):
        raise NotFound("No such approval request.")
    milestone = milestone_services.milestone_lock(current.milestone_id)
    if not policy.can(actor, APPROVE, milestone):
        raise Forbidden("You may not decide requests on this milestone.")
    if current.requested_by_id == actor.pk:
        raise Forbidden("You cannot decide your own request.")
    if outcome not in ApprovalDecision.Outcome.values:
        raise Invalid(
            f"Unknown outcome {outcome!r}.",
            errors={"outcome": ["Choose approve or reject."]},
        )
    comment = (comment or "").strip()
    if outcome == ApprovalDecision.Outcome.REJECT and not comment:
        raise Invalid(
            "Say why you reject the request.",
            errors={"comment": ["A rejection needs a comment."]},
        )
    _require_pending(current)
    earlier = list(current.decisions.all())
    if any(d.approver_id == actor.pk for d in earlier):
        raise Forbidden(
            "You already approved this request: it needs a second executive."
        )
    milestone_services.milestone_check_version(milestone, expected_version)
    if outcome == ApprovalDecision.Outcome.APPROVE:
        kinds.kind_of(current.kind).check_still_applies(current, milestone)
    now = timezone.now()
    amount = current.amount
    limit, within = _authority(actor, milestone, amount)
    decision = ApprovalDecision(
        request=current,
        approver=actor,
        outcome=outcome,
        comment=comment,
        decided_at=now,
        authority_limit=limit,
        within_limit=within,
        snapshot=_snapshot(milestone),
    )
    _save_new(decision, actor=actor, reason=f"Decision on request #{current.pk}")
    current.milestone = milestone
    if outcome == ApprovalDecision.Outcome.REJECT:
        return _close_request(current, ApprovalRequest.Status.REJECTED, actor, now)
    if not within:
        # Recorded (the decision row says so, with the approver's limit); the
        # final approval must come from someone whose authority limit covers
        # the amount: approvals below it, however many, never add up to it.
        _notify_approvers([current], event="second", exclude={actor.pk})
        return current
    milestone_services.milestone_apply_approved(
        actor=actor,
        milestone=milestone,
        values=kinds.kind_of(current.kind).changes(current, milestone),
        reason=f"Approved request #{current.pk}",
    )
    return _close_request(current, ApprovalRequest.Status.APPROVED, actor, now)


def _close_request(
    approval: ApprovalRequest, status: str, actor: User | None, now: datetime
) -> ApprovalRequest:
    approval.status = status
    approval.decided_at = now
    set_history_user(approval, actor)
    set_change_reason(
        approval, _approval_reason(f"{ApprovalRequest.Status(status).label} by {actor}")
    )
    approval.save(update_fields=["status", "decided_at"])
    _resolve_asks(approval, f"{ApprovalRequest.Status(status).label} by {actor}")
    _notify_requester(approval)
    return approval


def _resolve_asks(approval: ApprovalRequest, resolution: str) -> int:
    """The approvers' "approval needed" notifications of a settled request are
    resolved (in this transaction, before the requester is told the outcome,
    whose message links to the same page and stays unread)."""
    return notifications_resolve(link=_request_link(approval), resolution=resolution)


# Completion gates ---------------------------------------------------------------


@receiver(completion_gate_moved)
def completion_gate_follow(
    sender: type[Milestone],
    *,
    entered: list[Milestone],
    left: list[int],
    actor: User | None,
    reason: str,
    **kwargs: Any,
) -> None:
    """A progress write moved milestones into or out of Pending validation
    (``milestones.signals.completion_gate_moved``, in its transaction): open
    their completion validations, withdraw those it superseded."""
    _completion_requests_open(
        entered, actor=actor, reason=f"Completion reported ({reason})."
    )
    _completion_requests_close(left, actor=actor, reason=f"superseded by {reason}")


def _completion_requests_open(
    milestones: list[Milestone], *, actor: User | None, reason: str
) -> list[ApprovalRequest]:
    """Open a completion validation for each milestone that just entered
    Pending validation and has none pending (set-based: one read, one insert
    and one history insert whatever the number)."""
    if not milestones:
        return []
    pending = set(
        ApprovalRequest.objects.filter(
            milestone__in=[m.pk for m in milestones],
            kind=ApprovalRequest.Kind.COMPLETION,
            status=ApprovalRequest.Status.PENDING,
        ).values_list("milestone_id", flat=True)
    )
    now = timezone.now()
    rows = [
        ApprovalRequest(
            milestone=m,
            kind=ApprovalRequest.Kind.COMPLETION,
            requested_by=actor,
            requested_at=now,
            reason=reason,
        )
        for m in milestones
        if m.pk not in pending
    ]
    if not rows:
        return []
    created = bulk_create_with_history(
        rows,
        ApprovalRequest,
        default_user=actor,
        default_change_reason="Requested: completion reported",
    )
    _notify_approvers(created, event="requested")
    return created


def _completion_requests_close(
    milestone_ids: list[int], *, actor: User | None, reason: str
) -> None:
    """Withdraw the pending completion validations of milestones that left
    Pending validation (a later progress update superseded them)."""
    if not milestone_ids:
        return
    stale = list(
        ApprovalRequest.objects.select_for_update(no_key=True).filter(
            milestone__in=milestone_ids,
            kind=ApprovalRequest.Kind.COMPLETION,
            status=ApprovalRequest.Status.PENDING,
        )
    )
    if not stale:
        return
    now = timezone.now()
    for approval in stale:
        approval.status = ApprovalRequest.Status.WITHDRAWN
        approval.decided_at = now
    bulk_update_with_history(
        stale,
        ApprovalRequest,
        ["status", "decided_at"],
        default_user=actor,
        default_change_reason=_approval_reason(f"Withdrawn: {reason}"),
    )


# Approval notifications ------------------------------------------------------


def approvers_by_milestone(milestones: list[Milestone]) -> dict[int, list[User]]:
    """The active users who may approve on each milestone (executives whose
    scope covers it, per-object validators): the access policy's holders of
    ``approve``, in a fixed number of queries for any number of milestones."""
    return policy.holders(APPROVE, milestones)


def _shown(value: Any) -> Any:
    """A proposed value as a message shows it, as the pages do: the gate as
    yes / no, amounts with thousands separators, dates as "8 Jul 2026"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, date):
        return date_format(value, "j M Y")
    return value


def _describe(approval: ApprovalRequest) -> list[str]:
    lines = []
    for field in APPROVAL_CHANGE_FIELDS:
        new = getattr(approval, field)
        if new in (None, ""):
            continue
        old = getattr(approval, field.replace("new_", "old_", 1))
        old, new = _shown(old), _shown(new)
        lines.append(f"{kinds.field_label(field).capitalize()}: {old} → {new}")
    return lines


def _messages_for(
    users: Iterable[User], key: str, subject: str, body: str, link: str
) -> Iterator[Message]:
    for user in users:
        yield Message(
            "portal", f"{key}:portal:{user.pk}", subject, body, user.pk, "", link
        )
        if user.email:
            yield Message(
                "email",
                f"{key}:email:{user.pk}",
                subject,
                body,
                user.pk,
                user.email,
                link,
            )


def _notify_approvers(
    approvals: list[ApprovalRequest], *, event: str, exclude: set[int] | None = None
) -> int:
    """Tell the approvers in scope about new requests (``event`` "requested")
    or about a request awaiting a second executive ("second")."""
    if not approvals:
        return 0
    approvers = approvers_by_milestone([a.milestone for a in approvals])
    messages: list[Message] = []
    for approval in approvals:
        skip = set(exclude or ()) | {approval.requested_by_id}
        users = [u for u in approvers[approval.milestone_id] if u.pk not in skip]
        who = approval.requested_by or "the system"
        if event == "second":
            subject = f"Approval within authority needed: {approval}"
            intro = (
                f"Request #{approval.pk} was approved, but its amount "
                f"({approval.amount:,.2f}) is above that approver's authority "
                "limit: an executive whose limit covers it must approve it."
            )
        else:
            subject = f"Approval needed: {approval}"
            intro = f"{who} asks: {approval.get_kind_display()}."
        body = "\n".join(
            [
                intro,
                f"Milestone: {approval.milestone.name}",
                *_describe(approval),
                f"Reason: {approval.reason}",
            ]
        )
        messages += _messages_for(
            users,
            f"approval:{approval.pk}:{event}",
            subject,
            body,
            _request_link(approval),
        )
    return notifications_enqueue(messages)


def _notify_requester(approval: ApprovalRequest) -> int:
    """Tell the requester (the owner, for a request the system raised) how
    their request was decided."""
    recipient = approval.requested_by or approval.milestone.owner
    if recipient is None or not recipient.is_active:
        return 0
    last = approval.decisions.select_related("approver").order_by("-pk").first()
    status = approval.get_status_display().lower()
    subject = f"Request {status}: {approval}"
    body = "\n".join(
        line
        for line in (
            f"Request #{approval.pk} ({approval.get_kind_display()}) on "
            f"{approval.milestone.name} was {status}"
            + (f" by {last.approver}." if last else "."),
            f"Comment: {last.comment}" if last and last.comment else "",
            *(_describe(approval) if status == "approved" else ()),
        )
        if line
    )
    messages = _messages_for(
        [recipient],
        f"approval:{approval.pk}:{approval.status}",
        subject,
        body,
        _request_link(approval),
    )
    return notifications_enqueue(messages)
