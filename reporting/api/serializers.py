"""Output of the ``history`` API: trail entries as the page shows them."""

from __future__ import annotations

from rest_framework import serializers


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    # A declared field: DRF's metaclass takes it out of the class, so it never
    # meets Field.label (the stubs cannot see that).
    label = serializers.CharField()  # type: ignore[assignment]
    old = serializers.CharField(help_text="The value before, as displayed.")
    new = serializers.CharField(help_text="The value after, as displayed.")


class EntrySerializer(serializers.Serializer):
    """One entry: a history record (``kind`` "change") or an access event."""

    id = serializers.CharField(
        source="cursor", help_text="The entry's key; pass it as `after`."
    )
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=["change", "access"])
    action = serializers.CharField(
        help_text="Created, Changed, Deleted; or the access event's kind."
    )
    model = serializers.CharField(help_text="`app.model`, or `access`.")
    object_id = serializers.CharField(allow_null=True)
    object = serializers.CharField(source="object_repr")
    user_id = serializers.IntegerField(allow_null=True)
    user = serializers.CharField(source="username")
    reason = serializers.CharField()
    changes = ChangeSerializer(many=True)
    ip_address = serializers.CharField()
    user_agent = serializers.CharField()
    details = serializers.DictField()
    url = serializers.CharField(help_text="The object's history page.")


class HistoryPageSerializer(serializers.Serializer):
    next = serializers.CharField(
        allow_null=True, help_text="The next page's URL, or null on the last."
    )
    results = EntrySerializer(many=True)


class RagSerializer(serializers.Serializer):
    rag = serializers.ChoiceField(
        choices=["green", "amber", "red", "no_data"],
        help_text="The one status (README, Status).",
    )
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    reason = serializers.CharField(help_text="Why: the signals past their threshold.")


class CategoryStatusSerializer(RagSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MilestoneStatusSerializer(RagSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    float_days = serializers.IntegerField(
        allow_null=True,
        help_text="Float against the plan in days (negative: late); null when "
        "not scheduled.",
    )


class PortfolioStatusSerializer(serializers.Serializer):
    portfolio = serializers.SlugField()
    status = RagSerializer()
    categories = CategoryStatusSerializer(many=True)
    milestones = MilestoneStatusSerializer(many=True)
