"""Back office for the notification outbox: read-only, for administrators."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import Http404

from accounts import policy
from accounts.admin_base import RestrictedAdmin

from .audit import AuditReach
from .models import AuditEvent, Notification


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


@admin.register(AuditEvent)
class AuditEventAdmin(RestrictedAdmin):
    """Access events, read-only for everyone (superusers included): they are
    the record. Scoped like the audit trail (``portal.audit.AuditReach``):
    auditors see the events of the users they audit."""

    list_display = ["at", "kind", "username", "ip_address", "object_repr"]
    list_filter = ["kind"]
    search_fields = ["username", "object_repr", "ip_address"]
    date_hierarchy = "at"
    list_select_related = ["user"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return AuditReach.of(request.user).events(queryset)

    def _in_scope(self, request, obj, action: str) -> bool:
        if obj is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def history_view(self, request, object_id, extra_context=None):
        # An event has no history of its own; the admin's log is enough.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404("No such access event.")
        return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
