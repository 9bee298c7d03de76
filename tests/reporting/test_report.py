"""The executive status report: its PDF text, its figures, as-of reproduction
from history and the ``executive_report`` command."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from milestones.models import Status
from milestones.selectors import category_progress, portfolio_progress
from portal.errors import Invalid
from reporting import selectors, services
from reporting.selectors import SYSTEM, executive_report
from risks import services as risk_services

from .conftest import LOW_RISK_TITLE, TOP_RISK_TITLES, report
from .helpers import backdate_history, pdf_pages, pdf_text

pytestmark = pytest.mark.django_db


def test_pdf_names_the_portfolio_the_selector_progress_and_the_top_risks(
    programme, executive
):
    portfolio = programme.portfolio
    expected = portfolio_progress(executive, portfolio)

    content = services.report_pdf(executive_report(executive, portfolio))
    text = pdf_text(content)

    assert "AI Transformation Progress Report" in text
    assert f"{expected.progress}%" in text
    planned = expected.planned_progress
    assert f"{expected.progress}% complete (planned {planned}%" in text
    # The one status with its reason (reporting.status), not "behind plan".
    report = executive_report(executive, portfolio)
    assert f"Status: {report.status.overall.label}" in text
    assert expected.schedule_label not in text
    for title in TOP_RISK_TITLES:
        assert title in text
    assert LOW_RISK_TITLE not in text  # critical risks are the top three only
    # Pending approvals: the section is there; this scene has none pending.
    assert "Pending approvals" in text
    assert "No approval pending." in text


def test_report_figures_are_the_dashboard_selectors(programme, executive):
    portfolio = programme.portfolio
    data = executive_report(executive, portfolio)

    assert data.progress == portfolio_progress(executive, portfolio)
    assert data.categories == category_progress(executive, portfolio)
    assert [r.title for r in data.top_risks] == list(TOP_RISK_TITLES)
    # Overall progress by hand: 25 % x 80 + 20 % x 40 + 30 % x 25 = 35.5 %.
    assert data.progress.progress == Decimal("35.50")
    assert data.budget_spent == Decimal("120000.00")
    assert data.budget_allocated == Decimal("400000.00")
    assert data.budget_utilisation == Decimal("30.00")
    assert data.fte_total == Decimal("4.0")
    assert sorted(u.name for u in data.fte_units) == ["France", "Japan"]
    assert [k.attainment for k in data.kpis] == [Decimal("25.0")]
    assert {a.milestone for a in data.achievements} == {
        programme.platform.name,
        programme.pilots.name,
    }
    assert [m.name for m in data.upcoming] == [
        programme.platform.name,
        programme.pilots.name,
    ]
    assert data.escalation_count == 1  # the pilots are 30 days late
    assert data.approvals == [] and data.resource_needs == []


def test_pdf_has_page_numbers_date_and_confidentiality_footer_on_every_page(
    programme, executive
):
    content = services.report_pdf(executive_report(executive, programme.portfolio))
    pages = pdf_pages(content)
    today = timezone.localdate()

    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        assert "Confidential" in text
        assert today.strftime("%d %b %Y") in text


def test_report_follows_the_readers_scope(programme, contributor_emea):
    """A contributor's report covers the milestones they may see only."""
    data = executive_report(contributor_emea, programme.portfolio)
    names = {m.name for s in data.sections for m in s.milestones}

    assert programme.tokyo.name not in names
    assert programme.platform.name in names
    assert data.progress == portfolio_progress(contributor_emea, programme.portfolio)


def test_as_of_report_leaves_out_changes_made_after_the_date(programme, executive):
    portfolio = programme.portfolio
    before = portfolio_progress(executive, portfolio)
    backdate_history(10)
    as_of = timezone.localdate() - timedelta(days=5)
    # After the date: the platform completes, a new critical risk is logged.
    report(
        programme.platform,
        status=Status.COMPLETED,
        percent=100,
        spend="95000",
        achievements="Platform handed over to operations",
    )
    risk_services.risk_create(
        actor=None,
        portfolio=portfolio,
        title="Regulator audit moved forward",
        probability=5,
        impact=5,
    )

    past = executive_report(executive, portfolio, as_of=as_of)
    live = executive_report(executive, portfolio)
    past_text = pdf_text(services.report_pdf(past))
    live_text = pdf_text(services.report_pdf(live))

    assert past.historical and past.as_of == as_of
    assert past.progress.progress == before.progress == Decimal("35.50")
    assert live.progress.progress > before.progress
    assert past.progress.counts[Status.COMPLETED] == 0
    assert f"{before.progress}%" in past_text
    assert "reproduced from history" in past_text
    assert "Platform handed over to operations" not in past_text
    assert "Regulator audit moved forward" not in past_text
    assert "Platform handed over to operations" in live_text
    assert "Regulator audit moved forward" in live_text
    # Before the portfolio existed there is no report (not a 0 % one).
    with pytest.raises(Invalid, match="did not exist on"):
        executive_report(
            executive, portfolio, as_of=timezone.localdate() - timedelta(days=30)
        )


def test_history_source_reproduces_todays_live_figures(programme, executive):
    """Rebuilt from history at the end of today, the figures are the live ones."""
    from reporting.history import HistorySource

    today = timezone.localdate()
    live = selectors.LiveSource(executive, programme.portfolio, today)
    past = HistorySource(executive, programme.portfolio, today)

    assert past.progress() == live.progress()
    live_categories = live.categories()
    for mine, theirs in zip(past.categories(), live_categories, strict=True):
        assert mine.name == theirs.name
        assert (mine.progress, mine.planned_progress) == (
            theirs.progress,
            theirs.planned_progress,
        )
        assert (mine.status, mine.risk_level, mine.counts) == (
            theirs.status,
            theirs.risk_level,
            theirs.counts,
        )
    assert past.budget() == live.budget()
    assert past.fte_by_unit() == live.fte_by_unit()
    assert [r.title for r in past.top_risks(3)] == [r.title for r in live.top_risks(3)]
    assert past.heat_cells() == live.heat_cells()
    assert past.kpis() == live.kpis()
    assert sorted(past.links()) == sorted(live.links())
    assert past.burn_up() == live.burn_up()


def test_command_writes_the_pdf(programme, tmp_path):
    out = tmp_path / "report.pdf"
    call_command("executive_report", programme.portfolio.slug, "--out", str(out))

    text = pdf_text(out.read_bytes())
    expected = portfolio_progress(SYSTEM, programme.portfolio).progress
    assert "AI Transformation" in text
    assert f"{expected}%" in text


def test_command_as_of_reproduces_the_past(programme, tmp_path):
    backdate_history(10)
    report(programme.platform, status=Status.COMPLETED, percent=100, spend="1")
    out = tmp_path / "past.pdf"
    day = timezone.localdate() - timedelta(days=3)

    call_command(
        "executive_report",
        programme.portfolio.slug,
        "--out",
        str(out),
        "--as-of",
        day.isoformat(),
    )

    text = pdf_text(out.read_bytes())
    assert "35.50%" in text
    assert "reproduced from history" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-portfolio"], "No portfolio 'no-such-portfolio'"),
        (["ai-transformation", "--as-of", "2026-13-45"], "YYYY-MM-DD"),
        (["ai-transformation", "--as-of", "2999-01-01"], "in the future"),
        (["ai-transformation", "--as-user", "nobody"], "No active user"),
    ],
)
def test_command_refuses_bad_input(portfolio, tmp_path, args, message):
    out = tmp_path / "x.pdf"
    with pytest.raises(CommandError, match=message):
        call_command("executive_report", *args, "--out", str(out))
    assert not out.exists()


def test_command_refuses_a_directory_as_out(portfolio, tmp_path):
    with pytest.raises(CommandError, match="is a directory; name the file"):
        call_command("executive_report", portfolio.slug, "--out", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_command_refuses_a_day_before_the_portfolio_existed(portfolio, tmp_path):
    out = tmp_path / "x.pdf"
    before = timezone.localdate(portfolio.created_at) - timedelta(days=1)
    with pytest.raises(CommandError, match="did not exist on"):
        call_command(
            "executive_report",
            portfolio.slug,
            "--out",
            str(out),
            "--as-of",
            before.isoformat(),
        )
    assert not out.exists()


def test_report_page_refuses_a_day_before_the_portfolio_existed(client, portfolio, pmo):
    client.force_login(pmo)
    before = timezone.localdate(portfolio.created_at) - timedelta(days=1)
    url = f"/reports/{portfolio.slug}/executive/?as_of={before.isoformat()}"

    response = client.get(url)

    assert response.status_code == 400
    assert b"did not exist on" in response.content


def test_command_line_errors_are_one_line_without_a_traceback():
    import subprocess
    import sys

    from django.conf import settings

    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "executive_report",
            "any",
            "--out",
            "/tmp/x.pdf",
            "--as-of",
            "2026-13-01",
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "DEBUG": "True"},
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "CommandError: --as-of wants a date as YYYY-MM-DD, not '2026-13-01'."
    ]


def test_command_as_user_is_scoped(programme, tmp_path, org, member):
    from accounts.roles import Role

    from ..factories import make_portfolio

    make_portfolio(org.jp, slug="japan-only")
    user = member(Role.CONTRIBUTOR, org.emea, username="chris")
    with pytest.raises(CommandError, match="No portfolio 'japan-only'"):
        call_command(
            "executive_report",
            "japan-only",
            "--out",
            str(tmp_path / "x.pdf"),
            "--as-user",
            user.username,
        )


def test_pdf_lists_pending_approvals_and_reauthorizations(programme, executive, pmo):
    from approvals.models import ApprovalRequest
    from approvals.services import approval_request

    platform = programme.platform
    request = approval_request(
        actor=pmo,
        milestone=platform,
        kind=ApprovalRequest.Kind.REAUTHORIZATION,
        reason="Vendor price increase",
        new_approved_budget=platform.approved_budget + Decimal("50000"),
    )
    data = executive_report(executive, programme.portfolio)
    assert [a.pk for a in data.approvals] == [request.pk]

    text = pdf_text(services.report_pdf(data))

    assert "Pending approvals" in text
    assert "No approval pending." not in text
    assert platform.name in text.split("Pending approvals", 1)[1]


def test_as_of_report_lists_the_approvals_pending_that_day(programme, executive, pmo):
    from approvals.models import ApprovalRequest
    from approvals.services import approval_decide, approval_request

    platform = programme.platform
    reauthorization = approval_request(
        actor=pmo,
        milestone=platform,
        kind=ApprovalRequest.Kind.REAUTHORIZATION,
        reason="Vendor price increase",
        new_approved_budget=platform.approved_budget + Decimal("1000"),
    )
    baseline = approval_request(
        actor=pmo,
        milestone=platform,
        kind=ApprovalRequest.Kind.BASELINE_CHANGE,
        reason="Criteria sharpened",
        new_success_criteria="Platform serves every region.",
    )
    backdate_history(10)
    # After the report day: the reauthorization is approved.
    approval_decide(actor=executive, approval=reauthorization, outcome="approve")
    day = timezone.localdate() - timedelta(days=5)

    past = executive_report(executive, programme.portfolio, as_of=day)
    live = executive_report(executive, programme.portfolio)

    assert [a.id for a in past.approvals] == [reauthorization.pk, baseline.pk]
    assert [a.id for a in past.resource_needs] == [reauthorization.pk]
    assert [a.pk for a in live.approvals] == [baseline.pk]
    assert live.resource_needs == []
    # Written as the live report writes a request.
    assert str(past.approvals[1]) == str(ApprovalRequest.objects.get(pk=baseline.pk))
    text = " ".join(pdf_text(services.report_pdf(past)).split())
    assert "No reauthorization pending." not in text
    assert "No approval pending." not in text
    assert f"#{reauthorization.pk} Budget/timeline reauthorization" in text


def test_as_of_report_hides_pending_approvals_out_of_the_readers_scope(
    programme, pmo, member, org
):
    from accounts.roles import Role
    from approvals.models import ApprovalRequest
    from approvals.services import approval_request

    outside = programme.tokyo  # Japan: outside EMEA
    approval_request(
        actor=pmo,
        milestone=outside,
        kind=ApprovalRequest.Kind.BASELINE_CHANGE,
        reason="Out of EMEA",
        new_success_criteria="Elsewhere.",
    )
    backdate_history(10)
    reader = member(Role.CONTRIBUTOR, org.emea, username="emea-reader")
    day = timezone.localdate() - timedelta(days=5)

    past = executive_report(reader, programme.portfolio, as_of=day)

    assert past.approvals == []
