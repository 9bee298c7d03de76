"""Forms of the milestones back office (the contributor pages use ``forms.py``).

The admin validates input here and hands it to ``milestones.services``; what a
service refuses comes back as form errors (``accounts.admin_base``).
"""

from __future__ import annotations

import os
from decimal import Decimal

from django import forms
from django.core import signing
from django.forms.models import BaseInlineFormSet
from import_export.forms import ConfirmImportForm, ImportForm

from . import fields as milestone_fields
from .models import (
    MILESTONE_BASELINE_FIELDS,
    Milestone,
    Portfolio,
    Status,
)

# simple-history stores a change reason in 100 characters.
REASON_MAX_LENGTH = 100


def percent_text(value: Decimal) -> str:
    """100.00 -> "100", 99.50 -> "99.5"."""
    return f"{value.normalize():f}"


def reason_field(*, required: bool, help_text: str) -> forms.CharField:
    return forms.CharField(
        label="Change reason",
        required=required,
        max_length=REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text=help_text,
    )


class MilestoneAdminForm(forms.ModelForm):
    """A milestone's change form: carries the version it was loaded at and an
    optional change reason (the baseline is read-only here, but a reason is
    still demanded should a baseline field ever be part of the form)."""

    expected_version = forms.IntegerField(
        widget=forms.HiddenInput, required=False, min_value=1
    )
    change_reason = reason_field(
        required=False,
        help_text=(
            "Optional, recorded in the history. The baseline (approved budget, "
            "planned dates, success criteria, weight) changes only through an "
            "approved request."
        ),
    )

    class Meta:
        model = Milestone
        fields = [*milestone_fields.FIXED, *milestone_fields.PLAN]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "expected_version" in self.fields:
            self.fields["expected_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk or "expected_version" not in self.fields:
            return cleaned
        expected = cleaned.get("expected_version")
        current = self.instance.version
        if expected is None:
            self.add_error(
                None,
                "This form does not say which version of the milestone it edits; "
                "reload the page and apply your changes again.",
            )
        elif expected != current:
            self.add_error(
                None,
                f"{self.instance} was changed by someone else since you opened it "
                f"(you loaded version {expected}, it is now version {current}). "
                "Nothing was saved: reload the page and apply your changes again.",
            )
        baseline = [f for f in MILESTONE_BASELINE_FIELDS if f in self.changed_data]
        if baseline and not (cleaned.get("change_reason") or "").strip():
            labels = ", ".join(
                str(Milestone._meta.get_field(f).verbose_name) for f in baseline
            )
            self.add_error(
                "change_reason",
                f"Changing {labels} changes the baseline: say why.",
            )
        return cleaned


class PortfolioAdminForm(forms.ModelForm):
    change_reason = reason_field(
        required=False,
        help_text="Required when category weights change. Recorded in the history.",
    )

    class Meta:
        model = Portfolio
        fields = [
            "slug",
            "name",
            "description",
            "currency",
            "org_unit",
            "sponsor",
            "period_start",
            "period_end",
        ]


class CategoryInlineFormSet(BaseInlineFormSet):
    """A portfolio's categories: their weights must sum to 100 %."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        rows = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        if not rows:
            if self.instance.pk:
                raise forms.ValidationError(
                    "A portfolio needs at least one category, and the category "
                    "weights must sum to 100 %."
                )
            return  # a new portfolio starts with the default categories
        total = sum((row["weight"] for row in rows), Decimal("0"))
        if total != Decimal("100"):
            raise forms.ValidationError(
                f"The category weights sum to {percent_text(total)} %; "
                "they must sum to 100 %."
            )


class BulkProgressForm(forms.Form):
    """The intermediate page of the "set status" action."""

    status = forms.ChoiceField(choices=Status.choices)
    percent_complete = forms.DecimalField(
        label="Percent complete",
        required=False,
        min_value=0,
        max_value=100,
        decimal_places=2,
        help_text="Leave empty to keep each milestone's percent complete.",
    )
    reason = reason_field(
        required=True,
        help_text="Recorded in the history of every selected milestone.",
    )


class MilestoneImportForm(ImportForm):
    reason = reason_field(
        required=True,
        help_text="Recorded in the history of every milestone this file changes.",
    )


IMPORT_PLAN_SALT = "milestones.import-plan"


def import_plan_sign(plan: dict, *, file_name: str) -> str:
    """The preview's view of each row, signed so a confirm can trust it."""
    return signing.dumps(
        {"file": os.path.basename(file_name), "rows": plan}, salt=IMPORT_PLAN_SALT
    )


class MilestoneConfirmImportForm(ConfirmImportForm):
    reason = forms.CharField(widget=forms.HiddenInput, max_length=REASON_MAX_LENGTH)
    # What the preview showed of each row (see MilestoneResource.after_init_instance).
    plan = forms.CharField(widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        try:
            plan = signing.loads(
                cleaned.get("plan") or "", salt=IMPORT_PLAN_SALT, max_age=86400
            )
        except signing.BadSignature:
            plan = None
        stored = os.path.basename(cleaned.get("import_file_name") or "")
        if not plan or plan.get("file") != stored:
            raise forms.ValidationError(
                "This confirmation does not match a preview; upload the file again."
            )
        cleaned["plan_rows"] = plan["rows"]
        return cleaned
