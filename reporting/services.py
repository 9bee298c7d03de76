"""Writes and side effects of the reporting app: rendering the executive
report, archiving it, distributing it, and logging downloads."""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.policy import Viewer
from accounts.roles import Role
from milestones.models import Portfolio
from portal import audit
from portal.errors import Invalid
from portal.kernel import set_change_reason, set_history_user
from portal.models import AuditEvent
from risks.selectors import Audience, role_members

from .models import ReportArchive
from .pdf import html_to_pdf
from .selectors import (
    REPORT_PERIOD_DAYS,
    SYSTEM,
    ExecutiveReport,
    executive_report,
)

logger = logging.getLogger(__name__)
download_logger = logging.getLogger("cairn.downloads")

REPORT_STYLESHEET = "reporting/report.css"

if TYPE_CHECKING:
    from accounts.models import User


# Downloads -------------------------------------------------------------------


def log_download(user: Viewer, obj: Any, kind: str) -> None:
    """Record that ``user`` downloaded ``obj`` as ``kind``.

    ``kind`` names what left the system: ``"executive_pdf"`` (a live report),
    ``"archived_report"``, ``"scorecard_csv"``, ``"scorecard_xlsx"``,
    ``"milestones_csv"``, ``"milestones_xlsx"``. Every download view calls this
    one function before answering.

    It writes one line to the ``cairn.downloads`` logger and records an
    access event in the audit trail (``portal.audit``): a report download for
    the PDFs, an export for the tables, with ``kind`` and the portfolio in its
    details.
    """
    label = f"{obj._meta.label}:{obj.pk}" if hasattr(obj, "_meta") else str(obj)
    download_logger.info(
        "download kind=%s user=%s object=%s",
        kind,
        getattr(user, "username", None) or "-",
        label,
    )
    is_report = kind in ("executive_pdf", "archived_report")
    portfolio_id = (
        obj.pk if isinstance(obj, Portfolio) else getattr(obj, "portfolio_id", None)
    )
    audit.event_record(
        kind=AuditEvent.Kind.REPORT_DOWNLOAD if is_report else AuditEvent.Kind.EXPORT,
        user=user,
        obj=obj,
        details={"what": kind, "portfolio": portfolio_id},
    )


# Rendering -------------------------------------------------------------------


def report_stylesheet_path() -> str:
    """The file system path of the report's stylesheet (a static file)."""
    path = finders.find(REPORT_STYLESHEET)
    if not path:
        raise RuntimeError(f"The report stylesheet {REPORT_STYLESHEET} is missing.")
    return path


def _stylesheet_data_url() -> str:
    with open(report_stylesheet_path(), "rb") as handle:
        encoded = base64.b64encode(handle.read()).decode("ascii")
    return f"data:text/css;base64,{encoded}"


def report_html(
    report: ExecutiveReport,
    *,
    for_pdf: bool = False,
    standalone: bool = False,
    request: HttpRequest | None = None,
) -> str:
    """The report as an HTML document: the preview page (its stylesheet
    linked as a static file), the PDF's source (``for_pdf``: WeasyPrint gets
    the stylesheet from :func:`report_pdf`) or, ``standalone``, one file that
    carries its stylesheet as a ``data:`` URL. User text only ever goes into
    the escaped HTML, never into CSS."""
    generated = timezone.localtime(report.generated_at)
    footer = (
        f"Confidential — {report.portfolio.name}: for its executives and "
        "steering committee only. Do not forward."
    )
    return render_to_string(
        "reporting/executive_report.html",
        {
            "report": report,
            "for_pdf": for_pdf,
            "stylesheet_data_url": _stylesheet_data_url() if standalone else None,
            "footer": footer,
            "generated": generated,
        },
        request=request,
    )


def report_pdf(report: ExecutiveReport) -> bytes:
    """The report rendered to PDF by WeasyPrint (offline), styled by the
    report's stylesheet file."""
    return html_to_pdf(
        report_html(report, for_pdf=True), stylesheets=[report_stylesheet_path()]
    )


def report_filename(portfolio: Portfolio, day: date) -> str:
    return f"{portfolio.slug}-executive-report-{day:%Y-%m-%d}.pdf"


# Archive and distribution ----------------------------------------------------


def report_archive_create(
    *,
    actor: User | None,
    portfolio: Portfolio,
    reader: Viewer = None,
    as_of: date | None = None,
) -> ReportArchive:
    """Render the report of ``portfolio`` for the period ending ``as_of``
    (today when None, from live figures; a past day from history) and store
    it in the archive with its SHA-256.

    ``reader`` is whose view of the portfolio the report shows (default: the
    actor; :data:`~reporting.selectors.SYSTEM` for the scheduled run, with no
    actor). A report already archived for the period raises ``Invalid``.
    """
    report = executive_report(reader or actor, portfolio, as_of=as_of)
    # Each archived report carries the audit chain's head, sealed up to now:
    # copies of it outside the database anchor the chain (a cut tail fails
    # verify_audit_chain --expect-head).
    audit.seal()
    report.audit_anchor = "{}:{}".format(*audit.chain_head())
    content = report_pdf(report)
    archive = ReportArchive(
        portfolio=portfolio,
        audit_anchor=report.audit_anchor,
        period_start=report.period_start,
        period_end=report.period_end,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        generated_at=report.generated_at,
        generated_by=actor,
    )
    set_history_user(archive, actor)
    set_change_reason(archive, "Report generated")
    try:
        archive.full_clean(exclude=["file"])
    except ValidationError as exc:
        raise Invalid(" ".join(exc.messages)) from exc
    archive.file.save(
        report_filename(portfolio, report.period_end), ContentFile(content), save=False
    )
    try:
        with transaction.atomic():
            archive.save()
    except IntegrityError as exc:  # archived meanwhile by another worker
        archive.file.delete(save=False)
        raise Invalid("This report is already archived.") from exc
    return archive


def executives_of(portfolio: Portfolio) -> list[User]:
    """The active executives of a portfolio: members on the portfolio or on
    its org unit or any unit above it (the steering committee)."""
    audience = Audience(
        role=Role.EXECUTIVE,
        portfolio_id=portfolio.pk,
        unit_paths=(portfolio.org_unit.path,),
    )
    return role_members({"executives": audience})["executives"]


def report_archive_email(*, archive: ReportArchive) -> list[str]:
    """E-mail an archived report, as an attachment, to the portfolio's
    executives, once: an archive already e-mailed is left alone. Returns the
    addresses it was sent to."""
    with transaction.atomic():
        archive = ReportArchive.objects.select_for_update(no_key=True).get(
            pk=archive.pk
        )
        if archive.emailed_at is not None:
            return []
        portfolio = Portfolio.objects.select_related("org_unit").get(
            pk=archive.portfolio_id
        )
        recipients = sorted({u.email for u in executives_of(portfolio) if u.email})
        archive.file.open("rb")
        try:
            content = archive.file.read()
        finally:
            archive.file.close()
        subject = (
            f"{portfolio.name}: executive status report, week ending "
            f"{archive.period_end:%d %B %Y}"
        )
        body = (
            f"Attached is the executive status report of {portfolio.name} for "
            f"{archive.period_start:%d %b} to {archive.period_end:%d %b %Y}.\n\n"
            f"SHA-256 of the attachment: {archive.sha256}\n"
            "Past reports are listed on Cairn's report archive page.\n\n"
            "Confidential: for the portfolio's executives only."
        )
        messages = []
        for address in recipients:
            message = EmailMessage(
                subject, body, settings.DEFAULT_FROM_EMAIL, [address]
            )
            message.attach(archive.filename, content, "application/pdf")
            messages.append(message)
        if messages:
            get_connection().send_messages(messages)
        else:
            logger.warning("No executive with an e-mail address for %s", portfolio)
        archive.emailed_at = timezone.now()
        archive.recipients = "\n".join(recipients)
        set_history_user(archive, None)
        set_change_reason(archive, f"E-mailed to {len(recipients)} executive(s)")
        archive.save(update_fields=["emailed_at", "recipients"])
    return recipients


@dataclass(frozen=True)
class Distribution:
    archive: ReportArchive
    created: bool
    recipients: list[str]


def weekly_report_distribute(
    *, portfolio: Portfolio | int, day: date | None = None
) -> Distribution:
    """The weekly run for one portfolio: archive the report of the seven days
    ending ``day`` (default today) and e-mail it to the executives.

    Idempotent: a second run for the same period (a retry, a manual re-run)
    finds the archive and e-mails only if that had not happened yet.
    """
    if not isinstance(portfolio, Portfolio):
        portfolio = Portfolio.objects.select_related("org_unit").get(pk=portfolio)
    day = day or timezone.localdate()
    start = day - timedelta(days=REPORT_PERIOD_DAYS - 1)
    existing = ReportArchive.objects.filter(
        portfolio=portfolio,
        kind=ReportArchive.Kind.EXECUTIVE,
        period_start=start,
        period_end=day,
    ).first()
    created = existing is None
    if existing is None:
        as_of = None if day == timezone.localdate() else day
        try:
            existing = report_archive_create(
                actor=None, portfolio=portfolio, reader=SYSTEM, as_of=as_of
            )
        except Invalid:
            # Another worker archived it meanwhile.
            created = False
            existing = ReportArchive.objects.get(
                portfolio=portfolio, period_start=start, period_end=day
            )
    recipients = report_archive_email(archive=existing)
    return Distribution(existing, created, recipients)
