"""Planning and execution: portfolios, objectives, categories, milestones and
everything measured against them.

Fields follow the milestone documentation template of DESIGN.md. Baseline
fields (approved budget, planned dates, success criteria, weights) are only
changed through services that require a change reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from guardian.models import UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from accounts.policy import Scope
from portal.constraints import PythonChecked
from portal.validators import plausible_date

from . import fields
from .querysets import (
    MilestoneQuerySet,
    PortfolioQuerySet,
    ProgressUpdateQuerySet,
    ScopedQuerySet,
)

ZERO = Decimal("0")
HUNDRED = Decimal("100")


class MoneyField(TypedDict):
    """The keyword arguments every amount of money's DecimalField shares."""

    max_digits: int
    decimal_places: int


money: MoneyField = {"max_digits": 16, "decimal_places": 2}
non_negative = [MinValueValidator(ZERO)]
percent = [MinValueValidator(ZERO), MaxValueValidator(HUNDRED)]

# Fields that form a milestone's approved baseline (``milestones.fields``).
MILESTONE_BASELINE_FIELDS = fields.BASELINE


class Status(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    DELAYED = "delayed", "Delayed"
    PENDING_VALIDATION = "pending_validation", "Pending validation"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


CLOSED_STATUSES = (Status.COMPLETED, Status.CANCELLED)

DEFAULT_CATEGORIES = (
    ("Foundation", Decimal("25"), "Strategic"),
    ("Quick Wins", Decimal("20"), "Immediate"),
    ("Process Integration", Decimal("30"), "Operational"),
    ("Enterprise Scaling", Decimal("20"), "Competitive"),
    ("Optimization", Decimal("5"), "Innovation"),
)


class Portfolio(models.Model):
    """A programme of strategic objectives and milestones, owned by an org unit."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    org_unit = models.ForeignKey(
        "accounts.OrgUnit", on_delete=models.PROTECT, related_name="portfolios"
    )
    sponsor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sponsored_portfolios",
    )
    period_start = models.DateField(validators=[plausible_date])
    period_end = models.DateField(validators=[plausible_date])
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PortfolioQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(
        org_unit="org_unit",
        portfolio="",
        grants="milestones.PortfolioUserObjectPermission",
        children="milestones",
    )

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_scope", "View objects within this scope"),
            ("update_scope", "Submit progress within this scope"),
            ("change_scope", "Change plans within this scope"),
            ("approve_scope", "Approve requests within this scope"),
            ("audit_scope", "Audit history within this scope"),
        ]
        constraints = [
            models.CheckConstraint(
                name="portfolio_period_order",
                condition=Q(period_end__gte=F("period_start")),
                violation_error_message="The period cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.currency and not (
            len(self.currency) == 3
            and self.currency.isalpha()
            and self.currency.isupper()
        ):
            raise ValidationError(
                {"currency": "Use a three-letter ISO 4217 code such as EUR."}
            )


class StrategicObjective(models.Model):
    """A business objective of a portfolio that milestones align to."""

    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="objectives"
    )
    code = models.CharField(max_length=20, blank=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(via="portfolio")

    class Meta:
        ordering = ["portfolio", "code", "title"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}".strip()


class MilestoneCategory(models.Model):
    """A weighted group of a portfolio's milestones; weights sum to 100 %."""

    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="categories"
    )
    name = models.CharField(max_length=100)
    weight = models.DecimalField(
        "weight (%)", max_digits=5, decimal_places=2, validators=percent
    )
    business_impact = models.CharField(max_length=100, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(via="portfolio")

    class Meta:
        ordering = ["portfolio", "order", "name"]
        verbose_name_plural = "milestone categories"
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "name"],
                name="category_unique_name",
                violation_error_message="This portfolio already has this category.",
            ),
            models.CheckConstraint(
                name="category_weight_percent",
                condition=Q(weight__gte=0, weight__lte=100),
                violation_error_message="A weight is a percentage from 0 to 100.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MilestoneHistory(HistoricalRecords):
    """Milestone history with an index on (portfolio, history id), so the
    newest change of each portfolio is one index probe: the key under which
    the schedule outlook of a portfolio is memoised
    (``scheduling.selectors.portfolio_outlooks``)."""

    def get_meta_options(self, model):
        meta = super().get_meta_options(model)
        meta["indexes"] = (
            *meta.get("indexes", ()),
            models.Index(
                fields=("portfolio", "history_id"), name="milestone_hist_latest"
            ),
        )
        return meta


class Milestone(PythonChecked, models.Model):
    """A measurable, time-bound checkpoint on the way to a strategic objective."""

    class Type(models.TextChoices):
        STRATEGIC = "strategic", "Strategic"
        FINANCIAL = "financial", "Financial"
        OPERATIONAL = "operational", "Operational"

    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.PROTECT, related_name="milestones"
    )
    objective = models.ForeignKey(
        StrategicObjective,
        verbose_name="strategic alignment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="milestones",
    )
    category = models.ForeignKey(
        MilestoneCategory, on_delete=models.PROTECT, related_name="milestones"
    )
    org_unit = models.ForeignKey(
        "accounts.OrgUnit", on_delete=models.PROTECT, related_name="milestones"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_milestones",
    )
    code = models.CharField(max_length=30, blank=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=12, choices=Type.choices, default=Type.STRATEGIC)
    # Template: success criteria, validation, risks, stakeholders, communication.
    success_criteria = models.TextField(help_text="Measurable outcomes.")
    validation_method = models.TextField(blank=True)
    risk_factors = models.TextField(blank=True)
    stakeholder_impact = models.TextField(blank=True)
    communication_plan = models.TextField(blank=True)
    technology_required = models.TextField("technology", blank=True)
    business_impact = models.CharField(max_length=200, blank=True)
    # Plan (baseline) and execution.
    weight = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    approved_budget = models.DecimalField(
        **money, default=ZERO, validators=non_negative
    )
    actual_spend = models.DecimalField(**money, default=ZERO, validators=non_negative)
    estimate_at_completion = models.DecimalField(
        **money, null=True, blank=True, validators=non_negative
    )
    planned_start = models.DateField(validators=[plausible_date])
    planned_completion = models.DateField(validators=[plausible_date])
    forecast_completion = models.DateField(
        null=True, blank=True, validators=[plausible_date]
    )
    actual_start = models.DateField(null=True, blank=True, validators=[plausible_date])
    actual_completion = models.DateField(
        null=True, blank=True, validators=[plausible_date]
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.NOT_STARTED
    )
    percent_complete = models.DecimalField(
        "percent complete",
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=percent,
    )
    requires_validation = models.BooleanField(
        "completion needs validation",
        default=False,
        help_text="Completion needs a validator's approval.",
    )
    last_progress_at = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MilestoneQuerySet.as_manager()
    history = MilestoneHistory()
    access_scope = Scope(
        org_unit="org_unit",
        portfolio="portfolio",
        owner="owner",
        grants="milestones.MilestoneUserObjectPermission",
    )

    class Meta:
        ordering = ["planned_completion", "name"]
        permissions = [
            ("view_scope", "View this milestone (per-object grant)"),
            ("update_scope", "Submit progress on this milestone (per-object grant)"),
            ("change_scope", "Change this milestone (per-object grant)"),
            ("approve_scope", "Validate this milestone (per-object grant)"),
            ("audit_scope", "Audit this milestone (per-object grant)"),
        ]
        indexes = [
            models.Index(fields=["portfolio", "status"]),
            models.Index(fields=["org_unit", "status"]),
            models.Index(fields=["planned_completion"]),
            # The access policy's test (org unit in scope, or owned): counting
            # the rows a user sees, or listing their ids and portfolios (the
            # policy's subqueries), reads this index, not the wide rows.
            models.Index(
                fields=["org_unit", "owner", "portfolio", "id"],
                name="milestone_scope_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="milestone_percent_range",
                condition=Q(percent_complete__gte=0, percent_complete__lte=100),
                violation_error_message="Percent complete must be from 0 to 100.",
            ),
            models.CheckConstraint(
                name="milestone_money_non_negative",
                condition=Q(approved_budget__gte=0, actual_spend__gte=0)
                & (
                    Q(estimate_at_completion__isnull=True)
                    | Q(estimate_at_completion__gte=0)
                ),
                violation_error_message="Amounts cannot be negative.",
            ),
            models.CheckConstraint(
                name="milestone_weight_positive",
                condition=Q(weight__gt=0),
                violation_error_message="The weight must be positive.",
            ),
            models.CheckConstraint(
                name="milestone_planned_order",
                condition=Q(planned_completion__gte=F("planned_start")),
                violation_error_message="Planned completion cannot precede the start.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        start = self.planned_start
        if start and self.planned_completion and self.planned_completion < start:
            errors["planned_completion"] = (
                "The planned completion cannot be before the planned start."
            )
        if start and self.forecast_completion and self.forecast_completion < start:
            errors["forecast_completion"] = (
                "The forecast completion cannot be before the planned start."
            )
        if (
            self.actual_start
            and self.actual_completion
            and self.actual_completion < self.actual_start
        ):
            errors["actual_completion"] = (
                "The actual completion cannot be before the actual start."
            )
        if self.category_id and self.portfolio_id:
            if self.category.portfolio_id != self.portfolio_id:
                errors["category"] = "The category belongs to another portfolio."
        if self.objective_id and self.portfolio_id and self.objective is not None:
            if self.objective.portfolio_id != self.portfolio_id:
                errors["objective"] = "The objective belongs to another portfolio."
        if errors:
            raise ValidationError(errors)

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES


class Dependency(models.Model):
    """The successor depends on the predecessor (finish-to-start by default)."""

    class Type(models.TextChoices):
        FS = "FS", "Finish-to-start"
        SS = "SS", "Start-to-start"
        FF = "FF", "Finish-to-finish"
        SF = "SF", "Start-to-finish"

    predecessor = models.ForeignKey(
        Milestone, on_delete=models.CASCADE, related_name="successor_links"
    )
    successor = models.ForeignKey(
        Milestone, on_delete=models.CASCADE, related_name="predecessor_links"
    )
    type = models.CharField(max_length=2, choices=Type.choices, default=Type.FS)
    lag_days = models.IntegerField(
        default=0,
        validators=[MinValueValidator(-3650), MaxValueValidator(3650)],
        help_text="Days of lag (negative for a lead).",
    )

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()
    # Both ends: a dependency shown names both milestones.
    access_scope = Scope(via="successor", requires=("predecessor",))

    class Meta:
        verbose_name_plural = "dependencies"
        constraints = [
            models.UniqueConstraint(
                fields=["predecessor", "successor"],
                name="dependency_unique_pair",
                violation_error_message="This dependency already exists.",
            ),
            models.CheckConstraint(
                name="dependency_not_self",
                condition=~Q(predecessor=F("successor")),
                violation_error_message="A milestone cannot depend on itself.",
            ),
        ]

    def __str__(self) -> str:
        lag = f" {self.lag_days:+d}d" if self.lag_days else ""
        return f"{self.predecessor} → {self.successor} ({self.type}{lag})"


class Checkpoint(models.Model):
    """An intermediate date on a milestone's timeline."""

    milestone = models.ForeignKey(
        Milestone, on_delete=models.CASCADE, related_name="checkpoints"
    )
    name = models.CharField(max_length=200)
    due_date = models.DateField(validators=[plausible_date])
    completed_on = models.DateField(null=True, blank=True, validators=[plausible_date])
    notes = models.TextField(blank=True)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(via="milestone")

    class Meta:
        ordering = ["milestone", "due_date"]

    def __str__(self) -> str:
        return self.name


def evidence_path(instance: ProgressUpdate, filename: str) -> str:
    return f"evidence/{instance.milestone_id}/{filename}"


class ProgressUpdate(PythonChecked, models.Model):
    """One submitted progress report on a milestone; immutable once submitted."""

    milestone = models.ForeignKey(
        Milestone, on_delete=models.CASCADE, related_name="updates"
    )
    # Empty for system work (imports, seeding); a person otherwise.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    submitted_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices)
    percent_complete = models.DecimalField(
        max_digits=5, decimal_places=2, validators=percent
    )
    actual_spend = models.DecimalField(**money, validators=non_negative)
    estimate_at_completion = models.DecimalField(
        **money, null=True, blank=True, validators=non_negative
    )
    forecast_completion = models.DateField(
        null=True, blank=True, validators=[plausible_date]
    )
    achievements = models.TextField(blank=True)
    blockers = models.TextField(blank=True)
    next_steps = models.TextField(blank=True)
    evidence = models.FileField(upload_to=evidence_path, blank=True, max_length=300)
    milestone_version = models.PositiveIntegerField(
        help_text="The milestone version this update was made against."
    )

    objects = ProgressUpdateQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(via="milestone")

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["milestone", "-submitted_at"])]
        constraints = [
            models.CheckConstraint(
                name="update_percent_range",
                condition=Q(percent_complete__gte=0, percent_complete__lte=100),
                violation_error_message="Percent complete must be from 0 to 100.",
            ),
            models.CheckConstraint(
                name="update_money_non_negative",
                condition=Q(actual_spend__gte=0)
                & (
                    Q(estimate_at_completion__isnull=True)
                    | Q(estimate_at_completion__gte=0)
                ),
                violation_error_message="Amounts cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.milestone} @ {self.submitted_at:%Y-%m-%d %H:%M}"


class ResourceAllocation(models.Model):
    """People assigned to a milestone: FTEs from an org unit in a role."""

    milestone = models.ForeignKey(
        Milestone, on_delete=models.CASCADE, related_name="allocations"
    )
    org_unit = models.ForeignKey(
        "accounts.OrgUnit", on_delete=models.PROTECT, related_name="allocations"
    )
    fte = models.DecimalField(
        "FTE",
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    role = models.CharField(max_length=100)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(via="milestone")

    class Meta:
        ordering = ["milestone", "org_unit"]
        constraints = [
            models.CheckConstraint(
                name="allocation_fte_positive",
                condition=Q(fte__gt=0),
                violation_error_message="FTE must be positive.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fte} FTE {self.role} ({self.org_unit})"


class KPI(models.Model):
    """A performance indicator attached to a portfolio, an objective or a milestone."""

    class Kind(models.TextChoices):
        LEADING = "leading", "Leading"
        LAGGING = "lagging", "Lagging"

    class Direction(models.TextChoices):
        HIGHER = "higher", "Higher is better"
        LOWER = "lower", "Lower is better"

    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="kpis"
    )
    objective = models.ForeignKey(
        StrategicObjective,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="kpis",
    )
    milestone = models.ForeignKey(
        Milestone, null=True, blank=True, on_delete=models.CASCADE, related_name="kpis"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LAGGING)
    unit = models.CharField(max_length=30, blank=True)
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.HIGHER
    )
    baseline = models.DecimalField(max_digits=18, decimal_places=4)
    target = models.DecimalField(max_digits=18, decimal_places=4)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()
    # A KPI of a milestone follows that milestone's scope.
    access_scope = Scope(via="portfolio", requires=("milestone",))

    class Meta:
        ordering = ["portfolio", "name"]
        verbose_name = "KPI"
        verbose_name_plural = "KPIs"
        constraints = [
            models.CheckConstraint(
                name="kpi_single_attachment",
                condition=Q(objective__isnull=True) | Q(milestone__isnull=True),
                violation_error_message=(
                    "Attach a KPI to the portfolio, one objective or one milestone."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.objective_id and self.milestone_id:
            raise ValidationError(
                "Attach a KPI to the portfolio, one objective or one milestone."
            )
        for field in ("objective", "milestone"):
            target = getattr(self, field) if getattr(self, f"{field}_id") else None
            if target is not None and target.portfolio_id != self.portfolio_id:
                raise ValidationError({field: f"The {field} is in another portfolio."})
        if self.baseline == self.target and self.baseline is not None:
            raise ValidationError(
                {"target": "The target must differ from the baseline."}
            )


class KPIMeasurement(models.Model):
    """A KPI value measured on a date."""

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="measurements")
    measured_on = models.DateField(validators=[plausible_date])
    value = models.DecimalField(max_digits=18, decimal_places=4)
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(via="kpi")

    class Meta:
        ordering = ["kpi", "-measured_on"]
        verbose_name = "KPI measurement"
        constraints = [
            models.UniqueConstraint(
                fields=["kpi", "measured_on"],
                name="kpi_measurement_unique_day",
                violation_error_message="This KPI already has a value on this date.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kpi}: {self.value} on {self.measured_on}"


class PortfolioUserObjectPermission(UserObjectPermissionBase):
    """Guardian grant of a scope permission on one portfolio."""

    content_object = models.ForeignKey(Portfolio, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        indexes = [models.Index(fields=["user", "permission"])]


class MilestoneUserObjectPermission(UserObjectPermissionBase):
    """Guardian grant on one milestone: the exception (an external validator)."""

    content_object = models.ForeignKey(Milestone, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        indexes = [models.Index(fields=["user", "permission"])]


class MilestoneCheck(models.Model):
    """A milestone whose escalations must be evaluated again: written in the
    transaction of the change that calls for it (a progress update, an applied
    request), removed by the evaluation. The task queued after the commit
    usually does it within seconds; if the broker was down or the task was
    lost, ``risks.tasks.evaluate_pending_checks`` (every minute) and the daily
    sweep do. So no escalation check depends on the broker being up at the
    moment of the write. A queue, not a domain record: it has no history.
    """

    milestone = models.OneToOneField(
        Milestone, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    queued_at = models.DateTimeField()

    # Bookkeeping of the background work, like the notification outbox: no
    # history (rows come and go every minute; the checks' effects, the
    # escalations, have theirs).
    untracked_reason = "a work queue"

    class Meta:
        verbose_name = "milestone awaiting its escalation check"

    def __str__(self) -> str:
        return f"Check of milestone #{self.milestone_id}"
