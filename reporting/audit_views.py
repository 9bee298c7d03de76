"""Pages of the compliance history browser, under ``/audit/``.

- ``audit:trail`` — the timeline of every change and access event the reader
  may see, filterable, keyset-paginated (``?after=``);
- ``audit:export`` — the same filtered trail as streaming CSV (the export is
  itself logged as an access event);
- ``audit:object`` — one object's own history with field-level diffs;
- ``audit:milestone_as_of`` / ``audit:portfolio_as_of`` — a milestone, or a
  portfolio with its milestones, as it was at a chosen date.

Read-only (GET only): nothing here changes anything. Bad filters answer 400
with the form's messages; an object out of scope answers 404 like a missing
one. Scope rules: ``portal.audit.AuditReach``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from milestones.models import Portfolio
from portal import audit
from portal.models import AuditEvent

from . import exports, trail
from .audit_forms import MomentForm, TrailFilterForm

EXPORT_COLUMNS = (
    "At (UTC)",
    "Kind",
    "Action",
    "Model",
    "Object ID",
    "Object",
    "User",
    "User ID",
    "Reason",
    "Field",
    "From",
    "To",
    "IP address",
    "User agent",
    "Details",
)


def _context(request, **extra) -> dict:
    """The admin's look without its sidebar, as on the other pages."""
    context = admin.site.each_context(request)
    context["is_nav_sidebar_enabled"] = False
    context["has_permission"] = request.user.is_authenticated
    context.update(extra)
    return context


def _next_query(request, cursor: str | None) -> str:
    if cursor is None:
        return ""
    query = request.GET.copy()
    query["after"] = cursor
    return query.urlencode()


@login_required
@require_GET
def trail_view(request):
    """``/audit/``: the trail, newest first, 50 entries a page."""
    form = TrailFilterForm(request.GET, reader=request.user)
    page = None
    if form.is_valid():
        page = trail.trail_page(
            audit.AuditReach.of(request.user),
            form.filters(),
            after=form.cleaned_data["after"],
        )
    export_query = request.GET.copy()
    export_query.pop("after", None)
    return render(
        request,
        "reporting/audit/trail.html",
        _context(
            request,
            title="Audit trail",
            form=form,
            page=page,
            next_query=_next_query(request, page.next_cursor if page else None),
            export_query=export_query.urlencode(),
            is_first_page=not request.GET.get("after"),
        ),
        status=200 if page is not None else 400,
    )


def _export_rows(entries: Iterator[trail.Entry]) -> Iterator[tuple]:
    for entry in entries:
        base = (
            entry.at.astimezone(UTC).isoformat(timespec="seconds"),
            entry.kind,
            entry.action,
            entry.model,
            entry.object_id,
            entry.object_repr,
            entry.username,
            entry.user_id,
            entry.reason,
        )
        tail = (
            entry.ip_address,
            entry.user_agent,
            ", ".join(f"{k}={v}" for k, v in sorted(entry.details.items())),
        )
        if not entry.changes:
            yield (*base, "", "", "", *tail)
        for change in entry.changes:
            yield (*base, change.field, change.old, change.new, *tail)


@never_cache
@login_required
@require_GET
def export_view(request):
    """``/audit/export.csv``: the filtered trail, streamed, one line per
    changed field. The export is recorded as an access event first."""
    form = TrailFilterForm(request.GET, reader=request.user)
    if not form.is_valid():
        return render(
            request,
            "reporting/audit/trail.html",
            _context(request, title="Audit trail", form=form, page=None),
            status=400,
        )
    filters = form.filters()
    audit.event_record(
        kind=AuditEvent.Kind.EXPORT,
        user=request.user,
        request=request,
        details={"what": "audit_trail", "filters": filters.as_query()},
    )
    entries = trail.trail_entries(audit.AuditReach.of(request.user), filters)
    table = exports.Table(
        "audit-trail", "Audit trail", EXPORT_COLUMNS, _export_rows(entries)
    )
    response = StreamingHttpResponse(
        exports.csv_lines(table), content_type=exports.CONTENT_TYPES["csv"]
    )
    filename = f"cairn-audit-trail-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _tracked(reach, model: str, pk: int) -> trail.TrackedObject:
    return trail.tracked_object(reach, model, pk)


@login_required
@require_GET
def object_view(request, model: str, pk: int):
    """``/audit/<app.model>/<id>/``: one object's history, newest first."""
    reach = audit.AuditReach.of(request.user)
    obj = _tracked(reach, model, pk)
    form = TrailFilterForm(request.GET, reader=request.user)
    page = None
    if form.is_valid():
        filters = dataclasses.replace(form.filters(), model=model, object_id=pk)
        page = trail.trail_page(reach, filters, after=form.cleaned_data["after"])
    return render(
        request,
        "reporting/audit/object.html",
        _context(
            request,
            title=f"History: {obj.label}",
            obj=obj,
            form=form,
            page=page,
            next_query=_next_query(request, page.next_cursor if page else None),
            is_first_page=not request.GET.get("after"),
        ),
        status=200 if page is not None else 400,
    )


def _moment(request) -> tuple[MomentForm, datetime | None]:
    form = MomentForm(request.GET)
    return form, form.cleaned_data["at"] if form.is_valid() else None


@login_required
@require_GET
def milestone_as_of(request, pk: int):
    """A milestone as it was at ``?at=`` next to its values today."""
    reach = audit.AuditReach.of(request.user)
    obj = _tracked(reach, "milestones.milestone", pk)
    form, moment = _moment(request)
    state = None
    if moment is not None:
        state = trail.object_as_of(reach, "milestones.milestone", obj.pk, moment)
    return render(
        request,
        "reporting/audit/milestone_as_of.html",
        _context(request, title=f"{obj.label}: as of", obj=obj, form=form, state=state),
        status=200 if state is not None else 400,
    )


@login_required
@require_GET
def portfolio_as_of(request, slug: str):
    """A portfolio with its categories and milestones as it was at ``?at=``."""
    reach = audit.AuditReach.of(request.user)
    portfolio = Portfolio.objects.filter(slug=slug).first()
    if portfolio is None:
        raise Http404("No such portfolio.")
    obj = _tracked(reach, "milestones.portfolio", portfolio.pk)
    form, moment = _moment(request)
    state = None
    if moment is not None:
        state = trail.portfolio_as_of(reach, portfolio, moment)
    return render(
        request,
        "reporting/audit/portfolio_as_of.html",
        _context(
            request,
            title=f"{obj.label}: as of",
            obj=obj,
            portfolio=portfolio,
            form=form,
            state=state,
        ),
        status=200 if state is not None else 400,
    )
