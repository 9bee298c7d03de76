"""Writes of the risks app: the register, issues, stakeholder assessments,
escalation rules, portfolio channels and acknowledging escalations.

The escalation engine (the sweep) lives in ``risks.engine``. Every function
here takes the acting user (``actor``; ``None`` for system work), checks the
access policy, validates, saves with history (user and reason) and raises
``portal.errors`` exceptions on failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from accounts import policy
from accounts.roles import CHANGE, UPDATE, VIEW, Role
from milestones.models import Milestone, Portfolio
from portal.errors import Forbidden, Invalid, NotFound
from portal.kernel import invalid_from, validated_save
from portal.notifications import safe_http

from . import selectors
from .models import (
    DEFAULT_RULES,
    Escalation,
    EscalationRule,
    Issue,
    PortfolioChannels,
    Risk,
    StakeholderAssessment,
    parse_threshold,
    severity_for,
)

if TYPE_CHECKING:
    from accounts.models import User

_M = TypeVar("_M", bound=Model)

# Fields each update service accepts.
RISK_FIELDS = (
    "milestone",
    "title",
    "description",
    "category",
    "probability",
    "impact",
    "owner",
    "mitigation",
    "contingency",
    "status",
    "next_review",
)
ISSUE_FIELDS = ("title", "description", "kind", "severity", "owner", "milestones")
RULE_FIELDS = ("threshold", "target_role", "consequence", "active")


_require = policy.require


def _save(
    obj: _M,
    *,
    actor: User | None,
    reason: str | None = None,
    update_fields: Iterable[str] | None = None,
) -> _M:
    return validated_save(obj, actor=actor, reason=reason, update_fields=update_fields)


def _unknown(fields: Iterable[str], allowed: Iterable[str]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise Invalid(
            "These fields cannot be set here: " + ", ".join(unknown) + ".",
            errors={f: ["This field cannot be set here."] for f in unknown},
        )


def _check_milestone(milestone: Milestone | None, portfolio: Portfolio) -> None:
    if milestone is not None and milestone.portfolio_id != portfolio.pk:
        raise Invalid(
            "The milestone belongs to another portfolio.",
            errors={"milestone": ["This milestone is in another portfolio."]},
        )


def _one_to_five(errors: dict[str, list[str]], name: str, value: Any) -> int | None:
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        errors[name] = [f"{name.capitalize()} is a whole number from 1 to 5."]
        return None
    if not 1 <= number <= 5:
        errors[name] = [f"{name.capitalize()} goes from 1 to 5, not {number}."]
        return None
    return number


def _score(risk: Risk) -> None:
    """Set score and severity from probability and impact (or refuse them)."""
    errors: dict[str, list[str]] = {}
    probability = _one_to_five(errors, "probability", risk.probability)
    impact = _one_to_five(errors, "impact", risk.impact)
    if errors:
        raise Invalid(" ".join(m for v in errors.values() for m in v), errors=errors)
    assert probability is not None and impact is not None  # else an error above
    risk.probability, risk.impact = probability, impact
    risk.score = probability * impact
    risk.severity = severity_for(risk.score)


# Risks ---------------------------------------------------------------------


@transaction.atomic
def risk_create(
    *,
    actor: User | None,
    portfolio: Portfolio,
    title: str,
    probability: int,
    impact: int,
    milestone: Milestone | None = None,
    **fields: Any,
) -> Risk:
    """Log a risk on a portfolio or one of its milestones (anyone who may
    submit progress there). Score and severity follow from probability x
    impact."""
    _unknown(fields, RISK_FIELDS)
    _check_milestone(milestone, portfolio)
    _require(actor, UPDATE, milestone or portfolio)
    risk = Risk(
        portfolio=portfolio,
        milestone=milestone,
        org_unit_id=(milestone or portfolio).org_unit_id,
        title=title,
        probability=probability,
        impact=impact,
        **fields,
    )
    _score(risk)
    return _save(risk, actor=actor, reason="Risk logged")


@transaction.atomic
def risk_update(
    *, actor: User | None, risk: Risk, reason: str = "", **fields: Any
) -> Risk:
    """Edit a risk (re-scored when probability or impact change)."""
    _unknown(fields, RISK_FIELDS)
    current = (
        Risk.objects.select_for_update(of=("self",), no_key=True)
        .select_related("portfolio")
        .get(pk=risk.pk)
    )
    _require(actor, UPDATE, current)
    milestone = fields.get("milestone", current.milestone)
    if "milestone" in fields:
        _check_milestone(milestone, current.portfolio)
        if milestone is not None:
            _require(actor, UPDATE, milestone)
    for name, value in fields.items():
        setattr(current, name, value)
    current.org_unit_id = (milestone or current.portfolio).org_unit_id
    _score(current)
    return _save(current, actor=actor, reason=reason or "Risk updated")


# Issues --------------------------------------------------------------------


def _common_unit_id(milestones: list[Milestone], portfolio: Portfolio) -> int:
    """The nearest org unit covering every linked milestone (else the
    portfolio's): the one the issue is scoped by."""
    if not milestones:
        return portfolio.org_unit_id
    units = {m.org_unit_id: m.org_unit for m in milestones}
    paths = [u.path.strip("/").split("/") for u in units.values()]
    common: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    from accounts.models import OrgUnit

    path = "/" + "/".join(common) + "/"
    unit = OrgUnit.objects.filter(path=path).only("pk").first()
    return unit.pk if unit else portfolio.org_unit_id


def _issue_milestones(
    actor: User | None, portfolio: Portfolio, milestones: Iterable[Milestone]
) -> list[Milestone]:
    linked = list(milestones)
    for milestone in linked:
        _check_milestone(milestone, portfolio)
        _require(actor, UPDATE, milestone)
    return linked


def _opened_at(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    if timezone.is_naive(value):
        raise Invalid(
            "The opening time needs a time zone.",
            errors={"opened_at": ["Give an aware datetime."]},
        )
    if value > now + timedelta(minutes=5):
        raise Invalid(
            "An issue cannot open in the future.",
            errors={"opened_at": ["This time is in the future."]},
        )
    return value


@transaction.atomic
def issue_create(
    *,
    actor: User | None,
    portfolio: Portfolio,
    title: str,
    kind: str,
    milestones: Iterable[Milestone] = (),
    opened_at: datetime | None = None,
    **fields: Any,
) -> Issue:
    """Log an issue (a blocker) on a portfolio, linked to the milestones it
    holds up. ``opened_at`` dates an issue noticed earlier (never in the
    future); it defaults to now."""
    _unknown(fields, ISSUE_FIELDS)
    linked = _issue_milestones(actor, portfolio, milestones)
    if not linked:
        _require(actor, UPDATE, portfolio)
    issue = Issue(
        portfolio=portfolio,
        org_unit_id=_common_unit_id(linked, portfolio),
        title=title,
        kind=kind,
        opened_at=_opened_at(opened_at, timezone.now()),
        **fields,
    )
    _save(issue, actor=actor, reason="Issue logged")
    if linked:
        issue.milestones.set(linked)
    return issue


@transaction.atomic
def issue_update(
    *, actor: User | None, issue: Issue, reason: str = "", **fields: Any
) -> Issue:
    """Edit an open or resolved issue; ``milestones`` replaces the links."""
    _unknown(fields, ISSUE_FIELDS)
    current = (
        Issue.objects.select_for_update(of=("self",), no_key=True)
        .select_related("portfolio")
        .get(pk=issue.pk)
    )
    _require(actor, UPDATE, current)
    linked = fields.pop("milestones", None)
    if linked is not None:
        linked = _issue_milestones(actor, current.portfolio, linked)
        current.org_unit_id = _common_unit_id(linked, current.portfolio)
    for name, value in fields.items():
        setattr(current, name, value)
    _save(current, actor=actor, reason=reason or "Issue updated")
    if linked is not None:
        current.milestones.set(linked)
    return current


@transaction.atomic
def issue_resolve(
    *,
    actor: User | None,
    issue: Issue,
    resolution: str = "",
    resolved_at: datetime | None = None,
) -> Issue:
    """Resolve an issue; escalations it raised close at once."""
    current = Issue.objects.select_for_update(no_key=True).get(pk=issue.pk)
    _require(actor, UPDATE, current)
    if current.resolved_at is not None:
        raise Invalid(f"The issue {current} is already resolved.")
    now = timezone.now()
    current.resolved_at = resolved_at or now
    if current.resolved_at < current.opened_at or current.resolved_at > now:
        raise Invalid(
            "An issue resolves after it opened and not in the future.",
            errors={"resolved_at": ["Outside the issue's open period."]},
        )
    current.resolution = resolution
    _save(current, actor=actor, reason="Issue resolved")
    from .engine import escalations_sweep

    escalations_sweep(issue_ids=[current.pk])
    return current


# Stakeholder assessments -------------------------------------------------------


@transaction.atomic
def assessment_create(
    *,
    actor: User | None,
    portfolio: Portfolio,
    stakeholder_group: str,
    resistance_percent: Decimal,
    engagement_score: int,
    milestone: Milestone | None = None,
    assessed_on: date | None = None,
    notes: str = "",
) -> StakeholderAssessment:
    """Record how a stakeholder group stands on a portfolio or one milestone.
    The group's latest assessment is the one the engine weighs."""
    _check_milestone(milestone, portfolio)
    _require(actor, UPDATE, milestone or portfolio)
    group = " ".join(str(stakeholder_group or "").split())
    assessed_on = assessed_on or timezone.localdate()
    if assessed_on > timezone.localdate():
        raise Invalid(
            "An assessment cannot be dated in the future.",
            errors={"assessed_on": ["This date is in the future."]},
        )
    assessment = StakeholderAssessment(
        portfolio=portfolio,
        milestone=milestone,
        org_unit_id=(milestone or portfolio).org_unit_id,
        stakeholder_group=group,
        resistance_percent=resistance_percent,
        engagement_score=engagement_score,
        assessed_on=assessed_on,
        notes=notes,
        assessed_by=actor,
    )
    return _save(assessment, actor=actor, reason="Stakeholders assessed")


# Escalation rules -------------------------------------------------------------


def _threshold(trigger: str, raw: Any) -> Decimal:
    try:
        return parse_threshold(trigger, raw)
    except ValidationError as exc:
        raise invalid_from(exc) from exc


def _require_rule_scope(actor: User | None, portfolio: Portfolio | None) -> None:
    if actor is None:
        return
    if portfolio is None:
        if not actor.is_superuser:
            raise Forbidden("Only administrators change the global escalation rules.")
        return
    _require(actor, CHANGE, portfolio)


@transaction.atomic
def escalation_rule_create(
    *,
    actor: User | None,
    trigger: str,
    threshold: Any,
    target_role: str,
    portfolio: Portfolio | None = None,
    consequence: str = "",
    active: bool = True,
) -> EscalationRule:
    """Add a global default (administrators) or a portfolio's override
    (its portfolio managers). Malformed thresholds are refused: not a number,
    negative, a percentage over 100, a fraction of a day."""
    _require_rule_scope(actor, portfolio)
    rule = EscalationRule(
        portfolio=portfolio,
        trigger=trigger,
        threshold=_threshold(trigger, threshold),
        target_role=target_role,
        consequence=consequence,
        active=active,
    )
    where = portfolio.name if portfolio else "global default"
    return _save(rule, actor=actor, reason=f"Escalation rule added ({where})")


@transaction.atomic
def escalation_rules_ensure_defaults() -> list[EscalationRule]:
    """Create the global default rules of DESIGN.md that are missing (the data
    migration does this on install; demo seeding and tests call it again)."""
    existing = set(
        EscalationRule.objects.global_defaults().values_list("trigger", flat=True)
    )
    created = []
    for trigger, threshold, role, consequence in DEFAULT_RULES:
        if trigger not in existing:
            created.append(
                escalation_rule_create(
                    actor=None,
                    trigger=trigger,
                    threshold=threshold,
                    target_role=role,
                    consequence=consequence,
                )
            )
    return created


@transaction.atomic
def escalation_rule_update(
    *, actor: User | None, rule: EscalationRule, reason: str = "", **fields: Any
) -> EscalationRule:
    """Change a rule's threshold, target role, consequence or active flag.
    It takes effect at the next sweep."""
    _unknown(fields, RULE_FIELDS)
    current = EscalationRule.objects.select_for_update(no_key=True).get(pk=rule.pk)
    _require_rule_scope(actor, current.portfolio)
    if "threshold" in fields:
        fields["threshold"] = _threshold(current.trigger, fields["threshold"])
    if "target_role" in fields and fields["target_role"] not in Role.values:
        raise Invalid(
            f"Unknown role {fields['target_role']!r}.",
            errors={"target_role": ["Choose one of the roles."]},
        )
    for name, value in fields.items():
        setattr(current, name, value)
    return _save(current, actor=actor, reason=reason or "Escalation rule changed")


# Portfolio channels ---------------------------------------------------------------


@transaction.atomic
def portfolio_channels_set(
    *,
    actor: User | None,
    portfolio: Portfolio,
    slack_webhook_url: str = "",
    teams_webhook_url: str = "",
) -> PortfolioChannels:
    """Set the Slack and Teams incoming webhooks a portfolio's escalations are
    posted to (empty to post nowhere)."""
    _require(actor, CHANGE, portfolio)
    channels = (
        PortfolioChannels.objects.select_for_update(no_key=True)
        .filter(portfolio=portfolio)
        .first()
    ) or PortfolioChannels(portfolio=portfolio)
    channels.slack_webhook_url = (slack_webhook_url or "").strip()
    channels.teams_webhook_url = (teams_webhook_url or "").strip()
    # Only https URLs of the chat providers' webhook hosts (SSRF): checked
    # here, and again (with the addresses) when a message is sent.
    errors = {}
    for name in ("slack_webhook_url", "teams_webhook_url"):
        url = getattr(channels, name)
        if url:
            try:
                safe_http.check_url(url)
            except safe_http.WebhookRefused as exc:
                errors[name] = [str(exc)]
    if errors:
        raise Invalid(" ".join(m for ms in errors.values() for m in ms), errors=errors)
    return _save(channels, actor=actor, reason="Notification channels set")


# Escalations ---------------------------------------------------------------------


@transaction.atomic
def escalation_acknowledge(
    *, actor: User | None, escalation: Escalation | int
) -> Escalation:
    """The target role takes an open escalation in hand.

    Only a member of the rule's target role whose membership covers the
    escalation (on its portfolio, or on an org unit above or at the
    milestone's or the portfolio's unit) may acknowledge; administrators too.
    """
    current = _locked_for_target_role(
        actor, escalation, "acknowledge", "acknowledged_by"
    )
    if current.status == Escalation.Status.RESOLVED:
        raise Invalid("This escalation is already resolved.")
    if current.status == Escalation.Status.ACKNOWLEDGED:
        when = timezone.localtime(current.acknowledged_at)
        raise Invalid(
            f"Already acknowledged by {current.acknowledged_by or 'someone'} "
            f"on {when:%Y-%m-%d %H:%M}."
        )
    current.status = Escalation.Status.ACKNOWLEDGED
    current.acknowledged_by = actor
    current.acknowledged_at = timezone.now()
    return _save(
        current,
        actor=actor,
        reason="Acknowledged",
        update_fields=["status", "acknowledged_by", "acknowledged_at"],
    )


def _locked_for_target_role(
    actor: User | None, escalation: Escalation | int, verb: str, user_field: str
) -> Escalation:
    """The escalation, locked, for its target role (or an administrator) to
    ``verb``: 404 out of scope, 403 for anyone else."""
    pk = escalation.pk if isinstance(escalation, Escalation) else escalation
    current = (
        Escalation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("rule", "org_unit", "portfolio__org_unit", user_field)
        .filter(pk=pk)
        .first()
    )
    if current is None or (actor is not None and not policy.can(actor, VIEW, current)):
        raise NotFound("No such escalation.")
    if actor is not None and not selectors.can_acknowledge(actor, current):
        role = Role(current.rule.target_role).label
        raise Forbidden(
            f"Only the target role ({role}) of this escalation may {verb} it."
        )
    return current


@transaction.atomic
def escalation_assign(
    *, actor: User | None, escalation: Escalation | int, assignee: User | None
) -> Escalation:
    """The target role hands an unresolved escalation to one person (or takes
    it back: ``assignee`` None).

    Who may assign is who may acknowledge (the target role over its scope,
    administrators). The assignee must be an active user who may view the
    escalation; they get an in-portal notification (once per assignment).
    """
    current = _locked_for_target_role(actor, escalation, "assign", "assigned_to")
    if current.status == Escalation.Status.RESOLVED:
        raise Invalid("This escalation is already resolved.")
    if assignee is not None and (
        not assignee.is_active or not policy.can(assignee, VIEW, current)
    ):
        message = (
            f"{assignee} may not see this escalation; choose someone in its scope."
        )
        raise Invalid(message, errors={"assignee": [message]})
    if current.assigned_to_id == (assignee.pk if assignee else None):
        return current
    now = timezone.now()
    current.assigned_to = assignee
    current.assigned_at = now if assignee is not None else None
    _save(
        current,
        actor=actor,
        reason=f"Assigned to {assignee}" if assignee else "Assignment withdrawn",
        update_fields=["assigned_to", "assigned_at"],
    )
    if assignee is not None and assignee != actor:
        from portal.notifications.messages import Message
        from portal.notifications.services import notifications_enqueue

        notifications_enqueue(
            [
                Message(
                    channel="portal",
                    dedupe_key=f"escalation:{current.pk}:assigned:"
                    f"{assignee.pk}:{now.timestamp():.6f}",
                    subject=f"Escalation assigned to you: {current.summary}"[:250],
                    body=f"{actor or 'Cairn'} assigned you this escalation "
                    f"({current.rule.get_trigger_display()}): {current.summary}",
                    recipient_id=assignee.pk,
                    link=f"/escalations/#escalation-{current.pk}",
                )
            ]
        )
    return current
