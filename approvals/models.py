"""Approval requests and the decisions on them.

A request proposes a change to a milestone's baseline (a reauthorization, a
baseline change) or asks to validate its completion; approvers decide it
(``approvals.services``). What each kind may propose and what approving it
does is declared in ``approvals.kinds``.

The models moved here from ``milestones`` (migration ``approvals.0001``):
their tables keep the names they had, and their history rows the labels the
audit chain knows them by (``chain_label`` below).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from accounts.policy import Scope
from milestones.models import ZERO, Milestone, money, non_negative
from milestones.querysets import ScopedQuerySet
from portal.validators import plausible_date

from . import kinds

#: Fields an approval request may propose, with the milestone field each changes.
APPROVAL_CHANGE_FIELDS = kinds.CHANGE_FIELDS

#: The tables keep their names from before the app was split out of
#: milestones, and the audit chain the labels its rows were chained under.
_TABLES = "milestones_{}"


class ApprovalRequest(models.Model):
    """A request to change a milestone's baseline or to validate its completion.

    The proposed change is held in typed ``new_*`` fields next to the values
    they replace (``old_*``, read when the request was made); nothing reaches
    the milestone until ``approvals.services.approval_decide`` approves it.
    ``escalation_id`` names the ``risks.Escalation`` that raised the request
    (an id, not a foreign key: approvals does not depend on risks), with the
    escalation's summary as it was then.
    """

    #: One member per registered kind (``approvals.kinds``).
    Kind = models.TextChoices("Kind", kinds.choices_spec())  # type: ignore[call-overload]  # the functional form takes (name, (value, label)) pairs

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    milestone = models.ForeignKey(
        Milestone, on_delete=models.PROTECT, related_name="approval_requests"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests",
        help_text="Empty when the system raised it (an escalation).",
    )
    requested_at = models.DateTimeField()
    reason = models.TextField(help_text="Why the change is needed.")
    # The proposed change (empty: unchanged) and the values it replaces.
    new_approved_budget = models.DecimalField(
        **money, null=True, blank=True, validators=non_negative
    )
    new_planned_start = models.DateField(
        null=True, blank=True, validators=[plausible_date]
    )
    new_planned_completion = models.DateField(
        null=True, blank=True, validators=[plausible_date]
    )
    new_success_criteria = models.TextField(blank=True)
    new_weight = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    new_requires_validation = models.BooleanField(
        null=True,
        blank=True,
        help_text="The completion gate: whether completion needs validation.",
    )
    old_approved_budget = models.DecimalField(**money, null=True, blank=True)
    old_planned_start = models.DateField(null=True, blank=True)
    old_planned_completion = models.DateField(null=True, blank=True)
    old_success_criteria = models.TextField(blank=True)
    old_weight = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True
    )
    old_requires_validation = models.BooleanField(null=True, blank=True)
    escalation_id = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="The risks.Escalation that raised this request, if any.",
    )
    escalation_summary = models.CharField(max_length=400, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords(table_name=_TABLES.format("historicalapprovalrequest"))
    access_scope = Scope(via="milestone")

    class Meta:
        db_table = _TABLES.format("approvalrequest")
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["status", "-requested_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["escalation_id"],
                condition=Q(escalation_id__isnull=False),
                name="approval_one_request_per_escalation",
                violation_error_message="This escalation already has a request.",
            ),
            models.UniqueConstraint(
                fields=["milestone"],
                condition=Q(status="pending", kind="completion_validation"),
                name="approval_one_pending_completion",
                violation_error_message=(
                    "This milestone's completion already awaits validation."
                ),
            ),
            models.CheckConstraint(
                name="approval_new_budget_non_negative",
                condition=Q(new_approved_budget__isnull=True)
                | Q(new_approved_budget__gte=0),
                violation_error_message="A budget cannot be negative.",
            ),
            models.CheckConstraint(
                name="approval_new_weight_positive",
                condition=Q(new_weight__isnull=True) | Q(new_weight__gt=0),
                violation_error_message="The weight must be positive.",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}: {self.milestone.name}"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def budget_delta(self) -> Decimal | None:
        """New minus old approved budget; ``None`` when the budget is unchanged."""
        if self.new_approved_budget is None or self.old_approved_budget is None:
            return None
        return self.new_approved_budget - self.old_approved_budget

    @property
    def amount(self) -> Decimal:
        """What an approver's authority limit is compared with: the size of the
        budget change, |new - current| (0 when the budget does not change)."""
        delta = self.budget_delta
        return abs(delta) if delta is not None else ZERO

    def proposed(self) -> dict[str, Any]:
        """The milestone fields this request changes, with their new values."""
        values = {}
        for field, target in APPROVAL_CHANGE_FIELDS.items():
            value = getattr(self, field)
            if value is not None and value != "":
                values[target] = value
        return values


class ApprovalDecision(models.Model):
    """One approver's approve or reject on a request, with what they saw.

    ``snapshot`` holds the milestone's values at the moment of the decision
    (baseline, execution figures and version), so an auditor sees what the
    approver saw; ``authority_limit`` is the approver's limit then.
    """

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    request = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="decisions"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="approval_decisions",
    )
    outcome = models.CharField(max_length=7, choices=Outcome.choices)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField()
    authority_limit = models.DecimalField(
        **money,
        null=True,
        blank=True,
        help_text="The approver's authority limit when deciding (empty: none).",
    )
    within_limit = models.BooleanField(
        default=True, help_text="Whether the amount was within that limit."
    )
    snapshot = models.JSONField(default=dict, blank=True)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords(table_name=_TABLES.format("historicalapprovaldecision"))
    access_scope = Scope(via="request__milestone")

    class Meta:
        db_table = _TABLES.format("approvaldecision")
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver"],
                name="approval_one_decision_per_approver",
                violation_error_message="You already decided this request.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} by {self.approver} on #{self.request_id}"


# History rows chained before the move keep their label in the audit chain.
ApprovalRequest.history.model.chain_label = "milestones.historicalapprovalrequest"
ApprovalDecision.history.model.chain_label = "milestones.historicalapprovaldecision"
