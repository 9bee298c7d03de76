"""The plain baseline: stock Django admin and DRF over the same milestone table.

Nothing here is scoped, audited or optimised; it shows what the framework
costs on its own, so the benchmark can report Cairn's figures as a ratio.
"""

from __future__ import annotations

from django.contrib import admin
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAuthenticated

from milestones.models import Milestone

plain_site = admin.AdminSite(name="plain_admin")


class PlainMilestoneAdmin(admin.ModelAdmin):
    list_display = ["name", "portfolio", "category", "org_unit", "status"]


plain_site.register(Milestone, PlainMilestoneAdmin)


class PlainMilestoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Milestone
        fields = [
            "id",
            "name",
            "portfolio",
            "category",
            "org_unit",
            "owner",
            "status",
            "percent_complete",
            "approved_budget",
            "actual_spend",
            "planned_start",
            "planned_completion",
            "forecast_completion",
        ]


class PlainMilestoneViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Milestone.objects.order_by("pk")
    serializer_class = PlainMilestoneSerializer
    permission_classes = [IsAuthenticated]
