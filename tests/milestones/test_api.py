"""API v1 of the milestones domain: auth, scope, status codes, versions, input
errors, filters, figures and constant query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from milestones import services
from milestones.models import (
    KPI,
    Dependency,
    Milestone,
    ProgressUpdate,
    Status,
    StrategicObjective,
)

from ..factories import UserFactory, make_milestone, make_portfolio
from .conftest_api import API, client_for, count_queries, snapshot

TODAY = timezone.localdate()


@pytest.fixture
def scene(org, portfolio, milestone_in):
    """Milestones in France, Paris (owned) and Japan."""
    owner = UserFactory(username="owner-fr")
    return {
        "fr": milestone_in(org.fr, name="FR rollout"),
        "paris": milestone_in(org.paris, name="Paris pilot", owner=owner),
        "jp": milestone_in(org.jp, name="JP rollout"),
        "owner": owner,
    }


def update_payload(target, **overrides):
    payload = {
        "milestone": target.pk,
        "version": target.version,
        "status": Status.ON_TRACK,
        "percent_complete": "40",
        "actual_spend": "1000",
    }
    payload.update(overrides)
    return payload


def names(response):
    return sorted(row["name"] for row in response.json()["results"])


# Authentication ------------------------------------------------------------


def test_token_for_good_credentials_opens_the_api(contributor_emea, password):
    response = APIClient().post(
        f"{API}/auth/token/",
        {"username": "contributor-emea", "password": password},
        format="json",
    )
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get(f"{API}/milestones/").status_code == 200


def test_a_token_sign_in_is_an_access_event(contributor_emea, password):
    from portal.models import AuditEvent

    APIClient().post(
        f"{API}/auth/token/",
        {"username": "contributor-emea", "password": password},
        format="json",
        REMOTE_ADDR="10.1.2.3",
    )
    APIClient().post(
        f"{API}/auth/token/",
        {"username": "contributor-emea", "password": "wrong"},
        format="json",
    )

    events = AuditEvent.objects.order_by("pk")
    assert [(e.kind, e.username) for e in events] == [
        ("login", "contributor-emea"),
        ("token_created", "contributor-emea"),
        ("login_failed", "contributor-emea"),
    ]
    assert events[0].user == contributor_emea
    assert events[0].details == {"via": "api_token"}
    assert events[0].ip_address == "10.1.2.3"


def test_token_refused_for_bad_password(contributor_emea):
    response = APIClient().post(
        f"{API}/auth/token/",
        {"username": "contributor-emea", "password": "wrong"},
        format="json",
    )
    assert response.status_code == 400
    assert "token" not in response.json()


def test_token_refused_for_unknown_user(db, password):
    response = APIClient().post(
        f"{API}/auth/token/",
        {"username": "nobody", "password": password},
        format="json",
    )
    assert response.status_code == 400
    assert "token" not in response.json()


def test_token_refused_without_fields(db):
    response = APIClient().post(f"{API}/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_bad_token_is_unauthenticated(scene):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(f"{API}/milestones/").status_code == 401


def test_session_authentication_works(scene, contributor_emea):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(contributor_emea)
    assert names(client.get(f"{API}/milestones/")) == ["FR rollout", "Paris pilot"]
    # Unsafe methods over a session need the CSRF token.
    response = client.post(
        f"{API}/updates/", update_payload(scene["fr"]), format="json"
    )
    assert response.status_code == 403
    assert not ProgressUpdate.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/milestones/"),
        ("get", "/milestones/{fr}/"),
        ("patch", "/milestones/{fr}/"),
        ("post", "/milestones/"),
        ("get", "/portfolios/"),
        ("get", "/portfolios/ai-transformation/"),
        ("get", "/objectives/"),
        ("get", "/dependencies/"),
        ("get", "/updates/"),
        ("post", "/updates/"),
        ("get", "/kpis/"),
    ],
)
def test_anonymous_is_unauthenticated(scene, method, path):
    response = getattr(APIClient(), method)(
        API + path.format(fr=scene["fr"].pk), {}, format="json"
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_user_without_role_sees_nothing(scene):
    client = client_for(UserFactory())
    assert client.get(f"{API}/milestones/").json()["count"] == 0
    assert client.get(f"{API}/portfolios/").json()["count"] == 0
    assert client.get(f"{API}/milestones/{scene['fr'].pk}/").status_code == 404
    assert client.get(f"{API}/portfolios/ai-transformation/").status_code == 404


# Scope: 404 out of scope, 403 forbidden action -------------------------------


def test_contributor_lists_only_own_region(scene, contributor_emea):
    response = client_for(contributor_emea).get(f"{API}/milestones/")
    assert response.status_code == 200
    assert names(response) == ["FR rollout", "Paris pilot"]


def test_contributor_gets_404_on_other_region(scene, contributor_emea):
    client = client_for(contributor_emea)
    jp = scene["jp"]
    assert client.get(f"{API}/milestones/{jp.pk}/").status_code == 404
    response = client.patch(
        f"{API}/milestones/{jp.pk}/", {"name": "x", "version": 1}, format="json"
    )
    assert response.status_code == 404
    response = client.post(f"{API}/updates/", update_payload(jp), format="json")
    assert response.status_code == 400
    assert "milestone" in response.json()
    assert not ProgressUpdate.objects.exists()


def test_missing_and_out_of_scope_look_the_same(scene, contributor_emea):
    client = client_for(contributor_emea)
    missing = client.get(f"{API}/milestones/999999/")
    hidden = client.get(f"{API}/milestones/{scene['jp'].pk}/")
    assert missing.status_code == hidden.status_code == 404
    assert missing.json() == hidden.json()


def test_contributor_cannot_change_budget(scene, contributor_emea):
    fr = scene["fr"]
    before = snapshot(fr)
    response = client_for(contributor_emea).patch(
        f"{API}/milestones/{fr.pk}/",
        {"approved_budget": "1", "version": fr.version, "reason": "cheaper"},
        format="json",
    )
    assert response.status_code == 403
    assert snapshot(fr) == before


def test_owner_edits_own_milestone_but_not_its_baseline(scene, org):
    paris, owner = scene["paris"], scene["owner"]
    client = client_for(owner)
    response = client.patch(
        f"{API}/milestones/{paris.pk}/",
        {"description": "Pilot in two stores.", "version": 1},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2
    before = snapshot(paris)
    for field, value in [
        ("approved_budget", "1"),
        ("planned_completion", str(TODAY + timedelta(days=400))),
        ("weight", "5"),
        ("success_criteria", "Anything"),
    ]:
        response = client.patch(
            f"{API}/milestones/{paris.pk}/",
            {field: value, "version": 2, "reason": "I want to"},
            format="json",
        )
        assert response.status_code == 403, field
    response = client.patch(
        f"{API}/milestones/{paris.pk}/",
        {"owner": None, "version": 2},
        format="json",
    )
    assert response.status_code == 403
    assert snapshot(paris) == before


@pytest.mark.parametrize("who", ["executive", "auditor"])
def test_readers_may_not_change_or_report(scene, request, who):
    """Executives approve and auditors read: neither edits plans nor reports
    progress (403), though both see the milestone."""
    fr = scene["fr"]
    before = snapshot(fr)
    client = client_for(request.getfixturevalue(who))
    assert client.get(f"{API}/milestones/{fr.pk}/").status_code == 200
    response = client.patch(
        f"{API}/milestones/{fr.pk}/", {"name": "x", "version": 1}, format="json"
    )
    assert response.status_code == 403
    response = client.post(f"{API}/updates/", update_payload(fr), format="json")
    assert response.status_code == 403
    assert snapshot(fr) == before
    assert not ProgressUpdate.objects.exists()


def test_portfolio_manager_changes_baseline_only_through_a_request(
    scene, pmo, executive
):
    """A direct baseline edit is refused (403, pointing to the request flow);
    an approved request applies it with its reason in history."""
    fr = scene["fr"]
    client = client_for(pmo)
    response = client.patch(
        f"{API}/milestones/{fr.pk}/",
        {"approved_budget": "250000", "version": 1, "reason": "Scope doubled"},
        format="json",
    )
    assert response.status_code == 403
    assert f"/milestones/{fr.pk}/request/" in response.json()["approved_budget"][0]
    assert snapshot(fr)["approved_budget"] == Decimal("100000.00")
    request = client.post(
        f"{API}/approvals/",
        {
            "milestone": fr.pk,
            "kind": "reauthorization",
            "reason": "Scope doubled",
            "new_approved_budget": "250000",
        },
        format="json",
    )
    assert request.status_code == 201, request.json()
    approved = client_for(executive).post(
        f"{API}/approvals/{request.json()['id']}/approve/", {}, format="json"
    )
    assert approved.status_code == 200
    milestone = client.get(f"{API}/milestones/{fr.pk}/").json()
    assert milestone["approved_budget"] == "250000.00"
    assert milestone["version"] == 2
    last = Milestone.history.filter(id=fr.pk).latest("history_date")
    assert last.history_change_reason == f"Approved request #{request.json()['id']}"
    assert last.history_user == executive


# Versions: 409 and nothing changed --------------------------------------------


def test_stale_version_on_edit_answers_409_and_changes_nothing(scene, pmo):
    fr = scene["fr"]
    client = client_for(pmo)
    ok = client.patch(
        f"{API}/milestones/{fr.pk}/", {"name": "First", "version": 1}, format="json"
    )
    assert ok.status_code == 200
    before = snapshot(fr)
    stale = client.patch(
        f"{API}/milestones/{fr.pk}/", {"name": "Second", "version": 1}, format="json"
    )
    assert stale.status_code == 409
    assert "version" in stale.json()
    assert snapshot(fr) == before


def test_edit_needs_a_version(scene, pmo):
    response = client_for(pmo).patch(
        f"{API}/milestones/{scene['fr'].pk}/", {"name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "version" in response.json()


def test_progress_update_applies_and_bumps_version(scene, contributor_emea):
    fr = scene["fr"]
    response = client_for(contributor_emea).post(
        f"{API}/updates/",
        update_payload(fr, forecast_completion=str(fr.planned_completion)),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["author"] == contributor_emea.pk
    assert body["milestone_version"] == 1
    fr.refresh_from_db()
    assert fr.version == 2
    assert fr.status == Status.ON_TRACK
    assert fr.percent_complete == Decimal("40")
    assert fr.actual_spend == Decimal("1000")
    assert fr.last_progress_at is not None


def test_progress_update_keeps_omitted_forecast(scene, contributor_emea):
    fr = scene["fr"]
    client = client_for(contributor_emea)
    forecast = str(fr.planned_completion + timedelta(days=5))
    first = client.post(
        f"{API}/updates/",
        update_payload(fr, forecast_completion=forecast),
        format="json",
    )
    assert first.status_code == 201
    second = client.post(
        f"{API}/updates/", update_payload(fr, version=2), format="json"
    )
    assert second.status_code == 201
    assert second.json()["forecast_completion"] == forecast
    cleared = client.post(
        f"{API}/updates/",
        update_payload(fr, version=3, forecast_completion=None),
        format="json",
    )
    assert cleared.status_code == 201
    fr.refresh_from_db()
    assert fr.forecast_completion is None


def test_stale_progress_update_answers_409_and_changes_nothing(scene, contributor_emea):
    fr = scene["fr"]
    client = client_for(contributor_emea)
    assert (
        client.post(f"{API}/updates/", update_payload(fr), format="json").status_code
        == 201
    )
    before = snapshot(fr)
    stale = client.post(
        f"{API}/updates/",
        update_payload(fr, version=1, percent_complete="90"),
        format="json",
    )
    assert stale.status_code == 409
    assert "version" in stale.json()
    assert snapshot(fr) == before
    assert ProgressUpdate.objects.count() == 1


def test_progress_updates_are_immutable(scene, contributor_emea, superuser):
    fr = scene["fr"]
    created = client_for(contributor_emea).post(
        f"{API}/updates/", update_payload(fr), format="json"
    )
    url = f"{API}/updates/{created.json()['id']}/"
    client = client_for(superuser)
    assert client.get(url).status_code == 200
    assert client.put(url, {"percent_complete": "1"}, format="json").status_code == 405
    assert client.patch(url, {"blockers": "x"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert ProgressUpdate.objects.get().percent_complete == Decimal("40")


# Invalid input: 400 with field errors, nothing changed ----------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"percent_complete": "140"}, "percent_complete"),
        ({"percent_complete": "-1"}, "percent_complete"),
        ({"actual_spend": "-5"}, "actual_spend"),
        ({"estimate_at_completion": "-5"}, "estimate_at_completion"),
        ({"status": "finished"}, "status"),
        ({"percent_complete": "lots"}, "percent_complete"),
        ({"forecast_completion": "2020-01-01"}, "forecast_completion"),
        ({"version": "one"}, "version"),
        ({"milestone": 999999}, "milestone"),
    ],
)
def test_invalid_progress_update_answers_400_with_field_errors(
    scene, contributor_emea, overrides, field
):
    fr = scene["fr"]
    before = snapshot(fr)
    response = client_for(contributor_emea).post(
        f"{API}/updates/", update_payload(fr, **overrides), format="json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert isinstance(response.json()[field], list)
    assert snapshot(fr) == before
    assert not ProgressUpdate.objects.exists()


def test_missing_required_update_fields_are_named(scene, contributor_emea):
    response = client_for(contributor_emea).post(
        f"{API}/updates/", {"milestone": scene["fr"].pk}, format="json"
    )
    assert response.status_code == 400
    assert {"version", "status", "percent_complete", "actual_spend"} <= set(
        response.json()
    )


def test_forecast_before_start_message(scene, contributor_emea):
    fr = scene["fr"]
    response = client_for(contributor_emea).post(
        f"{API}/updates/",
        update_payload(
            fr, forecast_completion=str(fr.planned_start - timedelta(days=1))
        ),
        format="json",
    )
    assert response.status_code == 400
    assert "before the planned start" in response.json()["forecast_completion"][0]


def test_evidence_upload_is_checked(scene, contributor_emea):
    fr = scene["fr"]
    client = client_for(contributor_emea)
    fake = SimpleUploadedFile("report.pdf", b"MZ\x90\x00 not a pdf")
    response = client.post(
        f"{API}/updates/", {**update_payload(fr), "evidence": fake}, format="multipart"
    )
    assert response.status_code == 400
    assert "evidence" in response.json()
    assert not ProgressUpdate.objects.exists()
    pdf = SimpleUploadedFile("report.pdf", b"%PDF-1.4\n%%EOF\n")
    response = client.post(
        f"{API}/updates/", {**update_payload(fr), "evidence": pdf}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["evidence"].endswith(".pdf")


def test_invalid_milestone_edit_answers_400(scene, pmo, org):
    fr = scene["fr"]
    before = snapshot(fr)
    elsewhere = make_portfolio(org.world).categories.first()
    response = client_for(pmo).patch(
        f"{API}/milestones/{fr.pk}/",
        {"category": elsewhere.pk, "version": 1},
        format="json",
    )
    assert response.status_code == 400
    assert "category" in response.json()
    assert snapshot(fr) == before


def test_dependency_cycle_is_refused_naming_the_cycle(org, milestone_in, pmo):
    a = milestone_in(org.fr, name="Alpha")
    b = milestone_in(org.fr, name="Bravo")
    c = milestone_in(org.fr, name="Charlie")
    client = client_for(pmo)
    for pred, succ in [(a, b), (b, c)]:
        response = client.post(
            f"{API}/dependencies/",
            {"predecessor": pred.pk, "successor": succ.pk},
            format="json",
        )
        assert response.status_code == 201, response.json()
    response = client.post(
        f"{API}/dependencies/",
        {"predecessor": c.pk, "successor": a.pk},
        format="json",
    )
    assert response.status_code == 400
    message = response.json()["predecessor"][0]
    assert "Alpha → Bravo → Charlie → Alpha" in message
    assert Dependency.objects.count() == 2


def test_self_dependency_is_refused(scene, pmo):
    fr = scene["fr"]
    response = client_for(pmo).post(
        f"{API}/dependencies/",
        {"predecessor": fr.pk, "successor": fr.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "itself" in response.json()["predecessor"][0]
    assert not Dependency.objects.exists()


def test_duplicate_dependency_is_refused(scene, pmo):
    client = client_for(pmo)
    payload = {"predecessor": scene["fr"].pk, "successor": scene["jp"].pk}
    assert (
        client.post(f"{API}/dependencies/", payload, format="json").status_code == 201
    )
    response = client.post(f"{API}/dependencies/", payload, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_dependency_across_portfolios_is_refused(scene, org, pmo):
    other = make_portfolio(org.world)
    elsewhere = make_milestone(other, org.fr)
    response = client_for(pmo).post(
        f"{API}/dependencies/",
        {"predecessor": elsewhere.pk, "successor": scene["fr"].pk},
        format="json",
    )
    assert response.status_code == 400
    assert "predecessor" in response.json()


def test_dependency_edit_and_removal(scene, pmo, contributor_emea):
    dependency = services.dependency_add(
        actor=None, predecessor=scene["fr"], successor=scene["paris"]
    )
    url = f"{API}/dependencies/{dependency.pk}/"
    contributor = client_for(contributor_emea)
    assert contributor.get(url).status_code == 200
    assert contributor.patch(url, {"lag_days": 3}, format="json").status_code == 403
    assert contributor.delete(url).status_code == 403
    client = client_for(pmo)
    response = client.patch(url, {"lag_days": 3, "type": "SS"}, format="json")
    assert response.status_code == 200
    assert response.json()["lag_days"] == 3
    bad = client.patch(url, {"lag_days": 99999}, format="json")
    assert bad.status_code == 400
    assert "lag_days" in bad.json()
    assert client.delete(url).status_code == 204
    assert not Dependency.objects.exists()


# Creating: portfolio managers yes, contributors no -----------------------------


def milestone_payload(portfolio, org, **overrides):
    payload = {
        "portfolio": portfolio.slug,
        "category": portfolio.categories.first().pk,
        "org_unit": org.fr.pk,
        "name": "New market entry",
        "success_criteria": "Three pilot customers signed.",
        "approved_budget": "50000",
        "planned_start": str(TODAY),
        "planned_completion": str(TODAY + timedelta(days=90)),
    }
    payload.update(overrides)
    return payload


def test_portfolio_manager_creates_milestone(portfolio, org, pmo):
    response = client_for(pmo).post(
        f"{API}/milestones/", milestone_payload(portfolio, org), format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1
    assert body["status"] == Status.NOT_STARTED
    assert body["portfolio"] == portfolio.slug
    assert body["days_remaining"] == 90
    milestone = Milestone.objects.get(pk=body["id"])
    assert milestone.history.get().history_user == pmo


def test_contributor_cannot_create_milestone_in_unseen_portfolio(
    portfolio, org, contributor_emea
):
    # Without milestones in their region the portfolio is not visible to the
    # contributor: it "does not exist" for them.
    response = client_for(contributor_emea).post(
        f"{API}/milestones/", milestone_payload(portfolio, org), format="json"
    )
    assert response.status_code == 400
    assert "portfolio" in response.json()
    assert not Milestone.objects.exists()


def test_contributor_with_visible_portfolio_gets_403_on_create(
    scene, portfolio, org, contributor_emea
):
    response = client_for(contributor_emea).post(
        f"{API}/milestones/", milestone_payload(portfolio, org), format="json"
    )
    assert response.status_code == 403
    assert Milestone.objects.count() == 3


def test_create_with_invalid_input_names_fields(portfolio, org, pmo):
    other = make_portfolio(org.world)
    payload = milestone_payload(
        portfolio,
        org,
        category=other.categories.first().pk,
        planned_completion=str(TODAY - timedelta(days=1)),
        approved_budget="-3",
    )
    payload.pop("name")
    response = client_for(pmo).post(f"{API}/milestones/", payload, format="json")
    assert response.status_code == 400
    assert {"name", "approved_budget"} <= set(response.json())
    del payload["approved_budget"]
    payload["name"] = "Named"
    response = client_for(pmo).post(f"{API}/milestones/", payload, format="json")
    assert response.status_code == 400
    assert {"category", "planned_completion"} <= set(response.json())
    assert not Milestone.objects.exists()


def test_portfolio_created_with_default_categories(org, pmo, contributor_emea):
    payload = {
        "slug": "cloud-move",
        "name": "Cloud move",
        "org_unit": org.world.pk,
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
    }
    assert (
        client_for(contributor_emea)
        .post(f"{API}/portfolios/", payload, format="json")
        .status_code
        == 400  # the contributor cannot even see the global unit
    )
    response = client_for(pmo).post(f"{API}/portfolios/", payload, format="json")
    assert response.status_code == 201, response.json()
    assert [c["weight"] for c in response.json()["categories"]] == [
        "25.00",
        "20.00",
        "30.00",
        "20.00",
        "5.00",
    ]
    again = client_for(pmo).post(f"{API}/portfolios/", payload, format="json")
    assert again.status_code == 400
    assert "slug" in again.json()


def test_contributor_of_region_cannot_create_portfolio_there(org, contributor_emea):
    response = client_for(contributor_emea).post(
        f"{API}/portfolios/",
        {
            "slug": "emea-only",
            "name": "EMEA only",
            "org_unit": org.emea.pk,
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
        },
        format="json",
    )
    assert response.status_code == 403


def test_categories_replaced_with_reason(portfolio, pmo, contributor_emea, scene):
    url = f"{API}/portfolios/{portfolio.slug}/categories/"
    current = list(portfolio.categories.order_by("order"))
    categories = [
        {"id": c.pk, "name": c.name, "weight": str(w)}
        for c, w in zip(current, [40, 10, 30, 15, 5], strict=True)
    ]
    body = {"reason": "Foundation first", "categories": categories}
    assert client_for(contributor_emea).put(url, body, format="json").status_code == 403
    client = client_for(pmo)
    no_reason = client.put(url, {**body, "reason": ""}, format="json")
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()
    bad_sum = [{**categories[0], "weight": "41"}, *categories[1:]]
    response = client.put(url, {**body, "categories": bad_sum}, format="json")
    assert response.status_code == 400
    assert "weight" in response.json()
    response = client.put(url, body, format="json")
    assert response.status_code == 200, response.json()
    assert [c["weight"] for c in response.json()["categories"]] == [
        "40.00",
        "10.00",
        "30.00",
        "15.00",
        "5.00",
    ]


def test_objectives_created_by_portfolio_manager(portfolio, pmo, scene):
    client = client_for(pmo)
    response = client.post(
        f"{API}/objectives/",
        {"portfolio": portfolio.slug, "code": "O1", "title": "Grow revenue"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["portfolio"] == portfolio.slug
    listed = client.get(f"{API}/objectives/", {"portfolio": portfolio.slug})
    assert [o["title"] for o in listed.json()["results"]] == ["Grow revenue"]


def test_contributor_cannot_create_objective(portfolio, contributor_emea, scene):
    response = client_for(contributor_emea).post(
        f"{API}/objectives/",
        {"portfolio": portfolio.slug, "title": "Mine"},
        format="json",
    )
    assert response.status_code == 403
    assert not StrategicObjective.objects.exists()


# KPIs --------------------------------------------------------------------------


def test_kpi_and_measurements(portfolio, pmo, contributor_emea, scene):
    client = client_for(pmo)
    response = client.post(
        f"{API}/kpis/",
        {
            "portfolio": portfolio.slug,
            "milestone": scene["fr"].pk,
            "name": "Adoption",
            "unit": "%",
            "baseline": "0",
            "target": "80",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    kpi_id = response.json()["id"]
    url = f"{API}/kpis/{kpi_id}/measurements/"
    contributor = client_for(contributor_emea)
    first = contributor.post(
        url, {"measured_on": "2026-03-01", "value": "12.5"}, format="json"
    )
    assert first.status_code == 201, first.json()
    assert first.json()["recorded_by"] == contributor_emea.pk
    assert (
        contributor.post(
            url, {"measured_on": "2026-04-01", "value": "20"}, format="json"
        ).status_code
        == 201
    )
    duplicate = contributor.post(
        url, {"measured_on": "2026-04-01", "value": "21"}, format="json"
    )
    assert duplicate.status_code == 400
    assert "non_field_errors" in duplicate.json()
    listed = contributor.get(url)
    assert [m["value"] for m in listed.json()["results"]] == ["20.0000", "12.5000"]
    filtered = contributor.get(url, {"measured_before": "2026-03-15"})
    assert filtered.json()["count"] == 1
    detail = contributor.get(f"{API}/kpis/{kpi_id}/")
    assert detail.json()["latest_value"] == "20.0000"
    assert detail.json()["latest_measured_on"] == "2026-04-01"


def test_kpi_validation_and_scope(portfolio, pmo, contributor_emea, scene):
    client = client_for(pmo)
    same = client.post(
        f"{API}/kpis/",
        {"portfolio": portfolio.slug, "name": "Flat", "baseline": "5", "target": "5"},
        format="json",
    )
    assert same.status_code == 400
    assert "target" in same.json()
    kpi = services.kpi_create(
        actor=None,
        portfolio=portfolio,
        milestone=scene["jp"],
        name="JP adoption",
        baseline=Decimal("0"),
        target=Decimal("10"),
    )
    contributor = client_for(contributor_emea)
    # KPIs follow the portfolio: an EMEA contributor sees it but may not
    # record a value for a Japanese milestone.
    response = contributor.post(
        f"{API}/kpis/{kpi.pk}/measurements/",
        {"measured_on": "2026-03-01", "value": "1"},
        format="json",
    )
    assert response.status_code in (403, 404)
    assert not kpi.measurements.exists()
    assert (
        contributor.post(
            f"{API}/kpis/",
            {"portfolio": portfolio.slug, "name": "x", "baseline": 0, "target": 1},
            format="json",
        ).status_code
        == 403
    )
    assert KPI.objects.count() == 1


# Filters and figures --------------------------------------------------------------


def test_filters(scene, org, portfolio, pmo, milestone_in):
    late = milestone_in(
        org.de,
        name="Late one",
        planned_start=TODAY - timedelta(days=60),
        planned_completion=TODAY - timedelta(days=1),
        owner=scene["owner"],
        type=Milestone.Type.FINANCIAL,
    )
    services.milestone_submit_update(
        actor=pmo,
        milestone=late,
        expected_version=None,
        status=Status.AT_RISK,
        percent_complete=Decimal("50"),
        actual_spend=Decimal("0"),
    )
    client = client_for(pmo)

    def listed(**params):
        response = client.get(f"{API}/milestones/", params)
        assert response.status_code == 200, response.json()
        return names(response)

    assert listed(org_unit=org.emea.pk) == [
        "FR rollout",
        "Late one",
        "Paris pilot",
    ]
    assert listed(org_unit=org.fr.pk) == ["FR rollout", "Paris pilot"]
    assert listed(overdue="true") == ["Late one"]
    assert "Late one" not in listed(overdue="false")
    assert listed(status="at_risk") == ["Late one"]
    assert listed(status=["at_risk", "not_started"]) == [
        "FR rollout",
        "JP rollout",
        "Late one",
        "Paris pilot",
    ]
    assert listed(owner=scene["owner"].pk) == ["Late one", "Paris pilot"]
    assert listed(type="financial") == ["Late one"]
    assert listed(q="pilot") == ["Paris pilot"]
    assert listed(portfolio=portfolio.slug, category=late.category_id) == [
        "FR rollout",
        "JP rollout",
        "Late one",
        "Paris pilot",
    ]
    ordered = client.get(f"{API}/milestones/", {"ordering": "-percent_complete"})
    assert ordered.json()["results"][0]["name"] == "Late one"
    bad = client.get(f"{API}/milestones/", {"status": "nope"})
    assert bad.status_code == 400
    assert "status" in bad.json()


def test_filters_cannot_name_objects_out_of_scope(scene, org, contributor_emea):
    other = make_portfolio(org.world, slug="secret")
    make_milestone(other, org.jp)
    client = client_for(contributor_emea)
    response = client.get(f"{API}/milestones/", {"portfolio": "secret"})
    assert response.status_code == 400
    assert "portfolio" in response.json()
    response = client.get(f"{API}/milestones/", {"org_unit": org.jp.pk})
    assert response.status_code == 400


def test_figures_are_computed(org, portfolio, pmo, milestone_in):
    milestone = milestone_in(
        org.fr,
        name="Figures",
        planned_start=TODAY - timedelta(days=10),
        planned_completion=TODAY + timedelta(days=20),
        approved_budget=Decimal("200000"),
    )
    services.milestone_submit_update(
        actor=pmo,
        milestone=milestone,
        expected_version=None,
        status=Status.DELAYED,
        percent_complete=Decimal("30"),
        actual_spend=Decimal("50000"),
        estimate_at_completion=Decimal("230000"),
        forecast_completion=TODAY + timedelta(days=27),
    )
    body = client_for(pmo).get(f"{API}/milestones/{milestone.pk}/").json()
    assert body["days_remaining"] == 20
    assert body["delay_days"] == 7
    assert body["budget_overrun_pct"] == "15.00"
    assert body["budget_consumption_pct"] == "25.00"
    assert body["is_overdue"] is False


def test_portfolio_visible_to_contributor_through_its_milestones(
    scene, portfolio, contributor_emea, org
):
    make_portfolio(org.world, slug="empty")
    client = client_for(contributor_emea)
    response = client.get(f"{API}/portfolios/")
    assert [p["slug"] for p in response.json()["results"]] == [portfolio.slug]
    assert client.get(f"{API}/portfolios/empty/").status_code == 404


def test_updates_list_is_scoped(scene, superuser, contributor_emea, contributor_apac):
    for milestone in (scene["fr"], scene["jp"]):
        services.milestone_submit_update(
            actor=superuser,
            milestone=milestone,
            expected_version=None,
            status=Status.IN_PROGRESS,
            percent_complete=Decimal("10"),
            actual_spend=Decimal("0"),
        )
    emea = client_for(contributor_emea).get(f"{API}/updates/").json()
    assert [u["milestone"] for u in emea["results"]] == [scene["fr"].pk]
    apac = client_for(contributor_apac).get(f"{API}/updates/").json()
    assert [u["milestone"] for u in apac["results"]] == [scene["jp"].pk]
    jp_update = ProgressUpdate.objects.get(milestone=scene["jp"])
    hidden = client_for(contributor_emea).get(f"{API}/updates/{jp_update.pk}/")
    assert hidden.status_code == 404


def test_dependencies_list_is_scoped(scene, pmo, contributor_apac):
    services.dependency_add(
        actor=None, predecessor=scene["fr"], successor=scene["paris"]
    )
    services.dependency_add(actor=None, predecessor=scene["fr"], successor=scene["jp"])
    rows = client_for(contributor_apac).get(f"{API}/dependencies/").json()["results"]
    # fr -> jp names an EMEA milestone the APAC contributor cannot see: not
    # listed (the milestone page counts it instead).
    assert rows == []
    assert client_for(pmo).get(f"{API}/dependencies/").json()["count"] == 2


# Schema and docs ----------------------------------------------------------------


def test_schema_and_docs_render(db, tmp_path):
    client = APIClient()
    client.force_login(UserFactory())
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/milestones/{id}/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


# Query counts: constant whatever the number of rows ------------------------------


def _grow_milestones(ctx, n):
    units = [ctx["org"].fr, ctx["org"].paris, ctx["org"].de]
    for i in range(n):
        make_milestone(
            ctx["portfolio"],
            units[i % 3],
            owner=ctx["owner"],
            estimate_at_completion=Decimal("110000"),
            forecast_completion=TODAY + timedelta(days=70),
        )
    return "/milestones/"


def _grow_dependencies(ctx, n):
    chain = [make_milestone(ctx["portfolio"], ctx["org"].fr) for _ in range(n + 1)]
    for pred, succ in zip(chain, chain[1:], strict=False):
        services.dependency_add(actor=None, predecessor=pred, successor=succ)
    return "/dependencies/"


def _grow_updates(ctx, n):
    milestone = make_milestone(ctx["portfolio"], ctx["org"].fr)
    for i in range(n):
        services.milestone_submit_update(
            actor=ctx["readers"][0],
            milestone=milestone,
            expected_version=None,
            status=Status.IN_PROGRESS,
            percent_complete=Decimal(i % 100),
            actual_spend=Decimal("0"),
        )
    return "/updates/"


def _grow_objectives(ctx, n):
    for i in range(n):
        services.objective_create(
            actor=None, portfolio=ctx["portfolio"], title=f"Objective {i}"
        )
    return "/objectives/"


def _grow_kpis(ctx, n):
    for i in range(n):
        kpi = services.kpi_create(
            actor=None,
            portfolio=ctx["portfolio"],
            name=f"KPI {i}",
            baseline=Decimal("0"),
            target=Decimal("10"),
        )
        services.kpi_record(actor=None, kpi=kpi, measured_on=TODAY, value=Decimal(i))
    return "/kpis/"


def _grow_measurements(ctx, n):
    kpi = ctx.get("kpi")
    if kpi is None:
        kpi = ctx["kpi"] = services.kpi_create(
            actor=None,
            portfolio=ctx["portfolio"],
            name="Adoption",
            baseline=Decimal("0"),
            target=Decimal("10"),
        )
    start = kpi.measurements.count()
    for i in range(start, start + n):
        services.kpi_record(
            actor=None,
            kpi=kpi,
            measured_on=TODAY - timedelta(days=i),
            value=Decimal(i),
        )
    return f"/kpis/{kpi.pk}/measurements/"


def _grow_portfolios(ctx, n):
    for _ in range(n):
        make_portfolio(ctx["org"].world)
    return "/portfolios/"


@pytest.mark.parametrize(
    ("grow", "few", "many", "query"),
    [
        (_grow_milestones, 10, 190, {}),
        (
            _grow_milestones,
            10,
            190,
            {"portfolio": "ai-transformation", "status": "not_started"},
        ),
        (_grow_dependencies, 2, 20, {}),
        (_grow_updates, 2, 20, {}),
        (_grow_objectives, 2, 20, {}),
        (_grow_kpis, 2, 20, {}),
        (_grow_measurements, 2, 20, {}),
        (_grow_portfolios, 2, 20, {}),
    ],
)
def test_list_query_count_is_constant(
    org, portfolio, member, grow, few, many, query, django_assert_max_num_queries
):
    # A portfolio-scoped manager and a region-scoped contributor: both go
    # through the policy's subqueries, not the superuser shortcut.
    readers = [
        member(Role.PORTFOLIO_MANAGER, org.world, username="pm-world"),
        member(Role.CONTRIBUTOR, org.emea, username="contrib-emea"),
    ]
    ctx = {"org": org, "portfolio": portfolio, "owner": UserFactory()}
    # The contributor sees the portfolio (and so its KPIs) through a milestone.
    make_milestone(portfolio, org.fr)
    ctx["readers"] = readers
    path = grow(ctx, few)
    counts_few = {}
    for reader in readers:
        client = client_for(reader)
        counts_few[reader.pk], response = count_queries(
            lambda client=client: client.get(API + path, query)
        )
        assert response.status_code == 200
    path = grow(ctx, many)
    for reader in readers:
        client = client_for(reader)
        with django_assert_max_num_queries(counts_few[reader.pk]):
            response = client.get(API + path, query)
        assert response.status_code == 200
    pm_rows = client_for(readers[0]).get(API + path, query).json()["count"]
    assert pm_rows >= few + many - (1 if grow is _grow_dependencies else 0)
