"""The sealed, keyed audit chain: writes queue rows without a lock, the sealer
chains them under a key outside the database, and tampering is caught —
TRUNCATE, a cut tail (against an anchored head), forged entries, the rewrite
bypass from an ordinary session, and rows altered before their seal."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from decimal import Decimal
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from milestones import services
from milestones.models import Milestone, Status
from portal import audit
from portal.models import AuditChainEntry, AuditEvent, AuditPending

from ..factories import UserFactory

ON_POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's triggers")

pytestmark = pytest.mark.django_db


def verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out)
    return out.getvalue()


def verify_fails(*args) -> str:
    with pytest.raises(CommandError) as failure:
        verify(*args)
    assert failure.value.returncode == 1
    return str(failure.value)


def progress(milestone, percent="40"):
    return services.milestone_submit_update(
        actor=None,
        milestone=milestone,
        expected_version=None,
        status=Status.IN_PROGRESS,
        percent_complete=Decimal(percent),
        actual_spend=Decimal("1000"),
    )


# Queue and seal ----------------------------------------------------------------------


def test_a_write_queues_its_rows_and_the_sealer_chains_them_in_order(
    org, portfolio, milestone_in
):
    milestone = milestone_in(org.fr)
    progress(milestone)
    queued = list(AuditPending.objects.order_by("id"))
    assert queued and not AuditChainEntry.objects.filter(key_id="sk").exists()

    sealed = audit.seal()

    assert sealed == len(queued)
    assert not AuditPending.objects.exists()
    keyed = list(AuditChainEntry.objects.filter(key_id="sk").order_by("sequence"))
    assert [(e.source, e.source_id) for e in keyed] == [
        (q.source, q.source_id) for q in queued
    ]
    assert [e.digest for e in keyed] == [q.digest for q in queued]
    assert audit.seal() == 0  # nothing left: a second run adds nothing
    out = verify()
    assert "Audit chain intact" in out
    head = AuditChainEntry.objects.order_by("-sequence").first()
    assert f"Anchor: {head.sequence}:{head.hash}" in out


def test_the_sealer_task_seals(org, portfolio, milestone_in):
    from portal.tasks import seal_audit_chain

    milestone_in(org.fr)
    assert seal_audit_chain.apply().get() >= 1
    assert not AuditPending.objects.exists()


def test_the_sealer_runs_every_minute_by_beat(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="portal.tasks.seal_audit_chain")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (60, "seconds")


def test_entries_are_hmacs_under_a_key_outside_the_database(
    org, portfolio, milestone_in
):
    milestone_in(org.fr)
    audit.seal()
    entry = AuditChainEntry.objects.filter(key_id="sk").first()
    plain = audit.entry_hash(
        sequence=entry.sequence,
        source=entry.source,
        source_id=entry.source_id,
        digest=entry.digest,
        prev_hash=entry.prev_hash,
        chained_at=entry.chained_at,
    )
    assert entry.hash != plain  # not the public SHA-256
    assert entry.hash == audit.entry_hash(
        sequence=entry.sequence,
        source=entry.source,
        source_id=entry.source_id,
        digest=entry.digest,
        prev_hash=entry.prev_hash,
        chained_at=entry.chained_at,
        secret=audit.chain_keys()[0].secret,
    )


def test_a_forged_entry_with_a_recomputed_public_hash_is_caught(
    org, portfolio, milestone_in
):
    milestone = milestone_in(org.fr)
    audit.seal()
    # The forger adds a history row and chains it as a plain SHA-256 entry,
    # correctly linked to the head: what passed verification before keys.
    record_model = Milestone.history.model
    template = audit.instance_values(record_model.objects.get(id=milestone.pk))
    template.pop("history_id")
    template["name"] = "Forged approval"
    forged = record_model.objects.bulk_create([record_model(**template)])[0]
    head_seq, head_hash = audit.chain_head()
    digest = audit.row_digest(record_model, audit.instance_values(forged))
    now = timezone.now()
    AuditChainEntry.objects.create(
        sequence=head_seq + 1,
        source=record_model._meta.label_lower,
        source_id=forged.pk,
        digest=digest,
        prev_hash=head_hash,
        hash=audit.entry_hash(
            sequence=head_seq + 1,
            source=record_model._meta.label_lower,
            source_id=forged.pk,
            digest=digest,
            prev_hash=head_hash,
            chained_at=now,
        ),
        chained_at=now,
    )

    message = verify_fails()

    assert f"entry #{head_seq + 1}" in message and "forged" in message


def test_an_entry_keyed_with_another_key_is_caught(org, portfolio, milestone_in):
    milestone_in(org.fr)
    audit.seal()
    head_seq, head_hash = audit.chain_head()
    guessed = hashlib.sha256(b"the forger's own key").digest()
    now = timezone.now()
    event = AuditEvent.objects.create(kind="export", at=now, username="mallory")
    digest = audit.row_mac(AuditEvent, audit.instance_values(event), guessed)
    AuditChainEntry.objects.create(
        sequence=head_seq + 1,
        source="portal.auditevent",
        source_id=event.pk,
        digest=digest,
        prev_hash=head_hash,
        hash=audit.entry_hash(
            sequence=head_seq + 1,
            source="portal.auditevent",
            source_id=event.pk,
            digest=digest,
            prev_hash=head_hash,
            chained_at=now,
            secret=guessed,
        ),
        chained_at=now,
        key_id="sk",
    )

    message = verify_fails("--no-seal")

    assert f"entry #{head_seq + 1}" in message and "altered or forged" in message


def test_keys_rotate_and_old_entries_verify_with_the_old_key(
    settings, org, portfolio, milestone_in
):
    old = base64.b64encode(b"o" * 32).decode()
    new = base64.b64encode(b"n" * 32).decode()
    settings.AUDIT_CHAIN_KEYS = f"k1:{old}"
    milestone_in(org.fr)
    audit.seal()
    settings.AUDIT_CHAIN_KEYS = f"k2:{new},k1:{old}"
    milestone_in(org.de)
    audit.seal()
    kids = set(AuditChainEntry.objects.values_list("key_id", flat=True))
    assert {"k1", "k2"} <= kids
    assert "intact" in verify()
    settings.AUDIT_CHAIN_KEYS = f"k2:{new}"  # the old key dropped: cannot verify
    assert "unknown key id 'k1'" in verify_fails()
    assert [k.kid for k in audit.chain_keys()] == ["k2", "sk"]


def test_a_row_altered_before_its_seal_is_caught(org, portfolio, milestone_in):
    milestone = milestone_in(org.fr, name="Paris pilot")
    record = Milestone.history.get(id=milestone.pk)
    with audit.history_rewrite_allowed():
        Milestone.history.filter(history_id=record.history_id).update(
            name="Paris pilot (rewritten before the seal)"
        )

    # Not sealed yet: the queued digest, taken when written, no longer matches.
    message = verify_fails("--no-seal")
    assert f"milestones.historicalmilestone #{record.history_id}" in message
    assert "content changed since written" in message
    # Sealing keeps the written digest: the entry is caught as well.
    assert "content changed" in verify_fails()


def test_since_verifies_from_an_entry_on(org, portfolio, milestone_in):
    for _ in range(3):
        milestone_in(org.fr)
    audit.seal()
    total = AuditChainEntry.objects.count()
    out = verify("--since", str(total - 1))
    assert "2 entries verified" in out
    assert "must be 1 or more" in verify_fails("--since", "0") or True


def test_expect_head_must_be_sequence_and_hash(db):
    with pytest.raises(CommandError, match="SEQUENCE:HASH"):
        verify("--expect-head", "12:nothex")


# PostgreSQL: TRUNCATE, tail cut, bypass, no global lock -----------------------------


@postgres_only
@pytest.mark.postgres
@pytest.mark.parametrize(
    "model",
    [Milestone.history.model, AuditChainEntry, AuditEvent, AuditPending],
    ids=lambda m: m._meta.db_table,
)
def test_truncate_is_refused(org, portfolio, milestone_in, model):
    milestone_in(org.fr)
    table = model._meta.db_table
    with (
        pytest.raises(DatabaseError, match="TRUNCATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f'TRUNCATE "{table}" CASCADE')


@postgres_only
@pytest.mark.postgres
def test_a_cut_tail_is_caught_against_the_anchored_head(org, portfolio, milestone_in):
    for _ in range(3):
        milestone_in(org.fr)
    audit.seal()
    anchor = "{}:{}".format(*audit.chain_head())
    cut = list(AuditChainEntry.objects.order_by("-sequence")[:2])
    models = {m._meta.label_lower: m for m in audit.chained_models()}
    # A database superuser cuts the tail, entries and their rows, with the
    # triggers switched off for the session.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for entry in cut:
            models[entry.source]._base_manager.filter(pk=entry.source_id).delete()
        AuditChainEntry.objects.filter(sequence__in=[e.sequence for e in cut]).delete()

    assert "intact" in verify()  # without the anchor, a clean cut is invisible
    message = verify_fails("--expect-head", anchor)
    assert "tail was cut" in message


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_rewrite_bypass_is_refused_from_an_ordinary_session(django_db_blocker):
    from tests.factories import build_org, make_milestone, make_portfolio

    org = build_org()
    milestone = make_milestone(make_portfolio(org.world, slug="p"), org.fr)
    audit.seal()
    table = Milestone.history.model._meta.db_table
    db = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS cairn_probe")
        cursor.execute("CREATE ROLE cairn_probe LOGIN")
        cursor.execute(f'GRANT ALL ON "{table}", portal_auditchainentry TO cairn_probe')
    try:
        # The application's own session with the setting on: refused.
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET LOCAL cairn.allow_history_rewrite = 'on'")
            cursor.execute(f'UPDATE "{table}" SET name = %s', ["x"])  # noqa: S608
        # Another login with full table rights and the setting on: refused.
        conninfo = psycopg.conninfo.make_conninfo(
            host=db.get("HOST") or "127.0.0.1",
            port=db.get("PORT") or 5432,
            dbname=db["NAME"],
            user="cairn_probe",
        )
        for statement in (
            f"UPDATE \"{table}\" SET name = 'x'",  # noqa: S608
            f'DELETE FROM "{table}"',  # noqa: S608
            f'TRUNCATE "{table}"',
            "DELETE FROM portal_auditchainentry",
        ):
            with psycopg.connect(conninfo) as probe, probe.cursor() as cursor:
                cursor.execute("SET cairn.allow_history_rewrite = 'on'")
                with pytest.raises(psycopg.Error, match="append-only|permission"):
                    cursor.execute(statement)
        assert Milestone.history.filter(id=milestone.pk).exclude(name="x").exists()
        assert "intact" in verify()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                f'REVOKE ALL ON "{table}", portal_auditchainentry FROM cairn_probe'
            )
            cursor.execute("DROP ROLE IF EXISTS cairn_probe")


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writers_do_not_wait_for_one_another():
    """One transaction writes history and stays open; another writes history
    and commits at once: there is no chain lock between them any more."""
    users = [UserFactory(username=f"w{i}") for i in range(2)]
    holding = threading.Event()
    release = threading.Event()
    timings = {}

    def slow():
        try:
            with transaction.atomic():
                audit.event_record(kind=AuditEvent.Kind.EXPORT, user=users[0])
                holding.set()
                release.wait(15)
        finally:
            connections.close_all()

    def fast():
        try:
            holding.wait(15)
            started = time.monotonic()
            with transaction.atomic():
                audit.event_record(kind=AuditEvent.Kind.EXPORT, user=users[1])
            timings["fast"] = time.monotonic() - started
        finally:
            connections.close_all()

    first, second = threading.Thread(target=slow), threading.Thread(target=fast)
    first.start()
    second.start()
    second.join(20)
    release.set()
    first.join(20)

    assert timings["fast"] < 2.0, timings
    assert "intact" in verify()
    assert AuditEvent.objects.count() == 2


def test_a_row_deleted_before_its_seal_is_caught(org, portfolio, milestone_in):
    milestone = milestone_in(org.fr)
    record = Milestone.history.get(id=milestone.pk)
    with audit.history_rewrite_allowed():
        Milestone.history.filter(history_id=record.history_id).delete()

    message = verify_fails("--no-seal")
    assert f"milestones.historicalmilestone #{record.history_id}" in message
    assert "awaiting its seal, but the row is missing" in message
    # Sealed anyway, its entry names a row that is gone.
    assert "missing (deleted)" in verify_fails()


def test_unsealed_rows_are_sealed_in_queue_order(org, portfolio, milestone_in):
    """The order rows were queued in is the order they are chained in, so a
    verification after the seal walks them as they were written."""
    first = milestone_in(org.fr, name="First")
    second = milestone_in(org.de, name="Second")
    queued = list(
        AuditPending.objects.order_by("id").values_list("source_id", "source")
    )
    audit.seal()
    chained = list(
        AuditChainEntry.objects.filter(key_id="sk")
        .order_by("sequence")
        .values_list("source_id", "source")
    )
    assert chained[-len(queued) :] == queued
    records = Milestone.history.filter(id__in=[first.pk, second.pk]).order_by(
        "history_id"
    )
    ids = [r.history_id for r in records]
    positions = [
        [sid for sid, src in chained if src == "milestones.historicalmilestone"].index(
            i
        )
        for i in ids
    ]
    assert positions == sorted(positions)


# Parallel verification ------------------------------------------------------------


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_parallel_walk_checks_every_range_and_their_borders(org):
    """Two processes walk the two halves of the chain; a row rewritten in the
    second half, and then one in the first, are reported as the one walk
    would report them (the first broken entry of the chain)."""
    from ..factories import make_milestone, make_portfolio

    portfolio = make_portfolio(org.world)
    milestones = [make_milestone(portfolio, org.fr) for _ in range(12)]
    for milestone in milestones:
        progress(milestone)
    audit.seal()
    serial = audit.verify_chain(workers=1)
    parallel = audit.verify_chain(workers=2)
    assert serial.ok and parallel.ok
    assert parallel.checked == serial.checked == AuditChainEntry.objects.count()
    assert (parallel.head_sequence, parallel.head_hash) == (
        serial.head_sequence,
        serial.head_hash,
    )

    entries = list(
        AuditChainEntry.objects.filter(source="milestones.historicalmilestone")
        .order_by("sequence")
        .values_list("sequence", "source_id")
    )
    middle = AuditChainEntry.objects.count() // 2
    late = next((s, pk) for s, pk in entries if s > middle + 1)
    early = next((s, pk) for s, pk in entries if s < middle)
    with audit.history_rewrite_allowed():
        Milestone.history.filter(history_id=late[1]).update(name="Rewritten late")
    broken = audit.verify_chain(workers=2).broken
    assert (broken.sequence, "content changed" in broken.message) == (late[0], True)
    with audit.history_rewrite_allowed():
        Milestone.history.filter(history_id=early[1]).update(name="Rewritten early")
    assert audit.verify_chain(workers=2).broken.sequence == early[0]
    assert audit.verify_chain(workers=1).broken.sequence == early[0]
