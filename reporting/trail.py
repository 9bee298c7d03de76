"""The audit trail: one timeline of every change and access event, as the
reader may see it, and the point-in-time views.

Sources
-------
Every simple-history record table (one per tracked model: who changed what,
when, why) and the access events (``portal.AuditEvent``: sign-ins, failed
sign-ins, lock-outs, sign-outs, report downloads, exports).

Order and pagination
--------------------
Newest first by the key (moment, source, row id), a total order; the cursor
``after`` is the key of the last entry of the previous page. A page queries
each source once, with the filters, the cursor and ``LIMIT size + 1`` (each
walks its table's ``history_date`` index from the cursor), then merges the
results in Python: at most size × sources rows, whatever the size of the
tables, so the first page stays fast at a million history rows. Sources the
filters exclude (another model, a field they lack, no portfolio) are not
queried at all.

Field changes
-------------
Each change is diffed (simple-history's ``diff_against``) against the object's
previous record, whose id comes from a subquery of the page's query; the
previous records of a page are fetched with one query per source. Foreign
keys are shown by name (one query per related model, within the reader's
scope), many-to-many snapshots are compared set to set (one query per such
field). A creation lists the values it was created with.

Scope (``portal.audit.AuditReach``)
-----------------------------------
A history row is visible when the reader may view (or audit) the object
today; access events are for auditors (events of the users they audit) and
superusers; superusers and auditors of the root org unit see everything,
deleted objects and unknown sign-in names included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    BooleanField,
    F,
    ForeignKey,
    Func,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.urls import reverse
from django.utils import timezone
from simple_history.utils import get_m2m_reverse_field_name

from portal import audit
from portal.errors import NotFound
from portal.models import AuditEvent
from portal.notifications.safe_http import mask_url

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
EXPORT_BATCH = 500
ACCESS = "access"
ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}
# Fields that name an object, in order of preference.
NAME_FIELDS = ("name", "title", "username", "summary", "slug", "code")
SNAPSHOT_LIMIT = 1000


class IsDistinctFrom(Func):
    """``a IS DISTINCT FROM b``: true when they differ, NULLs included."""

    arg_joiner = " IS DISTINCT FROM "
    template = "(%(expressions)s)"
    output_field = BooleanField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, arg_joiner=" IS NOT ", **extra_context)


# Sources ----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One table of the trail: a model's history table, or the access events."""

    key: str
    # A simple-history table (or the access events): its members (history_id,
    # tracked_fields, ...) are made at run time, so it is typed loosely.
    table: type[Any]
    tracked: type[Model] | None
    date_field: str
    pk_field: str

    @property
    def is_access(self) -> bool:
        return self.tracked is None

    @property
    def model_key(self) -> str:
        return ACCESS if self.tracked is None else self.tracked._meta.label_lower

    @property
    def model_name(self) -> str:
        if self.tracked is None:
            return "Access event"
        return str(self.tracked._meta.verbose_name).capitalize()


def sources() -> list[Source]:
    """Every history record table, then the access events."""
    found = [
        Source(
            key=model._meta.label_lower,
            table=model,
            tracked=model.instance_type,
            date_field="history_date",
            pk_field="history_id",
        )
        for model in audit.history_models()
        if hasattr(model, "instance_type") and hasattr(model, "history_date")
    ]
    found.append(Source(AuditEvent._meta.label_lower, AuditEvent, None, "at", "id"))
    return found


def tracked_sources() -> dict[str, Source]:
    """History sources by the tracked model's label (``milestones.milestone``)."""
    return {s.model_key: s for s in sources() if not s.is_access}


def model_choices() -> list[tuple[str, str]]:
    named = sorted((s.model_name, s.model_key) for s in tracked_sources().values())
    return [("access", "Access events"), *((key, name) for name, key in named)]


def tracked_fields(source: Source) -> dict[str, Any]:
    """The fields shown and filterable on a source, by name (m2m included)."""
    if source.is_access:
        return {}
    fields = {f.name: f for f in source.table.tracked_fields}
    for m2m in getattr(source.table, "_history_m2m_fields", ()):
        fields[m2m.name] = m2m
    return fields


def field_names() -> set[str]:
    return {name for s in tracked_sources().values() for name in tracked_fields(s)}


def portfolio_path(model) -> str | None:
    """The ORM path from a row of ``model`` to its portfolio's id (``"id"``
    for a portfolio itself), following its ``access_scope``; None if it has
    none (users, org units)."""
    scope = getattr(model, "access_scope", None)
    if scope is None:
        return None
    if scope.portfolio is not None:
        return scope.portfolio or "id"
    if scope.via:
        related = model
        for name in scope.via.split("__"):
            related = related._meta.get_field(name).related_model
        inner = portfolio_path(related)
        if inner is None:
            return None
        return scope.via if inner == "id" else f"{scope.via}__{inner}"
    return None


# Filters and cursor -----------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """The key of an entry: (moment, source, row id); newest first."""

    at: datetime
    source: str
    pk: int

    def __str__(self) -> str:
        micros = (self.at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
            microseconds=1
        )
        return f"{micros}_{self.source}_{self.pk}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Raises ValueError when ``text`` is not a cursor."""
        micros, rest = text.split("_", 1)
        source, pk = rest.rsplit("_", 1)
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
        if not source or int(pk) < 1:
            raise ValueError(text)
        return cls(at, source, int(pk))


@dataclass(frozen=True)
class TrailFilters:
    """What the reader asked for; every part optional."""

    since: date | None = None
    until: date | None = None
    user: Any = None
    portfolio: Any = None
    model: str = ""
    object_id: int | None = None
    field: str = ""

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (for links and the export log)."""
        values = {
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "user": self.user.username if self.user else "",
            "portfolio": self.portfolio.slug if self.portfolio else "",
            "model": self.model,
            "object": str(self.object_id) if self.object_id is not None else "",
            "field": self.field,
        }
        return {k: v for k, v in values.items() if v}


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _previous_record(table, column: str) -> Subquery:
    """The object's record just before the outer one (by date, then id)."""
    moment = OuterRef("history_date")
    earlier = (
        table._base_manager.filter(id=OuterRef("id"))
        .filter(
            Q(history_date__lt=moment)
            | Q(history_date=moment, history_id__lt=OuterRef("history_id"))
        )
        .order_by("-history_date", "-history_id")
        .values(column)[:1]
    )
    return Subquery(earlier)


def _after(source: Source, cursor: Cursor) -> Q:
    earlier = Q(**{f"{source.date_field}__lt": cursor.at})
    same_moment = {source.date_field: cursor.at}
    if source.key < cursor.source:
        return earlier | Q(**same_moment)
    if source.key == cursor.source:
        return earlier | Q(**same_moment, **{f"{source.pk_field}__lt": cursor.pk})
    return earlier


def _queryset(
    source: Source, reach, filters: TrailFilters, cursor: Cursor | None
) -> QuerySet | None:
    """The source's rows matching the filters, newest first; None when the
    source cannot match (then it is not queried)."""
    table = source.table
    if source.is_access:
        if filters.model not in ("", ACCESS) or filters.field:
            return None
        if filters.object_id is not None:
            return None
        scope = reach.events_q()
        if scope is None:
            return None
        rows = table._base_manager.filter(scope).select_related("user")
        if filters.user is not None:
            rows = rows.filter(user_id=filters.user.pk)
        if filters.portfolio is not None:
            rows = rows.filter(details__portfolio=filters.portfolio.pk)
    else:
        if filters.model and filters.model != source.model_key:
            return None
        scope = reach.history_q(source.tracked)
        if scope is None:
            return None
        rows = table._base_manager.filter(scope)
        if filters.object_id is not None:
            rows = rows.filter(id=filters.object_id)
        if filters.user is not None:
            rows = rows.filter(history_user_id=filters.user.pk)
        if filters.portfolio is not None:
            path = portfolio_path(source.tracked)
            if path is None:
                return None
            rows = rows.filter(**{path: filters.portfolio.pk})
        if filters.field:
            column = tracked_fields(source).get(filters.field)
            if column is None or column.many_to_many:
                return None
            changed = IsDistinctFrom(
                F(column.attname), _previous_record(table, column.attname)
            )
            rows = rows.filter(Q(history_type="+") | Q(changed, history_type="~"))
        rows = rows.select_related("history_user").annotate(
            previous_id=_previous_record(table, "history_id")
        )
    if filters.since is not None:
        rows = rows.filter(**{f"{source.date_field}__gte": _day_start(filters.since)})
    if filters.until is not None:
        end = _day_start(filters.until + timedelta(days=1))
        rows = rows.filter(**{f"{source.date_field}__lt": end})
    if cursor is not None:
        rows = rows.filter(_after(source, cursor))
    return rows.order_by(f"-{source.date_field}", f"-{source.pk_field}")


# Entries ----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    old: str
    new: str


@dataclass
class Entry:
    """One line of the trail: a history record or an access event."""

    key: Cursor
    kind: str  # "change" or "access"
    action: str
    model: str
    model_name: str
    object_id: Any
    object_repr: str
    user_id: int | None
    username: str
    reason: str = ""
    changes: list[Change] = field(default_factory=list)
    ip_address: str = ""
    user_agent: str = ""
    details: dict = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        return self.key.at

    @property
    def cursor(self) -> str:
        return str(self.key)

    @property
    def url(self) -> str:
        """The object's own history page (empty for access events)."""
        if self.kind != "change":
            return ""
        return reverse("audit:object", args=[self.model, self.object_id])


@dataclass
class TrailPage:
    entries: list[Entry]
    next_cursor: str | None


def _object_repr(source: Source, row) -> str:
    names = {f.name for f in source.table.tracked_fields}
    for name in NAME_FIELDS:
        value = getattr(row, name, None) if name in names else None
        if value:
            return str(value)[:120]
    return f"{source.model_name} #{row.id}"


def _who(user, fallback: str = "") -> str:
    if user is None:
        return fallback or "system"
    return user.get_full_name() or user.username


class _Names:
    """Names of related objects, fetched once per related model, in scope."""

    def __init__(self, reach):
        self.reach = reach
        self.wanted: dict[type[Model], set] = defaultdict(set)
        self.found: dict[tuple[type[Model], Any], str] = {}

    def want(self, model, value) -> None:
        if value not in (None, ""):
            self.wanted[model].add(value)

    def load(self) -> None:
        """One query per related model; names come from a naming column
        (``__str__`` could query per row), users by their full name."""
        for model, ids in self.wanted.items():
            rows = self.reach.scope(model._default_manager.filter(pk__in=ids))
            columns = {f.name for f in model._meta.concrete_fields}
            if {"username", "first_name", "last_name"} <= columns:
                for pk, username, first, last in rows.values_list(
                    "pk", "username", "first_name", "last_name"
                ):
                    self.found[(model, pk)] = f"{first} {last}".strip() or username
                continue
            column = next((name for name in NAME_FIELDS if name in columns), None)
            if column is None:
                label = str(model._meta.verbose_name).capitalize()
                for pk in rows.values_list("pk", flat=True):
                    self.found[(model, pk)] = f"{label} #{pk}"
                continue
            for pk, name in rows.values_list("pk", column):
                self.found[(model, pk)] = str(name) if name else f"#{pk}"
        self.wanted.clear()

    def name(self, model, value) -> str:
        if value in (None, ""):
            return ""
        return self.found.get((model, value), f"#{value}")


def display(column, value, names: _Names) -> str:
    """A field's value as people read it (a secret, masked)."""
    if value is None or value == "":
        return ""
    if is_sensitive(column):
        return mask_url(str(value))
    if getattr(column, "many_to_many", False):
        model = column.related_model
        return ", ".join(names.name(model, pk) for pk in sorted(value))
    if isinstance(column, ForeignKey):
        return names.name(column.related_model, value)
    if column.choices:
        return str(dict(column.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def is_sensitive(column) -> bool:
    """Whether the column holds a secret its model declares
    (``sensitive_fields``), on the live or the historical table."""
    model = getattr(column.model, "instance_type", column.model)
    return column.name in getattr(model, "sensitive_fields", ())


def _raw(column, row):
    return getattr(row, column.attname)


def _m2m_sets(source: Source, history_ids: set[int]) -> dict[str, dict[int, set]]:
    """For each many-to-many field of the source: history id -> related ids."""
    result: dict[str, dict[int, set]] = {}
    for m2m in getattr(source.table, "_history_m2m_fields", ()):
        snapshot = getattr(source.table, m2m.name).model
        target = get_m2m_reverse_field_name(m2m)
        sets: dict[int, set] = defaultdict(set)
        for history_id, related in snapshot._base_manager.filter(
            history_id__in=history_ids
        ).values_list("history_id", f"{target}_id"):
            sets[history_id].add(related)
        result[m2m.name] = sets
    return result


def _history_entries(source: Source, rows: list, names: _Names) -> list[tuple]:
    """(entry, pending changes) for a source's rows; values resolved later."""
    previous_ids = {row.previous_id for row in rows if row.previous_id}
    previous = {
        p.history_id: p
        for p in source.table._base_manager.filter(history_id__in=previous_ids)
    }
    columns = tracked_fields(source)
    m2m_names = [name for name, c in columns.items() if c.many_to_many]
    m2m = (
        _m2m_sets(source, {r.history_id for r in rows} | previous_ids)
        if m2m_names
        else {}
    )
    result = []
    for row in rows:
        pending: list[tuple[Any, Any, Any]] = []  # (column, old, new)
        before = previous.get(row.previous_id)
        if row.history_type == "~" and before is not None:
            delta = row.diff_against(before, excluded_fields=m2m_names)
            for change in delta.changes:
                pending.append((columns[change.field], change.old, change.new))
        elif row.history_type == "+":
            for column in columns.values():
                if column.many_to_many or not column.editable:
                    continue
                value = _raw(column, row)
                if value not in (None, ""):
                    pending.append((column, None, value))
        if row.history_type != "-":
            for name in m2m_names:
                new = m2m[name].get(row.history_id, set())
                old = m2m[name].get(before.history_id, set()) if before else set()
                if new != old:
                    pending.append((columns[name], old or None, new or None))
        for column, old, new in pending:
            target = (
                column.related_model
                if column.many_to_many or isinstance(column, ForeignKey)
                else None
            )
            if target is not None:
                for value in (old, new):
                    for item in value if isinstance(value, set) else [value]:
                        names.want(target, item)
        entry = Entry(
            key=Cursor(row.history_date, source.key, row.history_id),
            kind="change",
            action=ACTIONS.get(row.history_type, row.history_type),
            model=source.model_key,
            model_name=source.model_name,
            object_id=row.id,
            object_repr=_object_repr(source, row),
            user_id=row.history_user_id,
            username=_who(row.history_user),
            reason=row.history_change_reason or "",
        )
        result.append((entry, pending))
    return result


def _access_entry(source: Source, event: AuditEvent) -> Entry:
    return Entry(
        key=Cursor(event.at, source.key, event.pk),
        kind="access",
        action=event.get_kind_display(),
        model=ACCESS,
        model_name="Access event",
        object_id=event.object_id,
        object_repr=event.object_repr,
        user_id=event.user_id,
        username=_who(event.user, event.username or "unknown"),
        ip_address=event.ip_address or "",
        user_agent=event.user_agent,
        details=event.details,
    )


def _entries(reach, picked: list[tuple[Cursor, Source, Any]]) -> list[Entry]:
    names = _Names(reach)
    by_source: dict[str, list] = defaultdict(list)
    sources_by_key = {}
    for _, source, row in picked:
        by_source[source.key].append(row)
        sources_by_key[source.key] = source
    built: dict[Cursor, Entry] = {}
    pending_all = []
    for key, rows in by_source.items():
        source = sources_by_key[key]
        if source.is_access:
            for event in rows:
                entry = _access_entry(source, event)
                built[entry.key] = entry
        else:
            for entry, pending in _history_entries(source, rows, names):
                built[entry.key] = entry
                pending_all.append((entry, pending))
    names.load()
    for entry, pending in pending_all:
        entry.changes = [
            Change(
                column.name,
                str(column.verbose_name).capitalize(),
                display(column, old, names),
                display(column, new, names),
            )
            for column, old, new in pending
        ]
    return [built[key] for key, _, _ in picked]


def trail_page(
    reach,
    filters: TrailFilters,
    *,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> TrailPage:
    """One page of the trail, newest first, after ``after``."""
    picked: list[tuple[Cursor, Source, Any]] = []
    for source in sources():
        rows = _queryset(source, reach, filters, after)
        if rows is None:
            continue
        for row in rows[: size + 1]:
            moment = getattr(row, source.date_field)
            picked.append((Cursor(moment, source.key, row.pk), source, row))
    picked.sort(key=lambda item: (item[0].at, item[0].source, item[0].pk), reverse=True)
    more = len(picked) > size
    picked = picked[:size]
    entries = _entries(reach, picked)
    next_cursor = str(picked[-1][0]) if more and picked else None
    return TrailPage(entries, next_cursor)


def trail_entries(reach, filters: TrailFilters) -> Iterator[Entry]:
    """Every matching entry, newest first, page by page (for the export)."""
    after = None
    while True:
        page = trail_page(reach, filters, after=after, size=EXPORT_BATCH)
        yield from page.entries
        if page.next_cursor is None:
            return
        after = Cursor.parse(page.next_cursor)


# One object -------------------------------------------------------------------


@dataclass
class TrackedObject:
    """An object whose history the reader may see, live or deleted."""

    source: Source
    pk: int
    live: Model | None
    label: str

    @property
    def model(self) -> str:
        return self.source.model_key


def tracked_object(reach, model_key: str, pk: int) -> TrackedObject:
    """The object ``model_key`` #``pk`` if the reader may see its history;
    NotFound otherwise (missing and out of scope look the same)."""
    source = tracked_sources().get(model_key)
    scope = reach.history_q(source.tracked) if source is not None else None
    # (A tracked source always has its model.)
    if source is None or source.tracked is None or scope is None:
        raise NotFound("No such object.")
    latest = (
        source.table._base_manager.filter(scope, id=pk)
        .order_by("-history_date", "-history_id")
        .first()
    )
    if latest is None:
        raise NotFound("No such object.")
    live = source.tracked._default_manager.filter(pk=pk).first()
    label = str(live) if live is not None else _object_repr(source, latest)
    return TrackedObject(source, pk, live, label)


# Point in time ----------------------------------------------------------------


def moment_of(day: date) -> datetime:
    """The end of ``day`` in the site's time zone."""
    return _day_start(day + timedelta(days=1)) - timedelta(microseconds=1)


@dataclass(frozen=True)
class FieldState:
    label: str
    then: str
    now: str

    @property
    def changed(self) -> bool:
        return self.then != self.now


@dataclass
class ObjectAsOf:
    """A tracked object as it was at ``moment`` (None: it did not exist)."""

    obj: TrackedObject
    moment: datetime
    record: Any
    fields: list[FieldState]

    @property
    def existed(self) -> bool:
        return self.record is not None


def _record_as_of(source: Source, pk: int, moment: datetime):
    record = (
        source.table._base_manager.filter(id=pk, history_date__lte=moment)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
        .first()
    )
    if record is None or record.history_type == "-":
        return None
    return record


def object_as_of(reach, model_key: str, pk: int, moment: datetime) -> ObjectAsOf:
    """``model_key`` #``pk`` as it stood at ``moment`` (``history.as_of``),
    side by side with today's values."""
    obj = tracked_object(reach, model_key, pk)
    record = _record_as_of(obj.source, pk, moment)
    names = _Names(reach)
    columns = [
        c
        for c in obj.source.table.tracked_fields
        if (c.editable and not c.primary_key) or c.name == "version"
    ]
    for column in columns:
        if isinstance(column, ForeignKey):
            for row in (record, obj.live):
                if row is not None:
                    names.want(column.related_model, _raw(column, row))
    names.load()
    states = []
    for column in columns:
        then = display(column, _raw(column, record), names) if record else ""
        now = display(column, _raw(column, obj.live), names) if obj.live else ""
        states.append(FieldState(str(column.verbose_name).capitalize(), then, now))
    return ObjectAsOf(obj, moment, record, states)


def _snapshot(tracked, moment: datetime, **filters) -> QuerySet:
    """The latest record of each object by ``moment``, deletions dropped."""
    return (
        tracked.history.filter(history_date__lte=moment)
        .latest_of_each()
        .exclude(history_type="-")
        .filter(**filters)
    )


@dataclass
class PortfolioAsOf:
    """A portfolio, its categories and its milestones at ``moment``."""

    portfolio: ObjectAsOf
    categories: list[Any]
    milestones: list[dict[str, Any]]
    truncated: bool


def portfolio_as_of(reach, portfolio, moment: datetime) -> PortfolioAsOf:
    """The whole portfolio as it was at ``moment``: its own fields, its
    categories and weights, and the milestones the reader may see, each with
    the values of that moment."""
    from milestones.models import Milestone, MilestoneCategory

    head = object_as_of(reach, "milestones.portfolio", portfolio.pk, moment)
    categories = list(
        _snapshot(MilestoneCategory, moment, portfolio_id=portfolio.pk).order_by(
            "order", "name"
        )
    )
    scope = reach.history_q(Milestone)
    milestones = []
    truncated = False
    if scope is not None:
        rows = list(
            _snapshot(Milestone, moment, portfolio_id=portfolio.pk)
            .filter(scope)
            .order_by("planned_completion", "name", "id")[: SNAPSHOT_LIMIT + 1]
        )
        truncated = len(rows) > SNAPSHOT_LIMIT
        rows = rows[:SNAPSHOT_LIMIT]
        names = _Names(reach)
        meta = Milestone.history.model
        shown = (
            "code",
            "name",
            "category",
            "org_unit",
            "owner",
            "status",
            "percent_complete",
            "approved_budget",
            "actual_spend",
            "planned_completion",
            "forecast_completion",
        )
        columns = {name: meta._meta.get_field(name) for name in shown}
        for row in rows:
            for column in columns.values():
                if isinstance(column, ForeignKey):
                    names.want(column.related_model, _raw(column, row))
        names.load()
        for row in rows:
            values = {
                name: display(column, _raw(column, row), names)
                for name, column in columns.items()
            }
            values["id"] = row.id
            values["status_value"] = row.status
            milestones.append(values)
    return PortfolioAsOf(head, categories, milestones, truncated)
