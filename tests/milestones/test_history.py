"""History and validation of the milestones domain, at the service level.

Every milestones model is tracked by simple-history with the acting user;
baseline changes carry their reason; each validation rule refuses with a clear
message and saves nothing (no row, no history).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from guardian.models import UserObjectPermissionBase

from accounts.roles import Role
from approvals import services as approval_services
from approvals.models import ApprovalDecision, ApprovalRequest
from milestones import services
from milestones.models import (
    KPI,
    Checkpoint,
    Dependency,
    KPIMeasurement,
    Milestone,
    MilestoneCategory,
    Portfolio,
    ProgressUpdate,
    ResourceAllocation,
    Status,
    StrategicObjective,
)
from portal.errors import Forbidden, Invalid
from tests.factories import make_milestone

pytestmark = pytest.mark.django_db


def history_rows() -> int:
    """History rows of every tracked milestones model."""
    return sum(model.history.count() for model in tracked_models())


def tracked_models():
    return [m for m in domain_models() if hasattr(m, "history")]


def domain_models():
    return [
        model
        for model in apps.get_app_config("milestones").get_models()
        if not model.__name__.startswith("Historical")
        and not issubclass(model, UserObjectPermissionBase)
        # Work queues (declared as such) carry no history.
        and not getattr(model, "untracked_reason", "")
    ]


# Tracking -----------------------------------------------------------------------


def test_every_milestones_model_has_history():
    untracked = [m.__name__ for m in domain_models() if not hasattr(m, "history")]
    assert not untracked


def test_every_write_records_the_acting_user(org, pmo, member):
    contributor = member(Role.CONTRIBUTOR, org.emea)
    portfolio = services.portfolio_create(
        actor=pmo,
        slug="ops",
        name="Operations",
        org_unit=org.world,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31),
    )
    objective = services.objective_create(
        actor=pmo, portfolio=portfolio, code="O1", title="Lean operations"
    )
    first, second = (
        services.milestone_create(
            actor=pmo,
            portfolio=portfolio,
            name=name,
            category=portfolio.categories.first(),
            org_unit=org.fr,
            objective=objective,
            success_criteria="Measured.",
            planned_start=date(2026, 2, 1),
            planned_completion=date(2026, 5, 1),
        )
        for name in ("First", "Second")
    )
    rows = {
        Portfolio: portfolio,
        MilestoneCategory: portfolio.categories.first(),
        StrategicObjective: objective,
        Milestone: first,
        Dependency: services.dependency_add(
            actor=pmo, predecessor=first, successor=second
        ),
        Checkpoint: services.checkpoint_create(
            actor=pmo, milestone=first, name="Design", due_date=date(2026, 3, 1)
        ),
        ResourceAllocation: services.allocation_create(
            actor=pmo, milestone=first, org_unit=org.fr, fte=Decimal("2"), role="Dev"
        ),
        KPI: services.kpi_create(
            actor=pmo,
            portfolio=portfolio,
            milestone=first,
            name="Cycle time (days)",
            direction=KPI.Direction.LOWER,
            baseline=Decimal("30"),
            target=Decimal("10"),
        ),
    }
    rows[KPIMeasurement] = services.kpi_record(
        actor=contributor,
        kpi=rows[KPI],
        measured_on=date(2026, 3, 1),
        value=Decimal("25"),
    )
    rows[ProgressUpdate] = services.milestone_submit_update(
        actor=contributor,
        milestone=first,
        expected_version=1,
        status=Status.IN_PROGRESS,
        percent_complete=Decimal("20"),
        actual_spend=Decimal("1000"),
    )

    assert set(rows) <= set(tracked_models())
    for model, obj in rows.items():
        record = obj.history.get(history_type="+")
        expected = contributor if model in (KPIMeasurement, ProgressUpdate) else pmo
        assert record.history_user == expected, model.__name__
    # The progress write is attributed too, with its reason.
    latest = Milestone.objects.get(pk=first.pk).history.latest("history_id")
    assert latest.history_user == contributor
    assert latest.history_change_reason == f"Progress update #{rows[ProgressUpdate].pk}"


# Baseline reasons ---------------------------------------------------------------


def test_baseline_changes_only_through_a_request_that_carries_its_reason(
    org, pmo, executive, portfolio
):
    milestone = make_milestone(portfolio, org.fr, approved_budget=Decimal("100000"))
    before = history_rows()
    for field, value in [
        ("approved_budget", Decimal("180000")),
        ("planned_start", milestone.planned_start - timedelta(days=1)),
        ("planned_completion", milestone.planned_completion + timedelta(days=1)),
        ("success_criteria", "Something else"),
        ("weight", Decimal("3")),
    ]:
        with pytest.raises(Forbidden, match="change only through an approved request"):
            services.milestone_update(
                actor=pmo,
                milestone=milestone,
                expected_version=1,
                reason="Direct edit",
                **{field: value},
            )
    reauthorization = ApprovalRequest.Kind.REAUTHORIZATION
    with pytest.raises(Invalid, match="Say why the change is needed"):
        approval_services.approval_request(
            actor=pmo,
            milestone=milestone,
            kind=reauthorization,
            reason="  ",
            new_approved_budget=Decimal("180000"),
        )
    assert history_rows() == before

    request = approval_services.approval_request(
        actor=pmo,
        milestone=milestone,
        kind=reauthorization,
        reason="Vendor contract renegotiated",
        new_approved_budget=Decimal("180000"),
    )
    approval_services.approval_decide(
        actor=executive, approval=request, outcome=ApprovalDecision.Outcome.APPROVE
    )

    milestone.refresh_from_db()
    assert milestone.approved_budget == Decimal("180000")
    record = milestone.history.latest("history_id")
    assert (record.history_user, record.history_change_reason) == (
        executive,
        f"Approved request #{request.pk}",
    )
    asked = request.history.get(history_type="+")
    assert (asked.history_user, asked.reason) == (pmo, "Vendor contract renegotiated")
    decision = ApprovalDecision.objects.get(request=request)
    assert decision.history.get().history_user == executive


def test_non_baseline_change_needs_no_reason(org, pmo, portfolio):
    milestone = make_milestone(portfolio, org.fr)
    services.milestone_update(
        actor=pmo, milestone=milestone, expected_version=1, name="Renamed"
    )
    assert milestone.history.latest("history_id").history_user == pmo


def test_weights_change_carries_its_reason(pmo, portfolio):
    categories = [
        {"id": c.pk, "name": c.name, "weight": c.weight}
        for c in portfolio.categories.order_by("order")
    ]
    categories[0]["weight"] += 5
    categories[-1]["weight"] -= 5
    services.categories_set(
        actor=pmo, portfolio=portfolio, categories=categories, reason="Re-weighting"
    )
    reasons = {
        c.history.latest("history_id").history_change_reason
        for c in portfolio.categories.all()
    }
    assert reasons == {"Re-weighting"}


def test_bulk_progress_records_user_and_reason_for_each_row(org, pmo, portfolio):
    milestones = [make_milestone(portfolio, org.fr) for _ in range(3)]
    services.milestones_bulk_set_progress(
        actor=pmo,
        changes={m.pk: {"status": Status.AT_RISK} for m in milestones},
        reason="Supplier strike",
    )
    for milestone in milestones:
        record = milestone.history.latest("history_id")
        assert (record.history_user, record.history_change_reason) == (
            pmo,
            "Supplier strike",
        )
        assert record.status == Status.AT_RISK


# Validation rules: a clear message, nothing saved ----------------------------------


def test_reversed_dates_are_refused(org, pmo, portfolio):
    with pytest.raises(Invalid) as refused:
        make_milestone(
            portfolio,
            org.fr,
            planned_start=date(2026, 6, 1),
            planned_completion=date(2026, 1, 1),
        )
    assert refused.value.errors["planned_completion"] == [
        "The planned completion cannot be before the planned start."
    ]
    milestone = make_milestone(portfolio, org.fr)
    before = history_rows()
    with pytest.raises(Invalid, match="cannot be before the planned start"):
        approval_services.approval_request(
            actor=pmo,
            milestone=milestone,
            kind=ApprovalRequest.Kind.BASELINE_CHANGE,
            reason="Pulled in",
            new_planned_completion=milestone.planned_start - timedelta(days=1),
        )
    with pytest.raises(Invalid, match="period cannot end before it starts"):
        services.portfolio_create(
            actor=pmo,
            slug="backwards",
            name="Backwards",
            org_unit=org.world,
            period_start=date(2026, 12, 31),
            period_end=date(2026, 1, 1),
        )
    assert Milestone.objects.count() == 1
    assert not Portfolio.objects.filter(slug="backwards").exists()
    assert history_rows() == before


@pytest.mark.parametrize("percent", ["-1", "100.01", "140"])
def test_percent_outside_0_to_100_is_refused(
    percent, org, pmo, contributor_emea, portfolio
):
    value = Decimal(percent)
    with pytest.raises(Invalid, match="less than or equal to 100|greater than or eq"):
        make_milestone(portfolio, org.fr, percent_complete=value)
    milestone = make_milestone(portfolio, org.fr)
    other = make_milestone(portfolio, org.fr)
    before = history_rows()

    with pytest.raises(Invalid, match="percent_complete|100|0"):
        services.milestone_submit_update(
            actor=contributor_emea,
            milestone=milestone,
            expected_version=1,
            status=Status.IN_PROGRESS,
            percent_complete=value,
            actual_spend=Decimal("0"),
        )
    with pytest.raises(Invalid, match="Nothing was saved"):
        services.milestones_bulk_set_progress(
            actor=pmo,
            changes={
                other.pk: {"percent_complete": Decimal("50")},
                milestone.pk: {"percent_complete": value},
            },
            reason="Bulk",
        )

    assert not ProgressUpdate.objects.exists()
    assert set(Milestone.objects.values_list("version", "percent_complete")) == {
        (1, Decimal("0"))
    }
    assert history_rows() == before


@pytest.mark.parametrize(
    "field", ["approved_budget", "actual_spend", "estimate_at_completion"]
)
def test_negative_money_is_refused(field, org, contributor_emea, portfolio):
    with pytest.raises(Invalid, match="greater than or equal to 0") as refused:
        make_milestone(portfolio, org.fr, **{field: Decimal("-0.01")})
    assert field in refused.value.errors
    milestone = make_milestone(portfolio, org.fr)
    before = history_rows()
    if field != "approved_budget":
        spend = {"actual_spend": Decimal("0"), field: Decimal("-5")}
        with pytest.raises(Invalid, match="greater than or equal to 0"):
            services.milestone_submit_update(
                actor=contributor_emea,
                milestone=milestone,
                expected_version=1,
                status=Status.IN_PROGRESS,
                percent_complete=Decimal("10"),
                **spend,
            )
    assert Milestone.objects.count() == 1
    assert not ProgressUpdate.objects.exists()
    assert history_rows() == before


def test_weights_not_summing_to_100_are_refused(org, pmo, portfolio):
    before = history_rows()
    categories = [
        {"id": c.pk, "name": c.name, "weight": c.weight}
        for c in portfolio.categories.all()
    ]
    categories[0]["weight"] -= 10
    with pytest.raises(Invalid, match=r"sum to 90(\.00)? %, not 100 %"):
        services.categories_set(
            actor=pmo, portfolio=portfolio, categories=categories, reason="Oops"
        )
    with pytest.raises(Invalid, match=r"sum to 110(\.00)? %, not 100 %"):
        services.portfolio_create(
            actor=pmo,
            slug="heavy",
            name="Heavy",
            org_unit=org.world,
            period_start=date(2026, 1, 1),
            period_end=date(2026, 12, 31),
            categories=[("A", Decimal("60"), ""), ("B", Decimal("50"), "")],
        )
    assert sorted(portfolio.categories.values_list("weight", flat=True)) == [
        Decimal(w) for w in ("5", "20", "20", "25", "30")
    ]
    assert not Portfolio.objects.filter(slug="heavy").exists()
    assert history_rows() == before


def test_self_dependency_is_refused(org, pmo, portfolio):
    milestone = make_milestone(portfolio, org.fr)
    before = history_rows()
    with pytest.raises(Invalid, match="cannot depend on itself"):
        services.dependency_add(actor=pmo, predecessor=milestone, successor=milestone)
    assert not Dependency.objects.exists()
    assert history_rows() == before


def test_two_milestone_cycle_is_refused(org, pmo, portfolio):
    a = make_milestone(portfolio, org.fr, name="A")
    b = make_milestone(portfolio, org.fr, name="B")
    services.dependency_add(actor=pmo, predecessor=a, successor=b)
    with pytest.raises(Invalid, match="would create a cycle: A → B → A"):
        services.dependency_add(actor=pmo, predecessor=b, successor=a)
    assert Dependency.objects.count() == 1


def test_long_cycle_is_refused_and_named_in_order(org, pmo, portfolio):
    chain = [make_milestone(portfolio, org.fr, name=f"Step {i}") for i in range(1, 8)]
    for predecessor, successor in zip(chain, chain[1:], strict=False):
        services.dependency_add(actor=pmo, predecessor=predecessor, successor=successor)
    # A side branch the cycle does not go through.
    services.dependency_add(
        actor=pmo,
        predecessor=chain[2],
        successor=make_milestone(portfolio, org.fr, name="Side"),
    )
    before = history_rows()

    with pytest.raises(Invalid) as refused:
        services.dependency_add(actor=pmo, predecessor=chain[-1], successor=chain[0])

    names = " → ".join(f"Step {i}" for i in [*range(1, 8), 1])
    assert refused.value.message == f"This dependency would create a cycle: {names}."
    assert refused.value.errors == {"predecessor": [f"Cycle: {names}."]}
    assert Dependency.objects.count() == 7
    assert history_rows() == before


def test_dependency_across_portfolios_is_refused(org, pmo, portfolio):
    from tests.factories import make_portfolio

    other = make_portfolio(org.world)
    a = make_milestone(portfolio, org.fr)
    b = make_milestone(other, org.fr)
    with pytest.raises(Invalid, match="same portfolio"):
        services.dependency_add(actor=pmo, predecessor=a, successor=b)
    assert not Dependency.objects.exists()


def test_system_progress_update_has_no_author_and_is_recorded(org, portfolio):
    """Imports and seeding submit updates as the system (actor None)."""
    from decimal import Decimal

    from milestones.services import milestone_submit_update

    from ..factories import make_milestone

    milestone = make_milestone(portfolio, org.fr)
    update = milestone_submit_update(
        actor=None,
        milestone=milestone,
        expected_version=milestone.version,
        status="on_track",
        percent_complete=Decimal("40"),
        actual_spend=Decimal("1000"),
    )
    assert update.author is None
    milestone.refresh_from_db()
    assert milestone.percent_complete == Decimal("40")
    latest = milestone.history.latest()
    assert latest.history_user is None
    assert latest.history_change_reason == f"Progress update #{update.pk}"
