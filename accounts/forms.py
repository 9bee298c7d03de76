"""Admin forms of the accounts app."""

from __future__ import annotations

from django import forms

from .models import Membership, OrgUnit


class OrgUnitAdminForm(forms.ModelForm):
    class Meta:
        model = OrgUnit
        fields = ["name", "code", "kind", "parent", "fte_capacity"]


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "role", "org_unit", "portfolio", "authority_limit"]

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("org_unit")) == bool(cleaned.get("portfolio")):
            raise forms.ValidationError(
                "A membership needs exactly one scope: an org unit or a portfolio."
            )
        return cleaned
