"""The Content-Security-Policy in a real browser (Chromium): a stored XSS
payload does not run, an injected inline script is refused and reported (in
the page and to /csp-report/), and the portal's pages, the admin and the API
docs work under the policy without a single violation."""

from __future__ import annotations

import logging
import time

import pytest
from playwright.sync_api import expect

from ..factories import make_portfolio
from ..reporting.conftest import media_root, programme  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

PAYLOAD = "PF</style><script>window.__xss = true; alert(1)</script><style>"

# Collects violations and dialogs from the first script the page runs.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push({directive: e.effectiveDirective, blocked: e.blockedURI});
});
"""


def _watch(page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.context.add_init_script(WATCH)
    return dialogs


def _reports(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cairn.csp"]


def _wait_for_report(caplog, needle: str, seconds: float = 10) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [line for line in _reports(caplog) if needle in line]
        if found:
            return found
        time.sleep(0.1)
    return []


def test_stored_xss_in_a_portfolio_name_does_not_run(
    desktop, sign_in, live_server, executive, org, caplog
):
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    hostile = make_portfolio(org.world, slug="pf-xss", name=PAYLOAD)
    dialogs = _watch(desktop)
    page = sign_in(desktop, executive, next="/")

    page.goto(f"{live_server.url}/reports/{hostile.slug}/executive/")

    expect(page.locator("h1")).to_contain_text(f"{PAYLOAD} Progress Report")
    expect(page.locator(".report-footer-preview")).to_contain_text(PAYLOAD)
    # The report's static stylesheet applies (the toolbar is dark).
    expect(page.locator(".report-toolbar")).to_have_css(
        "background-color", "rgb(38, 50, 56)"
    )
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.evaluate("window.__violations") == []
    assert _reports(caplog) == []


def test_injected_inline_script_is_blocked_and_reported(
    desktop, live_server, settings, caplog, db
):
    settings.ROOT_URLCONF = "tests.e2e.csp_urls"
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    dialogs = _watch(desktop)

    response = desktop.goto(f"{live_server.url}/e2e/injected/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(desktop.locator("#done")).to_have_text("end")
    desktop.wait_for_function("window.__violations.length >= 2")

    assert desktop.evaluate("window.__injected") is None
    assert desktop.evaluate("window.__handler") is None
    assert dialogs == []
    directives = {v["directive"] for v in desktop.evaluate("window.__violations")}
    assert {"script-src-elem", "script-src-attr"} <= directives
    # The browser posted the violations to the portal's report endpoint.
    lines = _wait_for_report(caplog, "directive='script-src-elem'")
    assert lines, _reports(caplog)
    assert "blocked='inline'" in lines[0]
    assert "/e2e/injected/" in lines[0]
    assert _wait_for_report(caplog, "directive='script-src-attr'")


def test_portal_admin_and_api_docs_work_without_violations(
    desktop,
    sign_in,
    live_server,
    superuser,
    programme,  # noqa: F811
    caplog,
):
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    _watch(desktop)
    page = sign_in(desktop, superuser, next="/")
    slug = programme.portfolio.slug
    pages = [
        "/",
        f"/portfolios/{slug}/",
        f"/portfolios/{slug}/schedule/",
        f"/reports/{slug}/executive/",
        "/approvals/",
        "/audit/",
        "/notifications/",
        "/admin/",
        "/admin/risks/risk/",
        "/admin/accounts/orgunit/",
        f"/admin/milestones/milestone/{programme.platform.pk}/change/",
        "/admin/django_celery_beat/periodictask/add/",
        "/api/v1/milestones/",
    ]
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], path

    # The admin's own scripts run: the sidebar filter and the date shortcuts.
    page.goto(
        f"{live_server.url}/admin/milestones/milestone/{programme.platform.pk}/change/"
    )
    expect(page.locator(".datetimeshortcuts").first).to_be_visible()

    # Swagger UI renders from the sidecar's static files and its script file.
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Cairn API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.evaluate("window.__violations") == []

    # The progress bars keep their width without inline styles.
    page.goto(f"{live_server.url}/portfolios/{slug}/")
    bar = page.locator(".rp-bar-done").first
    assert bar.bounding_box()["width"] > 0
    assert _reports(caplog) == []


def test_admin_scripts_moved_out_of_inline_code_still_work(
    desktop,
    sign_in,
    live_server,
    superuser,
    programme,  # noqa: F811
):
    """django-import-export's "Select all" box (its inline onchange is refused)
    and django-celery-beat's crontab help (its inline script is refused) work
    through the portal's static scripts."""
    from django_celery_beat.models import CrontabSchedule

    crontab = CrontabSchedule.objects.create(minute="0", hour="6")
    page = sign_in(desktop, superuser, next="/admin/")

    page.goto(f"{live_server.url}/admin/milestones/milestone/export/")
    fields = page.locator("input[name^='milestoneresource_']:checked")
    expect(fields.first).to_be_visible()
    checked = fields.count()
    assert checked > 5
    page.locator("input.select-toggle").first.uncheck()
    expect(fields).to_have_count(0)
    page.locator("input.select-toggle").first.check()
    expect(fields).to_have_count(checked)

    page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/add/")
    expect(page.locator(".field-crontab_translation")).to_be_hidden()
    page.select_option("#id_crontab", str(crontab.pk))
    expect(page.locator(".field-crontab .help")).to_contain_text(
        "Translation: At 06:00"
    )
