"""The base every Cairn ModelAdmin inherits: scoped by the access policy.

- ``get_queryset`` is ``restrict(user, "view")``, so changelists, change pages,
  history pages and autocomplete only reach rows in scope;
- an object outside scope answers 404 (Django's default is a redirect that
  confirms the object exists);
- object-level change/delete follow ``restrict(user, "change")``;
- foreign-key and many-to-many choices and list filters list only rows in
  scope;
- history can be viewed but never reverted or edited from the admin;
- writes go through services: ``save_model`` / ``delete_model`` call one and
  may let its :class:`portal.errors.DomainError` propagate. The change form is
  then shown again with the user's input and the service's message (nothing
  saved: the admin views are atomic); a refused delete or admin action rolls
  back and reports the message.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.filters import RelatedOnlyFieldListFilter
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponseRedirect
from django.utils.html import format_html
from django.utils.translation import gettext
from simple_history.admin import SimpleHistoryAdmin

from portal.errors import DomainError

from . import policy
from .roles import CHANGE, VIEW


class RelatedInScopeFilter(RelatedOnlyFieldListFilter):
    """Django's "related only" filter: the related rows some listed row
    points to. Asked row by row of the (small) related table, each an
    ``EXISTS`` probe on the foreign key's index, instead of Django's
    ``DISTINCT`` over every listed row: on PostgreSQL that read the whole
    milestone table for each filter of the changelist."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False,
            limit_choices_to=self.in_scope(request, model_admin),
            ordering=ordering,
        )

    def in_scope(self, request, model_admin) -> Q:
        """The related rows some row of the changelist points to."""
        listed = model_admin.get_queryset(request).filter(
            **{self.field_path: OuterRef("pk")}
        )
        return Q(Exists(listed))


class RestrictedAdmin(SimpleHistoryAdmin):
    """ModelAdmin whose every read and object check goes through the policy."""

    #: The policy action that object-level change and delete require.
    change_action = CHANGE
    list_per_page = 50

    def get_queryset(self, request):
        return policy.restrict(super().get_queryset(request), request.user, VIEW)

    def action_checkbox(self, obj):
        """Django's row checkbox, written out: the stock one renders a form
        widget template for every row, a sixth of a 100-row changelist."""
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select"'
            ' aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )

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
        # get_object() scopes the lookup and turns a malformed id into None.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404("No such object.")
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        raise Http404("History is append-only: past versions cannot be restored.")

    def _scope_choices(self, db_field, request, kwargs) -> None:
        related = db_field.related_model
        if (
            getattr(related, "access_scope", None) is not None
            and "queryset" not in kwargs
        ):
            kwargs["queryset"] = policy.restrict(
                related._default_manager.all(), request.user, VIEW
            )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- Service errors -----------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            if request.method != "POST" or hasattr(request, "_cairn_refusal"):
                raise
            # The refused save was rolled back. Validate the same input again,
            # this time failing with the service's message, so the form is
            # redisplayed with what the user typed.
            request._cairn_refusal = exc
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_cairn_refusal", None)
        if refusal is None:
            return form
        return type(form.__name__, (_RefusedFormMixin, form), {"refusal": refusal})

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_domain_error(request, exc)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request, queryset):
        # One object at a time through delete_model, hence through the service.
        for obj in queryset:
            self.delete_model(request, obj)

    def response_action(self, request, queryset, *args, **kwargs):
        # *args, **kwargs: Django 6's action_location, passed on.
        try:
            with transaction.atomic(using=queryset.db):
                return super().response_action(request, queryset, *args, **kwargs)
        except DomainError as exc:
            self.message_domain_error(request, exc)
            return HttpResponseRedirect(request.get_full_path())

    def get_list_filter(self, request):
        # Related filters list only values present in the scoped queryset.
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str):
                field = self._filter_field(item)
                if field is not None and field.is_relation:
                    item = (item, RelatedInScopeFilter)
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


class _RefusedFormMixin:
    """Fails validation with the message of the service that refused the save."""

    refusal: DomainError

    def clean(self):
        cleaned = super().clean()
        errors = self.refusal.errors or {None: [self.refusal.message]}
        for field, messages_ in errors.items():
            target = field if field in self.fields else None
            for message in messages_ if isinstance(messages_, list) else [messages_]:
                self.add_error(target, message)
        return cleaned


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """For history tables registered on their own: view only, for everyone."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
