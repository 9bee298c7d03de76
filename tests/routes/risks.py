"""Routes of the risks app (its admins and API) and the in-portal
notifications page and outbox admin (``portal.notifications``)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from ..factories import make_milestone, make_portfolio
from . import AdminModel, Api, LoginRequired

OUTBOX = (
    "The outbox is the record itself (no history): a plain read-only admin for "
    "administrators; users read their notifications at /notifications/."
)


def build_risk(ctx, unit):
    from risks.services import risk_create

    milestone = make_milestone(ctx.portfolio, unit)
    return risk_create(
        actor=None,
        portfolio=ctx.portfolio,
        milestone=milestone,
        title=f"Risk in {unit.code}",
        probability=3,
        impact=4,
    )


def build_issue(ctx, unit):
    from risks.services import issue_create

    return issue_create(
        actor=None,
        portfolio=ctx.portfolio,
        milestones=[make_milestone(ctx.portfolio, unit)],
        title=f"Issue in {unit.code}",
        kind="technical",
    )


def build_assessment(ctx, unit):
    from risks.services import assessment_create

    return assessment_create(
        actor=None,
        portfolio=ctx.portfolio,
        milestone=make_milestone(ctx.portfolio, unit),
        stakeholder_group="Finance",
        resistance_percent=Decimal("20"),
        engagement_score=3,
    )


def build_rule(ctx, unit):
    from risks.services import escalation_rule_create

    return escalation_rule_create(
        actor=None,
        portfolio=make_portfolio(unit),
        trigger="milestone_delay",
        threshold=Decimal("21"),
        target_role="executive",
    )


def build_escalation(ctx, unit):
    from risks.engine import escalations_sweep
    from risks.models import Escalation
    from risks.services import escalation_rules_ensure_defaults

    escalation_rules_ensure_defaults()
    planned = timezone.localdate() + timedelta(days=30)
    milestone = make_milestone(
        ctx.portfolio,
        unit,
        planned_completion=planned,
        forecast_completion=planned + timedelta(days=40),
    )
    escalations_sweep(milestone_ids=[milestone.pk])
    return Escalation.objects.get(milestone=milestone)


def build_channels(ctx, unit):
    from risks.services import portfolio_channels_set

    return portfolio_channels_set(
        actor=None,
        portfolio=make_portfolio(unit),
        slack_webhook_url="https://hooks.slack.com/services/T/B/x",
    )


def _escalation(ctx):
    return {"pk": build_escalation(ctx, ctx.org.fr).pk}


def _issue(ctx):
    return {"pk": build_issue(ctx, ctx.org.fr).pk}


# Ids are digits only in these routes, so the dummy id is given explicitly.
MISSING = {"pk": 999999}

ROUTES = {
    "notifications": LoginRequired(note="Only the user's own notifications."),
    "risks:escalations": LoginRequired(note="Only escalations in scope."),
    "risks:escalation_acknowledge": LoginRequired(
        method="post", no_role=404, kwargs=_escalation, note="Out of scope: 404."
    ),
    "risks:escalation_assign": LoginRequired(
        method="post", no_role=404, kwargs=_escalation, note="Out of scope: 404."
    ),
    "admin:portal_notification_*": AdminModel(exception=OUTBOX),
    "admin:risks_risk_*": AdminModel(build=build_risk),
    "admin:risks_issue_*": AdminModel(build=build_issue),
    "admin:risks_stakeholderassessment_*": AdminModel(build=build_assessment),
    "admin:risks_escalationrule_*": AdminModel(build=build_rule),
    "admin:risks_escalation_*": AdminModel(build=build_escalation),
    "admin:risks_portfoliochannels_*": AdminModel(build=build_channels),
    "api:risk-list": Api(note="Empty without a role."),
    "api:risk-detail": Api(no_role=404, kwargs=MISSING),
    "api:issue-list": Api(note="Empty without a role."),
    "api:issue-detail": Api(no_role=404, kwargs=MISSING),
    "api:issue-resolve": Api(
        method="post", no_role=404, kwargs=_issue, note="Out of scope: 404."
    ),
    "api:escalation-list": Api(note="Empty without a role."),
    "api:escalation-detail": Api(no_role=404, kwargs=_escalation),
    "api:escalation-acknowledge": Api(
        method="post", no_role=404, kwargs=_escalation, note="Out of scope: 404."
    ),
}
