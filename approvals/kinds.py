"""The kinds of approval request, one class each, found by their value.

A kind says what a request of it may propose (``fields``: ``new_*`` fields of
``ApprovalRequest``), what must hold to ask for it (``check_request``), what
must still hold to approve it (``check_still_applies``) and what approving it
does to the milestone (``changes``). The services (``approvals.services``)
run every kind through these four; the model's ``Kind`` choices, the forms,
the API and the request page's explanation (``templates/approvals/kinds/
<value>.html``) are derived from the registry.

To add a kind: a subclass here decorated with ``@register``, the migration of
the ``kind`` choices (``makemigrations approvals``) and its explanation
template.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django.db.models import Field
from django.utils import timezone

from milestones import fields as milestone_fields
from milestones.models import Milestone, Status
from portal.errors import Conflict, Invalid

if TYPE_CHECKING:
    from .models import ApprovalRequest

#: ``new_<field>`` on a request -> the milestone field it changes.
CHANGE_FIELDS: dict[str, str] = {
    f"new_{name}": name for name in milestone_fields.REQUESTABLE
}

KINDS: dict[str, ApprovalKind] = {}


def register(cls: type[ApprovalKind]) -> type[ApprovalKind]:
    """Class decorator: make the kind known under its ``value``."""
    if cls.value in KINDS:
        raise ValueError(f"Approval kind {cls.value!r} is registered twice.")
    KINDS[cls.value] = cls()
    return cls


def kind_of(value: str) -> ApprovalKind:
    """The kind registered under ``value`` (KeyError for an unknown one)."""
    return KINDS[value]


def choices_spec() -> list[tuple[str, tuple[str, str]]]:
    """``(NAME, (value, label))`` of every kind, for the model's choices."""
    return [(kind.name, (kind.value, kind.label)) for kind in KINDS.values()]


def field_label(field: str) -> str:
    """The milestone field's label for a ``new_*`` field of a request."""
    found = Milestone._meta.get_field(CHANGE_FIELDS[field])
    assert isinstance(found, Field)
    return str(found.verbose_name)


class ApprovalKind:
    """What one kind of request may ask for and what approving it does."""

    #: The enum member name (``ApprovalRequest.Kind.<name>``).
    name: ClassVar[str]
    #: Stored in ``ApprovalRequest.kind``.
    value: ClassVar[str]
    label: ClassVar[str]
    #: The ``new_*`` fields a request of this kind may propose.
    fields: ClassVar[tuple[str, ...]] = ()
    #: Shown when a request proposes a field outside ``fields``.
    hint: ClassVar[str] = ""

    @property
    def template(self) -> str:
        """The request page's explanation of this kind."""
        return f"approvals/kinds/{self.value}.html"

    def check_request(
        self, milestone: Milestone, changes: Mapping[str, Any], *, pending: bool
    ) -> None:
        """Refuse (``Invalid``) a request that may not be made. ``changes``
        are the proposed values that differ from the milestone's; ``pending``
        whether the milestone already has a pending request of this kind."""
        if not changes:
            raise Invalid(
                "The request changes nothing: give at least one new value.",
                errors={
                    field: ["Give a new value (the current one changes nothing)."]
                    for field in self.fields
                },
            )

    def check_still_applies(self, approval: ApprovalRequest, milestone: Milestone):
        """The request's own version check at approval (``Conflict``): the
        values it replaces must still be the milestone's."""
        moved = [
            field_label(field)
            for field, target in CHANGE_FIELDS.items()
            if getattr(approval, field) not in (None, "")
            and getattr(approval, "old_" + field[4:]) != getattr(milestone, target)
        ]
        if moved:
            raise Conflict(
                f"The milestone's {', '.join(moved)} changed since request "
                f"#{approval.pk} was made; nothing was changed. Reject it, or ask "
                "the requester to withdraw it and request again.",
                errors={"version": ["The baseline changed since the request."]},
            )

    def changes(self, approval: ApprovalRequest, milestone: Milestone) -> dict:
        """The milestone fields approving the request sets, with their values."""
        return approval.proposed()


@register
class Reauthorization(ApprovalKind):
    name = "REAUTHORIZATION"
    value = "reauthorization"
    label = "Budget/timeline reauthorization"
    fields = ("new_approved_budget", "new_planned_start", "new_planned_completion")
    hint = (
        "A reauthorization changes the approved budget and planned dates; "
        "request a baseline change for success criteria, weight or the "
        "completion gate."
    )


@register
class BaselineChange(ApprovalKind):
    name = "BASELINE_CHANGE"
    value = "baseline_change"
    label = "Baseline change"
    fields = (
        "new_planned_start",
        "new_planned_completion",
        "new_success_criteria",
        "new_weight",
        "new_requires_validation",
    )
    hint = (
        "A baseline change covers planned dates, success criteria, weight and "
        "the completion gate; request a reauthorization to change the approved "
        "budget."
    )


@register
class CompletionValidation(ApprovalKind):
    """The completion gate: a milestone reported completed waits, Pending
    validation, until an approver accepts it (``approvals.signals`` opens the
    request when a progress write reports completion)."""

    name = "COMPLETION"
    value = "completion_validation"
    label = "Completion validation"
    hint = "A completion validation proposes no change: leave the values as they are."

    def check_request(self, milestone, changes, *, pending):
        if milestone.status != Status.PENDING_VALIDATION:
            raise Invalid(
                f"{milestone} is not Pending validation: report it completed in a "
                "progress update first.",
                errors={"kind": ["The milestone is not Pending validation."]},
            )
        if pending:
            raise Invalid(
                f"The completion of {milestone} already awaits validation.",
                errors={"kind": ["A completion validation is already pending."]},
            )

    def check_still_applies(self, approval, milestone):
        if milestone.status != Status.PENDING_VALIDATION:
            raise Conflict(
                f"{milestone} is no longer Pending validation (it is "
                f"{milestone.get_status_display()}); nothing was changed.",
                errors={"status": ["The milestone left Pending validation."]},
            )

    def changes(self, approval, milestone):
        values: dict[str, Any] = {
            "status": Status.COMPLETED,
            "percent_complete": Decimal("100"),
        }
        if milestone.actual_completion is None:
            values["actual_completion"] = timezone.localdate()
        return values
