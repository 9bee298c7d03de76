"""The API base's speed-ups give DRF's own answers (#20): the serializer plan
and the one-query page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework import serializers

from accounts.api.base import FastRepresentationMixin, Pagination
from milestones.models import Milestone

from ..factories import UserFactory, make_milestone

pytestmark = pytest.mark.django_db


class _Plain(serializers.ModelSerializer):
    category_name = serializers.CharField(source="category.name", read_only=True)
    owner_email = serializers.CharField(source="owner.email", read_only=True)
    objective_code = serializers.CharField(
        source="objective.code", read_only=True, default="none"
    )
    weight_text = serializers.DecimalField(
        source="weight", max_digits=5, decimal_places=1, read_only=True
    )
    owner_label = serializers.SerializerMethodField()

    class Meta:
        model = Milestone
        fields = [
            "id",
            "portfolio",
            "owner",
            "objective",
            "name",
            "status",
            "requires_validation",
            "approved_budget",
            "planned_completion",
            "created_at",
            "category_name",
            "owner_email",
            "objective_code",
            "weight_text",
            "owner_label",
        ]

    def get_owner_label(self, obj):
        return obj.owner.username if obj.owner_id else "nobody"


class _Fast(FastRepresentationMixin, _Plain):
    pass


def test_the_plan_writes_what_drf_writes(org, portfolio):
    owner = UserFactory(username="ada", email="ada@example.com")
    rows = [
        make_milestone(portfolio, org.fr, owner=owner, weight=Decimal("2.25")),
        # No owner: the dotted source is skipped, as DRF skips it.
        make_milestone(portfolio, org.jp, owner=None),
    ]
    rows = list(
        Milestone.objects.filter(pk__in=[m.pk for m in rows])
        .select_related("category", "owner", "objective")
        .order_by("pk")
    )

    fast = _Fast(rows, many=True).data
    plain = _Plain(rows, many=True).data

    assert fast == plain
    assert "owner_email" not in fast[1]
    assert fast[1]["objective_code"] == "none"
    assert fast[0]["weight_text"] == "2.2"  # DRF's rounding (half even)


def test_a_queryset_with_an_aggregate_is_paginated_the_drf_way(org, portfolio):
    from django.db.models import Count

    make_milestone(portfolio, org.fr)
    grouped = Milestone.objects.values("portfolio").annotate(n=Count("pk"))
    assert not Pagination.counts_in_page(grouped.order_by("portfolio"))
    assert not Pagination.counts_in_page(Milestone.objects.distinct())
    assert not Pagination.counts_in_page(Milestone.objects.order_by())
    assert Pagination.counts_in_page(Milestone.objects.order_by("pk"))
