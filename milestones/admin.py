"""Back office for portfolios and milestones (writes through services)."""

from django.contrib import admin

from accounts.admin_base import RestrictedAdmin

from .models import Milestone, Portfolio


@admin.register(Portfolio)
class PortfolioAdmin(RestrictedAdmin):
    list_display = [
        "name",
        "slug",
        "org_unit",
        "currency",
        "period_start",
        "period_end",
    ]
    search_fields = ["name", "slug"]
    list_select_related = ["org_unit"]


@admin.register(Milestone)
class MilestoneAdmin(RestrictedAdmin):
    list_display = ["name", "portfolio", "category", "org_unit", "status"]
    list_filter = ["portfolio", "status", "org_unit"]
    search_fields = ["name", "code"]
    list_select_related = ["portfolio", "category", "org_unit"]
