"""The account pages (sign-in, password change), in the admin's look; their
writes go through the accounts services."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect

from . import services


class AdminLookMixin:
    """Render an account page inside the admin's layout (header, user tools)."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request))
        context["site_header"] = "Cairn"
        return context


class LoginView(AdminLookMixin, auth_views.LoginView):
    """Django's login view, in the admin's look. django-axes counts failures."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(AdminLookMixin, auth_views.PasswordChangeView):
    """Change one's own password (the old one is asked for) through the
    service, which revokes one's API tokens; the session stays signed in."""

    def form_valid(self, form):
        services.user_password_set(
            actor=self.request.user,
            user=form.user,
            password=form.cleaned_data["new_password1"],
        )
        update_session_auth_hash(self.request, form.user)
        return HttpResponseRedirect(self.get_success_url())


class PasswordChangeDoneView(AdminLookMixin, auth_views.PasswordChangeDoneView):
    """Confirms the change; the session stays signed in."""
