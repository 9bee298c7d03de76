"""Back office for users, the org unit tree and memberships.

Writes go through ``accounts.services``; every queryset through the policy.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.html import format_html

from . import policy, services
from .admin_base import RestrictedAdmin
from .forms import AdminPasswordChangeForm, MembershipAdminForm, OrgUnitAdminForm
from .models import Membership, OrgUnit, User
from .roles import VIEW


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ("role", "org_unit", "portfolio", "authority_limit")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # A user in scope may also hold memberships elsewhere: show only these
        # the viewer may see.
        return policy.restrict(super().get_queryset(request), request.user, VIEW)


@admin.register(User)
class UserAdmin(RestrictedAdmin, DjangoUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_staff"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    inlines = [MembershipInline]
    change_password_form = AdminPasswordChangeForm

    def get_list_filter(self, request):
        return self.list_filter

    def save_model(self, request, obj, form, change):
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        super().save_model(request, obj, form, change)
        if deactivating:
            services.user_deactivate(actor=request.user, user=obj)


@admin.register(OrgUnit)
class OrgUnitAdmin(RestrictedAdmin):
    form = OrgUnitAdminForm
    list_display = ["indented_name", "code", "kind", "fte_capacity"]
    list_filter = ["kind"]
    search_fields = ["name", "code"]
    ordering = ["path"]
    list_per_page = 200

    @admin.display(description="Org unit", ordering="path")
    def indented_name(self, obj):
        return format_html(
            '<span class="cairn-depth-{}">{}</span>', min(obj.depth, 12), obj.name
        )

    def get_readonly_fields(self, request, obj=None):
        return ["code", "kind", "parent"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            services.org_unit_update(
                actor=request.user,
                unit=obj,
                **{f: form.cleaned_data[f] for f in ("name", "fte_capacity")},
            )
        else:
            created = services.org_unit_create(
                actor=request.user,
                name=obj.name,
                code=obj.code,
                kind=obj.kind,
                parent=obj.parent,
            )
            obj.pk, obj.path = created.pk, created.path

    def delete_model(self, request, obj):
        services.org_unit_delete(actor=request.user, unit=obj)


@admin.register(Membership)
class MembershipAdmin(RestrictedAdmin):
    form = MembershipAdminForm
    list_display = ["user", "role", "org_unit", "portfolio", "authority_limit"]
    list_filter = ["role", "org_unit"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user", "org_unit", "portfolio"]
    list_select_related = ["user", "org_unit", "portfolio"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "role", "org_unit", "portfolio"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            services.membership_update(
                actor=request.user,
                membership=obj,
                authority_limit=form.cleaned_data.get("authority_limit"),
            )
        else:
            created = services.membership_create(
                actor=request.user,
                user=obj.user,
                role=obj.role,
                org_unit=obj.org_unit,
                portfolio=obj.portfolio,
                authority_limit=obj.authority_limit,
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.membership_delete(actor=request.user, membership=obj)
