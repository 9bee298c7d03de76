"""The base every Cairn ModelAdmin inherits: scoped by the access policy.

- ``get_queryset`` is ``restrict(user, "view")``, so changelists, change pages,
  history pages and autocomplete only reach rows in scope;
- an object outside scope answers 404 (Django's default is a redirect that
  confirms the object exists);
- object-level change/delete follow ``restrict(user, "change")``;
- foreign-key choices and list filters list only rows in scope;
- history can be viewed but never reverted or edited from the admin.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.filters import RelatedOnlyFieldListFilter
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from portal.errors import DomainError

from . import policy
from .roles import CHANGE, VIEW


class RestrictedAdmin(SimpleHistoryAdmin):
    """ModelAdmin whose every read and object check goes through the policy."""

    #: The policy action that object-level change and delete require.
    change_action = CHANGE
    list_per_page = 50

    def get_queryset(self, request):
        return policy.restrict(super().get_queryset(request), request.user, VIEW)

    def _in_scope(self, request, obj, action: str) -> bool:
        return obj is None or policy.can(request.user, action, obj)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._in_scope(
            request, obj, VIEW
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._in_scope(
            request, obj, self.change_action
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._in_scope(
            request, obj, self.change_action
        )

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Out of scope and missing look the same: 404, never a hint.
        raise Http404(f"No {opts.verbose_name} with this id.")

    def history_view(self, request, object_id, extra_context=None):
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404("No such object.")
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        raise Http404("History is append-only: past versions cannot be restored.")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if (
            getattr(related, "access_scope", None) is not None
            and "queryset" not in kwargs
        ):
            kwargs["queryset"] = policy.restrict(
                related._default_manager.all(), request.user, VIEW
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        # Related filters list only values present in the scoped queryset.
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str):
                field = self._filter_field(item)
                if field is not None and field.is_relation:
                    item = (item, RelatedOnlyFieldListFilter)
            filters.append(item)
        return filters

    def _filter_field(self, path: str):
        model = self.model
        field = None
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except Exception:  # noqa: BLE001 - not a model field path
                return None
            model = field.related_model
            if model is None:
                break
        return field

    def message_domain_error(self, request, exc: DomainError) -> None:
        self.message_user(request, exc.message, level=messages.ERROR)


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """For history tables registered on their own: view only, for everyone."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
