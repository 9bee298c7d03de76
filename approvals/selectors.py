"""Reads of the approvals flow, shared by the pages, the API, the admin and the
reports.

Every function takes the reading user and goes through the access policy: a
request follows its milestone (``ApprovalRequest.access_scope``), so what a
user may *view* is the requests on milestones they may view, and what they may
*decide* is the requests on milestones they may approve. Lists run a fixed
number of queries whatever the number of requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from accounts.policy import Viewer
from accounts.roles import APPROVE, VIEW
from milestones.models import Milestone, Portfolio

from .models import ApprovalDecision, ApprovalRequest

# The milestone history fields the approver's context shows.
BASELINE_TRAIL_FIELDS = ("approved_budget", "planned_start", "planned_completion")


def approval_requests(user: Viewer, action: str = VIEW) -> QuerySet[ApprovalRequest]:
    """Requests on milestones the user may take ``action`` on, with what every
    list shows (milestone, portfolio, org unit, owner, requester, decisions)."""
    decisions = ApprovalDecision.objects.select_related("approver").order_by(
        "decided_at", "pk"
    )
    return (
        ApprovalRequest.objects.restrict(user, action)
        .select_related(
            "milestone__portfolio",
            "milestone__org_unit",
            "milestone__owner",
            "requested_by",
        )
        .prefetch_related(Prefetch("decisions", queryset=decisions))
    )


def approval_queue(user: Viewer) -> QuerySet[ApprovalRequest]:
    """Pending requests the user may decide, oldest first (a queue)."""
    return (
        approval_requests(user, APPROVE)
        .filter(status=ApprovalRequest.Status.PENDING)
        .order_by("requested_at", "pk")
    )


def my_pending_requests(user: Viewer) -> QuerySet[ApprovalRequest]:
    """The user's own requests still awaiting a decision, newest first."""
    return (
        approval_requests(user, VIEW)
        .filter(
            status=ApprovalRequest.Status.PENDING,
            requested_by_id=getattr(user, "pk", None),
        )
        .order_by("-requested_at", "-pk")
    )


def decided_requests(user: Viewer) -> QuerySet[ApprovalRequest]:
    """Approved, rejected and withdrawn requests in the user's scope, most
    recently decided first."""
    return (
        approval_requests(user, VIEW)
        .exclude(status=ApprovalRequest.Status.PENDING)
        .order_by("-decided_at", "-pk")
    )


def pending_approvals(
    user: Viewer, portfolio: Portfolio | None = None, *, kind: str | None = None
) -> QuerySet[ApprovalRequest]:
    """Pending requests in the user's scope (optionally of one portfolio and
    one kind), oldest first: what dashboards and reports list."""
    queryset = approval_requests(user, VIEW).filter(
        status=ApprovalRequest.Status.PENDING
    )
    if portfolio is not None:
        queryset = queryset.filter(milestone__portfolio=portfolio)
    if kind is not None:
        queryset = queryset.filter(kind=kind)
    return queryset.order_by("requested_at", "pk")


def open_reauthorizations(
    user: Viewer, portfolio: Portfolio | None = None
) -> QuerySet[ApprovalRequest]:
    """Pending budget/timeline reauthorizations in the user's scope."""
    return pending_approvals(user, portfolio, kind=ApprovalRequest.Kind.REAUTHORIZATION)


# What an approver sees ----------------------------------------------------------


@dataclass(frozen=True)
class BaselineStep:
    """One change of a milestone's budget or planned dates, from its history."""

    when: datetime
    by: str
    reason: str
    approved_budget: Decimal
    planned_start: object
    planned_completion: object
    changed: tuple[str, ...]


def baseline_trail(milestone: Milestone) -> list[BaselineStep]:
    """The milestone's budget and planned dates over time, newest first: each
    history row where one of them changed (the first row is the plan). One
    query."""
    records = (
        Milestone.history.filter(id=milestone.pk)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    steps: list[BaselineStep] = []
    previous = None
    for record in records:
        changed = tuple(
            f
            for f in BASELINE_TRAIL_FIELDS
            if previous is None or getattr(record, f) != getattr(previous, f)
        )
        if changed:
            steps.append(
                BaselineStep(
                    when=record.history_date,
                    by=str(record.history_user) if record.history_user else "system",
                    reason=record.history_change_reason or "",
                    approved_budget=record.approved_budget,
                    planned_start=record.planned_start,
                    planned_completion=record.planned_completion,
                    changed=changed,
                )
            )
        previous = record
    steps.reverse()
    return steps


def overrun_pct(milestone: Milestone) -> Decimal | None:
    """(estimate at completion - approved budget) / approved budget x 100, to
    two decimals; ``None`` without an estimate or a budget."""
    estimate, budget = milestone.estimate_at_completion, milestone.approved_budget
    if estimate is None or not budget:
        return None
    return ((estimate - budget) * 100 / budget).quantize(Decimal("0.01"))


def awaiting_second(approval: ApprovalRequest) -> bool:
    """Approved once, above that approver's limit: waits for another."""
    return approval.is_pending and any(
        d.outcome == ApprovalDecision.Outcome.APPROVE for d in approval.decisions.all()
    )
