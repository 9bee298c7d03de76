"""Fixtures of the reporting tests: a small programme built through the real
services (milestones, progress updates, risks, KPIs, allocations, an
escalation opened by the real sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from milestones import services
from milestones.models import KPI, Milestone, Portfolio, Status
from risks import engine
from risks import services as risk_services
from risks.models import Risk

from ..factories import make_milestone

D = Decimal

TOP_RISK_TITLES = (
    "Vendor lock-in on the ML platform",
    "Data privacy review blocks the pilots",
    "Scarce MLOps engineers",
)
LOW_RISK_TITLE = "Minor training room shortage"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Archived reports go to a temporary storage."""
    settings.MEDIA_ROOT = tmp_path / "media"


@dataclass
class Programme:
    portfolio: Portfolio
    platform: Milestone
    pilots: Milestone
    scaling: Milestone
    tokyo: Milestone
    kpi: KPI
    risks: list[Risk]


def report(
    milestone: Milestone,
    *,
    status,
    percent,
    spend="0",
    achievements="",
    forecast: date | None = None,
    eac: str | None = None,
) -> None:
    """Submit a progress report as the milestone's portfolio manager."""
    from accounts.models import User

    milestone.refresh_from_db()
    services.milestone_submit_update(
        actor=User.objects.get(username="pmo"),
        milestone=milestone,
        expected_version=milestone.version,
        status=status,
        percent_complete=D(str(percent)),
        actual_spend=D(spend),
        estimate_at_completion=D(eac) if eac else None,
        forecast_completion=forecast,
        achievements=achievements,
    )


@pytest.fixture
def programme(org, portfolio, pmo) -> Programme:
    """Four milestones of ``portfolio`` (France, Germany, Japan), one late by
    30 days (so the sweep opens an escalation), a dependency, four risks of
    which three are the top ones, a KPI with a measurement and allocations."""
    today = timezone.localdate()
    foundation, quick_wins, integration, scaling_cat, _ = portfolio.categories.all()
    platform = make_milestone(
        portfolio,
        org.fr,
        name="Data platform foundation ready",
        category=foundation,
        planned_start=today - timedelta(days=90),
        planned_completion=today + timedelta(days=10),
        technology_required="Lakehouse, feature store",
    )
    pilots = make_milestone(
        portfolio,
        org.de,
        name="Pilot use cases validated",
        category=quick_wins,
        planned_start=today - timedelta(days=60),
        planned_completion=today + timedelta(days=20),
    )
    scaling = make_milestone(
        portfolio,
        org.fr,
        name="Enterprise rollout in EMEA",
        category=scaling_cat,
        planned_start=today + timedelta(days=30),
        planned_completion=today + timedelta(days=200),
    )
    tokyo = make_milestone(
        portfolio,
        org.jp,
        name="Tokyo process integration",
        category=integration,
        planned_start=today - timedelta(days=30),
        planned_completion=today + timedelta(days=90),
    )
    services.dependency_add(actor=None, predecessor=platform, successor=scaling)
    report(
        platform,
        status=Status.ON_TRACK,
        percent=80,
        spend="60000",
        achievements="Feature store live for the first two domains",
    )
    report(
        pilots,
        status=Status.DELAYED,
        percent=40,
        spend="50000",
        forecast=today + timedelta(days=50),
        achievements="Claims triage pilot signed off by operations",
    )
    report(tokyo, status=Status.IN_PROGRESS, percent=25, spend="10000")
    risks = [
        risk_services.risk_create(
            actor=None,
            portfolio=portfolio,
            title=title,
            probability=p,
            impact=i,
            milestone=m,
            mitigation="Mitigation plan agreed",
        )
        for title, p, i, m in (
            (TOP_RISK_TITLES[0], 5, 5, platform),
            (TOP_RISK_TITLES[1], 4, 4, pilots),
            (TOP_RISK_TITLES[2], 3, 4, None),
            (LOW_RISK_TITLE, 1, 2, None),
        )
    ]
    kpi = services.kpi_create(
        actor=None,
        portfolio=portfolio,
        name="AI use cases in production",
        unit="use cases",
        baseline=D("0"),
        target=D("40"),
    )
    services.kpi_record(actor=None, kpi=kpi, measured_on=today, value=D("10"))
    services.allocation_create(
        actor=None, milestone=platform, org_unit=org.fr, fte=D("2.5"), role="Data"
    )
    services.allocation_create(
        actor=None, milestone=tokyo, org_unit=org.jp, fte=D("1.5"), role="Process"
    )
    engine.escalations_sweep()
    return Programme(portfolio, platform, pilots, scaling, tokyo, kpi, risks)
