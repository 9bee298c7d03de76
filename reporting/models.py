"""The report archive: every executive status report the system distributed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from accounts.policy import Scope
from accounts.querysets import RestrictedQuerySet


def archive_path(instance: ReportArchive, filename: str) -> str:
    return f"reports/{instance.portfolio.slug}/{filename}"


class ReportArchiveQuerySet(RestrictedQuerySet["ReportArchive"]):
    pass


class ReportArchive(models.Model):
    """One rendered report of a portfolio for a period, stored immutably.

    The file lives in the default storage; ``sha256`` is the digest of its
    bytes when it was stored, so a copy can be checked against the archive.
    Downloading needs a grant covering the whole portfolio (its org unit or
    the portfolio itself): a contributor who sees the portfolio only through
    their own milestones may not download a report about all of it.
    """

    class Kind(models.TextChoices):
        EXECUTIVE = "executive", "Executive status report"

    portfolio = models.ForeignKey(
        "milestones.Portfolio", on_delete=models.PROTECT, related_name="reports"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EXECUTIVE)
    period_start = models.DateField()
    period_end = models.DateField()
    file = models.FileField(upload_to=archive_path, max_length=300)
    sha256 = models.CharField("SHA-256", max_length=64)
    size = models.PositiveIntegerField(help_text="Bytes.")
    generated_at = models.DateTimeField()
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the scheduled distribution generated it.",
    )
    audit_anchor = models.CharField(
        max_length=90,
        blank=True,
        help_text="The audit chain's head when the report was generated "
        "(SEQUENCE:HASH; verify_audit_chain --expect-head).",
    )
    emailed_at = models.DateTimeField(null=True, blank=True)
    recipients = models.TextField(
        blank=True, help_text="Addresses the report was e-mailed to, one a line."
    )

    objects = ReportArchiveQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(org_unit="portfolio__org_unit", portfolio="portfolio")

    class Meta:
        ordering = ["-period_end", "portfolio__name"]
        verbose_name = "archived report"
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "kind", "period_start", "period_end"],
                name="report_archive_unique_period",
                violation_error_message="This report is already archived.",
            ),
            models.CheckConstraint(
                name="report_archive_period_order",
                condition=Q(period_end__gte=F("period_start")),
                violation_error_message="The period cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio} — {self.get_kind_display()} {self.period_end}"

    @property
    def filename(self) -> str:
        return f"{self.portfolio.slug}-executive-report-{self.period_end:%Y-%m-%d}.pdf"
