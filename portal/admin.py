"""Back office for the notification outbox: read-only, for administrators."""

from __future__ import annotations

from django.contrib import admin

from accounts import policy

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The outbox carries no history of its own (it is the record), so this
    is a plain read-only admin scoped by the policy: a user sees only their
    own rows, administrators all."""

    list_display = [
        "subject",
        "channel",
        "recipient",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["subject", "dedupe_key", "recipient__username", "address"]
    list_select_related = ["recipient"]
    readonly_fields = [f.name for f in Notification._meta.fields]

    def get_queryset(self, request):
        return policy.restrict(super().get_queryset(request), request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
