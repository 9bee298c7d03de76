"""The tamper-evident audit chain and the access-event log.

Shared infrastructure (DESIGN.md, "History and audit"): no domain app owns it,
every domain app feeds it.

What is chained
---------------
Every history row of every tracked model (simple-history's ``Historical*``
tables, their many-to-many snapshot tables included) and every
:class:`~portal.models.AuditEvent` (sign-ins, failed sign-ins, lock-outs,
sign-outs, report downloads, exports).

Written freely, sealed in batches
---------------------------------
In the transaction that writes such a row, :func:`chain_rows` (from
simple-history's ``post_create_historical_record`` and m2m signals, the bulk
wrappers of this module and :func:`event_record`) appends one
:class:`~portal.models.AuditPending` row: the row's label and id and the keyed
digest of its content as written. That is an INSERT with an id from a
sequence: no lock, no read of the chain, so writers never wait on one another
(before, every write took one advisory lock and read the chain's head, which
serialised every write of the whole system).

:func:`seal` (the Celery task ``portal.tasks.seal_audit_chain``, every minute
by beat, and ``verify_audit_chain`` before it verifies) moves the queue into
the chain in queue order, in batches: each :class:`~portal.models.
AuditChainEntry` holds ``sequence`` (1, 2, 3... without gaps, the primary key:
no fork), ``source``/``source_id``, the written ``digest``, ``prev_hash``,
``chained_at``, ``key_id`` and ``hash`` = HMAC-SHA256 of
``sequence|source|source_id|digest|prev_hash|chained_at`` under that key.
Only sealers take the chain's advisory lock (:data:`CHAIN_LOCK`), each for a
short transaction of its own. A row committed late by a long transaction is
simply in the queue at the next run (the queue holds only what is not sealed),
so nothing is skipped.

Keys
----
Digests and hashes are HMACs under a key kept outside the database
(``AUDIT_CHAIN_KEYS``, newest first, each entry naming its key id; the key
derived from ``SECRET_KEY`` is always known last). Whoever can write the
database but lacks the key cannot forge an entry: recomputing the public
SHA-256, as before, no longer verifies. The first entries, chained before keys
existed, are plain SHA-256 and valid only as the chain's prefix.

Verification
------------
:func:`verify_chain` (``verify_audit_chain``) walks the chain in batches and
recomputes every link and every row digest, names the first broken entry,
checks an anchored head (``--expect-head SEQ:HASH``, kept outside the database
in each weekly report: a cut tail is caught), checks every queued row against
the digest taken when it was written (a row altered or deleted before its seal
is caught), and lists rows of chained tables that are neither chained nor
queued (inserted behind the application's back).

Append-only tables on PostgreSQL
--------------------------------
:func:`install_append_only_triggers` puts ``BEFORE UPDATE OR DELETE`` row
triggers and ``BEFORE TRUNCATE`` statement triggers on every history table and
the audit tables (the queue: UPDATE and TRUNCATE), from a migration and again
after every ``migrate``. The only way around them is
:func:`history_rewrite_allowed`, which switches to the NOLOGIN role
:data:`REWRITE_ROLE` and sets ``cairn.allow_history_rewrite`` for the
transaction: the triggers accept only both together, so the setting alone,
from an ordinary session, does nothing. (A database superuser can always drop
a trigger; the keyed chain and the anchored head are what catch that.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple, TypeVar

from django.apps import apps as global_apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts import policy
from accounts.roles import AUDIT, VIEW

from .errors import Forbidden

_M = TypeVar("_M", bound=models.Model)

GENESIS = "0" * 64
#: Key of the PostgreSQL advisory lock that serialises appends ("cairn").
CHAIN_LOCK = 0x636169726E
BATCH_SIZE = 500
SEAL_BATCH_SIZE = 5000
VERIFY_BATCH_SIZE = 5000
REWRITE_SETTING = "cairn.allow_history_rewrite"
TRIGGER_NAME = "cairn_append_only"
TRIGGER_FUNCTION = "cairn_refuse_rewrite"
AUDIT_TABLES = ("portal_auditevent", "portal_auditchainentry")
USER_AGENT_LENGTH = 300


# Which tables are chained ------------------------------------------------------


def is_history_model(model) -> bool:
    """A simple-history table: a record table (``history_id``) or a
    many-to-many snapshot table (``m2m_history_id``). Works on the migration
    state's models too."""
    if not model.__name__.startswith("Historical"):
        return False
    names = {f.name for f in model._meta.concrete_fields}
    return "history_id" in names or "m2m_history_id" in names


def history_models(registry=global_apps) -> list:
    """Every history table, by label."""
    found = [m for m in registry.get_models() if is_history_model(m)]
    return sorted(found, key=lambda m: m._meta.label_lower)


def chain_label(model) -> str:
    """The label a model's rows are chained under: its ``app.model`` label,
    or the one it had when its rows were first chained (``chain_label`` on
    the model: a model that moved to another app keeps verifying)."""
    return getattr(model, "chain_label", None) or model._meta.label_lower


def chained_models(registry=global_apps) -> list:
    """Every model whose rows are chained: history tables and access events."""
    return [*history_models(registry), registry.get_model("portal", "AuditEvent")]


# Canonical content -----------------------------------------------------------


def _decimal_places(field: models.Field[Any, Any]) -> int | None:
    """A DecimalField's places (a field whose internal type is DecimalField
    declares them)."""
    places: int | None = getattr(field, "decimal_places", None)
    return places


def canonical_value(field: models.Field[Any, Any], value: Any) -> Any:
    """``value`` of ``field`` as the JSON value it is digested as.

    The same for the value held in memory when the row is written and for the
    value read back from SQLite or PostgreSQL: decimals quantised to the
    field's places, datetimes in UTC with microseconds, dates in ISO format.
    """
    if value is None:
        return None
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    kind = field.get_internal_type()
    if kind == "DecimalField":
        number = field.to_python(value)
        places = _decimal_places(field)
        if places is not None:
            number = number.quantize(Decimal(1).scaleb(-places))
        return format(number, "f")
    if kind == "DateTimeField":
        moment = field.to_python(value)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_default_timezone())
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    if kind == "DateField":
        return field.to_python(value).isoformat()
    if kind == "TimeField":
        return field.to_python(value).isoformat(timespec="microseconds")
    if kind == "DurationField":
        return field.to_python(value) // timedelta(microseconds=1)
    if kind == "JSONField":
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    if kind == "BinaryField":
        return bytes(value).hex()
    if kind == "FloatField":
        return float(value)
    value = field.to_python(value)
    if isinstance(value, str | int | bool):
        return value
    return str(value)


_NO_DEFAULT = object()


def _converter(field: models.Field) -> Callable[[Any], Any]:
    """``canonical_value`` for one field, with a shortcut for the values a
    database read gives (a str for text, an int, an aware datetime, a date, a
    Decimal): each shortcut returns exactly what ``canonical_value`` does,
    which remains the rule (``tests/portal/test_audit_chain.py`` compares them
    on every chained table). Verification converts a million rows' columns:
    the shortcuts make it about three times quicker."""
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    kind = target.get_internal_type()

    def general(value: Any) -> Any:
        return canonical_value(field, value)

    if kind in ("CharField", "TextField", "SlugField", "EmailField", "URLField"):

        def text(value: Any) -> Any:
            return value if value is None or type(value) is str else general(value)

        return text
    if kind in (
        "AutoField",
        "BigAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    ):

        def integer(value: Any) -> Any:
            return value if value is None or type(value) is int else general(value)

        return integer
    if kind == "BooleanField":

        def boolean(value: Any) -> Any:
            return value if value is None or type(value) is bool else general(value)

        return boolean
    if kind == "DateTimeField":

        def moment(value: Any) -> Any:
            if type(value) is datetime and value.utcoffset() is not None:
                return value.astimezone(UTC).isoformat(timespec="microseconds")
            return general(value)

        return moment
    if kind == "DateField":

        def day(value: Any) -> Any:
            return value.isoformat() if type(value) is date else general(value)

        return day
    places = _decimal_places(target)
    if kind == "DecimalField" and places is not None:
        quantum = Decimal(1).scaleb(-places)

        def number(value: Any) -> Any:
            if type(value) is Decimal:
                return format(value.quantize(quantum), "f")
            return general(value)

        return number
    return general


@cache
def _layout(model) -> tuple[tuple[models.Field, str, Any, Callable], ...]:
    """(field, attname, canonical static default, converter) of each column
    of ``model``."""
    layout = []
    for f in model._meta.concrete_fields:
        if not f.has_default():
            default = _NO_DEFAULT
        elif not callable(f.default):
            default = canonical_value(f, f.default)
        elif f.default in (dict, list, str):  # an empty container: fixed too
            default = canonical_value(f, f.default())
        else:  # timezone.now and the like: no fixed value
            default = _NO_DEFAULT
        layout.append((f, f.attname, default, _converter(f)))
    return tuple(layout)


def attnames(model) -> list[str]:
    return [attname for _, attname, _, _ in _layout(model)]


def canonical_content(model, values: dict[str, Any]) -> str:
    """The canonical JSON of one row (``values``: attname -> value).

    Empty (NULL) columns and columns equal to their field's fixed default are
    left out, so adding a nullable or defaulted column to a tracked model
    leaves the digests of earlier rows valid; the mapping stays one-to-one for
    a given set of columns, so any change of a value changes the content.
    """
    content = {}
    for _, attname, default, convert in _layout(model):
        value = convert(values[attname])
        if value is None or value == default:
            continue
        content[attname] = value
    payload = {"model": chain_label(model), "fields": content}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def row_digest(model, values: dict[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_content`."""
    return hashlib.sha256(canonical_content(model, values).encode()).hexdigest()


# Keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainKey:
    """A key of the chain's HMACs: its id (stored on each entry) and secret."""

    kid: str
    secret: bytes


def chain_keys() -> list[ChainKey]:
    """The keys, newest first: ``AUDIT_CHAIN_KEYS`` ("kid:base64,kid:base64"),
    then one derived from ``SECRET_KEY`` (id ``sk``; the only one when the
    setting is empty). Both live outside the
    database, so whoever can write the database cannot forge an entry."""
    return _parse_keys(getattr(settings, "AUDIT_CHAIN_KEYS", ""), settings.SECRET_KEY)


@cache
def _parse_keys(configured: str, secret_key: str) -> list[ChainKey]:

    keys = []
    for item in filter(None, (part.strip() for part in configured.split(","))):
        kid, _, encoded = item.partition(":")
        if not kid or not encoded or len(kid) > 20:
            raise ValueError(f"AUDIT_CHAIN_KEYS: {item!r} is not kid:base64key.")
        keys.append(ChainKey(kid, base64.b64decode(encoded)))
    # The key derived from SECRET_KEY is always known last: the chain's key
    # until AUDIT_CHAIN_KEYS is set, and the one its first entries verify by.
    derived = hmac.new(secret_key.encode(), b"cairn-audit-chain", hashlib.sha256)
    keys.append(ChainKey("sk", derived.digest()))
    return keys


def _secret(kid: str) -> bytes | None:
    return next((k.secret for k in chain_keys() if k.kid == kid), None)


def row_mac(model, values: dict[str, Any], secret: bytes) -> str:
    """HMAC-SHA256 (hex) of :func:`canonical_content` under a chain key."""
    content = canonical_content(model, values).encode()
    return hmac.new(secret, content, hashlib.sha256).hexdigest()


def instance_values(obj) -> dict[str, Any]:
    return {attname: getattr(obj, attname) for attname in attnames(type(obj))}


def entry_hash(
    *,
    sequence: int,
    source: str,
    source_id: int,
    digest: str,
    prev_hash: str,
    chained_at,
    secret: bytes | None = None,
) -> str:
    """The hash of one chain entry: its position, its row, its predecessor.
    With ``secret`` (every entry sealed since keys exist) an HMAC under that
    key; without, the plain SHA-256 of the first entries."""
    stamp = chained_at.astimezone(UTC).isoformat(timespec="microseconds")
    text = f"{sequence}|{source}|{source_id}|{digest}|{prev_hash}|{stamp}"
    if secret is not None:
        return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()


# Appending -------------------------------------------------------------------


def _entry_model(registry=global_apps):
    return registry.get_model("portal", "AuditChainEntry")


def _lock_head(entry_model, using: str) -> tuple[int, str]:
    """Take the chain's write lock (PostgreSQL) and read its head."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    head = (
        entry_model._base_manager.using(using)
        .order_by("-sequence")
        .values_list("sequence", "hash")
        .first()
    )
    return head or (0, GENESIS)


def _append(
    entry_model, using: str, items: Sequence[tuple[str, int, str]]
) -> list[Any]:
    """Append ``(source, source_id, digest)`` items, in order, in the current
    transaction (one is opened if there is none)."""
    if not items:
        return []
    with transaction.atomic(using=using, savepoint=False):
        sequence, prev = _lock_head(entry_model, using)
        now = timezone.now()
        entries = []
        for source, source_id, digest in items:
            sequence += 1
            digest_hash = entry_hash(
                sequence=sequence,
                source=source,
                source_id=source_id,
                digest=digest,
                prev_hash=prev,
                chained_at=now,
            )
            entries.append(
                entry_model(
                    sequence=sequence,
                    source=source,
                    source_id=source_id,
                    digest=digest,
                    prev_hash=prev,
                    hash=digest_hash,
                    chained_at=now,
                )
            )
            prev = digest_hash
        entry_model._base_manager.using(using).bulk_create(
            entries, batch_size=BATCH_SIZE
        )
    return entries


def chain_rows(model, rows: Iterable[models.Model], *, using: str | None = None):
    """Queue saved rows of ``model`` (history rows, access events) for the
    chain, in the current transaction: each with the keyed digest of its
    content as written. No lock and no read of the chain: concurrent writers
    never wait on one another. :func:`seal` chains them. Returns the queued
    rows."""
    rows = list(rows)
    if not rows:
        return []
    if any(row.pk is None for row in rows):
        raise ValueError("Only saved rows (with a primary key) can be chained.")
    using = using or rows[0]._state.db or DEFAULT_DB_ALIAS
    key = chain_keys()[0]
    label = chain_label(model)
    now = timezone.now()
    from .models import AuditPending

    queued = [
        AuditPending(
            source=label,
            source_id=row.pk,
            digest=row_mac(model, instance_values(row), key.secret),
            key_id=key.kid,
            recorded_at=now,
        )
        for row in rows
    ]
    return AuditPending.objects.using(using).bulk_create(queued, batch_size=BATCH_SIZE)


def seal(*, using: str = DEFAULT_DB_ALIAS, batch_size: int = SEAL_BATCH_SIZE) -> int:
    """Move every queued row into the chain, in queue order, in batches of
    ``batch_size`` (one transaction each); returns how many were sealed.

    Only sealers compete for the chain's head: on PostgreSQL each batch takes
    the advisory lock :data:`CHAIN_LOCK` for its own short transaction, so two
    sealers (the beat task and a verification) never fork the chain, and no
    user's write waits for it. A row committed late by a long transaction is
    simply found by the next run: the queue holds only what is not sealed.
    Each entry keeps the digest taken when the row was written, so a row
    altered before its seal is caught by verification, not sealed altered.
    """
    from .models import AuditChainEntry, AuditPending

    total = 0
    while True:
        with transaction.atomic(using=using):
            sequence, prev = _lock_head(_entry_model(), using)
            queued = list(AuditPending.objects.using(using).order_by("id")[:batch_size])
            if not queued:
                return total
            now = timezone.now()
            entries = []
            for item in queued:
                secret = _secret(item.key_id)
                if secret is None:
                    raise RuntimeError(
                        f"AUDIT_CHAIN_KEYS lacks the key {item.key_id!r} of queued "
                        "rows; add it back (keys are only ever appended)."
                    )
                sequence += 1
                digest_hash = entry_hash(
                    sequence=sequence,
                    source=item.source,
                    source_id=item.source_id,
                    digest=item.digest,
                    prev_hash=prev,
                    chained_at=now,
                    secret=secret,
                )
                entries.append(
                    AuditChainEntry(
                        sequence=sequence,
                        source=item.source,
                        source_id=item.source_id,
                        digest=item.digest,
                        prev_hash=prev,
                        hash=digest_hash,
                        chained_at=now,
                        key_id=item.key_id,
                    )
                )
                prev = digest_hash
            AuditChainEntry.objects.using(using).bulk_create(
                entries, batch_size=BATCH_SIZE
            )
            AuditPending.objects.using(using).filter(
                id__in=[item.id for item in queued]
            ).delete()
            total += len(entries)


def chain_head(using: str = DEFAULT_DB_ALIAS) -> tuple[int, str]:
    """The newest entry's sequence and hash (0 and 64 zeros when empty): the
    anchor to keep outside the database."""
    head = (
        _entry_model()
        ._base_manager.using(using)
        .order_by("-sequence")
        .values_list("sequence", "hash")
        .first()
    )
    return head or (0, GENESIS)


def chain_backlog(registry=global_apps, using: str = DEFAULT_DB_ALIAS) -> int:
    """Chain every row of a chained table that is neither chained nor queued
    (rows that existed before the chain, or were written around it). Run by
    the migration that created the chain, with plain SHA-256 entries (the
    keys came later); at run time the rows are queued with keyed digests and
    sealed. Returns the number of rows chained."""
    entry_model = _entry_model(registry)
    runtime = registry is global_apps
    total = 0
    for model in chained_models(registry):
        label = chain_label(model)
        pk = model._meta.pk.attname
        chained = entry_model._base_manager.using(using).filter(
            source=label, source_id=OuterRef("pk")
        )
        pending = model._base_manager.using(using).filter(~Exists(chained))
        if runtime:
            from .models import AuditPending

            queued = AuditPending.objects.using(using).filter(
                source=label, source_id=OuterRef("pk")
            )
            pending = pending.filter(~Exists(queued))
        last = None
        while True:
            batch = pending.order_by("pk")
            if last is not None:
                batch = batch.filter(pk__gt=last)
            if runtime:
                rows = list(batch[:VERIFY_BATCH_SIZE])
                if not rows:
                    break
                chain_rows(model, rows, using=using)
                last = rows[-1].pk
            else:
                rows = list(batch.values(*attnames(model))[:VERIFY_BATCH_SIZE])
                if not rows:
                    break
                _append(
                    entry_model,
                    using,
                    [(label, row[pk], row_digest(model, row)) for row in rows],
                )
                last = rows[-1][pk]
            total += len(rows)
    if runtime:
        seal(using=using)
    return total


# Bulk history -------------------------------------------------------------------


def bulk_create_with_history(
    objs: Iterable[_M],
    model: type[_M],
    batch_size: int | None = None,
    default_user: Any = None,
    default_change_reason: str | None = None,
    default_date: datetime | None = None,
    custom_historical_attrs: dict[str, Any] | None = None,
) -> list[_M]:
    """simple-history's ``bulk_create_with_history``, with the history rows
    chained. Needs a database that returns the new primary keys (PostgreSQL,
    SQLite 3.35+)."""
    from simple_history.utils import get_history_manager_for_model

    history = get_history_manager_for_model(model)
    with transaction.atomic(savepoint=False):
        created = model._default_manager.bulk_create(objs, batch_size=batch_size)
        if any(obj.pk is None for obj in created):
            raise RuntimeError("bulk_create returned no primary keys.")
        rows = history.bulk_history_create(
            created,
            batch_size=batch_size,
            default_user=default_user,
            default_change_reason=default_change_reason,
            default_date=default_date,
            custom_historical_attrs=custom_historical_attrs,
        )
        chain_rows(history.model, rows or [])
    return created


def bulk_update_with_history(
    objs: Iterable[_M],
    model: type[_M],
    fields: Sequence[str],
    batch_size: int | None = None,
    default_user: Any = None,
    default_change_reason: str | None = None,
    default_date: datetime | None = None,
    manager: models.Manager[_M] | None = None,
    custom_historical_attrs: dict[str, Any] | None = None,
) -> int:
    """simple-history's ``bulk_update_with_history``, with the history rows
    chained. Returns the number of rows updated."""
    from simple_history.utils import get_history_manager_for_model

    history = get_history_manager_for_model(model)
    manager = manager or model._default_manager
    if manager.model is not model:
        raise ValueError("The given manager does not belong to the model.")
    with transaction.atomic(savepoint=False):
        updated = 0
        if fields:
            updated = manager.bulk_update(objs, fields, batch_size=batch_size)
        rows = history.bulk_history_create(
            objs,
            batch_size=batch_size,
            update=True,
            default_user=default_user,
            default_change_reason=default_change_reason,
            default_date=default_date,
            custom_historical_attrs=custom_historical_attrs,
        )
        chain_rows(history.model, rows or [])
    return updated


# Access events -------------------------------------------------------------------


def _current_request():
    """The request being served, as simple-history's middleware exposes it."""
    from simple_history.models import HistoricalRecords

    return getattr(HistoricalRecords.context, "request", None)


def client_address(request) -> str | None:
    """The client's IP address (``REMOTE_ADDR``; a proxy in front must set it)."""
    raw = (request.META.get("REMOTE_ADDR") or "").strip() if request else ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(details, cls=DjangoJSONEncoder))


def event_record(
    *,
    kind: str,
    user=None,
    username: str = "",
    request=None,
    obj=None,
    details: dict[str, Any] | None = None,
):
    """Record an access event and chain it, in one transaction.

    ``user`` is who acted (empty for a failed sign-in with an unknown name);
    ``username`` the name given (defaults to the user's); ``request`` gives the
    client address and browser (default: the request being served);
    ``obj`` the object concerned (a portfolio for a report download).
    """
    from .models import AuditEvent

    request = request if request is not None else _current_request()
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    event = AuditEvent(
        kind=kind,
        at=timezone.now(),
        user=user,
        username=(username or getattr(user, "username", "") or "")[:150],
        ip_address=client_address(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request else "")[
            :USER_AGENT_LENGTH
        ],
        details=_jsonable(details or {}),
    )
    if obj is not None:
        event.object_type = obj._meta.label_lower
        event.object_id = str(obj.pk)
        event.object_repr = str(obj)[:200]
    with transaction.atomic(savepoint=False):
        event.save()
        chain_rows(AuditEvent, [event])
    return event


def _on_logged_in(sender, request, user, **kwargs) -> None:
    from .models import AuditEvent

    event_record(kind=AuditEvent.Kind.LOGIN, user=user, request=request)


def _on_logged_out(sender, request, user, **kwargs) -> None:
    from .models import AuditEvent

    if user is not None:
        event_record(kind=AuditEvent.Kind.LOGOUT, user=user, request=request)


def _known_user(username: str):
    from django.contrib.auth import get_user_model

    if not username:
        return None
    model = get_user_model()
    return model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()


def _on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    from django.contrib.auth import get_user_model

    from .models import AuditEvent

    field_name = get_user_model().USERNAME_FIELD
    username = str(credentials.get(field_name) or credentials.get("username") or "")
    event_record(
        kind=AuditEvent.Kind.LOGIN_FAILED,
        user=_known_user(username),
        username=username,
        request=request,
    )


def _on_locked_out(sender, request, username, ip_address=None, **kwargs) -> None:
    from .models import AuditEvent

    event_record(
        kind=AuditEvent.Kind.LOCKED_OUT,
        user=_known_user(username or ""),
        username=username or "",
        request=request,
    )


def _refuse_deleting_actors(sender, instance, **kwargs) -> None:
    """A user named as the author of history rows cannot be deleted: the
    database would blank ``history_user`` in those rows (rewriting history,
    refused on PostgreSQL, breaking the chain elsewhere). Deactivate them."""

    if instance.pk is None:
        return
    authored = Q(pk__in=[])
    for model in history_models():
        if "history_user" in {f.name for f in model._meta.concrete_fields}:
            rows = model._base_manager.filter(history_user=OuterRef("pk"))
            authored |= Q(Exists(rows))
    if sender._base_manager.filter(authored, pk=instance.pk).exists():
        raise Forbidden(
            f"{instance} made changes recorded in the history, which cannot "
            "lose its author: deactivate the account instead of deleting it."
        )


def _on_history_record(sender, history_instance, **kwargs) -> None:
    chain_rows(sender, [history_instance], using=history_instance._state.db)


def _on_m2m_history_records(sender, created_rows, **kwargs) -> None:
    chain_rows(sender, created_rows)


def _on_account_event(
    sender, *, kind, user, username, request, obj, details, **kwargs
) -> None:
    event_record(
        kind=kind,
        user=user,
        username=username,
        request=request,
        obj=obj,
        details=details,
    )


def connect_receivers() -> None:
    """Chain history rows and record access events (``PortalConfig.ready``)."""
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import (
        user_logged_in,
        user_logged_out,
        user_login_failed,
    )
    from django.db.models.signals import post_migrate, pre_delete
    from simple_history.signals import (
        post_create_historical_m2m_records,
        post_create_historical_record,
    )

    from accounts.signals import account_event

    post_create_historical_record.connect(
        _on_history_record, dispatch_uid="cairn_chain_history"
    )
    post_create_historical_m2m_records.connect(
        _on_m2m_history_records, dispatch_uid="cairn_chain_m2m_history"
    )
    user_logged_in.connect(_on_logged_in, dispatch_uid="cairn_audit_login")
    user_logged_out.connect(_on_logged_out, dispatch_uid="cairn_audit_logout")
    user_login_failed.connect(_on_login_failed, dispatch_uid="cairn_audit_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="cairn_audit_locked_out")
    account_event.connect(_on_account_event, dispatch_uid="cairn_audit_account")
    post_migrate.connect(
        protect_history_after_migrate, dispatch_uid="cairn_protect_history"
    )
    pre_delete.connect(
        _refuse_deleting_actors,
        sender=settings.AUTH_USER_MODEL,
        dispatch_uid="cairn_keep_history_authors",
    )


# Who sees what of the trail ------------------------------------------------------


def _portfolio_path(model) -> str | None:
    """When access to ``model`` follows a portfolio (``Scope(via=...)`` down to
    the portfolio itself): the ORM path to it ("" for a portfolio); else None.

    A scope with ``requires`` (a KPI of a milestone, a dependency) is narrower
    than its portfolio: None, so the access policy decides row by row.
    """
    scope = getattr(model, "access_scope", None)
    if scope is None or scope.requires:
        return None
    if model._meta.label_lower == "milestones.portfolio":
        return ""
    if not scope.via:
        return None
    related = model
    for name in scope.via.split("__"):
        related = related._meta.get_field(name).related_model
    inner = _portfolio_path(related)
    if inner is None:
        return None
    return f"{scope.via}__{inner}" if inner else scope.via


def _model_at(model, path: str):
    for name in path.split("__"):
        model = model._meta.get_field(name).related_model
    return model


@dataclass
class AuditReach:
    """How far a user's view of the history and access events reaches.

    - History rows follow their object's *current* scope: a row is visible
      when the user may ``view`` (or ``audit``) the live object today.
      History of a deleted object has no current scope: only users who see
      everything see it.
    - Access events are for auditors: a user holding the ``audit`` action
      somewhere sees the events of the users they may audit (members of the
      scopes they audit) and their own.
    - Superusers and auditors of the root org unit see everything: every
      history row (deleted objects included) and every access event (failed
      sign-ins with unknown names included).

    Scoping goes through ``accounts.policy.restrict``. Rows whose access
    follows their portfolio (``Scope(via=...)`` ending at a portfolio) are
    checked against the reader's portfolios, read once per reach: the
    policy's answer for a portfolio is the costly part, and a page asks it
    for several tables.
    """

    user: Any
    everything: bool = False
    audits: bool = False
    _portfolios: list[int] | None = field(default=None, repr=False)
    _pks: dict[str, QuerySet] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, user) -> AuditReach:
        from accounts.models import OrgUnit

        if user is None or not user.is_authenticated or not user.is_active:
            return cls(user)
        if policy.sees_everything(user):
            return cls(user, everything=True, audits=True)
        units = policy.restrict(OrgUnit.objects.all(), user, AUDIT)
        flags = units.aggregate(
            root=models.Count("pk", filter=Q(parent__isnull=True)),
            any=models.Count("pk"),
        )
        audits = bool(flags["any"])
        if not audits and global_apps.is_installed("milestones"):
            portfolios = global_apps.get_model("milestones", "Portfolio")
            audits = policy.restrict(portfolios.objects.all(), user, AUDIT).exists()
        return cls(user, everything=bool(flags["root"]), audits=audits)

    @property
    def signed_in(self) -> bool:
        return self.user is not None and getattr(self.user, "is_authenticated", False)

    def _actions(self) -> tuple[str, ...]:

        if not self.audits or policy.grants_within_view(self.user, AUDIT):
            # An auditor's audit grants usually lie within what they view:
            # one test a row instead of two.
            return (VIEW,)
        return (VIEW, AUDIT)

    def portfolio_ids(self) -> list[int]:
        """The portfolios the reader may view or audit (read once)."""

        if self._portfolios is None:
            portfolio = global_apps.get_model("milestones", "Portfolio")
            query = Q(pk__in=[])
            for action in self._actions():
                scoped = policy.restrict(portfolio.objects.all(), self.user, action)
                query |= Q(pk__in=scoped.values("pk"))
            self._portfolios = list(
                portfolio.objects.filter(query).values_list("pk", flat=True)
            )
        return self._portfolios

    def scope(self, queryset: QuerySet) -> QuerySet:
        """The rows of ``queryset`` the reader may view or audit."""

        model = queryset.model
        if self.everything:
            return queryset
        if not self.signed_in or getattr(model, "access_scope", None) is None:
            return queryset.none()
        path = _portfolio_path(model)
        if path is not None:
            lookup = f"{path}__in" if path else "pk__in"
            return queryset.filter(**{lookup: self.portfolio_ids()})
        actions = self._actions()
        scope = model.access_scope
        if len(actions) == 1 and scope.via:
            # The policy's own composition (``via`` and ``requires``), with
            # the reader's portfolios read once: a KPI or its measurements
            # then test a short list instead of nesting the portfolio's rule.
            related = _model_at(model, scope.via)
            lookup = f"{scope.via}__in"
            rows = queryset.filter(**{lookup: self._scoped_pks(related)})
            for path in scope.requires:
                rows = rows.filter(
                    Q(**{f"{path}__isnull": True})
                    | Q(**{f"{path}__in": self._scoped_pks(_model_at(model, path))})
                )
            return rows
        if len(actions) == 1:
            return policy.restrict(queryset, self.user, actions[0])
        query = Q(pk__in=[])
        for action in actions:
            same = model._default_manager.filter(pk=OuterRef("pk"))
            query |= Q(Exists(policy.restrict(same, self.user, action)))
        return queryset.filter(query)

    def _scoped_pks(self, model) -> QuerySet:
        """The ids of ``model`` rows in reach, as a subquery built once per
        reach (the milestones' rule is nested in a dozen tables' rules)."""
        key = model._meta.label_lower
        if key not in self._pks:
            self._pks[key] = self.scope(model._default_manager.all()).values("pk")
        return self._pks[key]

    def history_q(self, tracked) -> Q | None:
        """The filter on ``tracked``'s history rows (``None``: none visible)."""
        if self.everything:
            return Q()
        if not self.signed_in or getattr(tracked, "access_scope", None) is None:
            return None
        # Correlated: the live object of each history row read (newest first)
        # is checked, so a page stops after its rows instead of scoping every
        # live object first.
        live = tracked._default_manager.filter(pk=OuterRef("id"))
        return Q(Exists(self.scope(live)))

    def events_q(self) -> Q | None:
        """The filter on access events (``None``: none visible)."""
        from django.contrib.auth import get_user_model

        if self.everything:
            return Q()
        if not self.audits:
            return None
        users = get_user_model()._default_manager.all()
        users = policy.restrict(users, self.user, AUDIT)
        return Q(user__in=users.values("pk"))

    def events(self, queryset: QuerySet) -> QuerySet:
        query = self.events_q()
        return queryset.none() if query is None else queryset.filter(query)


# Verification --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong with one entry or one row."""

    sequence: int | None
    source: str
    source_id: int | None
    message: str

    def __str__(self) -> str:
        row = f"{self.source} #{self.source_id}"
        if self.sequence is None:
            return f"{row}: {self.message}"
        return f"entry #{self.sequence} ({row}): {self.message}"


@dataclass
class Verification:
    """The outcome of :func:`verify_chain`."""

    checked: int = 0
    head_sequence: int = 0
    head_hash: str = GENESIS
    broken: Problem | None = None
    unchained: list[Problem] = field(default_factory=list)
    # Rows awaiting their seal that are missing or altered.
    pending: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.unchained and not self.pending


def _sources(
    batch: Sequence[Any], using: str, models_by_label: dict[str, Any]
) -> dict[tuple[str, int], dict[str, Any]]:
    """The current values of the rows a batch of entries names."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for entry in batch:
        wanted[entry.source].append(entry.source_id)
    found = {}
    for label, ids in wanted.items():
        model = models_by_label.get(label)
        if model is None:
            continue
        pk = model._meta.pk.attname
        for values in (
            model._base_manager.using(using)
            .filter(pk__in=ids)
            .order_by()
            .values(*attnames(model))
        ):
            found[(label, values[pk])] = values
    return found


def _check(entry, expected: int, prev: str, rows, models_by_label, state) -> str | None:
    """Why ``entry`` is broken, or None. ``state["keyed"]``: a keyed entry was
    seen, after which an unkeyed one is a forgery."""
    if entry.sequence != expected:
        return f"sequence gap: entry #{expected} is missing"
    if entry.prev_hash != prev:
        return (
            "its previous hash does not match the hash of the entry before it "
            "(that entry or this link was rewritten)"
        )
    if entry.key_id:
        known = state.setdefault("secrets", {})
        if entry.key_id not in known:
            known[entry.key_id] = _secret(entry.key_id)
        secret = known[entry.key_id]
        if secret is None:
            return f"unknown key id {entry.key_id!r} (missing from AUDIT_CHAIN_KEYS)"
        state["keyed"] = True
    elif state["keyed"]:
        return (
            "an unkeyed entry after keyed ones: forged (entries are keyed once "
            "keys exist)"
        )
    else:
        secret = None
    recomputed = entry_hash(
        sequence=entry.sequence,
        source=entry.source,
        source_id=entry.source_id,
        digest=entry.digest,
        prev_hash=entry.prev_hash,
        chained_at=entry.chained_at,
        secret=secret,
    )
    if not hmac.compare_digest(recomputed, entry.hash):
        return (
            "the entry's own hash does not match its content (entry altered or forged)"
        )
    model = models_by_label.get(entry.source)
    if model is None:
        return f"unknown source model {entry.source!r}"
    values = rows.get((entry.source, entry.source_id))
    if values is None:
        return "the chained row is missing (deleted)"
    digest = row_mac(model, values, secret) if secret else row_digest(model, values)
    if not hmac.compare_digest(digest, entry.digest):
        return "the row's content changed after it was chained (digest mismatch)"
    return None


class _Entry(NamedTuple):
    """One chain entry as verification reads it (plain values, no model)."""

    sequence: int
    source: str
    source_id: int
    digest: str
    prev_hash: str
    hash: str
    chained_at: Any
    key_id: str


def _entries(using: str, batch_size: int, since: int = 1) -> Iterator[list[_Entry]]:
    """The entries from ``since`` on, in order, a batch at a time (keyset
    pages over the primary key: each query starts where the last ended)."""
    last = since - 1
    entries = (
        _entry_model()
        ._base_manager.using(using)
        .order_by("sequence")
        .values_list(*_Entry._fields)
    )
    while True:
        batch = [_Entry(*row) for row in entries.filter(sequence__gt=last)[:batch_size]]
        if not batch:
            return
        yield batch
        last = batch[-1].sequence


def unchained_rows(using: str = DEFAULT_DB_ALIAS, limit: int = 10) -> list[Problem]:
    """Rows of chained tables that neither an entry nor the sealer's queue
    names (inserted around the application)."""
    from .models import AuditPending

    entry_model = _entry_model()
    problems: list[Problem] = []
    for model in chained_models():
        label = chain_label(model)
        chained = entry_model._base_manager.using(using).filter(
            source=label, source_id=OuterRef("pk")
        )
        queued = AuditPending.objects.using(using).filter(
            source=label, source_id=OuterRef("pk")
        )
        pks = (
            model._base_manager.using(using)
            .filter(~Exists(chained), ~Exists(queued))
            .order_by("pk")
            .values_list("pk", flat=True)[: limit - len(problems)]
        )
        problems += [
            Problem(None, label, pk, "this row is not in the audit chain") for pk in pks
        ]
        if len(problems) >= limit:
            break
    return problems


def pending_problems(using: str = DEFAULT_DB_ALIAS, limit: int = 10) -> list[Problem]:
    """Queued rows (not sealed yet) that are missing or no longer match the
    keyed digest taken when they were written."""
    from .models import AuditPending

    models_by_label = {chain_label(m): m for m in chained_models()}
    problems: list[Problem] = []
    queued = AuditPending.objects.using(using).order_by("id")
    last = 0
    while len(problems) < limit:
        batch = list(queued.filter(id__gt=last)[:VERIFY_BATCH_SIZE])
        if not batch:
            break
        last = batch[-1].id
        rows = _sources(batch, using, models_by_label)
        for item in batch:
            model = models_by_label.get(item.source)
            values = rows.get((item.source, item.source_id))
            secret = _secret(item.key_id)
            if model is None or values is None:
                message = "awaiting its seal, but the row is missing (deleted)"
            elif secret is None:
                message = f"awaiting its seal under an unknown key {item.key_id!r}"
            elif not hmac.compare_digest(row_mac(model, values, secret), item.digest):
                message = "awaiting its seal, but its content changed since written"
            else:
                continue
            problems.append(Problem(None, item.source, item.source_id, message))
    return problems[:limit]


@dataclass
class _Walk:
    """What one walk over a range of the chain found."""

    checked: int = 0
    head_sequence: int = 0
    head_hash: str = GENESIS
    broken: Problem | None = None


#: Shared with the walkers of a parallel verification: entries checked so far.
_walked: Any = None


def _walk(
    using: str, batch_size: int, since: int, until: int | None, progress=None
) -> _Walk:
    """Check the entries ``since``..``until`` (None: to the end) in order:
    each link from the stored hash of the entry before ``since`` (trusted:
    whoever walks the range before it checks that entry), every entry hash
    and every row digest. Stops at the first broken entry."""
    models_by_label = {chain_label(m): m for m in chained_models()}
    entries = _entry_model()._base_manager.using(using)
    walk = _Walk(head_sequence=since - 1)
    expected, prev = since, GENESIS
    state = {"keyed": False}
    if since > 1:
        anchor = (
            entries.filter(sequence=since - 1).values_list("hash", "key_id").first()
        )
        if anchor is None:
            walk.broken = Problem(
                since - 1, "portal.auditchainentry", None, "no such entry"
            )
            return walk
        prev, kid = anchor
        walk.head_hash = prev
        state["keyed"] = bool(kid)
    for batch in _entries(using, batch_size, since):
        if until is not None:
            batch = [e for e in batch if e.sequence <= until]
            if not batch:
                break
        rows = _sources(batch, using, models_by_label)
        for entry in batch:
            message = _check(entry, expected, prev, rows, models_by_label, state)
            if message is not None:
                walk.broken = Problem(
                    entry.sequence, entry.source, entry.source_id, message
                )
                return walk
            prev = entry.hash
            expected += 1
            walk.checked += 1
            walk.head_sequence, walk.head_hash = entry.sequence, entry.hash
        if progress is not None:
            progress(len(batch))
        if until is not None and walk.head_sequence >= until:
            break
    if until is not None and walk.head_sequence < until:
        walk.broken = Problem(
            expected,
            "portal.auditchainentry",
            None,
            f"sequence gap: entry #{expected} is missing",
        )
    return walk


def _walk_in_process(using: str, batch_size: int, since: int, until: int) -> _Walk:
    """One range of a parallel verification, in a worker process: its own
    connection and (PostgreSQL) its own read-only snapshot. The chain's
    entries up to ``until`` are append-only, so every snapshot holds them."""

    def count(n: int) -> None:
        with _walked.get_lock():
            _walked.value += n

    connection = connections[using]
    if connection.vendor != "postgresql":
        # SQLite: plain reads (WAL lets them run beside each other; a
        # transaction here would take the database's write lock).
        walk = _walk(using, batch_size, since, until, count)
    else:
        with transaction.atomic(using=using):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                )
            walk = _walk(using, batch_size, since, until, count)
    connection.close()
    return walk


def _set_walked(counter) -> None:
    global _walked
    _walked = counter


def verify_workers(using: str = DEFAULT_DB_ALIAS) -> int:
    """How many processes walk the chain at once: ``AUDIT_VERIFY_WORKERS``
    (default: the CPU count, at most 8); one inside a transaction (the
    walkers could not see its rows) or on an in-memory database."""
    connection = connections[using]
    wanted = getattr(settings, "AUDIT_VERIFY_WORKERS", None) or os.cpu_count() or 1
    if connection.in_atomic_block:
        return 1
    if _in_memory(connection):
        return 1
    return max(1, min(int(wanted), 8))


def _in_memory(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``connection`` is an in-memory SQLite database."""
    if connection.vendor != "sqlite":
        return False
    from django.db.backends.sqlite3.base import DatabaseWrapper

    return isinstance(connection, DatabaseWrapper) and connection.is_in_memory_db()


#: Below this many entries a second process costs more than it saves.
PARALLEL_FROM = 200_000


def _walk_parallel(
    using: str, batch_size: int, since: int, top: int, workers: int, progress
) -> _Walk:
    """Split ``since``..``top`` into one contiguous range per worker and walk
    them at once; the first broken range (in chain order) is the answer."""

    span = top - since + 1
    bounds = [since + span * n // workers for n in range(workers + 1)]
    ranges = [(bounds[n], bounds[n + 1] - 1) for n in range(workers)]
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    connections.close_all()  # the workers open their own
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_set_walked, initargs=(counter,)
    ) as pool:
        futures = [
            pool.submit(_walk_in_process, using, batch_size, lo, hi)
            for lo, hi in ranges
        ]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            if progress is not None:
                progress(counter.value, span)
        walks = [future.result() for future in futures]
    total = _Walk(checked=sum(w.checked for w in walks))
    for walk in walks:
        if walk.broken is not None:
            total.broken = walk.broken
            break
        total.head_sequence, total.head_hash = walk.head_sequence, walk.head_hash
    return total


def verify_chain(
    *,
    using: str = DEFAULT_DB_ALIAS,
    batch_size: int = VERIFY_BATCH_SIZE,
    since: int = 1,
    expect_head: tuple[int, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> Verification:
    """Walk the chain in ``sequence`` order from ``since`` (default: all), in
    batches, and recompute every link and every row digest; stop at the first
    broken entry. ``expect_head`` (sequence, hash), an anchor kept outside the
    database, must be in the chain as given: a chain cut short or rewritten
    before it fails. Then check the rows still awaiting their seal and look
    for rows that were never chained.

    A long chain is walked by ``workers`` processes at once (default:
    :func:`verify_workers`), each over a contiguous range of the entries
    present when it started, linked at the range borders. On PostgreSQL each
    walk reads one snapshot (repeatable read), so concurrent seals do not
    disturb it. ``progress(done, total)`` is called as entries are checked."""
    result = Verification()
    connection = connections[using]
    outermost = not connection.in_atomic_block
    entries = _entry_model()._base_manager.using(using)
    since = max(1, since)
    top = entries.aggregate(top=models.Max("sequence"))["top"] or 0
    span = top - since + 1
    if workers is None:  # the default: only a long chain is worth the processes
        workers = verify_workers(using) if span >= PARALLEL_FROM else 1
    in_memory = _in_memory(connection)
    walk: _Walk | None = None
    if workers > 1 and outermost and not in_memory and span >= workers:
        walk = _walk_parallel(using, batch_size, since, top, workers, progress)
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                )
        if walk is None:
            total = entries.filter(sequence__gte=since).count() if progress else 0
            done = [0]

            def step(n: int) -> None:
                done[0] += n
                assert progress is not None  # step is passed only with progress
                progress(done[0], total)

            walk = _walk(using, batch_size, since, None, step if progress else None)
        result.checked = walk.checked
        result.head_sequence, result.head_hash = walk.head_sequence, walk.head_hash
        if walk.broken is not None:
            broken = walk.broken
            if since > 1 and broken.sequence == since - 1 and not walk.checked:
                broken = Problem(
                    since - 1, "portal.auditchainentry", None, "--since: no such entry"
                )
            result.broken = broken
            return result
        if result.head_sequence == since - 1:
            result.head_sequence, result.head_hash = 0, GENESIS
        if expect_head is not None:
            sequence, wanted = expect_head
            found = entries.filter(sequence=sequence).values_list("hash", flat=True)
            actual = found.first()
            if actual is None:
                result.broken = Problem(
                    sequence,
                    "portal.auditchainentry",
                    None,
                    f"the anchored head is gone: the chain ends at "
                    f"#{result.head_sequence} (its tail was cut)",
                )
                return result
            if not hmac.compare_digest(actual, wanted):
                result.broken = Problem(
                    sequence,
                    "portal.auditchainentry",
                    None,
                    "does not match the anchored head hash (the chain was "
                    "rewritten up to it)",
                )
                return result
        result.pending = pending_problems(using)
        result.unchained = unchained_rows(using)
    return result


# Append-only tables (PostgreSQL) ----------------------------------------------

#: The database role that alone may rewrite history, with the setting
#: :data:`REWRITE_SETTING` on (``history_rewrite_allowed``: migrations that
#: must, and tests that backdate history). NOLOGIN: nobody signs in as it.
REWRITE_ROLE = "cairn_history_admin"
TRUNCATE_TRIGGER_NAME = "cairn_no_truncate"
PENDING_TABLE = "portal_auditpending"

_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = '{REWRITE_ROLE}'
       AND coalesce(current_setting('{REWRITE_SETTING}', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% on % refused: history and audit rows are append-only',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

_ROLE_SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{REWRITE_ROLE}') THEN
        CREATE ROLE {REWRITE_ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege OR duplicate_object THEN
    RAISE NOTICE 'role {REWRITE_ROLE} not created here';
END
$$
"""  # noqa: S608 - a constant role name, no input

_UNPROTECTED_SQL = """
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname = current_schema()
  AND (c.relname LIKE %s OR c.relname = ANY(%s))
  AND NOT EXISTS (
      SELECT 1 FROM pg_trigger t
      WHERE t.tgrelid = c.oid AND t.tgname = %s
  )
ORDER BY c.relname
"""


def _role_exists(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [REWRITE_ROLE])
    return cursor.fetchone() is not None


def install_append_only_triggers(connection) -> list[str]:
    """On PostgreSQL, make every history table (``<app>_historical…``) and the
    audit tables refuse UPDATE, DELETE (row triggers) and TRUNCATE (statement
    triggers), except for :data:`REWRITE_ROLE` with the rewrite setting on;
    the sealer's queue refuses UPDATE and TRUNCATE (the sealer deletes what
    it chained). Idempotent: only tables without a trigger get it. Returns
    the tables given row triggers; a no-op elsewhere."""
    if connection.vendor != "postgresql":
        return []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(_FUNCTION_SQL)
        cursor.execute(_ROLE_SQL)
        role = _role_exists(cursor)
        protected = [r"%\_historical%", list(AUDIT_TABLES)]
        cursor.execute(_UNPROTECTED_SQL, [*protected, TRIGGER_NAME])
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER_NAME} BEFORE UPDATE OR DELETE ON "
                f"{quote(table)} FOR EACH ROW EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
            )
            if role:
                cursor.execute(
                    f"GRANT SELECT, UPDATE, DELETE, TRUNCATE ON {quote(table)} "
                    f"TO {REWRITE_ROLE}"
                )
        cursor.execute(
            _UNPROTECTED_SQL,
            [r"%\_historical%", [*AUDIT_TABLES, PENDING_TABLE], TRUNCATE_TRIGGER_NAME],
        )
        for (table,) in cursor.fetchall():
            cursor.execute(
                f"CREATE TRIGGER {TRUNCATE_TRIGGER_NAME} BEFORE TRUNCATE ON "
                f"{quote(table)} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
            )
            if table == PENDING_TABLE:
                cursor.execute(
                    f"CREATE TRIGGER {TRIGGER_NAME} BEFORE UPDATE ON {quote(table)} "
                    f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
                )
    return tables


def truncate_guarded_tables(connection) -> list[str]:
    """The tables carrying the TRUNCATE refusal (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s ORDER BY c.relname",
            [TRUNCATE_TRIGGER_NAME],
        )
        return [row[0] for row in cursor.fetchall()]


def flush_sql_past_truncate_guard(connection, sql_list: list[str]) -> list[str]:
    """``manage.py flush`` (emptying a whole database: the test suite between
    transactional tests, a benchmark rebuilding its dataset) as one
    transaction that lifts the TRUNCATE refusal for itself only; the table
    owner's right, and never taken by the application."""
    quote = connection.ops.quote_name
    tables = truncate_guarded_tables(connection)
    off = [
        f"ALTER TABLE {quote(t)} DISABLE TRIGGER {TRUNCATE_TRIGGER_NAME}"
        for t in tables
    ]
    on = [
        f"ALTER TABLE {quote(t)} ENABLE TRIGGER {TRUNCATE_TRIGGER_NAME}" for t in tables
    ]
    return [*off, *sql_list, *on]


@contextmanager
def flush_permitted() -> Iterator[None]:
    """While open, ``flush`` on PostgreSQL runs past the TRUNCATE refusal
    (see :func:`flush_sql_past_truncate_guard`). For test and benchmark
    harnesses, which empty whole databases."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, flush_sql_past_truncate_guard(self.connection, sql_list))

    # A deliberate patch for the block (mypy flags assigning to a method).
    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    try:
        yield
    finally:
        DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


def drop_append_only_triggers(connection) -> None:
    """Undo :func:`install_append_only_triggers` (reversing the migration)."""
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for name in (TRIGGER_NAME, TRUNCATE_TRIGGER_NAME):
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c "
                "ON c.oid = t.tgrelid WHERE t.tgname = %s",
                [name],
            )
            for (table,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {quote(table)}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER_FUNCTION}()")


def history_index_name(table: str) -> str:
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    return f"{table[:40]}_{digest}_obj"


def install_history_indexes(connection, registry=global_apps) -> list[str]:
    """Index every history record table on (id, history_date, history_id): one
    object's records in order, which the trail's previous-record lookups,
    object pages and point-in-time views read (simple-history indexes the
    two columns apart). Idempotent, on SQLite and PostgreSQL; returns the
    tables covered."""
    existing = set(connection.introspection.table_names())
    quote = connection.ops.quote_name
    covered = []
    with connection.cursor() as cursor:
        for model in history_models(registry):
            table = model._meta.db_table
            columns = {f.column for f in model._meta.concrete_fields}
            if table not in existing or not {"id", "history_date"} <= columns:
                continue
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {quote(history_index_name(table))} "
                f"ON {quote(table)} (id, history_date, history_id)"
            )
            covered.append(table)
    return covered


def protect_history_after_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``post_migrate``: give history tables created (or rebuilt) since the last
    run their index and, on PostgreSQL, their append-only trigger."""
    if sender.label == "portal":
        install_history_indexes(connections[using])
        install_append_only_triggers(connections[using])


@contextmanager
def history_rewrite_allowed(using: str = DEFAULT_DB_ALIAS):
    """For migrations that must, and tests that backdate history: allow
    UPDATE and DELETE on history and audit tables inside this block (a
    transaction). On PostgreSQL it switches to :data:`REWRITE_ROLE` (``SET
    LOCAL ROLE``; the connecting user must be a member of it, as the
    migrating user is) and turns the rewrite setting on; the triggers accept
    only both together, so the setting alone, from any other session, does
    nothing. Rewritten rows no longer match the audit chain, which
    ``verify_audit_chain`` reports."""
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL ROLE {REWRITE_ROLE}")
                cursor.execute("SELECT set_config(%s, 'on', true)", [REWRITE_SETTING])
        yield
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', true)", [REWRITE_SETTING])
                cursor.execute("SET LOCAL ROLE NONE")
