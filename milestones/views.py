"""Contributor pages: my milestones, the progress update form, the quick update
and evidence downloads.

They share the admin's look (``admin.site.each_context``) but are built for
contributors: no sidebar, usable on a phone. Every read goes through the access
policy, every write through ``milestones.services``; the views only parse input,
call the service and render the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts import policy
from accounts.roles import UPDATE, VIEW
from portal.errors import Conflict, Forbidden, Invalid, NotFound

from . import services
from .forms import MyMilestoneFilterSet, ProgressUpdateForm, QuickUpdateForm
from .models import Milestone, ProgressUpdate, Status
from .querysets import DUE_SOON_DAYS, STALE_DAYS

if TYPE_CHECKING:
    from django.http import QueryDict

LIST_PAGE_SIZE = 50
# Five fields per row: 100 rows stay well under DATA_UPLOAD_MAX_NUMBER_FIELDS.
QUICK_PAGE_SIZE = 100
RECENT_UPDATES = 5


# Reads --------------------------------------------------------------------


def milestones_to_update(
    user,
    *,
    today: date | None = None,
    now: datetime | None = None,
) -> QuerySet[Milestone]:
    """The milestones ``user`` may submit progress on, ordered by portfolio,
    with their figures (``days_remaining`` to the planned completion, flags
    ``is_overdue``, ``is_due_soon``, ``is_stale``: ``with_figures``), in one
    query. ``selectors.milestone_list`` is the same for what a user may *view*.
    """
    return (
        Milestone.objects.restrict(user, UPDATE)
        .select_related("portfolio", "org_unit", "category")
        .with_figures(today=today, now=now)
        .order_by("portfolio__name", "portfolio_id", "planned_completion", "name")
    )


def _filtered(request, queryset) -> MyMilestoneFilterSet:
    return MyMilestoneFilterSet(request.GET or None, queryset=queryset, request=request)


def _milestone_for_update(user, pk: int) -> Milestone:
    """404 when unseen or missing, 403 when seen but not updatable."""
    queryset = Milestone.objects.select_related(
        "portfolio", "org_unit", "category", "owner"
    )
    return policy.get_for_user(queryset, user, UPDATE, pk=pk)


def _recent_updates(user, milestone: Milestone) -> list[ProgressUpdate]:
    return list(
        ProgressUpdate.objects.restrict(user, VIEW)
        .filter(milestone=milestone)
        .select_related("author")
        .order_by("-submitted_at", "-id")[:RECENT_UPDATES]
    )


# What changed meanwhile -----------------------------------------------------

# Bookkeeping that changes with every save and says nothing to the user.
_NOT_SHOWN = {"id", "version", "created_at", "updated_at", "last_progress_at"}


def _shown_fields() -> list:
    return [
        f
        for f in Milestone._meta.concrete_fields
        if not f.is_relation and f.name not in _NOT_SHOWN
    ]


def _display(field: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if field == "status":
        return Status(value).label
    if field == "percent_complete":
        return f"{Decimal(value).normalize():f} %"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if hasattr(value, "year"):
        return date_filter(value, "j M Y")
    return str(value)


@dataclass
class Change:
    """A field someone else changed since the form was rendered."""

    field: str
    label: str
    yours: str
    theirs: str
    by: str
    when: datetime | None
    by_reader: bool = False  # the reader themself, in another window


#: Who changed it, when it was the reader (another tab or window).
YOU_ELSEWHERE = "you, in another window"


def _who(record, reader) -> str:
    if record is None or not record.history_user_id:
        return "the system"
    if reader is not None and record.history_user_id == reader.pk:
        return YOU_ELSEWHERE
    return str(record.history_user)


def changes_since(
    milestone: Milestone,
    base_version: int,
    submitted: dict[str, Any],
    *,
    reader=None,
) -> list[Change]:
    """What was changed on ``milestone`` after ``base_version``, field by
    field, with who changed it last ("you, in another window" when it was
    ``reader``) and when (from the milestone's history)."""
    fields = _shown_fields()
    records = list(
        Milestone.history.filter(id=milestone.pk, version__gte=base_version)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    base = next((r for r in reversed(records) if r.version == base_version), None)
    later = [r for r in records if r.version > base_version]
    last: dict[str, Any] = {}
    if base is not None:
        previous = base
        for record in later:
            for f in fields:
                if getattr(record, f.attname) != getattr(previous, f.attname):
                    last[f.name] = record
            previous = record
    elif later:
        # The version the form came from is unknown: compare the form's values
        # with today's and credit the latest change.
        for name in ProgressUpdateForm.MILESTONE_FIELDS:
            if submitted.get(name) != getattr(milestone, name):
                last[name] = later[-1]
    result = []
    for f in fields:
        if f.name not in last:
            continue
        record = last[f.name]
        yours = (
            _display(f.name, submitted.get(f.name))
            if f.name in ProgressUpdateForm.MILESTONE_FIELDS
            else "(not on this form)"
        )
        result.append(
            Change(
                field=f.name,
                label=str(f.verbose_name).capitalize(),
                yours=yours,
                theirs=_display(f.name, getattr(milestone, f.attname)),
                by=_who(record, reader),
                when=record.history_date,
                by_reader=reader is not None and record.history_user_id == reader.pk,
            )
        )
    return result


def _latest_changes(ids) -> dict[int, Any]:
    """The latest history record of each milestone in ``ids`` (one query)."""
    latest: dict[int, Any] = {}
    records = (
        Milestone.history.filter(id__in=list(ids))
        .select_related("history_user")
        .order_by("id", "-history_date", "-history_id")
    )
    for record in records:
        latest.setdefault(record.id, record)
    return latest


# Pages ----------------------------------------------------------------------


def _context(request, **extra) -> dict:
    """The admin's context, adapted to contributor pages."""
    context = admin.site.each_context(request)
    # Contributors need their own pages, not the admin's app list.
    context["is_nav_sidebar_enabled"] = False
    context["has_permission"] = request.user.is_authenticated
    context.update(extra)
    return context


@login_required
@require_GET
def mine(request):
    """The milestones the user may update, grouped by portfolio, with flags."""
    filterset = _filtered(request, milestones_to_update(request.user))
    milestones = filterset.qs
    summary = milestones.aggregate(
        total=Count("pk"),
        overdue=Count("pk", filter=Q(is_overdue=True)),
        due_soon=Count("pk", filter=Q(is_due_soon=True)),
        stale=Count("pk", filter=Q(is_stale=True)),
    )
    page = CountedPaginator(
        milestones, LIST_PAGE_SIZE, count=summary["total"]
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "milestones/mine.html",
        _context(
            request,
            title="My milestones",
            filterset=filterset,
            page=page,
            summary=summary,
            query=query.urlencode(),
            soon_days=DUE_SOON_DAYS,
            stale_days=STALE_DAYS,
        ),
    )


class CountedPaginator(Paginator):
    """A paginator told the number of rows (already counted with the page's
    other figures) instead of counting them again."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


@login_required
@require_http_methods(["GET", "POST"])
def update(request, pk: int):
    """The progress update form of one milestone, with its latest updates."""
    milestone = _milestone_for_update(request.user, pk)
    changes: list[Change] = []
    if request.method == "POST":
        form = ProgressUpdateForm(request.POST, request.FILES, milestone=milestone)
        if form.is_valid():
            try:
                progress = services.milestone_submit_update(
                    actor=request.user, milestone=milestone, **form.service_kwargs()
                )
            except Conflict:
                milestone = _milestone_for_update(request.user, pk)
                changes = changes_since(
                    milestone,
                    form.cleaned_data["version"],
                    form.cleaned_data,
                    reader=request.user,
                )
                form = _restart_from(
                    request,
                    form,
                    milestone,
                    by_reader=bool(changes) and all(c.by_reader for c in changes),
                )
            except Invalid as exc:
                form.add_service_errors(exc)
            else:
                gate = (
                    " Completion now awaits validation."
                    if progress.status == Status.PENDING_VALIDATION
                    and form.cleaned_data["status"] == Status.COMPLETED
                    else ""
                )
                messages.success(
                    request,
                    format_html(
                        "Progress update saved for “{}”.{} "
                        '<a href="{}">Back to my milestones</a>',
                        milestone.name,
                        gate,
                        reverse("milestones:mine"),
                    ),
                )
                return redirect("milestones:update", pk=milestone.pk)
    else:
        form = ProgressUpdateForm(milestone=milestone)
    return render(
        request,
        "milestones/update.html",
        _context(
            request,
            title=f"Update: {milestone.name}",
            milestone=milestone,
            form=form,
            changes=changes,
            conflict=bool(changes) or form.has_error("version", "conflict"),
            updates=_recent_updates(request.user, milestone),
        ),
    )


def _restart_from(
    request, form: ProgressUpdateForm, milestone: Milestone, *, by_reader: bool = False
):
    """The user's input again, now based on the current version.

    Nothing was saved; submitting again applies the user's values knowingly.
    ``by_reader``: every change meanwhile was the user's own, in another
    window, and the message says so.
    """
    data = request.POST.copy()
    data["version"] = str(milestone.version)
    again = ProgressUpdateForm(data, milestone=milestone)
    again.is_valid()
    who = (
        "You updated this milestone in another window"
        if by_reader
        else "Someone else updated this milestone"
    )
    again.add_error(
        "version",
        ValidationError(
            f"{who} while you were editing it here. "
            "Nothing was saved. Your input is kept below: check what changed, "
            "then submit again to save your values.",
            code="conflict",
        ),
    )
    if form.cleaned_data.get("evidence"):
        again.add_error(
            "evidence",
            "Attach the file again: files are not kept when a form comes back.",
        )
    return again


@login_required
@require_http_methods(["GET", "POST"])
def quick_update(request):
    """Status and percent of every milestone the user may update, saved all
    or nothing."""
    filterset = _filtered(request, milestones_to_update(request.user))
    rows = filterset.qs
    page = None
    if request.method == "POST":
        ids = QuickUpdateForm.posted_ids(request.POST)[: QUICK_PAGE_SIZE * 2]
        milestones = list(rows.filter(pk__in=ids)) if ids else []
        form = QuickUpdateForm(request.POST, milestones=milestones)
        if _quick_save(request, form, ids):
            return redirect(request.get_full_path())
    else:
        page = Paginator(rows, QUICK_PAGE_SIZE).get_page(request.GET.get("page"))
        form = QuickUpdateForm(milestones=page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "milestones/quick_update.html",
        _context(
            request,
            title="Quick update",
            filterset=filterset,
            form=form,
            page=page,
            query=query.urlencode(),
        ),
    )


def _quick_save(request, form: QuickUpdateForm, ids: list[int]) -> bool:
    """Validate and save the quick update; False leaves errors on the form."""
    valid = form.is_valid()
    known = {m.pk for m in form.milestones}
    if not ids or set(ids) - known:
        form.add_error(
            None,
            "Some rows are not (or no longer) milestones you may update. "
            "Nothing was saved; reload the page.",
        )
        valid = False
    if not valid:
        return False
    changes, versions = form.changes()
    if not changes:
        messages.info(request, "Nothing changed, so nothing was saved.")
        return True
    current = {m.pk: m for m in form.milestones}
    stale = [pk for pk, v in versions.items() if current[pk].version != v]
    if stale:
        _quick_conflict(request, form, stale)
        return False
    try:
        saved = services.milestones_bulk_set_progress(
            actor=request.user,
            changes=changes,
            expected_versions=versions,
            reason="Quick update",
        )
    except Conflict as exc:
        _quick_conflict(request, form, [int(k) for k in exc.errors if k.isdigit()])
        return False
    except (Invalid, Forbidden, NotFound) as exc:
        for key, messages_ in (exc.errors or {"__all__": [exc.message]}).items():
            for message in messages_ if isinstance(messages_, list) else [messages_]:
                if key.isdigit() and int(key) in current:
                    form.add_row_error(int(key), message)
                else:
                    form.add_error(None, message)
        form.add_error(None, "Nothing was saved.")
        return False
    messages.success(
        request,
        f"Saved status and percent complete of {len(saved)} "
        f"milestone{'s' if len(saved) != 1 else ''}.",
    )
    return True


def _quick_conflict(request, form: QuickUpdateForm, stale: list[int]) -> None:
    """Rows someone else changed meanwhile: nothing saved, the user's values are
    kept and rebased on the current versions, each row says who and when."""
    latest = _latest_changes(stale)
    data = cast("QueryDict", form.data).copy()  # bound on request.POST
    current = {m.pk: m for m in form.milestones}
    for pk in stale:
        m = current[pk]
        data[f"version-{pk}"] = str(m.version)
        data[f"initial-status-{pk}"] = m.status
        data[f"initial-percent-{pk}"] = str(m.percent_complete)
    form.data = data
    form.full_clean()
    for pk in stale:
        m = current[pk]
        record = latest.get(pk)
        who = (
            _who(record, request.user)
            if record is not None and record.history_user_id
            else "someone else"
        )
        when = (
            f" on {date_filter(timezone.localtime(record.history_date), 'j M Y H:i')}"
            if record is not None
            else ""
        )
        form.add_row_error(
            pk,
            f"Changed by {who}{when} while you were editing: now "
            f"{_display('status', m.status)}, "
            f"{_display('percent_complete', m.percent_complete)}. "
            "Your values are kept; save again to apply them.",
        )
    form.add_error(None, "Some milestones changed meanwhile. Nothing was saved.")


@never_cache
@login_required
@require_GET
def evidence(request, pk: int):
    """Stream a progress update's evidence file to a user who may see it."""
    progress = (
        ProgressUpdate.objects.restrict(request.user, VIEW)
        .filter(pk=pk)
        .exclude(evidence="")
        .only("pk", "evidence")
        .first()
    )
    if progress is None:
        raise Http404("No such evidence.")
    try:
        handle = progress.evidence.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The evidence file is missing.") from exc
    return FileResponse(
        handle, as_attachment=True, filename=PurePath(progress.evidence.name or "").name
    )
