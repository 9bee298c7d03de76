"""Admin forms of the accounts app.

The rules live on the models (``clean()`` and constraints); these forms only
choose the fields and report each broken rule once.
"""

from __future__ import annotations

from django import forms

from .models import Membership, OrgUnit


class DistinctErrorsMixin:
    """Report each message once per field.

    A rule that ``Model.clean()`` checks and a database constraint enforces
    (a membership's single scope) would otherwise be listed twice.
    """

    def full_clean(self):
        super().full_clean()
        for errors in (self._errors or {}).values():
            seen: set[str] = set()
            kept = []
            for item, message in zip(errors.data, errors, strict=True):
                if message not in seen:
                    seen.add(message)
                    kept.append(item)
            errors.data[:] = kept


class OrgUnitAdminForm(DistinctErrorsMixin, forms.ModelForm):
    class Meta:
        model = OrgUnit
        fields = ["name", "code", "kind", "parent", "fte_capacity"]


class MembershipAdminForm(DistinctErrorsMixin, forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "role", "org_unit", "portfolio", "authority_limit"]
