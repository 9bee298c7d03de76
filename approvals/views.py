"""The approvals pages: the executive's queue, a request with the context to
decide it, the decision and withdrawal posts, and the change request form.

Same look as the contributor pages (the admin's, through
``admin.site.each_context``, with ``milestones/cairn.css``), usable on a
phone. Reads go through ``approvals.selectors`` and the access policy; writes
through ``approvals.services``, whose refusals become form errors (400-type
input), a 403, a 404, or a message (409: decided meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import policy
from accounts.roles import APPROVE, CHANGE, VIEW
from milestones.models import Milestone
from portal.errors import Conflict, Invalid

from . import kinds, selectors, services
from .forms import ChangeRequestForm, DecisionForm, WithdrawForm
from .models import APPROVAL_CHANGE_FIELDS, ApprovalDecision, ApprovalRequest

QUEUE_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 20
MINE_LIMIT = 20


# Presentation -------------------------------------------------------------------


@dataclass(frozen=True)
class ProposedChange:
    label: str
    field: str
    old: Any
    new: Any


def proposed_changes(approval: ApprovalRequest) -> list[ProposedChange]:
    """What the request changes, field by field (no query)."""
    rows = []
    for field, target in APPROVAL_CHANGE_FIELDS.items():
        new = getattr(approval, field)
        if new is None or new == "":
            continue
        label = kinds.field_label(field)
        old = getattr(approval, field.replace("new_", "old_", 1))
        rows.append(ProposedChange(label[:1].upper() + label[1:], target, old, new))
    return rows


@dataclass
class Item:
    """One request as the lists show it."""

    approval: ApprovalRequest
    changes: list[ProposedChange]
    overrun_pct: Decimal | None
    awaiting_second: bool
    yours: bool
    you_approved: bool
    last_decision: ApprovalDecision | None


def _items(approvals, user) -> list[Item]:
    items = []
    for approval in approvals:
        decisions = list(approval.decisions.all())
        items.append(
            Item(
                approval=approval,
                changes=proposed_changes(approval),
                overrun_pct=selectors.overrun_pct(approval.milestone),
                awaiting_second=selectors.awaiting_second(approval),
                yours=approval.requested_by_id == user.pk,
                you_approved=any(d.approver_id == user.pk for d in decisions),
                last_decision=decisions[-1] if decisions else None,
            )
        )
    return items


def _context(request, **extra) -> dict:
    """The admin's context, adapted like the contributor pages: no sidebar."""
    context = admin.site.each_context(request)
    context["is_nav_sidebar_enabled"] = False
    context["has_permission"] = request.user.is_authenticated
    context.update(extra)
    return context


def _approval_for(user, pk: int) -> ApprovalRequest:
    """A request the user may view, with what the pages show; 404 otherwise."""
    approval = selectors.approval_requests(user, VIEW).filter(pk=pk).first()
    if approval is None:
        raise Http404("No such approval request.")
    return approval


# Pages --------------------------------------------------------------------------


@login_required
@require_GET
def queue(request):
    """Pending requests the user may decide, their own pending requests, and
    the history of decided requests in their scope."""
    user = request.user
    awaiting = Paginator(selectors.approval_queue(user), QUEUE_PAGE_SIZE).get_page(
        request.GET.get("queue_page")
    )
    decided = Paginator(selectors.decided_requests(user), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    mine = list(selectors.my_pending_requests(user)[:MINE_LIMIT])
    return render(
        request,
        "approvals/queue.html",
        _context(
            request,
            title="Approvals",
            awaiting=awaiting,
            awaiting_items=_items(awaiting.object_list, user),
            mine_items=_items(mine, user),
            decided=decided,
            decided_items=_items(decided.object_list, user),
        ),
    )


def _render_detail(request, approval: ApprovalRequest, *, form=None, status=200):
    user = request.user
    milestone = approval.milestone
    decisions = list(approval.decisions.all())
    decided_already = any(d.approver_id == user.pk for d in decisions)
    may_approve = approval.is_pending and policy.can(user, APPROVE, milestone)
    own = approval.requested_by_id == user.pk
    can_decide = may_approve and not own and not decided_already
    if approval.requested_by_id is None:
        can_withdraw = approval.is_pending and policy.can(user, CHANGE, milestone)
    else:
        can_withdraw = approval.is_pending and (own or user.is_superuser)
    limit = within = None
    if can_decide and approval.amount:
        if user.is_superuser:
            within = True
        else:
            limit = policy.authority_limit(
                user, org_unit=milestone.org_unit, portfolio=milestone.portfolio
            )
            within = limit is not None and approval.amount <= limit
    if form is None and can_decide:
        form = DecisionForm(initial={"version": milestone.version})
    return render(
        request,
        "approvals/detail.html",
        _context(
            request,
            title=f"Request #{approval.pk}",
            approval=approval,
            milestone=milestone,
            changes=proposed_changes(approval),
            overrun_pct=selectors.overrun_pct(milestone),
            trail=selectors.baseline_trail(milestone),
            decisions=decisions,
            awaiting_second=selectors.awaiting_second(approval),
            can_decide=can_decide,
            own=own,
            decided_already=decided_already and approval.is_pending,
            can_withdraw=can_withdraw,
            limit=limit,
            within=within,
            form=form,
            outcomes=ApprovalDecision.Outcome,
        ),
        status=status,
    )


@login_required
@require_GET
def detail(request, pk: int):
    """One request with what an approver needs to decide it."""
    return _render_detail(request, _approval_for(request.user, pk))


@login_required
@require_POST
def decide(request, pk: int):
    """Approve or reject a request (``approval_decide``)."""
    approval = _approval_for(request.user, pk)
    form = DecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            decided = services.approval_decide(
                actor=request.user,
                approval=approval,
                outcome=data["outcome"],
                comment=data["comment"],
                expected_version=data["version"],
            )
        except Conflict as exc:
            messages.error(request, exc.message)
            return redirect("approvals:detail", pk=approval.pk)
        except Invalid as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _decided_message(decided))
            return redirect("approvals:detail", pk=approval.pk)
    return _render_detail(request, _approval_for(request.user, pk), form=form)


def _decided_message(approval: ApprovalRequest) -> str:
    milestone = approval.milestone
    if approval.status == ApprovalRequest.Status.REJECTED:
        return f"Request #{approval.pk} rejected; {milestone} is unchanged."
    if approval.is_pending:
        return (
            f"Your approval of request #{approval.pk} is recorded. Its amount is "
            "above your authority limit: a second executive must approve it too."
        )
    if approval.kind == ApprovalRequest.Kind.COMPLETION:
        return f"Request #{approval.pk} approved: {milestone} is completed."
    return f"Request #{approval.pk} approved and applied to {milestone}."


@login_required
@require_POST
def withdraw(request, pk: int):
    """Withdraw a pending request (its requester)."""
    approval = _approval_for(request.user, pk)
    form = WithdrawForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        services.approval_withdraw(
            actor=request.user, approval=approval, comment=comment
        )
    except (Conflict, Invalid) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Request #{approval.pk} withdrawn.")
    return redirect("approvals:detail", pk=approval.pk)


@login_required
@require_http_methods(["GET", "POST"])
def request_change(request, pk: int):
    """The owner's or portfolio manager's request for a reauthorization, a
    baseline change or a completion validation of one milestone."""
    queryset = Milestone.objects.select_related("portfolio", "org_unit", "owner")
    milestone = policy.get_for_user(queryset, request.user, CHANGE, pk=pk)
    if request.method == "POST":
        form = ChangeRequestForm(request.POST, milestone=milestone)
        if form.is_valid():
            try:
                approval = services.approval_request(
                    actor=request.user, milestone=milestone, **form.service_kwargs()
                )
            except Invalid as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request,
                    f"Request #{approval.pk} sent: the approvers of {milestone} "
                    "are notified.",
                )
                return redirect("approvals:detail", pk=approval.pk)
    else:
        kind = request.GET.get("kind")
        initial = {"kind": kind} if kind in ApprovalRequest.Kind.values else {}
        form = ChangeRequestForm(milestone=milestone, initial=initial)
    pending = _items(
        selectors.approval_requests(request.user, VIEW).filter(
            milestone=milestone, status=ApprovalRequest.Status.PENDING
        ),
        request.user,
    )
    return render(
        request,
        "approvals/request.html",
        _context(
            request,
            title=f"Request a change: {milestone.name}",
            milestone=milestone,
            form=form,
            pending_items=pending,
            overrun_pct=selectors.overrun_pct(milestone),
            kinds=list(kinds.KINDS.values()),
        ),
    )
