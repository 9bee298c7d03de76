"""``seed_demo`` with the milestones extension: contents and idempotency."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.test import override_settings
from django.utils import timezone

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

TRACKED = (
    Portfolio,
    MilestoneCategory,
    StrategicObjective,
    Milestone,
    Dependency,
    Checkpoint,
    ResourceAllocation,
    ProgressUpdate,
    KPI,
    KPIMeasurement,
)


def seed(**options) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


@pytest.fixture(scope="class")
def demo(django_db_setup, django_db_blocker):
    """The demo, seeded once for the class below and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(DEBUG=True):
            seed()
        yield
        transaction.set_rollback(True)


def counts() -> dict[str, int]:
    result = {}
    for model in TRACKED:
        result[model.__name__] = model.objects.count()
        result[f"history of {model.__name__}"] = model.history.count()
    return result


def test_seed_demo_refuses_without_debug_and_creates_nothing(db, settings):
    settings.DEBUG = False
    before = counts()

    with pytest.raises(CommandError, match="--force"):
        seed()

    assert counts() == before


@pytest.mark.usefixtures("db", "demo")
class TestSeededDemo:
    """Everything here looks at one seeded demo (seeding takes a while)."""

    def test_demo_has_both_portfolios_with_weights_summing_to_100(self):
        portfolios = {p.slug: p for p in Portfolio.objects.all()}

        assert set(portfolios) == {"ai-transformation", "value-creation"}
        assert portfolios["ai-transformation"].name == "AI Transformation Programme"
        ai_categories = list(
            portfolios["ai-transformation"]
            .categories.order_by("order")
            .values_list("name", "weight")
        )
        assert ai_categories == [
            ("Foundation", Decimal("25")),
            ("Quick Wins", Decimal("20")),
            ("Process Integration", Decimal("30")),
            ("Enterprise Scaling", Decimal("20")),
            ("Optimization", Decimal("5")),
        ]
        totals = Portfolio.objects.annotate(total=Sum("categories__weight"))
        assert {p.slug: p.total for p in totals} == {
            "ai-transformation": Decimal("100"),
            "value-creation": Decimal("100"),
        }
        types = set(
            Milestone.objects.filter(portfolio__slug="value-creation").values_list(
                "type", flat=True
            )
        )
        assert types == {"strategic", "financial", "operational"}

    def test_demo_milestones_follow_the_seed_document(self):
        names = set(
            Milestone.objects.filter(portfolio__slug="ai-transformation").values_list(
                "name", flat=True
            )
        )

        assert 35 <= Milestone.objects.count() <= 45
        assert {
            "Executive Alignment Achieved",
            "AI Governance Framework Established",
            "Organizational Readiness Validated",
            "Technology Architecture Approved",
            "Quick Win Deployments Completed",
            "Proof of Value Demonstrated",
            "Enterprise Integration Achieved",
            "Sustainable Operations Established",
        } <= names
        regions = {
            m.org_unit.path.split("/")[2]
            for m in Milestone.objects.all()
            if m.org_unit.kind != "global"
        }
        assert {"emea", "apac", "amer"} <= regions
        assert Milestone.objects.filter(
            owner__username="owner-emea", org_unit__path__startswith="/global/emea/"
        ).exists()

    def test_every_template_field_is_filled(self):
        text_fields = (
            "description",
            "success_criteria",
            "validation_method",
            "risk_factors",
            "stakeholder_impact",
            "communication_plan",
            "technology_required",
            "business_impact",
        )
        for milestone in Milestone.objects.all():
            for name in text_fields:
                assert getattr(milestone, name).strip(), (milestone.code, name)
            assert milestone.objective_id and milestone.owner_id, milestone.code
            assert milestone.approved_budget > 0, milestone.code
        bare = Milestone.objects.annotate(
            n_checkpoints=Count("checkpoints", distinct=True),
            n_allocations=Count("allocations", distinct=True),
        ).filter(Q(n_checkpoints=0) | Q(n_allocations=0))
        assert not bare.exists()
        assert KPI.objects.filter(kind=KPI.Kind.LEADING).exists()
        assert KPI.objects.filter(kind=KPI.Kind.LAGGING).exists()
        assert not KPI.objects.filter(measurements__isnull=True).exists()

    def test_dependencies_follow_the_map_without_cycles(self):
        edges = defaultdict(set)
        indegree = dict.fromkeys(Milestone.objects.values_list("pk", flat=True), 0)
        for pred, succ, same in Dependency.objects.annotate(
            same=F("predecessor__portfolio_id") - F("successor__portfolio_id")
        ).values_list("predecessor_id", "successor_id", "same"):
            assert same == 0
            edges[pred].add(succ)
            indegree[succ] += 1
        assert sum(len(s) for s in edges.values()) >= 30

        ready = [m for m, n in indegree.items() if n == 0]
        seen = 0
        while ready:
            node = ready.pop()
            seen += 1
            for nxt in edges[node]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    ready.append(nxt)
        assert seen == len(indegree)  # a cycle would leave nodes unvisited

        codes = set(
            Dependency.objects.values_list("predecessor__code", "successor__code")
        )
        assert ("AI-F01", "AI-Q01") in codes  # Strategic Foundation -> Quick Wins
        assert ("AI-P01", "AI-S01") in codes  # Process Integration -> Scaling
        assert ("AI-S01", "AI-O01") in codes  # Scaling -> Optimization

    def test_demo_has_late_over_budget_stale_completed_and_due_milestones(self):
        today = timezone.localdate()
        milestones = list(Milestone.objects.all())
        open_ = [m for m in milestones if not m.is_closed]

        late = [
            m
            for m in open_
            if m.forecast_completion
            and (m.forecast_completion - m.planned_completion).days > 14
        ]
        over = [
            m
            for m in milestones
            if m.estimate_at_completion
            and m.estimate_at_completion > m.approved_budget * Decimal("1.15")
        ]
        completed = [m for m in milestones if m.status == Status.COMPLETED]
        assert len(late) >= 3
        assert len(over) >= 3
        assert len(completed) >= 5
        assert list(Milestone.objects.stale().values_list("code", flat=True)) == [
            "AI-P03"
        ]
        stale = Milestone.objects.get(code="AI-P03")
        assert stale.last_progress_at < timezone.now() - timedelta(days=21)
        assert Milestone.objects.due_within(14, today=today).count() >= 3
        assert Milestone.objects.filter(status=Status.PENDING_VALIDATION).exists()
        assert Milestone.objects.filter(status=Status.NOT_STARTED).exists()
        assert all(m.actual_completion for m in completed)

    def test_progress_history_spans_twelve_weeks_and_names_the_demo_users(self):
        now = timezone.now()
        updates = ProgressUpdate.objects.all()
        first = updates.order_by("submitted_at").first().submitted_at

        assert now - timedelta(days=85) <= first <= now - timedelta(days=70)
        assert not updates.filter(submitted_at__gt=now).exists()
        authors = set(updates.values_list("author__username", flat=True))
        assert {"contributor-emea", "contributor-apac", "owner-emea", "pmo"} <= authors
        history_users = set(
            Milestone.history.filter(
                history_change_reason__startswith="Progress update #"
            ).values_list("history_user__username", flat=True)
        )
        assert {"contributor-emea", "contributor-apac", "owner-emea"} <= history_users
        assert (
            Milestone.history.filter(
                history_type="+", history_user__username="pmo"
            ).count()
            == Milestone.objects.count()
        )
        # The milestone shows its latest report, and counted every one of them.
        for milestone in Milestone.objects.annotate(n=Count("updates")).filter(n__gt=0):
            latest = milestone.updates.order_by("-submitted_at").first()
            assert milestone.last_progress_at == latest.submitted_at
            assert milestone.percent_complete == latest.percent_complete
            assert milestone.version == milestone.n + 1

    def test_history_is_dated_as_the_story_goes(self):
        now = timezone.now()
        planned = Milestone.history.filter(history_type="+")
        assert planned.count() == Milestone.objects.count()
        # The plan was made about thirteen weeks ago, before the first report.
        assert not planned.filter(history_date__gt=now - timedelta(days=85)).exists()
        assert not planned.filter(history_date__lt=now - timedelta(days=92)).exists()
        # Each report's history row carries the report's time.
        for update in ProgressUpdate.objects.order_by("pk")[:20]:
            record = ProgressUpdate.history.get(id=update.pk, history_type="+")
            assert record.history_date == update.submitted_at
        assert not Milestone.history.filter(history_date__gt=now).exists()

    def test_as_of_report_of_a_past_day_shows_the_demos_past(self):
        from reporting.selectors import SYSTEM, executive_report

        portfolio = Portfolio.objects.get(slug="ai-transformation")
        month_ago = timezone.localdate() - timedelta(days=30)

        past = executive_report(SYSTEM, portfolio, as_of=month_ago)
        again = executive_report(SYSTEM, portfolio, as_of=month_ago)
        live = executive_report(SYSTEM, portfolio)

        assert past.progress.milestone_count == live.progress.milestone_count > 0
        assert Decimal(0) < past.progress.progress < live.progress.progress
        assert past.schedule is not None
        # Rebuilt from history at the end of today, the schedule figures are
        # the live report's.
        today = executive_report(SYSTEM, portfolio, as_of=timezone.localdate())
        assert today.historical
        for name in ("p50", "p80", "p95", "probability_on_time", "forecast_finish"):
            assert getattr(today.schedule, name) == getattr(live.schedule, name)
        # Identical schedule figures each time the same day is asked for.
        assert (past.schedule.p80, past.schedule.probability_on_time) == (
            again.schedule.p80,
            again.schedule.probability_on_time,
        )

    def test_second_run_creates_nothing_new(self, settings):
        before = counts()
        settings.DEBUG = False

        out = seed(force=True)

        assert counts() == before
        assert "0 new portfolios, 0 new milestones, 0 new progress updates" in out


# The seeding-only ``submitted_at`` keyword of milestone_submit_update ---------


def submit(milestone, actor, **fields):
    from milestones import services

    return services.milestone_submit_update(
        actor=actor,
        milestone=milestone,
        expected_version=None,
        status=Status.IN_PROGRESS,
        percent_complete=Decimal("10"),
        actual_spend=Decimal("0"),
        **fields,
    )


def test_backdated_update_dates_the_report_and_the_milestone(
    org, milestone_in, contributor_emea
):
    milestone = milestone_in(org.fr)
    when = timezone.now() - timedelta(days=30)

    update = submit(milestone, contributor_emea, submitted_at=when)

    milestone.refresh_from_db()
    assert update.submitted_at == when
    assert milestone.last_progress_at == when
    assert milestone.actual_start == timezone.localdate(when)
    history = milestone.history.latest()
    assert history.last_progress_at == when
    assert history.history_change_reason == f"Progress update #{update.pk}"
    assert history.history_user == contributor_emea


def test_backdated_update_refuses_the_future_and_going_backwards(
    org, milestone_in, contributor_emea
):
    from portal.errors import Invalid

    milestone = milestone_in(org.fr)
    user = contributor_emea
    submit(milestone, user, submitted_at=timezone.now() - timedelta(days=10))

    with pytest.raises(Invalid, match="future"):
        submit(milestone, user, submitted_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(Invalid, match="before the milestone's last one"):
        submit(milestone, user, submitted_at=timezone.now() - timedelta(days=20))
    with pytest.raises(Invalid, match="time zone"):
        submit(milestone, user, submitted_at=timezone.now().replace(tzinfo=None))
    assert milestone.updates.count() == 1
