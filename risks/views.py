"""Pages of the risks app: the open escalations of the user's scope, where the
target role acknowledges them and hands them to someone (``/escalations/``).

Thin views: the list reads through the access policy
(``selectors.escalations_for``); acknowledging and assigning go through
``services.escalation_acknowledge`` / ``services.escalation_assign``, which
decide who may. Out of scope or missing: 404; not the target role: 403; bad
input: the list again with the message.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.errors import Invalid

from . import selectors, services

PAGE_SIZE = 25


def _back(escalation_id: int):
    return redirect(f"/escalations/#escalation-{escalation_id}")


@login_required
@require_GET
def escalation_list(request):
    """The unresolved escalations the user may see, newest first, with the
    actions their role allows. A fixed number of queries per page."""
    escalations = (
        selectors.escalations_for(request.user)
        .active()
        .select_related("assigned_to", "portfolio__org_unit")
        .order_by("-opened_at", "-id")
    )
    page = Paginator(escalations, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.escalation_rows(request.user, list(page.object_list))
    context = admin.site.each_context(request)
    context.update(
        is_nav_sidebar_enabled=False,
        has_permission=True,
        title="Escalations",
        page=page,
        rows=rows,
    )
    return render(request, "risks/escalations.html", context)


@login_required
@require_POST
def escalation_acknowledge(request, pk: int):
    try:
        escalation = services.escalation_acknowledge(actor=request.user, escalation=pk)
    except Invalid as exc:
        messages.error(request, exc.message)
        return _back(pk)
    messages.success(request, f"Acknowledged: {escalation.summary}")
    return _back(pk)


@login_required
@require_POST
def escalation_assign(request, pk: int):
    raw = request.POST.get("assignee", "").strip()
    assignee = None
    if raw:
        assignee = (
            get_user_model().objects.filter(pk=int(raw)).first()
            if raw.isdigit()
            else None
        )
        if assignee is None:
            messages.error(request, "Choose someone from the list to assign it to.")
            return _back(pk)
    try:
        escalation = services.escalation_assign(
            actor=request.user, escalation=pk, assignee=assignee
        )
    except Invalid as exc:
        messages.error(request, exc.message)
        return _back(pk)
    if escalation.assigned_to_id:
        messages.success(request, f"Assigned to {escalation.assigned_to}.")
    else:
        messages.success(request, "Assignment withdrawn.")
    return _back(pk)
