"""Admin forms of the accounts app.

The rules live on the models (``clean()`` and constraints); these forms only
choose the fields and report each broken rule once.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.core.validators import MaxLengthValidator
from simple_history.models import HistoricalRecords

from . import services
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


class AdminPasswordChangeForm(auth_forms.AdminPasswordChangeForm):
    """The admin's "change password" form, saved through the accounts service
    (which also revokes the user's API tokens)."""

    def save(self, commit=True):
        # The admin view passes no request to its form: the acting user is the
        # one of the request being served (simple-history's middleware).
        request = getattr(HistoricalRecords.context, "request", None)
        actor = getattr(request, "user", None)
        usable = self.cleaned_data.get("set_usable_password", True)
        return services.user_password_set(
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            user=self.user,
            password=self.cleaned_data["password1"] if usable else None,
        )


class _NameLengthMixin:
    """Django's sign-in forms set the username's ``max_length`` after the field
    is built, so it is never validated: a 300-character name reached the
    database. Refuse it as a field error."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class SignInForm(_NameLengthMixin, auth_forms.AuthenticationForm):
    """The login page's form."""


class AdminSignInForm(_NameLengthMixin, AdminAuthenticationForm):
    """The admin login's form."""
