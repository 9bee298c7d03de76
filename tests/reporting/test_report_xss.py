"""Stored XSS through a portfolio name (issue 14, item 1): the executive report
puts no user text inside CSS and nothing built into the page unescaped."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from reporting import services
from reporting.selectors import executive_report

from ..factories import make_portfolio
from .helpers import pdf_pages

PAYLOAD = "PF</style><script>alert(1)</script><style>"


@pytest.fixture
def hostile(org):
    return make_portfolio(org.world, slug="pf-xss", name=PAYLOAD)


def _assert_inert(html: str) -> None:
    assert "<script" not in html.lower()
    # No inline CSS at all, so no user text can sit inside <style>.
    assert "<style" not in html.lower()
    assert "&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_executive_page_escapes_a_hostile_portfolio_name(client, executive, hostile):
    client.force_login(executive)
    response = client.get(reverse("reporting:executive_preview", args=[hostile.slug]))

    assert response.status_code == 200
    html = response.content.decode()
    _assert_inert(html)
    # The stylesheet is the static file, linked (its hashed name once
    # collectstatic ran in this checkout, as make serve does).
    assert re.search(
        r'<link rel="stylesheet" '
        r'href="/static/reporting/report(\.[0-9a-f]{12})?\.css">',
        html,
    )


def test_pdf_source_and_standalone_file_escape_a_hostile_name(executive, hostile):
    report = executive_report(executive, hostile)

    for html in (
        services.report_html(report, for_pdf=True),
        services.report_html(report, standalone=True),
    ):
        _assert_inert(html)
    standalone = services.report_html(report, standalone=True)
    assert 'href="data:text/css;base64,' in standalone


def test_pdf_margin_boxes_show_a_hostile_name_as_text(executive, hostile):
    """The title and the confidentiality notice in the page margins come from
    named strings of the escaped HTML, so the name is printed as it is."""
    pages = pdf_pages(services.report_pdf(executive_report(executive, hostile)))

    for number, text in enumerate(pages, start=1):
        flat = " ".join(text.split())
        assert f"{PAYLOAD} Progress Report" in flat
        assert f"Confidential — {PAYLOAD}: for its executives" in flat
        assert f"Page {number} of {len(pages)}" in flat
