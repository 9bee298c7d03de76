"""``python manage.py executive_report SLUG --out FILE.pdf [--as-of YYYY-MM-DD]``"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import User
from milestones.models import Portfolio
from portal.errors import DomainError, NotFound
from reporting import selectors, services


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--as-of wants a date as YYYY-MM-DD, not {value!r}."
        ) from None


class Command(BaseCommand):
    help = (
        "Render a portfolio's executive status report to PDF. With --as-of, "
        "rebuild it from history as it stood at the end of that day."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The portfolio's slug.")
        parser.add_argument("--out", required=True, help="Where to write the PDF.")
        parser.add_argument("--as-of", default=None, help="Report day, YYYY-MM-DD.")
        parser.add_argument(
            "--as-user",
            default=None,
            help="Render what this user may see (default: the whole portfolio).",
        )
        parser.add_argument(
            "--html", action="store_true", help="Write the HTML preview instead."
        )

    def handle(self, *args, slug, out, as_of, as_user, html, **options):
        # Every refusal is one line (CommandError), never a traceback.
        as_of = _day(as_of) if as_of is not None else None
        today = timezone.localdate()
        if as_of is not None and as_of > today:
            raise CommandError(f"--as-of {as_of} is in the future.")
        if as_of == today:
            as_of = None  # today's report is the live one
        reader = selectors.SYSTEM
        if as_user:
            try:
                reader = User.objects.get(username=as_user, is_active=True)
            except User.DoesNotExist as exc:
                raise CommandError(f"No active user {as_user!r}.") from exc
        try:
            portfolio = selectors.portfolio_for(reader, slug)
        except NotFound:  # missing or out of the user's scope
            names = ", ".join(Portfolio.objects.values_list("slug", flat=True))
            raise CommandError(
                f"No portfolio {slug!r} visible here. Known: {names or 'none'}."
            ) from None
        path = Path(out)
        if path.is_dir():
            suffix = "html" if html else "pdf"
            raise CommandError(
                f"--out {out} is a directory; name the file, e.g. "
                f"{path / f'{slug}.{suffix}'}."
            )
        if not path.parent.exists():
            raise CommandError(f"The directory {path.parent} does not exist.")
        try:
            report = selectors.executive_report(reader, portfolio, as_of=as_of)
        except DomainError as exc:  # e.g. the portfolio did not exist that day
            raise CommandError(exc.message) from None
        if html:
            content = services.report_html(report, standalone=True).encode("utf-8")
        else:
            content = services.report_pdf(report)
        try:
            path.write_bytes(content)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror}.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {path} ({len(content):,} bytes, sha256 "
                f"{hashlib.sha256(content).hexdigest()[:16]}…): {portfolio.name}, "
                f"{'as of ' + str(report.as_of) if report.historical else 'today'}, "
                f"overall progress {report.progress.progress} %."
            )
        )
