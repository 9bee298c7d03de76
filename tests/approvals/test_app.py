"""The approvals app as its own unit (#16): the kind registry feeds the model,
forms, API and request page; the moved tables keep their names, their
permissions and their place in the audit chain."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.template.loader import get_template
from django.urls import reverse

from accounts.roles import Role
from approvals import kinds
from approvals.api.views import ApprovalCreateInput
from approvals.forms import ChangeRequestForm
from approvals.models import ApprovalDecision, ApprovalRequest
from milestones.models import Milestone
from portal.models import AuditChainEntry

from .helpers import build_scene, reauthorization

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(org, portfolio, executive):
    return build_scene(org, portfolio, executive)


def test_the_kind_choices_come_from_the_registry():
    registered = [(k.value, k.label) for k in kinds.KINDS.values()]
    assert registered == [
        ("reauthorization", "Budget/timeline reauthorization"),
        ("baseline_change", "Baseline change"),
        ("completion_validation", "Completion validation"),
    ]
    field = ApprovalRequest._meta.get_field("kind")
    assert list(field.choices) == registered
    assert list(ChangeRequestForm.base_fields["kind"].choices) == registered
    api_choices = ApprovalCreateInput().fields["kind"].choices
    assert list(api_choices) == [value for value, _ in registered]
    assert ApprovalRequest.Kind.COMPLETION == "completion_validation"


def test_each_kind_proposes_only_request_fields_and_has_its_explanation():
    for kind in kinds.KINDS.values():
        assert set(kind.fields) <= set(kinds.CHANGE_FIELDS), kind.value
        assert kind.hint, kind.value
        assert get_template(kind.template).render({}).strip(), kind.value


def test_a_kind_is_registered_once():
    class Twice(kinds.ApprovalKind):
        name = "REAUTHORIZATION"
        value = "reauthorization"
        label = "Again"

    with pytest.raises(ValueError, match="registered twice"):
        kinds.register(Twice)
    assert kinds.kind_of("reauthorization").label == "Budget/timeline reauthorization"


def test_the_request_page_explains_every_kind(client, scene):
    client.force_login(scene.owner)
    page = client.get(reverse("approvals:request", args=[scene.milestone.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for kind in kinds.KINDS.values():
        assert f'data-kind="{kind.value}"' in html


def test_the_tables_keep_their_names():
    assert ApprovalRequest._meta.db_table == "milestones_approvalrequest"
    assert ApprovalDecision._meta.db_table == "milestones_approvaldecision"
    history = ApprovalRequest.history.model._meta.db_table
    assert history == "milestones_historicalapprovalrequest"
    tables = set(connection.introspection.table_names())
    assert {
        "milestones_approvalrequest",
        "milestones_approvaldecision",
        "milestones_historicalapprovalrequest",
        "milestones_historicalapprovaldecision",
    } <= tables


def test_permissions_follow_the_app_and_reach_the_roles():
    content_type = ContentType.objects.get_for_model(ApprovalRequest)
    assert content_type.app_label == "approvals"
    assert not ContentType.objects.filter(
        app_label="milestones", model="approvalrequest"
    ).exists()
    change = Permission.objects.get(
        content_type=content_type, codename="change_approvalrequest"
    )
    executives = Group.objects.get(name=Role.EXECUTIVE.label)
    owners = Group.objects.get(name=Role.MILESTONE_OWNER.label)
    auditors = Group.objects.get(name=Role.COMPLIANCE_AUDITOR.label)
    assert change in executives.permissions.all()
    assert change not in owners.permissions.all()
    assert change not in auditors.permissions.all()
    assert owners.permissions.filter(codename="add_approvalrequest").exists()
    assert auditors.permissions.filter(codename="view_approvaldecision").exists()


def test_the_change_page_in_the_admin_is_the_apps(admin_client, scene):
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    url = reverse("admin:approvals_approvalrequest_change", args=[approval.pk])
    assert url == f"/admin/approvals/approvalrequest/{approval.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "Paris data platform" in page.content.decode()


def test_history_rows_keep_the_label_the_chain_knows_them_by(scene):
    """Rows chained before the move (as milestones.*) and after it verify the
    same way: the chain label of a moved model does not change."""
    approval = reauthorization(scene.owner, scene.milestone, "150000")
    call_command("verify_audit_chain", stdout=StringIO())  # seals the queue
    record = ApprovalRequest.history.get(id=approval.pk)
    sources = set(
        AuditChainEntry.objects.filter(source_id=record.history_id)
        .filter(source__endswith="historicalapprovalrequest")
        .values_list("source", flat=True)
    )
    assert sources == {"milestones.historicalapprovalrequest"}
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert "Audit chain intact" in out.getvalue()
    # A tampered moved row is still caught (on PostgreSQL by a database
    # superuser with the append-only triggers off for the transaction).
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        ApprovalRequest.history.filter(history_id=record.history_id).update(
            reason="Rewritten"
        )
    with pytest.raises(CommandError, match="broken at") as broken:
        call_command("verify_audit_chain", stdout=StringIO())
    assert "milestones.historicalapprovalrequest" in str(broken.value)


def test_the_completion_gate_reaches_approvals_through_its_signal(scene):
    """milestones does not import approvals: a completion reported on a gated
    milestone opens its validation through ``completion_gate_moved``."""
    from milestones import services
    from milestones.models import Status

    Milestone.objects.filter(pk=scene.milestone.pk).update(requires_validation=True)
    services.milestone_submit_update(
        actor=scene.owner,
        milestone=scene.milestone.pk,
        expected_version=None,
        status=Status.COMPLETED,
        percent_complete=100,
        actual_spend=0,
    )
    opened = ApprovalRequest.objects.get(milestone=scene.milestone)
    assert opened.kind == ApprovalRequest.Kind.COMPLETION
    assert opened.status == ApprovalRequest.Status.PENDING
    assert opened.reason.startswith("Completion reported (progress update #")
