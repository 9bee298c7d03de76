"""The dashboard pages, the report endpoints, the archive and the exports:
access (anonymous, no role, in scope, out of scope), content, bad input and
constant query counts."""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from milestones import services
from milestones.selectors import portfolio_progress

from ..factories import UserFactory, make_milestone, make_portfolio
from .helpers import backdate_history, pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def japan(org):
    """A portfolio owned by Japan: outside EMEA members' scope."""
    portfolio = make_portfolio(org.jp, slug="japan-only", name="Japan Only")
    make_milestone(portfolio, org.jp, name="Osaka kickoff")
    return portfolio


def url(name, *args):
    return reverse(f"reporting:{name}", args=args)


# Access -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/portfolios/ai-transformation/",
        "/reports/ai-transformation/executive/",
        "/reports/ai-transformation/executive.pdf",
        "/reports/ai-transformation/scorecard.csv",
        "/reports/archive/",
    ],
)
def test_anonymous_is_sent_to_the_login_page(client, portfolio, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")


def test_dashboard_is_the_home_page(client, executive):
    client.force_login(executive)
    assert reverse("reporting:dashboard") == "/"
    assert client.get("/").status_code == 200


def test_user_without_role_sees_an_empty_dashboard(client, portfolio):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 200
    assert b"No portfolio is in your scope" in response.content


@pytest.mark.parametrize("name", ["portfolio", "executive_preview", "executive_pdf"])
def test_out_of_scope_portfolio_answers_404(client, contributor_emea, japan, name):
    client.force_login(contributor_emea)
    assert client.get(url(name, japan.slug)).status_code == 404
    assert client.get(url(name, "no-such-portfolio")).status_code == 404


def test_out_of_scope_exports_answer_404(client, contributor_emea, japan):
    client.force_login(contributor_emea)
    for table in ("scorecard", "milestones"):
        for fmt in ("csv", "xlsx"):
            response = client.get(url("export", japan.slug, table, fmt))
            assert response.status_code == 404


def test_out_of_scope_category_and_milestone_answer_404(
    client, contributor_emea, programme, japan
):
    client.force_login(contributor_emea)
    portfolio = programme.portfolio
    osaka = japan.milestones.get()
    # A category of another portfolio, a milestone outside the region, a
    # milestone of another portfolio under this portfolio's slug.
    foreign_category = japan.categories.first()
    assert (
        client.get(url("category", portfolio.slug, foreign_category.pk)).status_code
        == 404
    )
    assert (
        client.get(url("milestone", portfolio.slug, programme.tokyo.pk)).status_code
        == 404
    )
    assert client.get(url("milestone", portfolio.slug, osaka.pk)).status_code == 404
    assert (
        client.get(url("milestone", portfolio.slug, programme.platform.pk)).status_code
        == 200
    )


# Dashboard content --------------------------------------------------------------


def test_dashboard_shows_progress_scorecard_risks_escalations_and_due(
    client, executive, programme
):
    client.force_login(executive)
    response = client.get("/")
    data = response.context["data"]
    card = data.cards[0]
    expected = portfolio_progress(executive, programme.portfolio)

    assert card.progress == expected
    assert f'data-figure="overall-progress">{expected.progress}%' in response.text
    # The one status and its reason replace "behind plan" (reporting.status).
    assert card.status.overall.rag in ("amber", "red")
    assert f'data-status="{card.status.overall.rag}"' in response.text
    assert card.status.overall.reason in response.text
    assert expected.schedule_label not in response.text
    assert [c.name for c in card.categories] == [
        "Foundation",
        "Quick Wins",
        "Process Integration",
        "Enterprise Scaling",
        "Optimization",
    ]
    assert "Vendor lock-in on the ML platform" in response.text
    assert data.escalation_count == 1
    assert [m.name for m in data.due_soon] == [
        programme.platform.name,
        programme.pilots.name,
    ]
    assert {r.name for r in data.regions} >= {"EMEA", "APAC"}
    assert "<svg" in response.text and "Risk heat map" in response.text
    # Charts are server-rendered SVG: no script of their own, nothing remote.
    assert "<script" not in card.chart and "<script" not in data.heat_map
    assert "http" not in card.chart.replace("http://www.w3.org/2000/svg", "")


def test_drill_down_portfolio_category_milestone_history(client, executive, programme):
    client.force_login(executive)
    portfolio = programme.portfolio
    foundation = programme.platform.category

    page = client.get(url("portfolio", portfolio.slug))
    assert page.status_code == 200
    category_url = url("category", portfolio.slug, foundation.pk)
    assert category_url in page.text
    assert page.text.count("<svg") >= 4  # categories, heat map, burn-up, timeline

    page = client.get(category_url)
    assert page.status_code == 200
    milestone_url = url("milestone", portfolio.slug, programme.platform.pk)
    assert milestone_url in page.text
    assert programme.pilots.name not in page.text  # another category

    page = client.get(milestone_url)
    assert page.status_code == 200
    assert "Feature store live for the first two domains" in page.text
    history = reverse(
        "admin:milestones_milestone_history", args=[programme.platform.pk]
    )
    assert history in page.text
    assert client.get(history).status_code == 200


def test_contributor_dashboard_is_limited_to_their_region(
    client, contributor_emea, programme
):
    client.force_login(contributor_emea)
    response = client.get(url("portfolio", programme.portfolio.slug))
    assert response.status_code == 200
    assert programme.platform.name in response.text
    assert programme.tokyo.name not in response.text


def _dashboard_queries(client, path) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    return len(context.captured_queries)


def _grow(portfolio, org, pmo, count):
    """``count`` more milestones, half of them reported on, chained in pairs."""
    today = timezone.localdate()
    units = [org.fr, org.de, org.jp, org.us]
    previous = None
    for n in range(count):
        milestone = make_milestone(
            portfolio,
            units[n % 4],
            category=portfolio.categories.all()[n % 5],
            planned_start=today - timedelta(days=40 - n % 30),
            planned_completion=today + timedelta(days=n % 45),
        )
        if n % 2:
            services.milestone_submit_update(
                actor=pmo,
                milestone=milestone,
                expected_version=milestone.version,
                status="on_track",
                percent_complete=Decimal(n % 100),
                actual_spend=Decimal("10"),
            )
            services.dependency_add(
                actor=None, predecessor=previous, successor=milestone
            )
        previous = milestone


@pytest.mark.parametrize("which", ["dashboard", "portfolio"])
def test_dashboard_query_count_is_constant(
    client, executive, org, pmo, portfolio, which, django_assert_max_num_queries
):
    from django.core.cache import cache

    path = "/" if which == "dashboard" else url("portfolio", portfolio.slug)
    client.force_login(executive)
    _grow(portfolio, org, pmo, 10)
    cache.clear()  # the schedule outlook is computed, not found memoised
    few = _dashboard_queries(client, path)
    _grow(portfolio, org, pmo, 190)
    cache.clear()
    with django_assert_max_num_queries(few):
        client.get(path)
    cache.clear()
    assert _dashboard_queries(client, path) == few
    if which == "dashboard":
        # Nothing changed since: the outlook (3 queries: milestones,
        # dependencies, update history), the portfolio figures (2: aggregates
        # and categories) and the regional comparison (2: aggregates and
        # regions) are found kept.
        assert _dashboard_queries(client, path) == few - 3 - 2 - 2


# Executive report endpoints --------------------------------------------------


def test_pdf_download_is_logged_and_holds_the_selector_figure(
    client, executive, programme, caplog
):
    client.force_login(executive)
    with caplog.at_level(logging.INFO, logger="cairn.downloads"):
        response = client.get(url("executive_pdf", programme.portfolio.slug))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment;" in response["Content-Disposition"]
    text = pdf_text(response.content)
    assert f"{portfolio_progress(executive, programme.portfolio).progress}%" in text
    assert any(
        "kind=executive_pdf" in r.getMessage() and "user=exec" in r.getMessage()
        for r in caplog.records
    )


def test_html_preview_is_the_report(client, executive, programme):
    client.force_login(executive)
    response = client.get(url("executive_preview", programme.portfolio.slug))
    assert response.status_code == 200
    for heading in (
        "Executive summary",
        "Key achievements this period",
        "Critical risks",
        "Business impact",
        "Milestone status",
        "Resource utilization",
        "Next period focus",
        "Executive actions",
    ):
        assert heading in response.text
    assert url("executive_pdf", programme.portfolio.slug) in response.text


@pytest.mark.parametrize("value", ["yesterday", "2026-02-30", "2999-01-01"])
def test_bad_as_of_answers_400(client, executive, programme, value):
    client.force_login(executive)
    for name in ("executive_preview", "executive_pdf"):
        response = client.get(url(name, programme.portfolio.slug), {"as_of": value})
        assert response.status_code == 400
        assert b"as_of" in response.content


def test_preview_as_of_a_past_day(client, executive, programme):
    client.force_login(executive)
    backdate_history(3)
    day = timezone.localdate() - timedelta(days=1)
    response = client.get(
        url("executive_preview", programme.portfolio.slug), {"as_of": day.isoformat()}
    )
    assert response.status_code == 200
    assert "reproduced from history" in response.text


# Exports -------------------------------------------------------------------------


def test_scorecard_csv(client, executive, programme):
    client.force_login(executive)
    response = client.get(url("export", programme.portfolio.slug, "scorecard", "csv"))
    assert response.status_code == 200
    rows = list(
        csv.reader(
            io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))
        )
    )
    assert rows[0][:4] == ["Milestone category", "Weight (%)", "Status", "Progress (%)"]
    assert [r[0] for r in rows[1:]] == [
        "Foundation",
        "Quick Wins",
        "Process Integration",
        "Enterprise Scaling",
        "Optimization",
    ]
    assert rows[1][3] == "80.00"


def test_milestone_xlsx_and_formula_cells_are_neutralised(
    client, executive, programme, org
):
    from openpyxl import load_workbook

    make_milestone(programme.portfolio, org.fr, name='=HYPERLINK("http://x")')
    client.force_login(executive)

    response = client.get(url("export", programme.portfolio.slug, "milestones", "xlsx"))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("ID", "Code", "Milestone")
    names = {r[2] for r in rows[1:]}
    assert programme.platform.name in names
    assert '\'=HYPERLINK("http://x")' in names
    assert len(rows) == 1 + programme.portfolio.milestones.count()

    response = client.get(url("export", programme.portfolio.slug, "milestones", "csv"))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in text


def test_contributor_export_holds_only_their_milestones(
    client, contributor_emea, programme
):
    client.force_login(contributor_emea)
    response = client.get(url("export", programme.portfolio.slug, "milestones", "csv"))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert programme.platform.name in text
    assert programme.tokyo.name not in text


# Archive ---------------------------------------------------------------------


@pytest.fixture
def archived(programme):
    from reporting import services as reporting_services
    from reporting.selectors import SYSTEM

    return reporting_services.report_archive_create(
        actor=None, portfolio=programme.portfolio, reader=SYSTEM
    )


def test_executive_lists_and_downloads_archived_reports(
    client, executive, archived, caplog
):
    import hashlib

    client.force_login(executive)
    page = client.get(url("archive"))
    assert page.status_code == 200
    download = url("archive_download", archived.pk)
    assert download in page.text
    assert archived.sha256[:16] in page.text

    with caplog.at_level(logging.INFO, logger="cairn.downloads"):
        response = client.get(download)
    content = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert hashlib.sha256(content).hexdigest() == archived.sha256
    assert any("kind=archived_report" in r.getMessage() for r in caplog.records)


def test_archive_downloads_need_the_whole_portfolio_in_scope(
    client, member, org, archived
):
    """A contributor sees the portfolio through their milestones, but may not
    download a report about all of it; a portfolio member may."""
    contributor = member(Role.CONTRIBUTOR, org.emea, username="chris")
    client.force_login(contributor)
    assert archived.pk not in [r.pk for r in client.get(url("archive")).context["page"]]
    assert client.get(url("archive_download", archived.pk)).status_code == 404

    sponsor = member(Role.EXECUTIVE, archived.portfolio, username="sponsor")
    client.force_login(sponsor)
    assert client.get(url("archive_download", archived.pk)).status_code == 200
