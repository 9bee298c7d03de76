"""The risks back office: register with severity colours, writes through
services, rule thresholds refused with a clear message, acknowledge action."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.roles import Role
from risks import engine, services
from risks.models import (
    SEVERITY_COLOURS,
    Escalation,
    EscalationRule,
    Issue,
    Risk,
    Severity,
    Trigger,
)

from ..factories import make_member

pytestmark = pytest.mark.django_db


def _risks(portfolio, milestone, n):
    for i in range(n):
        services.risk_create(
            actor=None,
            portfolio=portfolio,
            milestone=milestone,
            title=f"Risk {i}",
            probability=5 - i % 5,
            impact=5,
        )


@pytest.mark.parametrize("n", [2, 20])
def test_risk_register_lists_with_colours_in_constant_queries(
    client, pmo, portfolio, milestone_in, org, n, django_assert_max_num_queries
):
    _risks(portfolio, milestone_in(org.fr), n)
    client.force_login(pmo)
    url = reverse("admin:risks_risk_changelist")
    with django_assert_max_num_queries(16):
        response = client.get(url, {"severity__exact": Severity.CRITICAL})
    assert response.status_code == 200
    body = response.content.decode()
    # Coloured by a class of portal/portal.css (the CSP allows no inline style).
    assert '<span class="cairn-badge cairn-badge-critical">Critical</span>' in body
    assert (
        response.context["cl"].result_count
        == Risk.objects.filter(severity=Severity.CRITICAL).count()
    )


def test_adding_a_risk_goes_through_the_service(
    client, pmo, portfolio, milestone_in, org
):
    milestone = milestone_in(org.fr)
    client.force_login(pmo)
    response = client.post(
        reverse("admin:risks_risk_add"),
        {
            "portfolio": portfolio.pk,
            "milestone": milestone.pk,
            "title": "Cloud quota",
            "description": "",
            "category": "technical",
            "probability": "4",
            "impact": "4",
            "status": "open",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    risk = Risk.objects.get()
    assert (risk.score, risk.severity, risk.org_unit) == (16, Severity.CRITICAL, org.fr)
    record = risk.history.get()
    assert (record.history_user, record.history_change_reason) == (pmo, "Risk logged")


def test_a_bad_probability_redisplays_the_form(client, pmo, portfolio):
    client.force_login(pmo)
    response = client.post(
        reverse("admin:risks_risk_add"),
        {
            "portfolio": portfolio.pk,
            "title": "Bad",
            "category": "technical",
            "probability": "9",
            "impact": "4",
            "status": "open",
        },
    )
    assert response.status_code == 200
    assert "probability" in response.context["adminform"].form.errors
    assert not Risk.objects.exists()


@pytest.mark.parametrize(
    ("trigger", "threshold", "message"),
    [
        ("milestone_delay", "two weeks", "must be a number"),
        ("budget_overrun", "-3", "cannot be negative"),
        ("stakeholder_resistance", "130", "cannot exceed 100 %"),
    ],
)
def test_rule_form_refuses_malformed_thresholds(
    client, superuser, portfolio, trigger, threshold, message
):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:risks_escalationrule_add"),
        {
            "portfolio": portfolio.pk,
            "trigger": trigger,
            "threshold": threshold,
            "target_role": Role.EXECUTIVE,
            "active": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["threshold"]
    assert any(message in e for e in errors), errors
    assert threshold in response.content.decode()  # the input is kept
    assert not EscalationRule.objects.filter(portfolio=portfolio).exists()


def test_portfolio_manager_adds_an_override_but_not_a_global_rule(
    client, pmo, portfolio, rules
):
    client.force_login(pmo)
    url = reverse("admin:risks_escalationrule_add")
    data = {"trigger": "milestone_delay", "threshold": "21", "target_role": "executive"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "portfolio" in response.context["adminform"].form.errors
    response = client.post(url, {**data, "portfolio": portfolio.pk, "active": "on"})
    assert response.status_code == 302
    rule = EscalationRule.objects.get(portfolio=portfolio)
    assert rule.threshold == Decimal("21")
    default = rules[Trigger.DELAY]
    change = reverse("admin:risks_escalationrule_change", args=[default.pk])
    assert client.get(change).status_code == 200  # view only
    client.post(change, {"threshold": "1", "target_role": "executive"})
    default.refresh_from_db()
    assert default.threshold == Decimal("14")


def test_executive_acknowledges_from_the_changelist(
    client, executive, pmo, rules, late
):
    late(20)
    engine.escalations_sweep()
    escalation = Escalation.objects.get()
    url = reverse("admin:risks_escalation_changelist")
    action = {"action": "acknowledge", "_selected_action": [escalation.pk]}

    client.force_login(pmo)
    response = client.post(url, action, follow=True)
    assert "Only the target role (Executive)" in response.content.decode()
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.OPEN

    client.force_login(executive)
    listing = client.get(url)
    assert "cairn-badge-open" in listing.content.decode()  # open: red
    response = client.post(url, action, follow=True)
    assert "1 escalation(s) acknowledged." in response.content.decode()
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.ACKNOWLEDGED
    assert escalation.acknowledged_by == executive


def test_escalations_cannot_be_added_or_edited(client, pmo, rules, late):
    late(20)
    engine.escalations_sweep()
    escalation = Escalation.objects.get()
    client.force_login(pmo)
    assert client.get(reverse("admin:risks_escalation_add")).status_code == 403
    delete = reverse("admin:risks_escalation_delete", args=[escalation.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Escalation.objects.filter(pk=escalation.pk).exists()


def test_issue_admin_adds_and_resolves(client, portfolio, milestone_in, org):
    owner = make_member(Role.MILESTONE_OWNER, org.emea)
    milestone = milestone_in(org.fr)
    client.force_login(owner)
    response = client.post(
        reverse("admin:risks_issue_add"),
        {
            "portfolio": portfolio.pk,
            "milestones": [milestone.pk],
            "title": "Licences missing",
            "kind": "resource",
            "severity": "high",
            "opened_at_0": "2026-01-05",
            "opened_at_1": "09:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    issue = Issue.objects.get()
    assert list(issue.milestones.all()) == [milestone]
    response = client.post(
        reverse("admin:risks_issue_changelist"),
        {"action": "resolve", "_selected_action": [issue.pk]},
        follow=True,
    )
    issue.refresh_from_db()
    assert issue.resolved_at is not None


def test_badge_classes_carry_the_severity_colours():
    """The admin badges' colours live in portal/portal.css: one rule per
    severity, in the colours of DESIGN.md."""
    from pathlib import Path

    from django.conf import settings

    css = (Path(settings.BASE_DIR) / "portal/static/portal/portal.css").read_text()
    for severity, colour in SEVERITY_COLOURS.items():
        assert f".cairn-badge-{severity} {{ background: {colour}; }}" in css
