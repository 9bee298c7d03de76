"""The escalation engine: triggers at their boundaries, clearing, re-opening,
idempotence, per-portfolio overrides, recipients, query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.roles import Role
from milestones.models import Status
from portal.models import Notification
from risks import engine, services
from risks.models import Escalation, Trigger

from ..factories import make_member, make_milestone, make_portfolio
from .conftest import report

pytestmark = pytest.mark.django_db


def active(trigger: str | None = None):
    qs = Escalation.objects.active()
    return qs.filter(rule__trigger=trigger) if trigger else qs


# Boundaries -----------------------------------------------------------------


@pytest.mark.parametrize(("days", "escalates"), [(13, False), (14, False), (15, True)])
def test_delay_escalates_only_beyond_14_days(rules, late, days, escalates):
    milestone = late(days)
    engine.escalations_sweep()
    assert active(Trigger.DELAY).filter(milestone=milestone).exists() is escalates


def test_delay_escalation_records_what_it_saw(rules, late):
    milestone = late(15)
    engine.escalations_sweep()
    escalation = Escalation.objects.get(milestone=milestone)
    assert escalation.measured == Decimal("15")
    assert escalation.threshold == Decimal("14")
    assert escalation.rule == rules[Trigger.DELAY]
    assert escalation.subject_key == f"milestone:{milestone.pk}"
    assert escalation.org_unit == milestone.org_unit
    assert "15 days late" in escalation.summary


@pytest.mark.parametrize(
    ("estimate", "escalates"),
    [("114999.99", False), ("115000.00", False), ("115010.00", True)],
)
def test_budget_overrun_escalates_only_beyond_15_percent(
    rules, over_budget, estimate, escalates
):
    milestone = over_budget(estimate)
    engine.escalations_sweep()
    found = active(Trigger.BUDGET_OVERRUN).filter(milestone=milestone).first()
    assert (found is not None) is escalates
    if escalates:
        assert found.measured == Decimal("15.01")


def test_budget_overrun_needs_an_approved_budget(rules, over_budget):
    over_budget("5000", approved=Decimal("0"))
    engine.escalations_sweep()
    assert not active(Trigger.BUDGET_OVERRUN).exists()


@pytest.mark.parametrize(
    ("resistance", "escalates"), [("30", False), ("30.00", False), ("31", True)]
)
def test_stakeholder_resistance_escalates_only_beyond_30_percent(
    rules, portfolio, resistance, escalates
):
    services.assessment_create(
        actor=None,
        portfolio=portfolio,
        stakeholder_group="Finance",
        resistance_percent=Decimal(resistance),
        engagement_score=2,
    )
    engine.escalations_sweep()
    assert active(Trigger.STAKEHOLDER_RESISTANCE).exists() is escalates


def test_only_the_latest_assessment_of_a_group_counts(
    rules, portfolio, milestone_in, org
):
    milestone = milestone_in(org.fr)
    today = timezone.localdate()
    for days_ago, resistance, group, on in (
        (10, "50", "Finance", None),
        (2, "10", "Finance", None),  # latest Finance on the portfolio: fine
        (5, "45", "Finance", milestone),  # the same group on a milestone: not
        (1, "35", "Sales", None),
    ):
        services.assessment_create(
            actor=None,
            portfolio=portfolio,
            milestone=on,
            stakeholder_group=group,
            resistance_percent=Decimal(resistance),
            engagement_score=3,
            assessed_on=today - timedelta(days=days_ago),
        )
    engine.escalations_sweep()
    keys = set(active().values_list("subject_key", flat=True))
    assert keys == {
        f"stakeholders:{portfolio.pk}:{milestone.pk}:Finance",
        f"stakeholders:{portfolio.pk}:0:Sales",
    }


@pytest.mark.parametrize(("days", "escalates"), [(7, False), (8, True)])
def test_technical_blocker_escalates_only_when_open_beyond_7_days(
    rules, portfolio, milestone_in, org, days, escalates
):
    now = timezone.now()
    issue = services.issue_create(
        actor=None,
        portfolio=portfolio,
        milestones=[milestone_in(org.fr)],
        title="Data lake access blocked",
        kind="technical",
        opened_at=now - timedelta(days=days),
    )
    engine.escalations_sweep(now=now)
    assert active(Trigger.TECHNICAL_BLOCKER).filter(issue=issue).exists() is escalates


def test_only_technical_unresolved_issues_are_blockers(rules, portfolio):
    opened = timezone.now() - timedelta(days=20)
    for kind in ("resource", "stakeholder", "external", "compliance"):
        services.issue_create(
            actor=None, portfolio=portfolio, title=kind, kind=kind, opened_at=opened
        )
    engine.escalations_sweep()
    assert not active().exists()


def test_closed_milestones_do_not_escalate(rules, late):
    milestone = late(30)
    report(milestone, status=Status.COMPLETED, forecast_completion=None)
    late_cancelled = late(30)
    report(
        late_cancelled,
        status=Status.CANCELLED,
        forecast_completion=late_cancelled.forecast_completion,
    )
    engine.escalations_sweep()
    assert not active().exists()


# Clearing, re-opening, idempotence ------------------------------------------------


def test_escalation_resolves_when_the_condition_clears(rules, late):
    milestone = late(20)
    engine.escalations_sweep()
    escalation = Escalation.objects.get(milestone=milestone)

    report(milestone, forecast_completion=milestone.planned_completion)
    result = engine.escalations_sweep()

    escalation.refresh_from_db()
    assert result.resolved == [escalation.pk]
    assert escalation.status == Escalation.Status.RESOLVED
    assert escalation.resolved_at is not None
    last = escalation.history.latest()
    assert last.history_user is None
    assert "condition no longer holds" in last.history_change_reason


def test_escalation_reopens_when_the_condition_returns(rules, late, executive):
    milestone = late(20)
    engine.escalations_sweep()
    report(milestone, forecast_completion=milestone.planned_completion)
    engine.escalations_sweep()
    report(milestone, forecast_completion=milestone.planned_completion + timedelta(30))
    result = engine.escalations_sweep()

    rows = Escalation.objects.filter(milestone=milestone).order_by("pk")
    assert [e.status for e in rows] == ["resolved", "open"]
    assert result.opened == [rows[1].pk]
    # The re-opened escalation is news again: its own notifications.
    assert Notification.objects.filter(
        recipient=executive, dedupe_key__startswith=f"escalation:{rows[1].pk}:"
    ).exists()


def test_a_second_sweep_changes_nothing(rules, late, over_budget, portfolio, executive):
    late(20)
    over_budget("130000")
    services.assessment_create(
        actor=None,
        portfolio=portfolio,
        stakeholder_group="Sales",
        resistance_percent=Decimal("60"),
        engagement_score=1,
    )
    services.issue_create(
        actor=None,
        portfolio=portfolio,
        title="API gateway down",
        kind="technical",
        opened_at=timezone.now() - timedelta(days=10),
    )
    first = engine.escalations_sweep()
    assert len(first.opened) == 4

    def snapshot():
        return (
            list(Escalation.objects.order_by("pk").values()),
            Escalation.history.count(),
            Notification.objects.count(),
        )

    before = snapshot()
    second = engine.escalations_sweep()
    assert (second.opened, second.resolved, second.unchanged) == ([], [], 4)
    assert snapshot() == before


def test_opening_is_recorded_in_history_as_the_system(rules, late):
    milestone = late(15)
    engine.escalations_sweep()
    record = Escalation.objects.get(milestone=milestone).history.get()
    assert record.history_type == "+"
    assert record.history_user is None
    assert record.history_change_reason.startswith(
        "Opened by the escalation sweep: Milestone delay 15 days > 14 days"
    )


def test_the_database_refuses_a_second_unresolved_escalation(rules, late):
    from django.db import IntegrityError, transaction

    milestone = late(20)
    engine.escalations_sweep()
    twin = Escalation.objects.get(milestone=milestone)
    twin.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


# Rules ------------------------------------------------------------------------


def test_a_portfolio_override_replaces_the_default(rules, org, late):
    strict = make_portfolio(org.world)
    services.escalation_rule_create(
        actor=None,
        portfolio=strict,
        trigger=Trigger.DELAY,
        threshold="5",
        target_role=Role.PORTFOLIO_MANAGER,
    )
    lenient = make_milestone(
        strict,
        org.fr,
        planned_completion=timezone.localdate() + timedelta(60),
        forecast_completion=timezone.localdate() + timedelta(66),
    )
    default = late(6)  # in the fixture portfolio: 6 days is fine there
    engine.escalations_sweep()
    escalation = active().get()
    assert escalation.milestone == lenient
    assert escalation.rule.portfolio == strict
    assert not active().filter(milestone=default).exists()


def test_an_inactive_override_switches_the_trigger_off(rules, portfolio, late):
    late(40)
    services.escalation_rule_create(
        actor=None,
        portfolio=portfolio,
        trigger=Trigger.DELAY,
        threshold="14",
        target_role=Role.EXECUTIVE,
        active=False,
    )
    engine.escalations_sweep()
    assert not active().exists()


def test_a_new_override_moves_open_escalations_to_it(rules, portfolio, late):
    late(20)
    engine.escalations_sweep()
    old = active().get()
    services.escalation_rule_create(
        actor=None,
        portfolio=portfolio,
        trigger=Trigger.DELAY,
        threshold="10",
        target_role=Role.EXECUTIVE,
    )
    engine.escalations_sweep()
    old.refresh_from_db()
    assert old.status == Escalation.Status.RESOLVED
    assert active().get().rule.portfolio == portfolio


def test_no_rules_no_escalations(db, late):
    from risks.models import EscalationRule

    EscalationRule.objects.all().delete()
    late(40)
    assert engine.escalations_sweep().opened == []


# One milestone, after its progress update ------------------------------------------


def test_a_progress_update_evaluates_its_milestone(
    rules, milestone_in, org, django_capture_on_commit_callbacks
):
    milestone = milestone_in(org.fr)
    with django_capture_on_commit_callbacks(execute=True):
        report(
            milestone,
            forecast_completion=milestone.planned_completion + timedelta(days=21),
        )
    escalation = active().get()
    assert escalation.milestone == milestone

    with django_capture_on_commit_callbacks(execute=True):
        report(milestone, forecast_completion=milestone.planned_completion)
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.RESOLVED


def test_a_milestone_sweep_leaves_other_subjects_alone(rules, late):
    first, second = late(20), late(20)
    engine.escalations_sweep(milestone_ids=[first.pk])
    assert list(active().values_list("milestone", flat=True)) == [first.pk]
    report(second, forecast_completion=second.planned_completion)
    engine.escalations_sweep(milestone_ids=[first.pk])
    assert active().count() == 1


def test_resolving_an_issue_resolves_its_escalation(rules, portfolio):
    issue = services.issue_create(
        actor=None,
        portfolio=portfolio,
        title="Build farm down",
        kind="technical",
        opened_at=timezone.now() - timedelta(days=9),
    )
    engine.escalations_sweep()
    escalation = active().get()
    services.issue_resolve(actor=None, issue=issue, resolution="Rebuilt")
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.RESOLVED


# Who is told ----------------------------------------------------------------------


def test_the_target_role_in_scope_is_notified_once(
    rules, org, portfolio, late, django_capture_on_commit_callbacks
):
    world = make_member(Role.EXECUTIVE, org.world, username="exec-world")
    emea = make_member(Role.EXECUTIVE, org.emea, username="exec-emea")
    services_member = make_member(Role.EXECUTIVE, portfolio, username="exec-pf")
    make_member(Role.EXECUTIVE, org.apac, username="exec-apac")
    make_member(Role.PORTFOLIO_MANAGER, org.world, username="pmo-world")
    make_member(Role.CONTRIBUTOR, org.fr, username="contrib-fr")
    # Two memberships covering the milestone, still one message per channel.
    from accounts.services import membership_create

    membership_create(actor=None, user=emea, role=Role.EXECUTIVE, org_unit=org.fr)

    milestone = late(20)
    with django_capture_on_commit_callbacks(execute=True):
        engine.escalations_sweep()
    escalation = Escalation.objects.get(milestone=milestone)

    in_portal = Notification.objects.filter(channel="portal")
    assert sorted(in_portal.values_list("recipient__username", flat=True)) == sorted(
        [world.username, emea.username, services_member.username]
    )
    emails = Notification.objects.filter(channel="email")
    assert emails.count() == 3
    assert set(emails.values_list("status", flat=True)) == {"sent"}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        u.email for u in (world, emea, services_member)
    )
    message = mail.outbox[0]
    assert milestone.name in message.subject
    assert f"/admin/risks/escalation/{escalation.pk}/change/" in message.body

    # Another sweep, a retried task: nothing more is sent.
    with django_capture_on_commit_callbacks(execute=True):
        engine.escalations_sweep()
    assert Notification.objects.count() == 6
    assert len(mail.outbox) == 3


def test_blockers_go_to_portfolio_managers(rules, org, portfolio, pmo, executive):
    services.issue_create(
        actor=None,
        portfolio=portfolio,
        title="Vendor SDK crash",
        kind="technical",
        opened_at=timezone.now() - timedelta(days=8, hours=1),
    )
    engine.escalations_sweep()
    recipients = set(
        Notification.objects.filter(channel="portal").values_list(
            "recipient", flat=True
        )
    )
    assert recipients == {pmo.pk}


def test_inactive_users_are_not_notified(rules, org, late):
    user = make_member(Role.EXECUTIVE, org.world, username="gone", is_active=False)
    late(20)
    engine.escalations_sweep()
    assert not Notification.objects.filter(recipient=user).exists()


# Query counts ----------------------------------------------------------------------


def _trouble(portfolio, org, numbers) -> list:
    """For each number: a late, over-budget milestone, a week-old technical
    blocker and a resisting stakeholder group (four escalations)."""
    today = timezone.localdate()
    milestones = []
    for i in numbers:
        milestones.append(
            make_milestone(
                portfolio,
                org.fr if i % 2 else org.de,
                planned_completion=today + timedelta(days=60),
                forecast_completion=today + timedelta(days=60 + 15 + i),
                approved_budget=Decimal("1000"),
                estimate_at_completion=Decimal("2000"),
            )
        )
        services.issue_create(
            actor=None,
            portfolio=portfolio,
            title=f"Blocker {i}",
            kind="technical",
            opened_at=timezone.now() - timedelta(days=9),
        )
        services.assessment_create(
            actor=None,
            portfolio=portfolio,
            stakeholder_group=f"Group {i}",
            resistance_percent=Decimal("50"),
            engagement_score=2,
        )
    return milestones


def _sweep_queries(**kwargs):
    """Run a sweep; return (result, queries other than INSERT, INSERTs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        result = engine.escalations_sweep(**kwargs)
    sql = [q["sql"].lstrip().upper() for q in captured.captured_queries]
    inserts = sum(1 for q in sql if q.startswith("INSERT"))
    return result, len(sql) - inserts, inserts


def test_sweep_query_count_does_not_grow_with_subjects(
    rules, org, portfolio, executive, pmo
):
    """The same reads and updates for 2 subjects per trigger as for 20; rows
    are written by bulk INSERTs (SQLite splits one into batches of 999
    parameters, so a few more statements for ten times the rows)."""
    services.portfolio_channels_set(
        actor=None,
        portfolio=portfolio,
        slack_webhook_url="https://hooks.slack.com/services/x",
    )
    few = _trouble(portfolio, org, range(2))
    few_opened, few_reads, few_inserts = _sweep_queries()
    many = _trouble(portfolio, org, range(2, 22))
    many_opened, many_reads, many_inserts = _sweep_queries()
    assert (len(few_opened.opened), len(many_opened.opened)) == (8, 80)
    assert many_reads == few_reads
    assert many_inserts <= few_inserts + 10 < 80

    for milestone in few:
        report(milestone, forecast_completion=milestone.planned_completion)
    few_resolved, few_reads, few_inserts = _sweep_queries()
    for milestone in many:
        report(milestone, forecast_completion=milestone.planned_completion)
    many_resolved, many_reads, many_inserts = _sweep_queries()
    # Delay and budget: the reports clear the forecast and the estimate.
    assert (len(few_resolved.resolved), len(many_resolved.resolved)) == (4, 40)
    # (Fewer, not more: no budget escalation is left for the approvals hook.)
    assert many_reads <= few_reads
    assert many_inserts <= few_inserts + 4

    again, reads, inserts = _sweep_queries()
    assert (again.opened, again.resolved, inserts) == ([], [], 0)
    assert reads <= few_reads


def test_many_new_escalations_reach_a_recipient_as_one_digest(
    rules, late, executive, settings
):
    executive.email = "exec@example.com"
    executive.save(update_fields=["email"])
    few = engine.DIGEST_AFTER
    for _ in range(few + 2):
        late(20)

    first = engine.escalations_sweep()

    assert len(first.opened) == few + 2
    mine = Notification.objects.filter(recipient=executive)
    assert sorted(mine.values_list("channel", flat=True)) == ["email", "portal"]
    digest = mine.get(channel="email")
    assert digest.subject == f"{few + 2} new escalations in your scope"
    assert f"By trigger: Milestone delay {few + 2}" in digest.body
    assert digest.body.count("\n- Escalation (Milestone delay)") == engine.DIGEST_LISTED
    assert digest.dedupe_key.startswith("escalation-digest:")
    # Idempotent: a second sweep opens nothing and sends nothing more.
    engine.escalations_sweep()
    assert mine.count() == 2


def test_up_to_the_threshold_each_escalation_is_its_own_message(rules, late, executive):
    for _ in range(engine.DIGEST_AFTER):
        late(20)

    engine.escalations_sweep()

    portal = Notification.objects.filter(recipient=executive, channel="portal")
    assert portal.count() == engine.DIGEST_AFTER
    assert not portal.filter(dedupe_key__startswith="escalation-digest:").exists()
