"""The in-portal list of the signed-in user's notifications."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import selectors, services
from .context import unread_for

PAGE_SIZE = 25


@login_required
@require_http_methods(["GET", "POST"])
def notification_list(request):
    """GET: the user's notifications, newest first, unread ones marked.
    POST ``all=1``, or one or more ``id``: mark them read."""
    if request.method == "POST":
        if request.POST.get("all"):
            count = services.notifications_mark_read(actor=request.user)
        else:
            ids = [int(v) for v in request.POST.getlist("id") if v.isdigit()]
            count = services.notifications_mark_read(actor=request.user, ids=ids)
        messages.info(request, f"{count} notification(s) marked as read.")
        return redirect("notifications")
    notifications = selectors.notifications_for(request.user)
    page = Paginator(notifications, PAGE_SIZE).get_page(request.GET.get("page"))
    context = admin.site.each_context(request)
    context.update(
        is_nav_sidebar_enabled=False,
        has_permission=True,
        title="Notifications",
        page=page,
        unread=unread_for(request),  # the navigation's count, not a second one
    )
    return render(request, "portal/notifications.html", context)
