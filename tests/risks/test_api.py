"""API v1: risks, issues and escalations under the access policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import api_token_create, api_token_touch
from risks import engine, services
from risks.models import Escalation, Issue, Risk

from ..factories import UserFactory, make_member

pytestmark = pytest.mark.django_db
API = "/api/v1"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, secret = api_token_create(user=user, name="test client")
        # As if already used once: the once-a-minute "last used" write would
        # otherwise add a query to the first request of a query-count test.
        api_token_touch(token)
        client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def _risk(portfolio, milestone, title="Risk", p=3, i=3):
    return services.risk_create(
        actor=None,
        portfolio=portfolio,
        milestone=milestone,
        title=title,
        probability=p,
        impact=i,
    )


@pytest.fixture
def scene(portfolio, milestone_in, org):
    fr, jp = milestone_in(org.fr), milestone_in(org.jp)
    return {
        "fr": fr,
        "jp": jp,
        "risk_fr": _risk(portfolio, fr, "Risk FR", 4, 4),
        "risk_jp": _risk(portfolio, jp, "Risk JP", 1, 2),
    }


# Risks ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["risks", "issues", "escalations"])
def test_anonymous_is_unauthenticated(db, path):
    assert client_for().get(f"{API}/{path}/").status_code == 401


def test_user_without_role_sees_no_risk(scene):
    client = client_for(UserFactory())
    assert client.get(f"{API}/risks/").json()["count"] == 0
    assert client.get(f"{API}/risks/{scene['risk_fr'].pk}/").status_code == 404


def test_contributor_lists_risks_of_their_region(scene, contributor_emea):
    client = client_for(contributor_emea)
    body = client.get(f"{API}/risks/").json()
    assert [r["title"] for r in body["results"]] == ["Risk FR"]
    assert body["results"][0]["severity"] == "critical"
    assert body["results"][0]["portfolio"] == "ai-transformation"
    assert client.get(f"{API}/risks/{scene['risk_jp'].pk}/").status_code == 404


def test_risks_filter_by_severity(scene, pmo):
    client = client_for(pmo)
    body = client.get(f"{API}/risks/", {"severity": "low"}).json()
    assert [r["title"] for r in body["results"]] == ["Risk JP"]
    assert client.get(f"{API}/risks/", {"severity": "huge"}).status_code == 400


@pytest.mark.parametrize("n", [2, 20])
def test_risk_list_query_count_is_constant(
    portfolio, milestone_in, org, pmo, n, django_assert_max_num_queries
):
    milestone = milestone_in(org.fr)
    for k in range(n):
        _risk(portfolio, milestone, f"R{k}")
    client = client_for(pmo)
    with django_assert_max_num_queries(6):
        response = client.get(f"{API}/risks/")
    assert response.json()["count"] == n


def test_contributor_logs_a_risk(scene, contributor_emea, portfolio):
    client = client_for(contributor_emea)
    response = client.post(
        f"{API}/risks/",
        {
            "portfolio": portfolio.slug,
            "milestone": scene["fr"].pk,
            "title": "Supplier insolvency",
            "probability": 2,
            "impact": 5,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["score"], response.json()["severity"]) == (10, "high")
    risk = Risk.objects.get(pk=response.json()["id"])
    assert risk.history.get().history_user == contributor_emea


def test_risk_input_errors_answer_400(scene, contributor_emea, portfolio):
    client = client_for(contributor_emea)
    base = {"portfolio": portfolio.slug, "milestone": scene["fr"].pk, "title": "x"}
    response = client.post(
        f"{API}/risks/", {**base, "probability": 7, "impact": 2}, format="json"
    )
    assert response.status_code == 400 and "probability" in response.json()
    response = client.post(
        f"{API}/risks/",
        {**base, "probability": 2, "impact": 2, "score": 25},
        format="json",
    )
    assert response.status_code == 400 and "score" in response.json()
    out_of_scope = {**base, "milestone": scene["jp"].pk, "probability": 1, "impact": 1}
    response = client.post(f"{API}/risks/", out_of_scope, format="json")
    assert response.status_code == 400 and "milestone" in response.json()
    assert Risk.objects.count() == 2


def test_portfolio_level_risk_needs_update_rights_on_the_portfolio(
    scene, contributor_emea, portfolio
):
    response = client_for(contributor_emea).post(
        f"{API}/risks/",
        {"portfolio": portfolio.slug, "title": "x", "probability": 1, "impact": 1},
        format="json",
    )
    assert response.status_code == 403


def test_patch_rescoring_and_permissions(scene, contributor_emea, auditor):
    url = f"{API}/risks/{scene['risk_fr'].pk}/"
    response = client_for(contributor_emea).patch(url, {"impact": 1}, format="json")
    assert response.status_code == 200
    assert (response.json()["score"], response.json()["severity"]) == (4, "low")
    assert (
        client_for(auditor).patch(url, {"impact": 5}, format="json").status_code == 403
    )
    jp = f"{API}/risks/{scene['risk_jp'].pk}/"
    assert (
        client_for(contributor_emea).patch(jp, {"impact": 5}, format="json").status_code
        == 404
    )
    assert client_for(contributor_emea).delete(url).status_code == 405


# Issues -------------------------------------------------------------------------


def test_issue_create_list_and_resolve(scene, contributor_emea, portfolio):
    client = client_for(contributor_emea)
    response = client.post(
        f"{API}/issues/",
        {
            "portfolio": portfolio.slug,
            "milestones": [scene["fr"].pk],
            "title": "No GPU quota",
            "kind": "technical",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    issue_id = response.json()["id"]
    listed = client.get(f"{API}/issues/", {"milestone": scene["fr"].pk}).json()
    assert [i["id"] for i in listed["results"]] == [issue_id]
    response = client.post(
        f"{API}/issues/{issue_id}/resolve/", {"resolution": "Granted"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["is_open"] is False
    again = client.post(f"{API}/issues/{issue_id}/resolve/", {}, format="json")
    assert again.status_code == 400


def test_issue_input_is_validated(scene, contributor_emea, portfolio):
    client = client_for(contributor_emea)
    response = client.post(
        f"{API}/issues/",
        {"portfolio": portfolio.slug, "title": "x", "kind": "weather"},
        format="json",
    )
    assert response.status_code == 400 and "kind" in response.json()
    response = client.post(
        f"{API}/issues/",
        {
            "portfolio": portfolio.slug,
            "milestones": [scene["fr"].pk],
            "title": "x",
            "kind": "technical",
            "opened_at": (timezone.now() + timedelta(days=3)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400 and "opened_at" in response.json()
    assert not Issue.objects.exists()


@pytest.mark.parametrize("n", [2, 20])
def test_issue_list_query_count_is_constant(
    portfolio, milestone_in, org, pmo, n, django_assert_max_num_queries
):
    milestone = milestone_in(org.fr)
    for k in range(n):
        services.issue_create(
            actor=None,
            portfolio=portfolio,
            milestones=[milestone],
            title=f"I{k}",
            kind="resource",
        )
    client = client_for(pmo)
    # 5, plus the reader's grants read once (three small queries).
    with django_assert_max_num_queries(11):
        response = client.get(f"{API}/issues/")
    assert response.json()["count"] == n


# Escalations ----------------------------------------------------------------------


@pytest.fixture
def escalation(rules, late):
    late(20)
    engine.escalations_sweep()
    return Escalation.objects.get()


def test_escalations_are_listed_in_scope(
    escalation, contributor_emea, contributor_apac
):
    body = client_for(contributor_emea).get(f"{API}/escalations/").json()
    assert [e["id"] for e in body["results"]] == [escalation.pk]
    assert body["results"][0]["trigger"] == "milestone_delay"
    assert body["results"][0]["target_role"] == "executive"
    assert client_for(contributor_apac).get(f"{API}/escalations/").json()["count"] == 0
    open_ones = client_for(contributor_emea).get(
        f"{API}/escalations/", {"status": "open", "trigger": "milestone_delay"}
    )
    assert open_ones.json()["count"] == 1


def test_acknowledge_through_the_api(escalation, executive, pmo, org):
    url = f"{API}/escalations/{escalation.pk}/acknowledge/"
    assert client_for(pmo).post(url).status_code == 403
    outsider = make_member(Role.EXECUTIVE, org.apac)
    assert client_for(outsider).post(url).status_code == 404
    response = client_for(executive).post(url)
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert response.json()["acknowledged_by"] == executive.pk
    assert client_for(executive).post(url).status_code == 400
    unknown = client_for(executive).post(url, {"note": "x"}, format="json")
    assert unknown.status_code == 400 and "note" in unknown.json()


def test_escalations_are_read_only(escalation, superuser):
    client = client_for(superuser)
    assert client.post(f"{API}/escalations/", {}, format="json").status_code == 405
    url = f"{API}/escalations/{escalation.pk}/"
    assert client.patch(url, {"status": "resolved"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405


@pytest.mark.parametrize("n", [2, 20])
def test_escalation_list_query_count_is_constant(
    rules, late, executive, n, django_assert_max_num_queries
):
    for _ in range(n):
        late(20)
    engine.escalations_sweep()
    client = client_for(executive)
    # 4, plus the reader's grants read once (three small queries).
    with django_assert_max_num_queries(10):
        response = client.get(f"{API}/escalations/")
    assert response.json()["count"] == n
