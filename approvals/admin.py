"""Admin of the approvals app: requests are read-only rows that an approver
decides through ``approvals.services.approval_decide``, as on ``/approvals/``
and in the API; decisions show inline."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.roles import APPROVE
from milestones.admin import ReadOnlyInline, ServiceAdmin

from . import services
from .models import ApprovalDecision, ApprovalRequest


class ApprovalDecisionAdminForm(forms.ModelForm):
    """An approver's decision on a request; the request itself is read-only."""

    outcome = forms.ChoiceField(
        label="Decision",
        choices=[("", "— no decision —"), *ApprovalDecision.Outcome.choices],
        required=False,
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Required to reject; recorded with your decision.",
    )
    # The milestone version the approver saw (a change meanwhile is refused).
    expected_version = forms.IntegerField(
        widget=forms.HiddenInput, required=False, min_value=1
    )

    class Meta:
        model = ApprovalRequest
        fields: list[str] = []


class ApprovalDecisionInline(ReadOnlyInline):
    """Who decided what, with the milestone as they saw it."""

    model = ApprovalDecision
    fields = [
        "approver",
        "outcome",
        "comment",
        "decided_at",
        "authority_limit",
        "within_limit",
        "snapshot",
    ]
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("approver")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ServiceAdmin):
    """Approval requests: read-only rows, decided through ``approval_decide``.

    Nobody edits a request's fields or status here; an approver picks approve
    or reject (with a comment) and the service applies the rules, exactly as
    on ``/approvals/`` and in the API. Requests are made on the request page or
    through the API, never added here.
    """

    form = ApprovalDecisionAdminForm
    change_action = APPROVE
    list_display = [
        "id",
        "kind",
        "milestone",
        "status",
        "requested_by",
        "requested_at",
        "new_approved_budget",
        "decided_at",
    ]
    list_filter = ["status", "kind", "milestone__portfolio", "milestone__org_unit"]
    search_fields = ["milestone__name", "reason", "escalation_summary"]
    list_select_related = ["milestone", "requested_by"]
    inlines = [ApprovalDecisionInline]
    request_fields = [
        "milestone",
        "kind",
        "status",
        "requested_by",
        "requested_at",
        "reason",
        "escalation_id",
        "escalation_summary",
        "decided_at",
    ]
    change_fields = [
        "old_approved_budget",
        "new_approved_budget",
        "old_planned_start",
        "new_planned_start",
        "old_planned_completion",
        "new_planned_completion",
        "old_success_criteria",
        "new_success_criteria",
        "old_weight",
        "new_weight",
        "old_requires_validation",
        "new_requires_validation",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_pending:
            return False
        return super().has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        sets = [
            (None, {"fields": self.request_fields}),
            ("Proposed change", {"fields": self.change_fields}),
        ]
        if obj is not None and self.has_change_permission(request, obj):
            sets.append(
                (
                    "Your decision",
                    {
                        "fields": ["outcome", "comment", "expected_version"],
                        "description": (
                            "Approving applies the change to the milestone at "
                            "once (or, above your authority limit, waits for a "
                            "second executive). A rejection needs a comment."
                        ),
                    },
                )
            )
        return sets

    def get_readonly_fields(self, request, obj=None):
        return [*self.request_fields, *self.change_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "expected_version" in form.base_fields:
            form.base_fields["expected_version"].initial = obj.milestone.version
        return form

    def update(self, request, obj, form):
        outcome = form.cleaned_data.get("outcome")
        if not outcome:
            return obj
        return services.approval_decide(
            actor=request.user,
            approval=obj,
            outcome=outcome,
            comment=form.cleaned_data.get("comment", ""),
            expected_version=form.cleaned_data.get("expected_version"),
        )
