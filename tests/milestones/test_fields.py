"""The milestone field groups (``milestones.fields``) cover the model once,
and every layer reads them (#16)."""

from __future__ import annotations

from collections import Counter

import pytest

from approvals.models import APPROVAL_CHANGE_FIELDS
from milestones import fields
from milestones.api.serializers import MilestoneCreateInput, MilestoneUpdateInput
from milestones.models import Milestone


def test_every_model_field_is_in_exactly_one_group():
    groups = {
        "FIXED": fields.FIXED,
        "EDITABLE": fields.EDITABLE,
        "BASELINE": fields.BASELINE,
        "EXECUTION": fields.EXECUTION,
        "SYSTEM": fields.SYSTEM,
    }
    declared = Counter(name for names in groups.values() for name in names)
    model = {f.name for f in Milestone._meta.concrete_fields}
    assert set(declared) == model, (model - set(declared), set(declared) - model)
    assert [name for name, n in declared.items() if n > 1] == []
    assert set(fields.SCOPE) <= set(fields.EDITABLE)
    assert fields.GATE in fields.EDITABLE


def test_the_api_and_the_approvals_read_the_groups():
    assert set(MilestoneCreateInput.Meta.fields) == {"portfolio", *fields.PLAN}
    update = set(MilestoneUpdateInput.Meta.fields)
    assert update == {*fields.PLAN, "version", "reason"}
    assert set(APPROVAL_CHANGE_FIELDS.values()) == set(fields.REQUESTABLE)
    refused = MilestoneUpdateInput.refused
    assert set(fields.EXECUTION) <= set(refused)
    from milestones.admin_forms import MilestoneAdminForm

    assert set(MilestoneAdminForm.Meta.fields) == {*fields.FIXED, *fields.PLAN}


@pytest.mark.django_db
def test_the_schema_offers_no_baseline_input_on_an_edit(client, pmo):
    """An edit answers 403 for a baseline field (it changes through an
    approval request): the schema does not offer the five inputs."""
    client.force_login(pmo)
    schema = client.get("/api/schema/?format=json").json()
    edit = schema["components"]["schemas"]["PatchedMilestoneUpdateInput"]
    create = schema["components"]["schemas"]["MilestoneCreateInput"]
    for name in fields.BASELINE:
        assert name not in edit["properties"], name
        assert name in create["properties"], name
    assert "requires_validation" in edit["properties"]
