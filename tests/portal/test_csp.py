"""Content-Security-Policy on every answer, the violation report endpoint, and
Cache-Control: no-store on signed-in and API answers (issue 14, items 1, 12)."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from rest_framework.test import APIClient

from ..reporting.conftest import media_root, programme  # noqa: F401 - fixtures

API = "/api/v1"


def _directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


def _assert_policy(response) -> None:
    policy = _directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    # Only 'self' and, when a page needs one, the request's nonce.
    assert all(
        source == "'self'" or source.startswith("'nonce-")
        for source in policy["script-src"]
    )
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["report-uri"] == ["/csp-report/"]
    header = response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in header
    assert "'unsafe-inline'" not in header


def _token_client(user) -> APIClient:
    from tests.milestones.conftest_api import client_for

    return client_for(user)


# Every answer carries the policy -------------------------------------------


def test_signed_in_page_carries_the_policy(client, executive, programme):  # noqa: F811
    client.force_login(executive)
    for path in (
        "/",
        f"/portfolios/{programme.portfolio.slug}/",
        f"/reports/{programme.portfolio.slug}/executive/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_policy(response)


def test_pdf_and_api_answers_carry_the_policy(executive, programme):  # noqa: F811
    client = Client()
    client.force_login(executive)
    pdf = client.get(f"/reports/{programme.portfolio.slug}/executive.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    _assert_policy(pdf)

    api = _token_client(executive).get(f"{API}/milestones/")
    assert api.status_code == 200 and api["Content-Type"] == "application/json"
    _assert_policy(api)


def test_anonymous_login_404_api_401_and_admin_carry_the_policy(client, superuser):
    assert client.get("/accounts/login/").status_code == 200
    _assert_policy(client.get("/accounts/login/"))
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    _assert_policy(missing)
    refused = APIClient().get(f"{API}/milestones/")
    assert refused.status_code in (401, 403)
    _assert_policy(refused)
    _assert_policy(client.get("/healthz"))

    client.force_login(superuser)
    for path in ("/admin/", "/admin/milestones/milestone/", "/api/docs/"):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_policy(response)


def test_browsable_api_allows_style_attributes_only(client, executive):
    client.force_login(executive)
    response = client.get(f"{API}/milestones/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    policy = _directives(response)
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


def test_api_docs_page_loads_its_script_from_a_file(client, superuser):
    client.force_login(superuser)
    html = client.get("/api/docs/").content.decode()
    assert "<style" not in html
    assert "<script>" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


# The report endpoint ---------------------------------------------------------

REPORT = {
    "csp-report": {
        "document-uri": "http://testserver/reports/x/executive/",
        "referrer": "",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": "default-src 'self'",
        "blocked-uri": "inline",
        "line-number": 12,
        "source-file": "http://testserver/reports/x/executive/",
        "status-code": 200,
        "script-sample": "alert(1)",
    }
}


@pytest.fixture
def csrf_client():
    """Browsers send reports with no cookie and no CSRF token."""
    return Client(enforce_csrf_checks=True)


def test_report_is_logged_as_one_line(csrf_client, caplog, db):
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    response = csrf_client.post(
        "/csp-report/", json.dumps(REPORT), content_type="application/csp-report"
    )

    assert response.status_code == 204
    [record] = [r for r in caplog.records if r.name == "cairn.csp"]
    message = record.getMessage()
    assert "directive='script-src-elem'" in message
    assert "blocked='inline'" in message
    assert "document='http://testserver/reports/x/executive/'" in message
    assert "sample='alert(1)'" in message


def test_reporting_api_format_is_logged_per_violation(csrf_client, caplog, db):
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    body = [
        {
            "type": "csp-violation",
            "url": "http://testserver/",
            "body": {
                "documentURL": "http://testserver/",
                "effectiveDirective": "style-src-attr",
                "blockedURL": "inline",
            },
        },
        {"type": "deprecation", "body": {"id": "x"}},
    ]
    response = csrf_client.post(
        "/csp-report/", json.dumps(body), content_type="application/reports+json"
    )

    assert response.status_code == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "cairn.csp"]
    assert len(lines) == 1 and "directive='style-src-attr'" in lines[0]


def test_a_report_cannot_forge_log_lines(csrf_client, caplog, db):
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    forged = {"csp-report": {"blocked-uri": "x\ncsp-violation directive='fake'"}}
    csrf_client.post(
        "/csp-report/", json.dumps(forged), content_type="application/json"
    )
    [record] = [r for r in caplog.records if r.name == "cairn.csp"]
    assert "\n" not in record.getMessage()


@pytest.mark.parametrize(
    "body, status",
    [
        (b"", 400),
        (b"not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2, 3]", 400),
        (b'{"csp-report": "x"}', 400),
        (b"[" * 50000 + b"]" * 50000, 413),
    ],
)
def test_bad_reports_answer_4xx_and_log_nothing(csrf_client, caplog, db, body, status):
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    response = csrf_client.post("/csp-report/", body, content_type="application/json")
    assert response.status_code == status
    assert not [r for r in caplog.records if r.name == "cairn.csp"]


def test_oversized_report_is_refused_unread(csrf_client, settings, caplog, db):
    settings.CAIRN_CSP_REPORT_MAX_BYTES = 100
    caplog.set_level(logging.WARNING, logger="cairn.csp")
    body = json.dumps({"csp-report": {"blocked-uri": "x" * 200}})
    response = csrf_client.post("/csp-report/", body, content_type="application/json")
    assert response.status_code == 413
    assert not [r for r in caplog.records if r.name == "cairn.csp"]


def test_report_endpoint_takes_posts_only(client, db):
    assert client.get("/csp-report/").status_code == 405


# Cache-Control ----------------------------------------------------------------


def _no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= directives


def test_signed_in_page_pdf_and_admin_are_not_stored(
    client,
    executive,
    superuser,
    programme,  # noqa: F811
):
    client.force_login(executive)
    slug = programme.portfolio.slug
    for path in ("/", f"/portfolios/{slug}/", f"/reports/{slug}/executive/"):
        response = client.get(path)
        assert response.status_code == 200 and _no_store(response), path
    pdf = client.get(f"/reports/{slug}/executive.pdf")
    assert pdf.status_code == 200 and _no_store(pdf)

    admin = Client()
    admin.force_login(superuser)
    for path in ("/admin/", "/admin/milestones/milestone/"):
        response = admin.get(path)
        assert response.status_code == 200 and _no_store(response), path


def test_api_answers_are_not_stored_signed_in_or_not(executive, programme):  # noqa: F811
    client = _token_client(executive)
    answer = client.get(f"{API}/milestones/")
    assert answer.status_code == 200 and _no_store(answer)
    detail = client.get(f"{API}/portfolios/")
    assert detail.status_code == 200 and _no_store(detail)
    refused = APIClient().get(f"{API}/milestones/")
    assert refused.status_code in (401, 403) and _no_store(refused)


def test_anonymous_pages_are_left_to_their_views(client, db):
    """Only signed-in and API answers are forced to no-store; an anonymous
    page keeps what its view says (the sign-in page: Django's never-cache)."""
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert "Cache-Control" not in missing
