"""The executive's path through the dashboard in a real browser (Chromium):
open the dashboard, drill down portfolio -> category -> milestone -> its
history, and download the executive report as PDF."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from milestones.selectors import portfolio_progress
from reporting.selectors import portfolio_dashboard

from ..reporting.conftest import media_root, programme  # noqa: F401 - fixtures
from ..reporting.helpers import pdf_text

pytestmark = pytest.mark.e2e

SCREENSHOTS = "/tmp"


def test_executive_drills_down_to_a_milestone_and_downloads_the_pdf(
    desktop,
    sign_in,
    live_server,
    executive,
    programme,  # noqa: F811
):
    portfolio = programme.portfolio
    progress = portfolio_progress(executive, portfolio)
    page = sign_in(desktop, executive, next="/")

    card = page.locator(f"[data-portfolio='{portfolio.slug}']")
    expect(card.locator("[data-figure='overall-progress']")).to_have_text(
        f"{progress.progress}%"
    )
    # The one status with its reason (reporting.status), not "behind plan".
    status = portfolio_dashboard(executive, portfolio).status.overall
    headline = card.locator("[data-figure='portfolio-status']")
    expect(headline).to_contain_text(status.label)
    expect(headline).to_contain_text(status.reason)
    expect(card).not_to_contain_text(progress.schedule_label)
    expect(page.locator("#risks-h")).to_be_visible()
    expect(page.get_by_text("Vendor lock-in on the ML platform")).to_be_visible()
    expect(card.locator("svg.cairn-chart")).to_be_visible()
    page.screenshot(path=f"{SCREENSHOTS}/cairn-dashboard.png", full_page=True)

    card.get_by_role("link", name=portfolio.name).click()
    page.wait_for_url(re.compile(rf"/portfolios/{portfolio.slug}/$"))
    expect(page.locator("svg.cairn-chart")).to_have_count(4)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-portfolio.png", full_page=True)

    page.locator("table.rp-scorecard").get_by_role("link", name="Foundation").click()
    page.wait_for_url(re.compile(rf"/portfolios/{portfolio.slug}/categories/\d+/$"))
    expect(page.locator("h1")).to_have_text("Foundation")

    page.get_by_role("link", name=programme.platform.name).click()
    page.wait_for_url(
        re.compile(
            rf"/portfolios/{portfolio.slug}/milestones/{programme.platform.pk}/$"
        )
    )
    expect(page.locator("h1")).to_have_text(programme.platform.name)
    expect(
        page.get_by_text("Feature store live for the first two domains")
    ).to_be_visible()

    page.get_by_role("link", name="History", exact=True).click()
    page.wait_for_url(
        re.compile(rf"/admin/milestones/milestone/{programme.platform.pk}/history/$")
    )
    expect(page.locator("#content")).to_contain_text("Progress update #")

    page.goto(f"{live_server.url}/portfolios/{portfolio.slug}/")
    with page.expect_download(timeout=90_000) as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"{portfolio.slug}-executive-report-")
    with open(download.path(), "rb") as handle:
        text = pdf_text(handle.read())
    assert portfolio.name in text
    assert f"{progress.progress}%" in text
    assert "Vendor lock-in on the ML platform" in text
