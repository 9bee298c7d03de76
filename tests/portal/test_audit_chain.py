"""The tamper-evident audit chain (``portal.audit``) and ``verify_audit_chain``.

Every history row (single, bulk, many-to-many snapshot) and every access event
is chained in the transaction that writes it; the command recomputes the chain
and names the first broken entry; on PostgreSQL the history and audit tables
refuse UPDATE and DELETE.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from milestones import services
from milestones.models import Milestone, Status
from portal import audit
from portal.errors import Forbidden
from portal.models import AuditChainEntry, AuditEvent
from risks import services as risk_services

from ..factories import PASSWORD, UserFactory, make_member

BULK_IMPORT = re.compile(
    r"from simple_history\.utils import[^\n]*bulk_(create|update)_with_history"
)
ON_POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="The append-only triggers and the advisory lock are PostgreSQL's; "
    "SQLite admits one writer at a time anyway.",
)

pytestmark = pytest.mark.django_db

KEY = audit.chain_keys()[0].secret


def verify() -> str:
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def verify_fails() -> str:
    with pytest.raises(CommandError) as failure:
        verify()
    assert failure.value.returncode == 1
    return str(failure.value)


def entry_for(row) -> AuditChainEntry:
    audit.seal()
    return AuditChainEntry.objects.get(
        source=type(row)._meta.label_lower, source_id=row.pk
    )


def progress(milestone, actor, percent="40"):
    return services.milestone_submit_update(
        actor=actor,
        milestone=milestone,
        expected_version=None,
        status=Status.IN_PROGRESS,
        percent_complete=Decimal(percent),
        actual_spend=Decimal("1000"),
    )


# Chaining ----------------------------------------------------------------------


def test_every_history_row_is_chained_in_order(org, portfolio, milestone_in, pmo):
    milestone = milestone_in(org.fr)
    progress(milestone, pmo)

    for record in Milestone.history.filter(id=milestone.pk):
        entry = entry_for(record)
        assert entry.digest == audit.row_mac(
            type(record), audit.instance_values(record), KEY
        )
    sequences = list(AuditChainEntry.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))
    assert "Audit chain intact" in verify()


def test_each_entry_links_to_the_previous_one(org, portfolio, milestone_in):
    milestone_in(org.fr)
    audit.seal()
    entries = list(AuditChainEntry.objects.order_by("sequence"))
    assert entries[0].prev_hash == audit.GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.hash


def test_bulk_history_is_chained(org, portfolio, milestone_in, pmo):
    rows = [milestone_in(org.fr) for _ in range(3)]
    services.milestones_bulk_set_progress(
        actor=pmo,
        changes={m.pk: {"percent_complete": Decimal("55")} for m in rows},
        reason="Weekly sync",
    )
    bulk = Milestone.history.filter(history_change_reason="Weekly sync")
    assert bulk.count() == 3
    for record in bulk:
        entry_for(record)
    assert "intact" in verify()


def test_many_to_many_snapshots_are_chained(org, portfolio, milestone_in, pmo):
    first, second = milestone_in(org.fr), milestone_in(org.de)
    issue = risk_services.issue_create(
        actor=pmo,
        portfolio=portfolio,
        title="Data access",
        kind="resource",
        milestones=[first, second],
    )
    snapshot = type(issue).history.model.milestones.model
    rows = snapshot.objects.all()
    assert rows.exists()
    for row in rows:
        entry_for(row)
    assert "intact" in verify()


def test_access_events_are_chained(org):
    user = UserFactory(username="alice")
    event = audit.event_record(kind=AuditEvent.Kind.LOGIN, user=user)
    assert entry_for(event).digest == audit.row_mac(
        AuditEvent, audit.instance_values(event), KEY
    )
    assert "intact" in verify()


def test_a_rolled_back_write_leaves_no_entry(org, portfolio, milestone_in, pmo):
    milestone = milestone_in(org.fr)
    audit.seal()
    before = AuditChainEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        progress(milestone, pmo)
        raise RuntimeError("abort")
    assert audit.seal() == 0
    assert AuditChainEntry.objects.count() == before
    milestone_in(org.fr)
    assert "intact" in verify()


def test_bulk_helpers_come_from_the_audit_module():
    """simple-history's own bulk helpers send no signal: their rows would
    escape the chain. Every caller must use portal.audit's."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for app in (
        "accounts",
        "milestones",
        "scheduling",
        "risks",
        "reporting",
        "devdata",
        "portal",
    ):
        for path in (root / app).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if BULK_IMPORT.search(text):
                offenders.append(str(path.relative_to(root)))
    assert not offenders


# Canonical content ----------------------------------------------------------------


def test_the_quick_converters_give_exactly_the_canonical_values(
    org, portfolio, milestone_in, client, pmo
):
    """Verification converts columns with per-field shortcuts; on every
    chained table, as read back from the database and as held in memory,
    they must give what ``canonical_value`` (the rule) gives."""
    milestone = milestone_in(org.fr, description="Text", actual_start=None)
    services.milestone_submit_update(
        actor=pmo,
        milestone=milestone,
        expected_version=None,
        status=Status.IN_PROGRESS,
        percent_complete=Decimal("12.5"),
        actual_spend=Decimal("1000.10"),
        forecast_completion=timezone.localdate() + timedelta(days=90),
    )
    client.force_login(pmo)
    checked = 0
    for model in audit.chained_models():
        for row in model._base_manager.order_by("pk").values(*audit.attnames(model)):
            for field, attname, _, convert in audit._layout(model):
                value = row[attname]
                assert convert(value) == audit.canonical_value(field, value), (
                    model._meta.label,
                    attname,
                    value,
                )
                checked += 1
    odd = {
        "DateTimeField": timezone.now().replace(tzinfo=None),  # naive
        "DecimalField": "12.30",  # as text
        "IntegerField": "7",
        "BooleanField": 1,
        "DateField": timezone.now(),  # a datetime for a date
    }
    for model in audit.chained_models():
        for field, _, _, convert in audit._layout(model):
            value = odd.get(field.get_internal_type())
            if value is not None:
                assert convert(value) == audit.canonical_value(field, value)
    assert checked > 300  # every column of every row written above


def test_digest_ignores_how_a_value_was_typed(org, portfolio, milestone_in):
    milestone_in(org.fr)
    record_model = Milestone.history.model
    values = audit.instance_values(Milestone.history.first())
    same = dict(values, approved_budget=Decimal(str(values["approved_budget"])) * 1)
    same["planned_completion"] = values["planned_completion"].isoformat()
    assert audit.row_digest(record_model, same) == audit.row_digest(
        record_model, values
    )
    changed = dict(values, approved_budget=values["approved_budget"] + 1)
    assert audit.row_digest(record_model, changed) != audit.row_digest(
        record_model, values
    )


def test_canonical_content_leaves_out_nulls_and_defaults(org, portfolio):
    event = AuditEvent(
        kind=AuditEvent.Kind.LOGIN_FAILED,
        at=timezone.now(),
        username="mallory",
        details={},
    )
    event.pk = 1
    content = audit.canonical_content(AuditEvent, audit.instance_values(event))
    assert '"user_id"' not in content and '"details"' not in content
    assert '"username":"mallory"' in content


# Verification ---------------------------------------------------------------------


def test_editing_a_history_row_in_sql_is_named_by_verify(org, portfolio, milestone_in):
    milestone = milestone_in(org.fr, name="Paris pilot")
    milestone_in(org.de)
    record = Milestone.history.get(id=milestone.pk)
    entry = entry_for(record)
    table = Milestone.history.model._meta.db_table
    with audit.history_rewrite_allowed(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET name = %s WHERE history_id = %s",  # noqa: S608
            ["Paris pilot (rewritten)", record.history_id],
        )

    message = verify_fails()

    assert f"entry #{entry.sequence}" in message
    assert f"milestones.historicalmilestone #{record.history_id}" in message
    assert "content changed" in message


def test_deleting_a_history_row_is_named_by_verify(org, portfolio, milestone_in):
    milestone = milestone_in(org.fr)
    record = Milestone.history.get(id=milestone.pk)
    entry = entry_for(record)
    with audit.history_rewrite_allowed():
        Milestone.history.filter(history_id=record.history_id).delete()

    message = verify_fails()

    assert f"entry #{entry.sequence}" in message and "missing" in message


def test_a_rewritten_entry_breaks_the_link_after_it(org, portfolio, milestone_in):
    milestone_in(org.fr)
    milestone_in(org.de)
    audit.seal()
    victim = AuditChainEntry.objects.order_by("sequence")[2]
    with audit.history_rewrite_allowed():
        AuditChainEntry.objects.filter(pk=victim.pk).update(digest="0" * 64)

    message = verify_fails()

    assert f"entry #{victim.sequence}" in message
    assert "entry altered" in message


def test_a_removed_entry_is_a_gap(org, portfolio, milestone_in):
    milestone_in(org.fr)
    audit.seal()
    victim = AuditChainEntry.objects.order_by("sequence")[1]
    with audit.history_rewrite_allowed():
        AuditChainEntry.objects.filter(pk=victim.pk).delete()

    message = verify_fails()

    assert f"entry #{victim.sequence} is missing" in message


def test_a_row_inserted_around_the_application_is_reported(
    org, portfolio, milestone_in
):
    milestone_in(org.fr)
    record_model = Milestone.history.model
    forged = record_model.objects.bulk_create(
        [
            record_model(
                **{
                    k: v
                    for k, v in audit.instance_values(
                        Milestone.history.model.objects.first()
                    ).items()
                    if k != "history_id"
                },
            )
        ]
    )[0]

    message = verify_fails()

    assert f"milestones.historicalmilestone #{forged.pk}" in message
    assert "not in the audit chain" in message


def test_backlog_chains_rows_written_before_the_chain(org, portfolio, milestone_in):
    milestone_in(org.fr)
    record_model = Milestone.history.model
    template = audit.instance_values(record_model.objects.first())
    template.pop("history_id")
    record_model.objects.bulk_create([record_model(**template)])
    verify_fails()

    assert audit.chain_backlog() == 1
    assert "intact" in verify()


def test_verify_reads_in_batches(org, portfolio, milestone_in):
    for _ in range(3):
        milestone_in(org.fr)
    out = StringIO()
    call_command("verify_audit_chain", "--batch-size", "2", stdout=out)
    count = AuditChainEntry.objects.count()
    assert f"{count} entries verified" in out.getvalue()


# Access events ---------------------------------------------------------------------


def test_sign_in_failures_lockout_and_sign_out_are_recorded(settings, db):
    settings.AXES_FAILURE_LIMIT = 2
    user = UserFactory(username="alice")
    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Firefox/140")
    login = "/accounts/login/"

    client.post(login, {"username": "alice", "password": PASSWORD})
    client.post("/accounts/logout/")
    client.post(login, {"username": "alice", "password": "wrong"})
    client.post(login, {"username": "nobody", "password": "wrong"})
    client.post(login, {"username": "alice", "password": "wrong"})

    kinds = list(AuditEvent.objects.order_by("at", "id").values_list("kind", flat=True))
    assert kinds[:3] == ["login", "logout", "login_failed"]
    assert "locked_out" in kinds
    failed = AuditEvent.objects.filter(kind="login_failed")
    assert set(failed.values_list("username", flat=True)) == {"alice", "nobody"}
    assert failed.get(username="nobody").user is None
    assert failed.filter(username="alice").first().user == user
    first = AuditEvent.objects.get(kind="login")
    assert (first.ip_address, first.user_agent) == ("203.0.113.7", "Firefox/140")
    assert "wrong" not in str(list(AuditEvent.objects.values_list("details")))
    assert "intact" in verify()


# Users who made changes -------------------------------------------------------------


def test_a_user_who_made_changes_cannot_be_deleted(org, portfolio, milestone_in):
    pmo = make_member(Role.PORTFOLIO_MANAGER, org.world, username="pmo-x")
    milestone = milestone_in(org.fr)
    progress(milestone, pmo)

    with pytest.raises(Forbidden, match="deactivate"), transaction.atomic():
        pmo.delete()

    assert Milestone.history.filter(history_user=pmo).exists()
    bystander = UserFactory(username="never-acted")
    bystander.delete()
    assert "intact" in verify()


# PostgreSQL: append-only tables and concurrent appends ------------------------------


@postgres_only
@pytest.mark.postgres
def test_update_on_a_history_table_raises(org, portfolio, milestone_in):
    milestone = milestone_in(org.fr)
    audit.seal()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Milestone.history.filter(id=milestone.pk).update(name="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Milestone.history.filter(id=milestone.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditChainEntry.objects.update(digest="0" * 64)
    audit.event_record(kind=AuditEvent.Kind.LOGIN, user=UserFactory())
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert Milestone.history.get(id=milestone.pk).name == milestone.name


@postgres_only
@pytest.mark.postgres
def test_every_history_table_has_the_trigger(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname = %s",
            [audit.TRIGGER_NAME],
        )
        protected = {row[0] for row in cursor.fetchall()}
    expected = {m._meta.db_table for m in audit.chained_models()}
    expected.add(AuditChainEntry._meta.db_table)
    assert expected <= protected
    # Re-running the installation (as after every migrate) adds nothing.
    assert audit.install_append_only_triggers(connection) == []


@postgres_only
@pytest.mark.postgres
def test_the_test_escape_hatch_is_scoped_to_its_block(org, portfolio, milestone_in):
    milestone = milestone_in(org.fr)
    with audit.history_rewrite_allowed():
        Milestone.history.filter(id=milestone.pk).update(
            history_date=timezone.now() - timedelta(days=3)
        )
    with pytest.raises(DatabaseError), transaction.atomic():
        Milestone.history.filter(id=milestone.pk).update(name="again")


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_leave_no_gap_and_no_fork():
    threads_count, per_thread = 8, 5
    users = [UserFactory(username=f"writer-{i}") for i in range(threads_count)]
    start = threading.Barrier(threads_count)
    errors = []

    def write(user):
        try:
            start.wait()
            for _ in range(per_thread):
                with transaction.atomic():
                    audit.event_record(kind=AuditEvent.Kind.EXPORT, user=user)
                    user.first_name = f"{user.first_name}x"
                    user.save(update_fields=["first_name"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert "intact" in verify()  # seals what the writers queued
    sequences = list(AuditChainEntry.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))
    hashes = list(AuditChainEntry.objects.values_list("prev_hash", flat=True))
    assert len(set(hashes)) == len(hashes)  # no two entries share a parent
    assert AuditEvent.objects.count() == threads_count * per_thread
    assert apps.get_model("accounts", "HistoricalUser").objects.count() >= (
        threads_count * (per_thread + 1)
    )
    assert "intact" in verify()


def test_history_tables_are_indexed_for_object_timelines(db):
    """The trail reads one object's records in order: (id, date, history id)."""
    with connection.cursor() as cursor:
        for model in audit.history_models():
            if not hasattr(model, "history_date"):
                continue
            table = model._meta.db_table
            constraints = connection.introspection.get_constraints(cursor, table)
            index = constraints.get(audit.history_index_name(table))
            assert index is not None, table
            assert index["columns"] == ["id", "history_date", "history_id"]
