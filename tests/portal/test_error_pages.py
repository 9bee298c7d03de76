"""The styled error pages: 403 and 404 with the portal's navigation, 400 and
500 plain and readable; the 500 page needs no database."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from portal import error_views

pytestmark = pytest.mark.django_db


def test_404_page_has_the_navigation_and_a_way_back(client, executive):
    client.force_login(executive)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Page not found</h1>" in html
    assert 'class="cairn-nav"' in html and 'href="/escalations/"' in html
    assert "Go to the dashboard" in html


def test_404_for_anonymous_offers_sign_in(client):
    html = client.get("/no-such-page/").content.decode()

    assert "Page not found" in html
    assert 'href="/accounts/login/"' in html


def test_500_page_reads_nothing_and_links_back(django_assert_num_queries):
    request = RequestFactory().get("/somewhere/")

    with django_assert_num_queries(0):
        response = error_views.server_error(request)

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert 'href="/milestones/mine/"' in html and 'href="/escalations/"' in html


def test_a_failing_page_shows_the_styled_500(pmo, monkeypatch):
    from milestones import views

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "MyMilestoneFilterSet", boom)
    client = Client(raise_request_exception=False)
    client.force_login(pmo)

    response = client.get("/milestones/mine/")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
