"""Browser tests: Debian's Chromium driven by Playwright against live_server.

Playwright's own browser download does not work here, so the tests launch the
system Chromium (``make browser`` installs it). A missing Chromium fails the
tests, it never skips them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = Path(os.environ.get("CAIRN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="module")
def chromium():
    """Chromium, for the tests of one module.

    Playwright's sync API leaves its event loop marked as running in this
    thread, and Django then refuses ORM calls from the tests unless
    DJANGO_ALLOW_ASYNC_UNSAFE is set. It is set only while Playwright runs and
    restored afterwards, so it never leaks into other tests or into the
    processes they start (``check --deploy`` rejects it).
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `make browser` (or "
            "`apt-get install -y chromium`) before the browser tests."
        )
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


def _page(browser, options):
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    return context, context.new_page()


@pytest.fixture
def phone(chromium):
    """A page on a 375x812 phone screen."""
    context, page = _page(chromium, PHONE)
    yield page
    context.close()


@pytest.fixture
def desktop(chromium):
    """A page on a 1280x900 desktop screen."""
    context, page = _page(chromium, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def sign_in(live_server, password):
    """``sign_in(page, user, next="/milestones/mine/")`` through the login form."""

    def sign_in(page, user, next="/milestones/mine/"):
        page.goto(f"{live_server.url}/accounts/login/?next={next}")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url(f"{live_server.url}{next}")
        return page

    return sign_in
