"""Services and models of the risks app: scoring, validation, permissions,
escalation rules (malformed thresholds), acknowledging."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Role
from portal.errors import Forbidden, Invalid, NotFound
from risks import engine, services
from risks.models import (
    Escalation,
    EscalationRule,
    Risk,
    Severity,
    Trigger,
    parse_threshold,
    severity_for,
)

from ..factories import make_member, make_portfolio

pytestmark = pytest.mark.django_db


# Risk scoring -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (1, Severity.LOW),
        (4, Severity.LOW),
        (5, Severity.MEDIUM),
        (9, Severity.MEDIUM),
        (10, Severity.HIGH),
        (12, Severity.HIGH),
        (15, Severity.CRITICAL),
        (25, Severity.CRITICAL),
    ],
)
def test_severity_bands(score, severity):
    assert severity_for(score) == severity


def test_a_risk_is_scored_from_probability_and_impact(portfolio, milestone_in, org):
    milestone = milestone_in(org.fr)
    risk = services.risk_create(
        actor=None,
        portfolio=portfolio,
        milestone=milestone,
        title="Key data scientist may leave",
        probability=3,
        impact=5,
        category=Risk.Category.ORGANISATIONAL,
    )
    assert (risk.score, risk.severity) == (15, Severity.CRITICAL)
    assert risk.org_unit == org.fr
    risk = services.risk_update(actor=None, risk=risk, probability=1)
    assert (risk.score, risk.severity) == (5, Severity.MEDIUM)
    assert risk.history.latest().history_change_reason == "Risk updated"


@pytest.mark.parametrize(
    ("probability", "impact", "field"),
    [(0, 3, "probability"), (6, 3, "probability"), (3, "high", "impact")],
)
def test_out_of_range_scores_are_refused(portfolio, probability, impact, field):
    with pytest.raises(Invalid) as caught:
        services.risk_create(
            actor=None,
            portfolio=portfolio,
            title="Bad",
            probability=probability,
            impact=impact,
        )
    assert field in caught.value.errors
    assert not Risk.objects.exists()


def test_the_database_keeps_score_and_severity_consistent(portfolio):
    risk = services.risk_create(
        actor=None, portfolio=portfolio, title="r", probability=2, impact=2
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Risk.objects.filter(pk=risk.pk).update(severity=Severity.CRITICAL)
    with pytest.raises(IntegrityError), transaction.atomic():
        Risk.objects.filter(pk=risk.pk).update(score=9)


def test_contributors_log_risks_only_in_their_scope(
    portfolio, milestone_in, org, contributor_emea, contributor_apac
):
    milestone = milestone_in(org.fr)
    risk = services.risk_create(
        actor=contributor_emea,
        portfolio=portfolio,
        milestone=milestone,
        title="Vendor late",
        probability=2,
        impact=3,
    )
    assert risk.history.get().history_user == contributor_emea
    with pytest.raises(NotFound):
        services.risk_create(
            actor=contributor_apac,
            portfolio=portfolio,
            milestone=milestone,
            title="Not mine",
            probability=2,
            impact=3,
        )


def test_a_risk_milestone_must_be_in_its_portfolio(portfolio, org, milestone_in):
    other = make_portfolio(org.world)
    with pytest.raises(Invalid):
        services.risk_create(
            actor=None,
            portfolio=other,
            milestone=milestone_in(org.fr),
            title="x",
            probability=1,
            impact=1,
        )


# Issues -------------------------------------------------------------------------


def test_an_issue_is_scoped_by_the_units_of_its_milestones(
    portfolio, milestone_in, org
):
    issue = services.issue_create(
        actor=None,
        portfolio=portfolio,
        milestones=[milestone_in(org.fr), milestone_in(org.paris)],
        title="Shared blocker",
        kind="technical",
    )
    assert issue.org_unit == org.fr
    issue = services.issue_update(
        actor=None, issue=issue, milestones=[milestone_in(org.fr), milestone_in(org.jp)]
    )
    assert issue.org_unit == org.world
    assert issue.milestones.count() == 2


def test_an_issue_cannot_open_in_the_future(portfolio):
    with pytest.raises(Invalid):
        services.issue_create(
            actor=None,
            portfolio=portfolio,
            title="x",
            kind="technical",
            opened_at=timezone.now() + timedelta(days=1),
        )


def test_resolving_twice_is_refused(portfolio):
    issue = services.issue_create(
        actor=None, portfolio=portfolio, title="x", kind="resource"
    )
    services.issue_resolve(actor=None, issue=issue)
    with pytest.raises(Invalid):
        services.issue_resolve(actor=None, issue=issue)


def test_assessments_refuse_bad_values(portfolio):
    for resistance, engagement in ((Decimal("101"), 3), (Decimal("-1"), 3), (10, 9)):
        with pytest.raises(Invalid):
            services.assessment_create(
                actor=None,
                portfolio=portfolio,
                stakeholder_group="Sales",
                resistance_percent=resistance,
                engagement_score=engagement,
            )


# Escalation rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "threshold", "message"),
    [
        (Trigger.DELAY, "abc", "must be a number"),
        (Trigger.DELAY, "", "Give a threshold"),
        (Trigger.DELAY, None, "Give a threshold"),
        (Trigger.DELAY, "-1", "cannot be negative"),
        (Trigger.BUDGET_OVERRUN, "-0.5", "cannot be negative"),
        (Trigger.BUDGET_OVERRUN, "100.01", "cannot exceed 100 %"),
        (Trigger.STAKEHOLDER_RESISTANCE, "150", "cannot exceed 100 %"),
        (Trigger.TECHNICAL_BLOCKER, "7.5", "whole number"),
        (Trigger.DELAY, "NaN", "finite number"),
        (Trigger.BUDGET_OVERRUN, "15.001", "two decimal places"),
    ],
)
def test_malformed_thresholds_are_refused_with_a_clear_message(
    portfolio, trigger, threshold, message
):
    with pytest.raises(Invalid) as caught:
        services.escalation_rule_create(
            actor=None,
            portfolio=portfolio,
            trigger=trigger,
            threshold=threshold,
            target_role=Role.EXECUTIVE,
        )
    assert message in caught.value.errors["threshold"][0]
    assert not EscalationRule.objects.filter(portfolio=portfolio).exists()


def test_a_malformed_threshold_update_changes_nothing(rules, superuser):
    rule = rules[Trigger.BUDGET_OVERRUN]
    with pytest.raises(Invalid, match="cannot exceed 100 %"):
        services.escalation_rule_update(actor=superuser, rule=rule, threshold="120")
    rule.refresh_from_db()
    assert rule.threshold == Decimal("15")


def test_well_formed_thresholds_are_accepted():
    assert parse_threshold(Trigger.BUDGET_OVERRUN, " 15.5 ") == Decimal("15.5")
    assert parse_threshold(Trigger.DELAY, 21) == Decimal("21")
    assert parse_threshold(Trigger.STAKEHOLDER_RESISTANCE, "100") == Decimal("100")
    assert parse_threshold(Trigger.DELAY, "0") == Decimal("0")
    with pytest.raises(ValidationError):
        parse_threshold(Trigger.DELAY, True)


def test_the_database_refuses_a_negative_threshold(rules):
    with pytest.raises(IntegrityError), transaction.atomic():
        EscalationRule.objects.filter(pk=rules[Trigger.DELAY].pk).update(threshold=-1)


def test_one_override_per_portfolio_and_trigger(portfolio):
    services.escalation_rule_create(
        actor=None,
        portfolio=portfolio,
        trigger=Trigger.DELAY,
        threshold=20,
        target_role=Role.EXECUTIVE,
    )
    with pytest.raises(Invalid):
        services.escalation_rule_create(
            actor=None,
            portfolio=portfolio,
            trigger=Trigger.DELAY,
            threshold=25,
            target_role=Role.EXECUTIVE,
        )


def test_who_may_change_rules(rules, portfolio, pmo, executive, org):
    with pytest.raises(Forbidden, match="administrators"):
        services.escalation_rule_update(
            actor=pmo, rule=rules[Trigger.DELAY], threshold=20
        )
    override = services.escalation_rule_create(
        actor=pmo,
        portfolio=portfolio,
        trigger=Trigger.DELAY,
        threshold=20,
        target_role=Role.EXECUTIVE,
    )
    assert override.history.get().history_user == pmo
    with pytest.raises(Forbidden):
        services.escalation_rule_update(actor=executive, rule=override, threshold=3)
    outsider = make_member(Role.PORTFOLIO_MANAGER, org.apac)
    with pytest.raises(NotFound):
        services.escalation_rule_update(actor=outsider, rule=override, threshold=3)


def test_the_defaults_are_those_of_the_design(rules):
    assert {t: (r.threshold, r.target_role) for t, r in rules.items()} == {
        Trigger.DELAY: (Decimal("14"), Role.EXECUTIVE),
        Trigger.BUDGET_OVERRUN: (Decimal("15"), Role.EXECUTIVE),
        Trigger.STAKEHOLDER_RESISTANCE: (Decimal("30"), Role.EXECUTIVE),
        Trigger.TECHNICAL_BLOCKER: (Decimal("7"), Role.PORTFOLIO_MANAGER),
    }
    assert services.escalation_rules_ensure_defaults() == []


# Channels ------------------------------------------------------------------------


def test_webhook_urls_are_validated(portfolio, pmo):
    with pytest.raises(Invalid) as caught:
        services.portfolio_channels_set(
            actor=pmo, portfolio=portfolio, slack_webhook_url="not a url"
        )
    assert "slack_webhook_url" in caught.value.errors
    teams = "https://contoso.webhook.office.com/webhookb2/x"
    channels = services.portfolio_channels_set(
        actor=pmo, portfolio=portfolio, teams_webhook_url=teams
    )
    assert channels.teams_webhook_url == teams


def test_only_plan_changers_set_channels(portfolio, executive):
    with pytest.raises(Forbidden):
        services.portfolio_channels_set(
            actor=executive,
            portfolio=portfolio,
            slack_webhook_url="https://hooks.slack.com/services/T/B/x",
        )


# Acknowledging ---------------------------------------------------------------------


@pytest.fixture
def delay_escalation(rules, late):
    late(20)
    engine.escalations_sweep()
    return Escalation.objects.get()


def test_the_target_role_acknowledges(delay_escalation, executive):
    escalation = services.escalation_acknowledge(
        actor=executive, escalation=delay_escalation
    )
    assert escalation.status == Escalation.Status.ACKNOWLEDGED
    assert escalation.acknowledged_by == executive
    record = escalation.history.latest()
    assert (record.history_user, record.history_change_reason) == (
        executive,
        "Acknowledged",
    )


def test_an_executive_of_the_portfolio_or_region_may_acknowledge(
    delay_escalation, org, portfolio
):
    regional = make_member(Role.EXECUTIVE, org.emea)
    services.escalation_acknowledge(actor=regional, escalation=delay_escalation)
    assert Escalation.objects.get().acknowledged_by == regional


def test_other_roles_may_not_acknowledge(delay_escalation, pmo, contributor_emea):
    for user in (pmo, contributor_emea):
        with pytest.raises(Forbidden, match="Executive"):
            services.escalation_acknowledge(actor=user, escalation=delay_escalation)


def test_an_executive_out_of_scope_does_not_see_it(delay_escalation, org):
    outsider = make_member(Role.EXECUTIVE, org.apac)
    with pytest.raises(NotFound):
        services.escalation_acknowledge(actor=outsider, escalation=delay_escalation)


def test_acknowledging_twice_or_a_resolved_escalation_is_refused(
    delay_escalation, executive
):
    services.escalation_acknowledge(actor=executive, escalation=delay_escalation)
    with pytest.raises(Invalid, match="Already acknowledged"):
        services.escalation_acknowledge(actor=executive, escalation=delay_escalation)
    milestone = delay_escalation.milestone
    from .conftest import report

    report(milestone, forecast_completion=milestone.planned_completion)
    engine.escalations_sweep()
    with pytest.raises(Invalid, match="resolved"):
        services.escalation_acknowledge(actor=executive, escalation=delay_escalation)


def test_an_acknowledged_escalation_stays_until_it_clears(delay_escalation, executive):
    services.escalation_acknowledge(actor=executive, escalation=delay_escalation)
    result = engine.escalations_sweep()
    assert (result.opened, result.resolved, result.unchanged) == ([], [], 1)
