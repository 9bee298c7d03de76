"""The regional update workflow in a real browser (Chromium), phone-sized."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from milestones import services
from milestones.models import Milestone, ProgressUpdate, Status

pytestmark = pytest.mark.e2e

SCREENSHOTS = "/tmp"


@pytest.fixture
def paris(milestone_in, org):
    return milestone_in(org.fr, name="Paris data platform", code="EMEA-7")


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide on a {viewport}px screen"


def test_contributor_submits_update_on_a_phone(
    phone, sign_in, live_server, contributor_emea, paris, milestone_in, org
):
    milestone_in(org.de, name="Berlin rollout")
    page = sign_in(phone, contributor_emea)

    expect(page.locator("h1")).to_have_text("My milestones")
    row = page.locator(f"tr[data-milestone='{paris.pk}']")
    expect(row).to_contain_text("Paris data platform")
    expect(row).to_contain_text("Not started")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-list.png", full_page=True)

    row.get_by_role("link", name="Update").click()
    page.wait_for_url(re.compile(rf"/milestones/{paris.pk}/update/$"))
    expect(page.locator("h1")).to_have_text("Paris data platform")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-form.png", full_page=True)

    page.select_option("#id_status", Status.ON_TRACK)
    page.fill("#id_percent_complete", "45")
    page.fill("#id_actual_spend", "18000")
    page.fill("#id_forecast_completion", "2049-06-30")
    page.fill("#id_achievements", "Data lake live in Paris")
    page.fill("#id_blockers", "Awaiting security review")
    page.get_by_role("button", name="Submit update").click()

    expect(page.locator(".messagelist .success")).to_contain_text(
        "Progress update saved"
    )
    latest = page.locator(".cairn-update").first
    expect(latest).to_contain_text("Data lake live in Paris")
    expect(latest).to_contain_text("On track")
    expect(page.locator(".cairn-current")).to_contain_text("45 %")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-saved.png", full_page=True)

    paris.refresh_from_db()
    assert paris.status == Status.ON_TRACK
    assert paris.percent_complete == Decimal("45")
    assert paris.updates.get().author == contributor_emea

    page.get_by_role("link", name="Back to my milestones").first.click()
    row = page.locator(f"tr[data-milestone='{paris.pk}']")
    expect(row).to_contain_text("On track")
    expect(row).to_contain_text("45 %")


def test_stale_form_shows_the_conflict_and_keeps_input(
    phone, sign_in, live_server, contributor_emea, pmo, paris
):
    page = sign_in(phone, contributor_emea, next=f"/milestones/{paris.pk}/update/")
    page.fill("#id_percent_complete", "60")
    page.fill("#id_achievements", "My careful notes")

    # Meanwhile, the PMO saves an update on the same milestone.
    services.milestone_submit_update(
        actor=pmo,
        milestone=paris,
        expected_version=1,
        status=Status.AT_RISK,
        percent_complete=Decimal("30"),
        actual_spend=Decimal("500"),
    )

    page.get_by_role("button", name="Submit update").click()
    conflict = page.locator(".cairn-conflict")
    expect(conflict).to_contain_text("Someone else updated this milestone")
    percent_row = conflict.locator("tr", has_text="Percent complete")
    expect(percent_row).to_contain_text("60 %")
    expect(percent_row).to_contain_text("30 %")
    expect(percent_row).to_contain_text(str(pmo))
    expect(page.locator("#id_percent_complete")).to_have_value("60")
    expect(page.locator("#id_achievements")).to_have_value("My careful notes")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-conflict.png", full_page=True)

    paris.refresh_from_db()
    assert paris.percent_complete == Decimal("30")
    assert not ProgressUpdate.objects.filter(author=contributor_emea).exists()

    # Having seen the other update, the contributor saves knowingly.
    page.get_by_role("button", name="Submit update").click()
    expect(page.locator(".messagelist .success")).to_contain_text("saved")
    paris.refresh_from_db()
    assert paris.percent_complete == Decimal("60")


def test_contributor_cannot_open_other_region_update_page(
    phone, sign_in, live_server, contributor_apac, paris
):
    page = sign_in(phone, contributor_apac)
    expect(page.locator(f"tr[data-milestone='{paris.pk}']")).to_have_count(0)
    response = page.goto(f"{live_server.url}/milestones/{paris.pk}/update/")
    assert response.status == 404


def test_quick_update_is_all_or_nothing_in_the_browser(
    phone, sign_in, live_server, contributor_emea, milestone_in, org
):
    first = milestone_in(org.fr, name="First rollout")
    second = milestone_in(org.de, name="Second rollout")
    page = sign_in(phone, contributor_emea, next="/milestones/quick-update/")
    page.fill(f"#id_percent-{first.pk}", "50")
    page.fill(f"#id_percent-{second.pk}", "140")
    page.get_by_role("button", name="Save all").click()
    expect(page.locator(f"tr[data-milestone='{second.pk}']")).to_contain_text(
        "from 0 to 100"
    )
    expect(page.locator(f"#id_percent-{first.pk}")).to_have_value("50")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-phone-quick.png", full_page=True)
    assert set(Milestone.objects.values_list("version", flat=True)) == {1}

    page.fill(f"#id_percent-{second.pk}", "40")
    page.get_by_role("button", name="Save all").click()
    expect(page.locator(".messagelist .success")).to_contain_text("2 milestones")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.percent_complete, second.percent_complete) == (50, 40)


def test_pages_lay_out_on_a_desktop(
    desktop, sign_in, live_server, contributor_emea, paris, milestone_in, org
):
    milestone_in(org.de, name="Berlin rollout")
    services.milestone_submit_update(
        actor=contributor_emea,
        milestone=paris,
        expected_version=None,
        status=Status.AT_RISK,
        percent_complete=Decimal("20"),
        actual_spend=Decimal("100"),
        achievements="Kick-off done",
    )
    page = sign_in(desktop, contributor_emea)
    # The table keeps its header row on a wide screen.
    expect(page.locator(".cairn-table thead").first).to_be_visible()
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-desktop-list.png", full_page=True)
    page.goto(f"{live_server.url}/milestones/{paris.pk}/update/")
    expect(page.locator(".cairn-update").first).to_contain_text("Kick-off done")
    no_horizontal_scroll(page)
    page.screenshot(path=f"{SCREENSHOTS}/cairn-desktop-form.png", full_page=True)
