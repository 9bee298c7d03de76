"""Account pages whose writes belong to the accounts app."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.http import HttpResponseRedirect

from portal import views as portal_views

from . import services


class PasswordChangeView(portal_views.PasswordChangeView):
    """Change one's own password through the service (which revokes one's API
    tokens); the session stays signed in."""

    def form_valid(self, form):
        services.user_password_set(
            actor=self.request.user,
            user=form.user,
            password=form.cleaned_data["new_password1"],
        )
        update_session_auth_hash(self.request, form.user)
        return HttpResponseRedirect(self.get_success_url())
