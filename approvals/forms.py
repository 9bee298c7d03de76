"""Forms of the approvals pages: they validate input only; the rules live in
``approvals.services`` (``approval_request``, ``approval_decide``,
``approval_withdraw``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from milestones.models import Milestone
from portal.forms import ServiceErrorsMixin

from .models import ApprovalDecision, ApprovalRequest


def _same_text(a: str, b: str) -> bool:
    """Browsers send CRLF line ends: compare texts line by line."""
    return (a or "").replace("\r\n", "\n").strip() == (b or "").replace(
        "\r\n", "\n"
    ).strip()


class ChangeRequestForm(ServiceErrorsMixin, forms.Form):
    """Ask for a reauthorization, a baseline change or a completion validation.

    The proposed values start as the milestone's current ones: the user edits
    what should change, and unchanged values are not part of the request.
    """

    kind = forms.ChoiceField(
        label="What do you ask for?",
        choices=ApprovalRequest.Kind.choices,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label="Why",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="Approvers read this first: what changed and why this is needed.",
    )
    new_approved_budget = forms.DecimalField(
        label="Approved budget",
        required=False,
        min_value=0,
        max_digits=16,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    new_planned_start = forms.DateField(
        label="Planned start",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    new_planned_completion = forms.DateField(
        label="Planned completion",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    new_success_criteria = forms.CharField(
        label="Success criteria",
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    new_weight = forms.DecimalField(
        label="Weight",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=6,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )

    new_requires_validation = forms.TypedChoiceField(
        label="Completion needs validation",
        choices=(("yes", "Yes: a validator approves completion"), ("no", "No")),
        coerce=lambda value: value == "yes",
        required=False,
        empty_value=None,
        help_text="The completion gate: part of the baseline.",
    )

    PROPOSALS = (
        ("new_approved_budget", "approved_budget"),
        ("new_planned_start", "planned_start"),
        ("new_planned_completion", "planned_completion"),
        ("new_success_criteria", "success_criteria"),
        ("new_weight", "weight"),
        ("new_requires_validation", "requires_validation"),
    )

    def __init__(self, *args, milestone: Milestone, **kwargs) -> None:
        self.milestone = milestone
        initial = kwargs.setdefault("initial", {})
        for field, source in self.PROPOSALS:
            initial.setdefault(field, getattr(milestone, source))
        initial["new_requires_validation"] = (
            "yes" if initial["new_requires_validation"] else "no"
        )
        initial.setdefault("kind", ApprovalRequest.Kind.REAUTHORIZATION)
        super().__init__(*args, **kwargs)
        currency = milestone.portfolio.currency
        self.fields["new_approved_budget"].label = f"Approved budget ({currency})"

    def service_kwargs(self) -> dict[str, Any]:
        """The request as ``approval_request`` takes it, unchanged values out."""
        data = self.cleaned_data
        values: dict[str, Any] = {"kind": data["kind"], "reason": data["reason"]}
        for field, source in self.PROPOSALS:
            value = data.get(field)
            current = getattr(self.milestone, source)
            if field == "new_success_criteria":
                if value and not _same_text(value, current):
                    values[field] = value.replace("\r\n", "\n")
            elif value is not None and value != current:
                values[field] = value
        return values


class DecisionForm(ServiceErrorsMixin, forms.Form):
    """Approve or reject, with a comment (required to reject: the service
    says so)."""

    outcome = forms.ChoiceField(choices=ApprovalDecision.Outcome.choices)
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to reject; the requester reads it.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class WithdrawForm(forms.Form):
    comment = forms.CharField(required=False, max_length=90)
