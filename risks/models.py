"""Risk register, issues (blockers), stakeholder assessments, escalation rules
and escalations.

Rows that belong to a place in the organisation carry an ``org_unit``, set by
the services from the milestone (or the portfolio when there is none): it is
what the access policy scopes them by, together with their portfolio.

Risk severity comes from the score (probability x impact, 1..25):

========  =========  ======
severity  score      colour
========  =========  ======
Critical  15 - 25    red
High      10 - 14    orange
Medium    5 - 9      yellow
Low       1 - 4      green
========  =========  ======
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from accounts.policy import Scope
from accounts.roles import Role
from portal.validators import plausible_date

from . import triggers
from .querysets import (
    EscalationQuerySet,
    EscalationRuleQuerySet,
    IssueQuerySet,
    PortfolioChannelsQuerySet,
    RiskQuerySet,
    StakeholderAssessmentQuerySet,
)

one_to_five = [MinValueValidator(1), MaxValueValidator(5)]
percent = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


#: Lowest score of each band, highest band first.
SEVERITY_BANDS = (
    (15, Severity.CRITICAL),
    (10, Severity.HIGH),
    (5, Severity.MEDIUM),
    (1, Severity.LOW),
)
SEVERITY_COLOURS: dict[str, str] = {
    Severity.CRITICAL: "#c62828",
    Severity.HIGH: "#ef6c00",
    Severity.MEDIUM: "#f9a825",
    Severity.LOW: "#2e7d32",
}


def severity_for(score: int) -> Severity:
    """The severity band of a risk score (1..25)."""
    for floor, severity in SEVERITY_BANDS:
        if score >= floor:
            return severity
    raise ValueError(f"A risk score is at least 1, not {score}.")


def _severity_matches_score() -> Q:
    return (
        Q(severity=Severity.CRITICAL, score__gte=15)
        | Q(severity=Severity.HIGH, score__gte=10, score__lt=15)
        | Q(severity=Severity.MEDIUM, score__gte=5, score__lt=10)
        | Q(severity=Severity.LOW, score__gte=1, score__lt=5)
    )


class Risk(models.Model):
    """A possible obstacle on a portfolio or one milestone, scored and owned."""

    class Category(models.TextChoices):
        STRATEGIC = "strategic", "Strategic"
        TECHNICAL = "technical", "Technical"
        FINANCIAL = "financial", "Financial"
        OPERATIONAL = "operational", "Operational"
        ORGANISATIONAL = "organisational", "People and change"
        COMPLIANCE = "compliance", "Compliance"
        EXTERNAL = "external", "External"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MITIGATING = "mitigating", "Being mitigated"
        CLOSED = "closed", "Closed"

    portfolio = models.ForeignKey(
        "milestones.Portfolio", on_delete=models.CASCADE, related_name="risks"
    )
    milestone = models.ForeignKey(
        "milestones.Milestone",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="risks",
    )
    org_unit = models.ForeignKey(
        "accounts.OrgUnit",
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="The milestone's org unit, else the portfolio's.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(
        max_length=20, choices=Category.choices, default=Category.STRATEGIC
    )
    probability = models.PositiveSmallIntegerField(
        validators=one_to_five, help_text="1 (rare) to 5 (almost certain)."
    )
    impact = models.PositiveSmallIntegerField(
        validators=one_to_five, help_text="1 (minor) to 5 (severe)."
    )
    score = models.PositiveSmallIntegerField(
        editable=False, help_text="Probability x impact."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_risks",
    )
    mitigation = models.TextField(blank=True)
    contingency = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.OPEN
    )
    next_review = models.DateField(
        "next review", null=True, blank=True, validators=[plausible_date]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RiskQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(org_unit="org_unit", portfolio="portfolio", owner="owner")

    class Meta:
        ordering = ["-score", "title"]
        indexes = [
            models.Index(fields=["portfolio", "status"]),
            models.Index(fields=["probability", "impact"]),
        ]
        constraints = [
            models.CheckConstraint(
                name="risk_probability_impact_range",
                condition=Q(probability__gte=1, probability__lte=5)
                & Q(impact__gte=1, impact__lte=5),
                violation_error_message="Probability and impact go from 1 to 5.",
            ),
            models.CheckConstraint(
                name="risk_score_is_product",
                condition=Q(score=F("probability") * F("impact")),
                violation_error_message="The score is probability x impact.",
            ),
            models.CheckConstraint(
                name="risk_severity_from_score",
                condition=_severity_matches_score(),
                violation_error_message="The severity follows from the score.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.milestone_id and self.portfolio_id and self.milestone is not None:
            if self.milestone.portfolio_id != self.portfolio_id:
                raise ValidationError(
                    {"milestone": "The milestone belongs to another portfolio."}
                )

    @property
    def colour(self) -> str:
        return SEVERITY_COLOURS.get(self.severity, "#757575")


class Issue(models.Model):
    """Something already going wrong (a blocker): its kind, severity, owner and
    the milestones it holds up, from when it was opened until resolved."""

    class Kind(models.TextChoices):
        TECHNICAL = "technical", "Technical"
        RESOURCE = "resource", "Resource"
        STAKEHOLDER = "stakeholder", "Stakeholder"
        EXTERNAL = "external", "External"
        COMPLIANCE = "compliance", "Compliance"

    portfolio = models.ForeignKey(
        "milestones.Portfolio", on_delete=models.CASCADE, related_name="issues"
    )
    milestones = models.ManyToManyField(
        "milestones.Milestone",
        blank=True,
        related_name="issues",
        help_text="The milestones this issue holds up.",
    )
    org_unit = models.ForeignKey(
        "accounts.OrgUnit",
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="The nearest unit covering the linked milestones, else the "
        "portfolio's.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.MEDIUM
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_issues",
    )
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    objects = IssueQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[milestones])
    access_scope = Scope(org_unit="org_unit", portfolio="portfolio", owner="owner")

    class Meta:
        ordering = ["-opened_at", "title"]
        indexes = [models.Index(fields=["kind", "resolved_at", "opened_at"])]
        constraints = [
            models.CheckConstraint(
                name="issue_resolved_after_opened",
                condition=Q(resolved_at__isnull=True)
                | Q(resolved_at__gte=F("opened_at")),
                violation_error_message="An issue cannot be resolved before it opened.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class StakeholderAssessment(models.Model):
    """How much a stakeholder group resists a portfolio or one milestone, as
    assessed on a date. The latest assessment of a group is the one that
    counts for escalation."""

    portfolio = models.ForeignKey(
        "milestones.Portfolio",
        on_delete=models.CASCADE,
        related_name="stakeholder_assessments",
    )
    milestone = models.ForeignKey(
        "milestones.Milestone",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stakeholder_assessments",
    )
    org_unit = models.ForeignKey(
        "accounts.OrgUnit", on_delete=models.PROTECT, related_name="+", editable=False
    )
    stakeholder_group = models.CharField(max_length=120)
    resistance_percent = models.DecimalField(
        "resistance (%)",
        max_digits=5,
        decimal_places=2,
        validators=percent,
        help_text="Share of the group resisting the change, 0 to 100.",
    )
    engagement_score = models.PositiveSmallIntegerField(
        validators=one_to_five, help_text="1 (disengaged) to 5 (champions)."
    )
    assessed_on = models.DateField(validators=[plausible_date])
    notes = models.TextField(blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = StakeholderAssessmentQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(org_unit="org_unit", portfolio="portfolio")

    class Meta:
        ordering = ["-assessed_on", "stakeholder_group"]
        indexes = [
            models.Index(fields=["portfolio", "stakeholder_group", "assessed_on"])
        ]
        constraints = [
            models.CheckConstraint(
                name="assessment_resistance_percent",
                condition=Q(resistance_percent__gte=0, resistance_percent__lte=100),
                violation_error_message="Resistance is a percentage from 0 to 100.",
            ),
            models.CheckConstraint(
                name="assessment_engagement_range",
                condition=Q(engagement_score__gte=1, engagement_score__lte=5),
                violation_error_message="Engagement goes from 1 to 5.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stakeholder_group} on {self.assessed_on}"

    def clean(self) -> None:
        if self.milestone_id and self.portfolio_id and self.milestone is not None:
            if self.milestone.portfolio_id != self.portfolio_id:
                raise ValidationError(
                    {"milestone": "The milestone belongs to another portfolio."}
                )


#: The escalation triggers, one module each in ``risks.triggers``: the choices,
#: units and default rules below are built from its registry, in its order.
Trigger = models.TextChoices(  # type: ignore[call-overload]  # stubs lack module=
    "Trigger",
    [(spec.name, (spec.value, spec.label)) for spec in triggers.registry],
    module=__name__,
    qualname="Trigger",
)

DAYS, PERCENT = triggers.DAYS, triggers.PERCENT
TRIGGER_UNITS = {Trigger(spec.value): spec.unit for spec in triggers.registry}

#: The defaults of DESIGN.md: (trigger, threshold, target role, consequence).
DEFAULT_RULES = tuple(
    (
        Trigger(spec.value),
        spec.default.threshold,
        spec.default.target_role,
        spec.default.consequence,
    )
    for spec in triggers.registry
)


def _unit(trigger: str) -> str:
    """The unit of a trigger's threshold ("" for an unknown trigger)."""
    spec = triggers.registry.get(trigger)
    return spec.unit if spec is not None else ""


def parse_threshold(trigger: str, raw: Any) -> Decimal:
    """The threshold ``raw`` as a Decimal, or a ValidationError saying what is
    wrong with it: not a number, negative, over 100 % or a fraction of a day."""
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw):
        raise ValidationError(
            {"threshold": "Give a threshold: a number such as 14 or 15.5."}
        )
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError(
            {"threshold": f"The threshold must be a number, not {raw!r}."}
        ) from exc
    if not value.is_finite():
        raise ValidationError({"threshold": "The threshold must be a finite number."})
    if value < 0:
        raise ValidationError({"threshold": "The threshold cannot be negative."})
    unit = _unit(trigger)
    if unit == PERCENT and value > 100:
        raise ValidationError(
            {"threshold": f"A percentage cannot exceed 100 % (got {value} %)."}
        )
    if unit == DAYS and value != value.to_integral_value():
        raise ValidationError(
            {"threshold": f"A threshold in days is a whole number (got {value})."}
        )
    if unit == DAYS and value > 3650:
        raise ValidationError({"threshold": "A threshold in days is at most 3650."})
    exponent = value.as_tuple().exponent  # an int: the value is finite
    if isinstance(exponent, int) and exponent < -2:
        raise ValidationError(
            {"threshold": "A threshold has at most two decimal places."}
        )
    return value


class EscalationRule(models.Model):
    """When a trigger escalates and to whom.

    A rule without a portfolio is the global default for its trigger; a rule
    with one overrides the default for that portfolio (an inactive override
    switches the trigger off there). An escalation is raised when the measure
    is strictly greater than the threshold.
    """

    portfolio = models.ForeignKey(
        "milestones.Portfolio",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="escalation_rules",
        help_text="Empty for the global default.",
    )
    trigger = models.CharField(max_length=30, choices=Trigger.choices)
    threshold = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        help_text="Days for delays and blockers, percent for overruns and "
        "resistance; escalates when strictly exceeded.",
    )
    target_role = models.CharField(max_length=30, choices=Role.choices)
    consequence = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)

    objects = EscalationRuleQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(portfolio="portfolio", org_unit="portfolio__org_unit")

    class Meta:
        ordering = ["portfolio__name", "trigger"]
        constraints = [
            models.UniqueConstraint(
                fields=["trigger"],
                condition=Q(portfolio__isnull=True),
                name="escalation_rule_one_global_per_trigger",
                violation_error_message="There is already a global rule for this "
                "trigger.",
            ),
            models.UniqueConstraint(
                fields=["portfolio", "trigger"],
                condition=Q(portfolio__isnull=False),
                name="escalation_rule_one_override_per_trigger",
                violation_error_message="This portfolio already overrides this "
                "trigger.",
            ),
            models.CheckConstraint(
                name="escalation_rule_threshold_non_negative",
                condition=Q(threshold__gte=0),
                violation_error_message="The threshold cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        where = self.portfolio.name if self.portfolio is not None else "global"
        return f"{self.get_trigger_display()} > {self.threshold_display} ({where})"

    def clean(self) -> None:
        if self.trigger and self.threshold is not None:
            parse_threshold(self.trigger, self.threshold)

    @property
    def unit(self) -> str:
        return _unit(self.trigger)

    @property
    def threshold_display(self) -> str:
        value = self.threshold.normalize() if self.threshold is not None else "?"
        if isinstance(value, Decimal) and value == value.to_integral_value():
            value = value.quantize(Decimal("1"))
        return f"{value} {self.unit}".strip()


class Escalation(models.Model):
    """A rule's condition holding for one subject (a milestone, an issue or a
    stakeholder group), from when the sweep opened it until it resolved.

    ``subject_key`` names the subject (``milestone:12``, ``issue:4``,
    ``stakeholders:<portfolio>:<milestone or 0>:<group>``); the database
    allows one unresolved escalation per (rule, subject).
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    rule = models.ForeignKey(
        EscalationRule, on_delete=models.PROTECT, related_name="escalations"
    )
    subject_key = models.CharField(max_length=200)
    portfolio = models.ForeignKey(
        "milestones.Portfolio", on_delete=models.CASCADE, related_name="escalations"
    )
    org_unit = models.ForeignKey(
        "accounts.OrgUnit", on_delete=models.PROTECT, related_name="+"
    )
    milestone = models.ForeignKey(
        "milestones.Milestone",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="escalations",
    )
    issue = models.ForeignKey(
        Issue,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="escalations",
    )
    assessment = models.ForeignKey(
        StakeholderAssessment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalations",
        help_text="The assessment that raised it.",
    )
    measured = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="The measure when it opened (days or percent).",
    )
    threshold = models.DecimalField(
        max_digits=8, decimal_places=2, help_text="The rule's threshold then."
    )
    summary = models.CharField(max_length=400)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.OPEN
    )
    opened_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who the target role handed it to (escalation_assign).",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = EscalationQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(org_unit="org_unit", portfolio="portfolio")

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "portfolio"])]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=~Q(status="resolved"),
                name="escalation_one_unresolved_per_rule_subject",
                violation_error_message="This subject already has an unresolved "
                "escalation for this rule.",
            ),
            models.CheckConstraint(
                name="escalation_resolved_has_time",
                condition=Q(status="resolved", resolved_at__isnull=False)
                | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                violation_error_message="A resolved escalation records when.",
            ),
        ]

    def __str__(self) -> str:
        return self.summary

    @property
    def trigger(self) -> str:
        return self.rule.trigger


class PortfolioChannels(models.Model):
    """Where a portfolio's escalations are also posted: Slack and Microsoft
    Teams incoming webhooks."""

    portfolio = models.OneToOneField(
        "milestones.Portfolio",
        on_delete=models.CASCADE,
        related_name="notification_channels",
    )
    slack_webhook_url = models.URLField(
        "Slack webhook URL",
        max_length=500,
        blank=True,
        help_text="A Slack incoming webhook (https://hooks.slack.com/services/...).",
    )
    teams_webhook_url = models.URLField(
        "Teams webhook URL",
        max_length=500,
        blank=True,
        help_text="A Microsoft Teams incoming webhook.",
    )

    objects = PortfolioChannelsQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(portfolio="portfolio", org_unit="portfolio__org_unit")
    # Secrets (a webhook URL is its own credential): masked wherever they
    # are read (audit trail, history API, exports, admin) except in the form
    # of someone who may change them.
    sensitive_fields = frozenset({"slack_webhook_url", "teams_webhook_url"})

    class Meta:
        verbose_name = "portfolio notification channels"
        verbose_name_plural = "portfolio notification channels"

    def __str__(self) -> str:
        return f"Channels of {self.portfolio}"
