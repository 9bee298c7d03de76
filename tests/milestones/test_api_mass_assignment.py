"""Mass assignment: posting every model field to every write endpoint never
sets a read-only, system or baseline field.

The API refuses keys an input serializer does not declare (400 naming each
one) rather than silently dropping them, and the services decide who may set
the declared ones. Each test posts the hostile body, checks the answer, and
compares every stored field with its value before the request.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import models
from django.utils import timezone

from accounts.roles import Role
from milestones import services
from milestones.models import (
    KPI,
    Dependency,
    KPIMeasurement,
    Milestone,
    Portfolio,
    ProgressUpdate,
    Status,
    StrategicObjective,
)

from ..factories import UserFactory, make_milestone, make_portfolio
from .conftest_api import API, client_for, snapshot

TODAY = timezone.localdate()
LONG_AGO = timezone.now() - timedelta(days=3000)


def hostile_value(field: models.Field, *, foreign_pk: int):
    """A plausible value for ``field``, pointing relations at ``foreign_pk``."""
    if field.is_relation:
        return foreign_pk
    if isinstance(field, models.BooleanField):
        return True
    if isinstance(field, models.DateTimeField):
        return LONG_AGO.isoformat()
    if isinstance(field, models.DateField):
        return str(TODAY - timedelta(days=30))
    if isinstance(field, models.DecimalField):
        return "7"
    if isinstance(field, models.IntegerField | models.AutoField):
        return 999
    if isinstance(field, models.FileField):
        return "evidence/hacked.pdf"
    return "hostile"


def every_field(model, *, foreign_pk: int) -> dict:
    """A body naming every concrete field of ``model`` (by name and, for
    relations, by ``<name>_id`` too)."""
    body = {}
    for field in model._meta.concrete_fields:
        body[field.name] = hostile_value(field, foreign_pk=foreign_pk)
        if field.is_relation:
            body[field.attname] = foreign_pk
    return body


def refused(response) -> set[str]:
    assert response.status_code == 400, response.content
    return set(response.json())


@pytest.fixture
def world(org, portfolio, member):
    """A world portfolio with EMEA and APAC milestones, another portfolio in
    APAC, and users of each kind."""
    apac_portfolio = make_portfolio(org.apac, slug="apac-only")
    owner = member(Role.MILESTONE_OWNER, org.fr, username="owner-fr")
    milestone = make_milestone(
        portfolio,
        org.fr,
        name="FR rollout",
        owner=owner,
        estimate_at_completion=Decimal("90000"),
    )
    return {
        "portfolio": portfolio,
        "apac_portfolio": apac_portfolio,
        "milestone": milestone,
        "jp": make_milestone(portfolio, org.jp, name="JP rollout"),
        "apac_milestone": make_milestone(apac_portfolio, org.jp, name="APAC only"),
        "owner": owner,
        "pm_world": member(Role.PORTFOLIO_MANAGER, org.world, username="pm-world"),
        "pm_emea": member(Role.PORTFOLIO_MANAGER, org.emea, username="pm-emea"),
        "contributor": member(Role.CONTRIBUTOR, org.emea, username="contrib"),
        "stranger": UserFactory(username="stranger"),
    }


# Milestones ------------------------------------------------------------------

MILESTONE_PLAN = {
    "objective",
    "category",
    "org_unit",
    "owner",
    "code",
    "name",
    "description",
    "type",
    "success_criteria",
    "validation_method",
    "risk_factors",
    "stakeholder_impact",
    "communication_plan",
    "technology_required",
    "business_impact",
    "requires_validation",
    "actual_start",
    "weight",
    "approved_budget",
    "planned_start",
    "planned_completion",
}
MILESTONE_PROTECTED = {
    "id",
    "version",
    "last_progress_at",
    "created_at",
    "updated_at",
    "status",
    "percent_complete",
    "actual_spend",
    "estimate_at_completion",
    "forecast_completion",
    "actual_completion",
}


def create_body(world, org, **overrides):
    portfolio = world["portfolio"]
    body = {
        "portfolio": portfolio.slug,
        "category": portfolio.categories.first().pk,
        "org_unit": org.fr.pk,
        "name": "Planned",
        "success_criteria": "Done.",
        "planned_start": str(TODAY),
        "planned_completion": str(TODAY + timedelta(days=30)),
    }
    body.update(overrides)
    return body


def test_milestone_create_refuses_every_protected_field(world, org):
    client = client_for(world["pm_world"])
    count = Milestone.objects.count()
    hostile = every_field(Milestone, foreign_pk=world["apac_milestone"].pk)
    body = {
        **{k: v for k, v in hostile.items() if k not in MILESTONE_PLAN},
        **create_body(world, org),
    }
    keys = refused(client.post(f"{API}/milestones/", body, format="json"))
    protected = MILESTONE_PROTECTED | {
        f"{name}_id"
        for name in ("portfolio", "objective", "category", "org_unit", "owner")
    }
    assert keys == protected
    assert Milestone.objects.count() == count
    for key in MILESTONE_PROTECTED:
        response = client.post(
            f"{API}/milestones/",
            {**create_body(world, org), key: body[key]},
            format="json",
        )
        assert refused(response) == {key}
    # Without them, the same body plans a fresh milestone: version 1, no
    # progress, not started, nothing taken from the hostile values.
    response = client.post(f"{API}/milestones/", create_body(world, org), format="json")
    assert response.status_code == 201
    created = Milestone.objects.get(pk=response.json()["id"])
    assert created.version == 1
    assert created.status == Status.NOT_STARTED
    assert created.percent_complete == 0
    assert created.actual_spend == 0
    assert created.last_progress_at is None
    assert created.created_at > LONG_AGO + timedelta(days=2000)


def test_milestone_create_in_portfolio_of_another_scope(world, org):
    client = client_for(world["pm_emea"])
    count = Milestone.objects.count()
    # Invisible portfolio: "does not exist".
    unseen = create_body(world, org, portfolio=world["apac_portfolio"].slug)
    unseen["category"] = world["apac_portfolio"].categories.first().pk
    keys = refused(client.post(f"{API}/milestones/", unseen, format="json"))
    assert {"portfolio", "category"} <= keys
    # Visible (through its EMEA milestone) but not theirs to plan: 403.
    response = client.post(f"{API}/milestones/", create_body(world, org), format="json")
    assert response.status_code == 403
    # An org unit outside their scope: "does not exist".
    outside = create_body(world, org, org_unit=org.jp.pk)
    assert "org_unit" in refused(
        client.post(f"{API}/milestones/", outside, format="json")
    )
    assert Milestone.objects.count() == count


def test_milestone_edit_refuses_every_protected_field(world, org):
    milestone = world["milestone"]
    client = client_for(world["pm_world"])
    before = snapshot(milestone)
    body = {
        **every_field(Milestone, foreign_pk=world["apac_milestone"].pk),
        "name": "Renamed",
        "version": milestone.version,
    }
    for name in MILESTONE_PLAN - {"name"}:
        body.pop(name)
    keys = refused(client.patch(f"{API}/milestones/{milestone.pk}/", body, "json"))
    assert keys == (MILESTONE_PROTECTED - {"version"}) | {
        "portfolio",
        "portfolio_id",
        "objective_id",
        "category_id",
        "org_unit_id",
        "owner_id",
    }
    assert snapshot(milestone) == before
    for key in sorted(keys):
        response = client.patch(
            f"{API}/milestones/{milestone.pk}/",
            {"version": milestone.version, key: body[key]},
            format="json",
        )
        assert refused(response) == {key}
    assert snapshot(milestone) == before


def test_posted_version_is_a_check_never_a_value(world):
    milestone = world["milestone"]
    client = client_for(world["pm_world"])
    before = snapshot(milestone)
    response = client.patch(
        f"{API}/milestones/{milestone.pk}/",
        {"name": "Renamed", "version": 999},
        format="json",
    )
    assert response.status_code == 409
    assert snapshot(milestone) == before
    response = client.patch(
        f"{API}/milestones/{milestone.pk}/",
        {"name": "Renamed", "version": milestone.version},
        format="json",
    )
    assert response.status_code == 200
    assert snapshot(milestone)["version"] == milestone.version + 1


BASELINE = {
    "approved_budget": "1",
    "planned_start": str(TODAY - timedelta(days=400)),
    "planned_completion": str(TODAY + timedelta(days=4000)),
    "success_criteria": "Whatever I say.",
    "weight": "50",
}


@pytest.mark.parametrize("who", ["contributor", "owner"])
def test_baseline_and_scope_are_refused_without_plan_rights(world, org, who):
    """A contributor may change nothing; the owner may edit their milestone
    but neither its baseline nor its scope, reason or not."""
    milestone = world["milestone"]
    client = client_for(world[who])
    before = snapshot(milestone)
    scope_moves = {
        "owner": None,
        "org_unit": org.paris.pk,
        "category": world["portfolio"].categories.last().pk,
    }
    for field, value in {**BASELINE, **scope_moves}.items():
        response = client.patch(
            f"{API}/milestones/{milestone.pk}/",
            {field: value, "version": milestone.version, "reason": "Because"},
            format="json",
        )
        assert response.status_code == 403, (field, response.json())
    assert snapshot(milestone) == before


def test_owner_may_edit_non_baseline_fields_only(world):
    milestone = world["milestone"]
    client = client_for(world["owner"])
    response = client.patch(
        f"{API}/milestones/{milestone.pk}/",
        {
            "description": "Now with a description.",
            "risk_factors": "Vendor lock-in.",
            "version": milestone.version,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    after = snapshot(milestone)
    assert after["description"] == "Now with a description."
    for field in BASELINE:
        assert after[field] == getattr(milestone, field)


def test_baseline_is_refused_even_for_planners(world):
    """The baseline changes only through an approved request (approvals):
    a planner's direct edit is refused, reason or not, naming the field and
    pointing to the request flow."""
    milestone = world["milestone"]
    client = client_for(world["pm_world"])
    before = snapshot(milestone)
    for field, value in BASELINE.items():
        for reason in ({}, {"reason": "Board decision"}):
            response = client.patch(
                f"{API}/milestones/{milestone.pk}/",
                {field: value, "version": milestone.version, **reason},
                format="json",
            )
            assert response.status_code == 403, (field, response.json())
            assert "/request/" in response.json()[field][0]
    assert snapshot(milestone) == before


# Progress updates -------------------------------------------------------------


def update_body(milestone, **overrides):
    body = {
        "milestone": milestone.pk,
        "version": milestone.version,
        "status": Status.IN_PROGRESS,
        "percent_complete": "25",
        "actual_spend": "10",
    }
    body.update(overrides)
    return body


def test_progress_update_refuses_every_protected_field(world):
    milestone = world["milestone"]
    client = client_for(world["contributor"])
    before = snapshot(milestone)
    body = {
        **every_field(ProgressUpdate, foreign_pk=world["stranger"].pk),
        **update_body(milestone),
    }
    body.pop("evidence")
    keys = refused(client.post(f"{API}/updates/", body, format="json"))
    assert keys == {
        "id",
        "author",
        "author_id",
        "submitted_at",
        "milestone_version",
        "milestone_id",
    }
    # Milestone fields smuggled into an update are refused as well.
    smuggled = {
        **update_body(milestone),
        **BASELINE,
        "last_progress_at": LONG_AGO.isoformat(),
        "owner": world["stranger"].pk,
    }
    keys = refused(client.post(f"{API}/updates/", smuggled, format="json"))
    assert keys == {*BASELINE, "last_progress_at", "owner"}
    assert not ProgressUpdate.objects.exists()
    assert snapshot(milestone) == before
    # The clean body is recorded as the requester, now, against the version
    # read; the baseline and scope of the milestone are untouched.
    response = client.post(f"{API}/updates/", update_body(milestone), format="json")
    assert response.status_code == 201
    update = ProgressUpdate.objects.get()
    assert update.author == world["contributor"]
    assert update.submitted_at > timezone.now() - timedelta(minutes=5)
    assert update.milestone_version == before["version"]
    after = snapshot(milestone)
    for field in (*BASELINE, "owner_id", "org_unit_id", "portfolio_id"):
        assert after[field] == before[field], field
    assert after["version"] == before["version"] + 1


def test_progress_update_on_milestone_of_another_scope(world):
    client = client_for(world["contributor"])
    before = snapshot(world["jp"])
    response = client.post(f"{API}/updates/", update_body(world["jp"]), format="json")
    assert "milestone" in refused(response)
    assert snapshot(world["jp"]) == before
    assert not ProgressUpdate.objects.exists()


# Dependencies ----------------------------------------------------------------


def test_dependency_create_and_edit_refuse_protected_fields(world, org, portfolio):
    client = client_for(world["pm_world"])
    other = make_milestone(portfolio, org.de, name="DE rollout")
    body = {
        **every_field(Dependency, foreign_pk=world["apac_milestone"].pk),
        "predecessor": world["milestone"].pk,
        "successor": other.pk,
        "type": "SS",
        "lag_days": 2,
    }
    keys = refused(client.post(f"{API}/dependencies/", body, format="json"))
    assert keys == {"id", "predecessor_id", "successor_id"}
    assert not Dependency.objects.exists()
    dependency = services.dependency_add(
        actor=None, predecessor=world["milestone"], successor=other
    )
    before = snapshot(dependency)
    url = f"{API}/dependencies/{dependency.pk}/"
    for key, value in [
        ("id", 999),
        ("predecessor", world["jp"].pk),
        ("successor", world["jp"].pk),
        ("successor_id", world["jp"].pk),
    ]:
        assert refused(client.patch(url, {key: value}, format="json")) == {key}
    assert snapshot(dependency) == before


def test_dependency_to_milestone_of_another_scope(world):
    client = client_for(world["pm_world"])
    response = client.post(
        f"{API}/dependencies/",
        {"predecessor": world["apac_milestone"].pk, "successor": world["jp"].pk},
        format="json",
    )
    # The pm-world sees both (global scope) but they are in two portfolios.
    assert "predecessor" in refused(response)
    client = client_for(world["pm_emea"])
    response = client.post(
        f"{API}/dependencies/",
        {"predecessor": world["jp"].pk, "successor": world["milestone"].pk},
        format="json",
    )
    assert "predecessor" in refused(response)
    assert not Dependency.objects.exists()


# Objectives, portfolios, categories -----------------------------------------------


def test_objective_create_refuses_protected_fields(world):
    client = client_for(world["pm_world"])
    body = {
        **every_field(StrategicObjective, foreign_pk=world["stranger"].pk),
        "portfolio": world["portfolio"].slug,
        "owner": world["pm_world"].pk,
    }
    keys = refused(client.post(f"{API}/objectives/", body, format="json"))
    assert keys == {"id", "portfolio_id", "owner_id"}
    assert not StrategicObjective.objects.exists()
    stranger = {
        "portfolio": world["portfolio"].slug,
        "title": "Mine",
        "owner": world["stranger"].pk,
    }
    assert "owner" in refused(client.post(f"{API}/objectives/", stranger, "json"))
    emea = client_for(world["pm_emea"])
    response = emea.post(
        f"{API}/objectives/",
        {"portfolio": world["apac_portfolio"].slug, "title": "Theirs"},
        format="json",
    )
    assert "portfolio" in refused(response)
    assert not StrategicObjective.objects.exists()


def test_portfolio_create_refuses_protected_fields(world, org):
    client = client_for(world["pm_world"])
    count = Portfolio.objects.count()
    body = {
        **every_field(Portfolio, foreign_pk=org.world.pk),
        "slug": "fresh",
        "currency": "EUR",
        "sponsor": world["pm_world"].pk,
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
    }
    keys = refused(client.post(f"{API}/portfolios/", body, format="json"))
    assert keys == {"id", "created_at", "org_unit_id", "sponsor_id"}
    assert Portfolio.objects.count() == count


def test_categories_cannot_reach_another_portfolio(world):
    portfolio, other = world["portfolio"], world["apac_portfolio"]
    theirs = other.categories.first()
    before = snapshot(theirs)
    client = client_for(world["pm_world"])
    url = f"{API}/portfolios/{portfolio.slug}/categories/"
    mine = list(portfolio.categories.order_by("order"))
    categories = [{"id": c.pk, "name": c.name, "weight": str(c.weight)} for c in mine]
    smuggled = [{**categories[0], "portfolio": other.pk}, *categories[1:]]
    response = client.put(url, {"reason": "x", "categories": smuggled}, format="json")
    assert response.status_code == 400
    # Naming another portfolio's category id creates a new one here instead.
    hijack = [
        {"id": theirs.pk, "name": "Hijacked", "weight": "25"},
        *categories[1:],
    ]
    response = client.put(url, {"reason": "x", "categories": hijack}, format="json")
    assert response.status_code == 400  # the old Foundation still has a milestone
    assert snapshot(theirs) == before
    assert set(portfolio.categories.values_list("pk", flat=True)) == {
        c.pk for c in mine
    }


# KPIs and measurements ---------------------------------------------------------


def test_kpi_create_refuses_protected_fields(world):
    client = client_for(world["pm_world"])
    body = {
        **every_field(KPI, foreign_pk=world["apac_milestone"].pk),
        "portfolio": world["portfolio"].slug,
        "objective": None,
        "milestone": world["milestone"].pk,
        "kind": "leading",
        "direction": "higher",
        "baseline": "0",
        "target": "10",
    }
    keys = refused(client.post(f"{API}/kpis/", body, format="json"))
    assert keys == {"id", "portfolio_id", "objective_id", "milestone_id"}
    emea = client_for(world["pm_emea"])
    response = emea.post(
        f"{API}/kpis/",
        {
            "portfolio": world["apac_portfolio"].slug,
            "name": "Theirs",
            "baseline": "0",
            "target": "1",
        },
        format="json",
    )
    assert "portfolio" in refused(response)
    assert not KPI.objects.exists()


def test_measurement_refuses_protected_fields(world):
    kpi = services.kpi_create(
        actor=None,
        portfolio=world["portfolio"],
        milestone=world["milestone"],
        name="Adoption",
        baseline=Decimal("0"),
        target=Decimal("10"),
    )
    other = services.kpi_create(
        actor=None,
        portfolio=world["apac_portfolio"],
        name="Other",
        baseline=Decimal("0"),
        target=Decimal("10"),
    )
    client = client_for(world["contributor"])
    url = f"{API}/kpis/{kpi.pk}/measurements/"
    body = {
        **every_field(KPIMeasurement, foreign_pk=other.pk),
        "measured_on": "2026-02-01",
        "value": "3",
    }
    body["recorded_by"] = body["recorded_by_id"] = world["stranger"].pk
    keys = refused(client.post(url, body, format="json"))
    assert keys == {"id", "kpi", "kpi_id", "recorded_by", "recorded_by_id"}
    assert not KPIMeasurement.objects.exists()
    response = client.post(
        url, {"measured_on": "2026-02-01", "value": "3"}, format="json"
    )
    assert response.status_code == 201
    measurement = KPIMeasurement.objects.get()
    assert measurement.kpi == kpi
    assert measurement.recorded_by == world["contributor"]


def test_hostile_values_are_plausible():
    """The helper's values have the right types (guards the tests above)."""
    field = Milestone._meta.get_field("planned_start")
    assert date.fromisoformat(hostile_value(field, foreign_pk=1))
    field = Milestone._meta.get_field("created_at")
    assert datetime.fromisoformat(hostile_value(field, foreign_pk=1))
