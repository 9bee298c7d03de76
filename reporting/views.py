"""Pages of the reporting app: the dashboard and its drill-down, the executive
report (HTML preview and PDF), the report archive and the exports.

Thin views: they parse the request, call ``reporting.selectors`` (which read
through the access policy) or ``reporting.services``, and render. An object
out of the user's scope answers 404, like a missing one; a bad ``as_of``
answers 400. Every file that leaves the system goes through
``services.log_download``.
"""

from __future__ import annotations

from datetime import date

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.policy import get_for_user
from accounts.roles import VIEW
from portal.errors import Conflict, Invalid

from . import exports, selectors, services
from .models import ReportArchive

ARCHIVE_PAGE_SIZE = 50


def _context(request, **extra) -> dict:
    """The admin's look without its sidebar, as on the contributor pages."""
    context = admin.site.each_context(request)
    context["is_nav_sidebar_enabled"] = False
    context["has_permission"] = request.user.is_authenticated
    context.update(extra)
    return context


def _portfolio(request, slug: str):
    return selectors.portfolio_for(request.user, slug)


def _as_of(request) -> date | None:
    """``?as_of=YYYY-MM-DD``: None for today or absent; Invalid otherwise."""
    raw = request.GET.get("as_of", "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"as_of must be a date as YYYY-MM-DD, not {raw!r}.") from exc
    today = timezone.localdate()
    if day > today:
        raise Invalid(f"as_of {day} is in the future.")
    return None if day == today else day


def _bad_request(exc: Invalid) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(
        f"<!DOCTYPE html><title>Bad request</title><p>{escape(str(exc))}</p>"
    )


# Dashboard and drill-down ----------------------------------------------------


@login_required
@require_GET
def dashboard(request):
    """``/``: every portfolio in the user's scope and what needs attention."""
    data = selectors.dashboard(request.user)
    return render(
        request,
        "reporting/dashboard.html",
        _context(request, title="Dashboard", data=data),
    )


@login_required
@require_GET
def portfolio(request, slug: str):
    """Drill-down 1: one portfolio with its charts."""
    data = selectors.portfolio_dashboard(request.user, _portfolio(request, slug))
    return render(
        request,
        "reporting/portfolio.html",
        _context(request, title=data.portfolio.name, data=data),
    )


@login_required
@require_GET
def category(request, slug: str, pk: int):
    """Drill-down 2: a category of the portfolio and its milestones."""
    portfolio = _portfolio(request, slug)
    data = selectors.category_detail(request.user, portfolio, pk)
    return render(
        request,
        "reporting/category.html",
        _context(request, title=data.figures.name, data=data),
    )


@login_required
@require_GET
def milestone(request, slug: str, pk: int):
    """Drill-down 3: one milestone; its full history is the admin's page."""
    portfolio = _portfolio(request, slug)
    data = selectors.milestone_detail(request.user, portfolio, pk)
    return render(
        request,
        "reporting/milestone.html",
        _context(request, title=data.milestone.name, data=data, portfolio=portfolio),
    )


@login_required
@require_GET
def schedule(request, slug: str):
    """A portfolio's schedule: critical path, slips and completion odds."""
    portfolio = _portfolio(request, slug)
    try:
        data = selectors.schedule_page(request.user, portfolio)
    except Conflict as exc:  # a stored dependency cycle (not via the services)
        return HttpResponse(
            f"<!DOCTYPE html><title>Conflict</title><p>{escape(str(exc))}</p>",
            status=409,
        )
    return render(
        request,
        "reporting/schedule.html",
        _context(request, title=f"{portfolio.name}: schedule", data=data),
    )


# Executive report ------------------------------------------------------------


@login_required
@require_GET
def executive_preview(request, slug: str):
    """The executive status report as HTML (``?as_of=`` for a past day)."""
    portfolio = _portfolio(request, slug)
    try:
        report = selectors.executive_report(
            request.user, portfolio, as_of=_as_of(request)
        )
    except Invalid as exc:
        return _bad_request(exc)
    return HttpResponse(services.report_html(report, request=request))


@never_cache
@login_required
@require_GET
def executive_pdf(request, slug: str):
    """The executive status report as PDF (``?as_of=`` for a past day)."""
    portfolio = _portfolio(request, slug)
    try:
        report = selectors.executive_report(
            request.user, portfolio, as_of=_as_of(request)
        )
    except Invalid as exc:
        return _bad_request(exc)
    content = services.report_pdf(report)
    services.log_download(request.user, portfolio, "executive_pdf")
    response = HttpResponse(content, content_type="application/pdf")
    filename = services.report_filename(portfolio, report.as_of)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# Archive ---------------------------------------------------------------------


@login_required
@require_GET
def archive(request):
    """Past reports of the portfolios the user may download reports of."""
    reports = ReportArchive.objects.restrict(request.user, VIEW).select_related(
        "portfolio", "generated_by"
    )
    portfolios = selectors.portfolios_for(request.user)
    chosen = request.GET.get("portfolio", "")
    if chosen:
        reports = reports.filter(portfolio__slug=chosen)
    page = Paginator(reports, ARCHIVE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reporting/archive.html",
        _context(
            request,
            title="Report archive",
            page=page,
            portfolios=portfolios,
            chosen=chosen,
        ),
    )


@never_cache
@login_required
@require_GET
def archive_download(request, pk: int):
    """One archived PDF; 404 when missing or out of the user's scope."""
    report = get_for_user(
        ReportArchive.objects.select_related("portfolio"),
        request.user,
        VIEW,
        pk=pk,
    )
    try:
        handle = report.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The archived file is missing from storage.") from exc
    services.log_download(request.user, report, "archived_report")
    return FileResponse(
        handle,
        as_attachment=True,
        filename=report.filename,
        content_type="application/pdf",
    )


# Exports ---------------------------------------------------------------------

TABLES = {"scorecard": exports.scorecard_table, "milestones": exports.milestone_table}


@never_cache
@login_required
@require_GET
def export(request, slug: str, table: str, fmt: str):
    """The scorecard or the milestone list of a portfolio as CSV or XLSX."""
    if table not in TABLES or fmt not in exports.FORMATS:
        raise Http404("No such export.")
    portfolio = _portfolio(request, slug)
    data = TABLES[table](request.user, portfolio)
    services.log_download(request.user, portfolio, f"{table}_{fmt}")
    filename = f"{portfolio.slug}-{data.name}-{timezone.localdate():%Y-%m-%d}.{fmt}"
    response: HttpResponse | StreamingHttpResponse
    if fmt == "csv":
        response = StreamingHttpResponse(
            exports.csv_lines(data), content_type=exports.CONTENT_TYPES["csv"]
        )
    else:
        response = HttpResponse(
            exports.xlsx_bytes(data), content_type=exports.CONTENT_TYPES["xlsx"]
        )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
