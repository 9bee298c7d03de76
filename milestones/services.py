"""Writes of the milestones app: the one code path for every change.

Every function takes the acting user (``actor``; ``None`` only for system
work such as seeding), checks the access policy, locks what competes, validates
(``full_clean`` plus database constraints) and records history with the user
and a reason. Failures raise ``portal.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Field, Model, Sum
from django.utils import timezone

from accounts import policy
from accounts.roles import CHANGE, UPDATE
from portal.audit import bulk_update_with_history
from portal.errors import Conflict, Forbidden, Invalid
from portal.kernel import (
    invalid_from,
    set_change_reason,
    set_history_user,
    validated_save,
)
from portal.retry import retry_on_deadlock

from . import fields as milestone_fields
from .models import (
    DEFAULT_CATEGORIES,
    KPI,
    MILESTONE_BASELINE_FIELDS,
    Checkpoint,
    Dependency,
    KPIMeasurement,
    Milestone,
    MilestoneCategory,
    MilestoneCheck,
    Portfolio,
    ProgressUpdate,
    ResourceAllocation,
    Status,
    StrategicObjective,
)
from .signals import completion_gate_moved, milestone_updated

if TYPE_CHECKING:
    from django.core.files import File

    from accounts.models import OrgUnit, User

_M = TypeVar("_M", bound=Model)

# The field groups of ``milestones.fields``, by their service names.
MILESTONE_EDITABLE_FIELDS = milestone_fields.EDITABLE
MILESTONE_SCOPE_FIELDS = milestone_fields.SCOPE
UPDATE_FIELDS = milestone_fields.REPORTED


_require = policy.require


def _save_new(obj: _M, *, actor: User | None, reason: str | None = None) -> _M:
    return validated_save(obj, actor=actor, reason=reason)


# Portfolios, objectives, categories ---------------------------------------


@transaction.atomic
def portfolio_create(
    *,
    actor: User | None,
    slug: str,
    name: str,
    org_unit: OrgUnit,
    period_start: date,
    period_end: date,
    currency: str = "EUR",
    sponsor: User | None = None,
    description: str = "",
    categories: Iterable[tuple[str, Decimal, str]] | None = DEFAULT_CATEGORIES,
) -> Portfolio:
    """Create a portfolio, by default with the five default weighted categories."""
    if actor is not None and not (
        actor.is_superuser or policy.can(actor, CHANGE, org_unit)
    ):
        raise Forbidden("You may not create portfolios in this org unit.")
    portfolio = Portfolio(
        slug=slug,
        name=name,
        org_unit=org_unit,
        period_start=period_start,
        period_end=period_end,
        currency=currency,
        sponsor=sponsor,
        description=description,
    )
    if period_start and period_end and period_end < period_start:
        raise Invalid(
            "The period cannot end before it starts.",
            errors={"period_end": ["The period cannot end before it starts."]},
        )
    _save_new(portfolio, actor=actor)
    if categories:
        for order, (cat_name, weight, impact) in enumerate(categories):
            _save_new(
                MilestoneCategory(
                    portfolio=portfolio,
                    name=cat_name,
                    weight=weight,
                    business_impact=impact,
                    order=order,
                ),
                actor=actor,
            )
        _check_weights(portfolio)
    return portfolio


def _check_weights(portfolio: Portfolio) -> None:
    total = MilestoneCategory.objects.filter(portfolio=portfolio).aggregate(
        total=Sum("weight")
    )["total"] or Decimal("0")
    if total != Decimal("100"):
        raise Invalid(
            f"The category weights of {portfolio} sum to {total:g} %, not 100 %.",
            errors={"weight": [f"Weights sum to {total:g} %; they must sum to 100 %."]},
        )


@transaction.atomic
def categories_set(
    *,
    actor: User | None,
    portfolio: Portfolio,
    categories: Sequence[Mapping[str, Any]],
    reason: str,
) -> list[MilestoneCategory]:
    """Replace a portfolio's categories and weights in one step (sum must be 100).

    Each mapping has ``name``, ``weight`` and optionally ``id``,
    ``business_impact`` and ``order``. Weights are baseline: a reason is required.
    """
    _require(actor, CHANGE, portfolio)
    if not (reason or "").strip():
        raise Invalid(
            "Changing weights needs a change reason.",
            errors={"reason": ["Say why the weights change."]},
        )
    total = sum(Decimal(str(c["weight"])) for c in categories)
    if total != Decimal("100"):
        raise Invalid(
            f"The category weights sum to {total:g} %, not 100 %.",
            errors={"weight": [f"Weights sum to {total:g} %; they must sum to 100 %."]},
        )
    Portfolio.objects.select_for_update(no_key=True).get(pk=portfolio.pk)
    existing = {c.pk: c for c in portfolio.categories.all()}
    kept = []
    for order, data in enumerate(categories):
        category = existing.pop(data["id"], None) if data.get("id") else None
        category = category or MilestoneCategory(portfolio=portfolio)
        category.name = data["name"]
        category.weight = Decimal(str(data["weight"]))
        category.business_impact = data.get("business_impact", category.business_impact)
        category.order = data.get("order", order)
        kept.append(_save_new(category, actor=actor, reason=reason))
    for leftover in existing.values():
        if leftover.milestones.exists():
            raise Invalid(f"The category {leftover} still has milestones.")
        set_history_user(leftover, actor)
        set_change_reason(leftover, reason)
        leftover.delete()
    _check_weights(portfolio)
    return kept


def objective_create(
    *, actor: User | None, portfolio: Portfolio, **fields: Any
) -> StrategicObjective:
    """Add a strategic objective to a portfolio."""
    _require(actor, CHANGE, portfolio)
    return _save_new(StrategicObjective(portfolio=portfolio, **fields), actor=actor)


# Milestones -------------------------------------------------------------


def milestone_create(
    *, actor: User | None, portfolio: Portfolio, **fields: Any
) -> Milestone:
    """Plan a new milestone in a portfolio (Portfolio Managers and admins)."""
    _require(actor, CHANGE, portfolio)
    unknown = set(fields) - {f.name for f in Milestone._meta.get_fields()}
    if unknown:
        raise Invalid(f"Unknown milestone fields: {', '.join(sorted(unknown))}.")
    for protected in ("version", "last_progress_at", "created_at", "updated_at"):
        fields.pop(protected, None)
    milestone = Milestone(portfolio=portfolio, **fields)
    return _save_new(milestone, actor=actor, reason="Milestone planned")


def _locked(milestone_id: int) -> Milestone:
    return (
        Milestone.objects.select_for_update(of=("self",), no_key=True)
        .select_related("portfolio", "category", "org_unit")
        .get(pk=milestone_id)
    )


def _check_version(milestone: Milestone, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != milestone.version:
        raise Conflict(
            f"{milestone} was changed by someone else (version {milestone.version}, "
            f"you had version {expected_version}). Reload and try again.",
            errors={
                "version": [
                    f"Stale version {expected_version}; current is {milestone.version}."
                ]
            },
        )


@retry_on_deadlock
@transaction.atomic
def milestone_update(
    *,
    actor: User | None,
    milestone: Milestone,
    expected_version: int | None,
    reason: str = "",
    **fields: Any,
) -> Milestone:
    """Edit a milestone's non-progress fields, with an optimistic version check.

    Baseline fields (budget, planned dates, success criteria, weight) are
    refused for everyone, superusers included: they change only through an
    approved request (``approval_request`` / ``approval_decide``). Moving the
    milestone to another scope needs plan-change rights, not just ownership.
    """
    allowed = set(MILESTONE_EDITABLE_FIELDS) | set(MILESTONE_BASELINE_FIELDS)
    unknown = set(fields) - allowed
    if unknown:
        raise Invalid(
            "These fields cannot be edited here: " + ", ".join(sorted(unknown)) + ".",
            errors={f: ["This field cannot be edited here."] for f in unknown},
        )
    current = _locked(milestone.pk)
    _require(actor, CHANGE, current)
    _check_version(current, expected_version)
    changed = [f for f, v in fields.items() if _field_value(current, f) != _raw(v)]
    if not changed:
        return current
    baseline = [f for f in changed if f in MILESTONE_BASELINE_FIELDS]
    scope_moves = [f for f in changed if f in MILESTONE_SCOPE_FIELDS]
    if baseline:
        raise baseline_refusal(current, baseline)
    # Ownership gives "change" on the milestone, not on its plan: the scope
    # needs plan-change rights on the portfolio or the org unit.
    if scope_moves and not _may_change_plans(actor, current):
        raise Forbidden("Only portfolio managers may move a milestone's scope.")
    if "requires_validation" in changed:
        _check_gate_change(actor, current)
    for field in changed:
        setattr(current, field, fields[field])
    return _save_milestone(current, actor=actor, fields=changed, reason=reason)


def _check_gate_change(actor: User | None, milestone: Milestone) -> None:
    """The completion gate (``requires_validation``) is governed like the
    baseline: only those who may change the plan set it directly, and once a
    validation is pending or has happened only through an approved baseline
    change request (switching it off then would let the owner complete
    without, or rewrite what was validated)."""
    if not _may_change_plans(actor, milestone):
        raise Forbidden(
            "Only the plan's editors (portfolio managers) may change whether a "
            "milestone's completion needs validation.",
            errors={"requires_validation": ["A plan change: ask a portfolio manager."]},
        )
    # Entering Pending validation is what opens a validation, so the
    # milestone's own history says whether one is pending or happened.
    validated = (
        milestone.status == Status.PENDING_VALIDATION
        or Milestone.history.filter(
            id=milestone.pk, status=Status.PENDING_VALIDATION
        ).exists()
    )
    if validated:
        raise Forbidden(
            f"{milestone} has a pending or past completion validation: its "
            "validation requirement changes only through an approved baseline "
            f"change request ({_request_link_for(milestone)}).",
            errors={
                "requires_validation": [
                    "Request a baseline change: an approver decides it once a "
                    "completion validation is pending or done."
                ]
            },
        )


def _request_link_for(milestone: Milestone) -> str:
    from django.urls import reverse

    return reverse("approvals:request", args=[milestone.pk])


def _column_label(name: str) -> str:
    field = Milestone._meta.get_field(name)
    assert isinstance(field, Field)  # a milestone's own column
    return str(field.verbose_name)


def baseline_refusal(milestone: Milestone, fields: Iterable[str]) -> Forbidden:
    """Why a direct baseline edit is refused, pointing to the request flow."""
    from django.urls import reverse

    fields = list(fields)
    labels = ", ".join(_column_label(f) for f in fields)
    where = reverse("approvals:request", args=[milestone.pk])
    message = (
        f"The {labels} of {milestone} change only through an approved request: "
        f"request a reauthorization or a baseline change at {where} "
        "(API: POST /api/v1/approvals/)."
    )
    field_message = f"Baseline: request the change at {where}."
    return Forbidden(message, errors={f: [field_message] for f in fields})


def _may_change_plans(actor: User | None, milestone: Milestone) -> bool:
    if actor is None or actor.is_superuser:
        return True
    return policy.can(actor, CHANGE, milestone.portfolio) or policy.can(
        actor, CHANGE, milestone.org_unit
    )


def checks_queue(milestone_ids: Iterable[int]) -> None:
    """Record, in the current transaction, that these milestones' escalations
    must be evaluated again (``MilestoneCheck``; one INSERT, repeats ignored)."""
    now = timezone.now()
    MilestoneCheck.objects.bulk_create(
        [MilestoneCheck(milestone_id=pk, queued_at=now) for pk in milestone_ids],
        ignore_conflicts=True,
    )


def _check_cancelling(actor: User | None, milestone: Milestone, status: str) -> None:
    """Cancelling a milestone (or bringing a cancelled one back) takes it out
    of (or into) every figure: a plan change, for those who may change plans,
    not something a progress report does."""
    crosses = (status == Status.CANCELLED) != (milestone.status == Status.CANCELLED)
    if crosses and not _may_change_plans(actor, milestone):
        raise Forbidden(
            "Cancelling a milestone, or reopening a cancelled one, is a plan "
            "change: ask a portfolio manager.",
            errors={"status": ["Only a plan's editors may cancel or reopen it."]},
        )


def _raw(value: Any) -> Any:
    return value.pk if hasattr(value, "pk") else value


def _field_value(obj: Model, field: str) -> Any:
    model_field = obj._meta.get_field(field)
    if model_field.is_relation and isinstance(model_field, Field):
        return getattr(obj, model_field.attname)
    return getattr(obj, field)


def _save_milestone(
    milestone: Milestone, *, actor: User | None, fields: list[str], reason: str = ""
) -> Milestone:
    set_history_user(milestone, actor)
    set_change_reason(milestone, reason or None)
    try:
        milestone.full_clean()
    except ValidationError as exc:
        raise invalid_from(exc) from exc
    # The row is locked (select_for_update), so a plain increment is safe and
    # history records the real number.
    milestone.version += 1
    try:
        # No savepoint of its own: a refusal propagates out of the calling
        # service's transaction, which rolls back.
        with transaction.atomic(savepoint=False):
            milestone.save(update_fields=[*fields, "version", "updated_at"])
    except IntegrityError as exc:
        raise Invalid(f"Refused by the database: {exc}") from exc
    return milestone


@retry_on_deadlock
@transaction.atomic
def milestone_submit_update(
    *,
    actor: User | None,
    milestone: Milestone | int,
    expected_version: int | None,
    status: str,
    percent_complete: Decimal,
    actual_spend: Decimal,
    estimate_at_completion: Decimal | None = None,
    forecast_completion: date | None = None,
    achievements: str = "",
    blockers: str = "",
    next_steps: str = "",
    evidence: File[Any] | None = None,
    submitted_at: datetime | None = None,
) -> ProgressUpdate:
    """Record a progress update and apply it to the milestone.

    Checks the version the user saw (a stale one raises ``Conflict`` and saves
    nothing), appends an immutable ProgressUpdate, applies status, percent,
    spend, estimate and forecast to the milestone with history, then sends
    ``milestone_updated`` once the transaction commits.

    ``submitted_at`` is for system use only (demo seeding, imports of past
    reports); forms and the API never pass it. It dates the report and the
    milestone's ``last_progress_at`` in the past: never in the future, never
    before the milestone's previous report. History rows keep the real time
    they were written.
    """
    milestone_id = milestone.pk if isinstance(milestone, Milestone) else milestone
    current = _locked(milestone_id)
    _require(actor, UPDATE, current)
    _check_version(current, expected_version)
    now = timezone.now()
    if submitted_at is not None:
        _check_backdated(current, submitted_at, now)
        now = submitted_at
    on_day = timezone.localdate(now)
    _check_cancelling(actor, current, status)
    if status == Status.COMPLETED and current.requires_validation:
        # The completion gate: an approver turns it into Completed.
        status = Status.PENDING_VALIDATION
    if status in (Status.COMPLETED, Status.PENDING_VALIDATION):
        percent_complete = Decimal("100")
    update = ProgressUpdate(
        milestone=current,
        author=actor,
        submitted_at=now,
        status=status,
        percent_complete=percent_complete,
        actual_spend=actual_spend,
        estimate_at_completion=estimate_at_completion,
        forecast_completion=forecast_completion,
        achievements=achievements,
        blockers=blockers,
        next_steps=next_steps,
        milestone_version=current.version,
    )
    if evidence is not None:
        update.evidence = evidence
    set_history_user(update, actor)
    try:
        update.full_clean()
    except ValidationError as exc:
        raise invalid_from(exc) from exc
    if status == Status.PENDING_VALIDATION and current.status == Status.COMPLETED:
        raise Invalid("The milestone is already completed.")
    previous_status = current.status
    current.status = status
    current.percent_complete = percent_complete
    current.actual_spend = actual_spend
    current.estimate_at_completion = estimate_at_completion
    current.forecast_completion = forecast_completion
    current.last_progress_at = now
    fields = [*UPDATE_FIELDS, "last_progress_at"]
    if current.actual_start is None and status != Status.NOT_STARTED:
        current.actual_start = on_day
        fields.append("actual_start")
    if status == Status.COMPLETED and current.actual_completion is None:
        current.actual_completion = on_day
        fields.append("actual_completion")
    update.save()
    _save_milestone(
        current, actor=actor, fields=fields, reason=f"Progress update #{update.pk}"
    )
    _completion_gate(
        [current],
        {current.pk: previous_status},
        actor=actor,
        reason=f"progress update #{update.pk}",
    )
    update.milestone = current
    actor_id = actor.pk if actor is not None else None
    checks_queue([current.pk])
    transaction.on_commit(
        lambda: milestone_updated.send(
            sender=Milestone,
            milestone_id=current.pk,
            update_id=update.pk,
            actor_id=actor_id,
        )
    )
    return update


def _check_backdated(
    milestone: Milestone, submitted_at: datetime, now: datetime
) -> None:
    if timezone.is_naive(submitted_at):
        raise Invalid(
            "The submission time needs a time zone.",
            errors={"submitted_at": ["Give an aware datetime."]},
        )
    if submitted_at > now:
        raise Invalid(
            "A progress update cannot be dated in the future.",
            errors={"submitted_at": ["This time is in the future."]},
        )
    if milestone.last_progress_at and submitted_at < milestone.last_progress_at:
        raise Invalid(
            "A progress update cannot be dated before the milestone's last one.",
            errors={"submitted_at": ["Earlier than the previous progress update."]},
        )


@retry_on_deadlock
@transaction.atomic
def milestones_bulk_set_progress(
    *,
    actor: User | None,
    changes: Mapping[int, Mapping[str, Any]],
    expected_versions: Mapping[int, int] | None = None,
    reason: str,
) -> list[Milestone]:
    """Set status and/or percent on many milestones at once, all or nothing.

    One locking read, one bulk update and one bulk history insert per batch,
    whatever the number of milestones: no query per row.
    """
    allowed = {"status", "percent_complete"}
    ids = list(changes)
    rows = list(
        Milestone.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
    )
    if actor is not None:
        permitted = set(
            policy.restrict(
                Milestone.objects.filter(pk__in=ids), actor, UPDATE
            ).values_list("pk", flat=True)
        )
        if len(permitted) != len(ids):
            raise Forbidden("You may not update every milestone in this batch.")
    if len(rows) != len(ids):
        raise Invalid("Some milestones no longer exist.")
    previous_status = {m.pk: m.status for m in rows}
    errors: dict[str, list[str]] = {}
    now = timezone.now()
    for milestone in rows:
        wanted = changes[milestone.pk]
        if set(wanted) - allowed:
            raise Invalid("Only status and percent complete can be set in bulk.")
        if expected_versions and expected_versions.get(milestone.pk) not in (
            None,
            milestone.version,
        ):
            raise Conflict(
                f"{milestone} was changed by someone else meanwhile; nothing saved.",
                errors={str(milestone.pk): ["Stale version."]},
            )
        if "status" in wanted:
            _check_cancelling(actor, milestone, wanted["status"])
        for field, value in wanted.items():
            setattr(milestone, field, value)
        if milestone.status == Status.COMPLETED and milestone.requires_validation:
            milestone.status = Status.PENDING_VALIDATION
        try:
            milestone.clean_fields(
                exclude=[
                    f.name for f in Milestone._meta.fields if f.name not in allowed
                ]
            )
        except ValidationError as exc:
            errors[str(milestone.pk)] = [
                f"{milestone}: {m}"
                for e in exc.error_dict.values()
                for x in e
                for m in x.messages
            ]
        milestone.version += 1
        milestone.last_progress_at = now
        milestone.updated_at = now
    if errors:
        raise Invalid(
            "Nothing was saved: " + " ".join(m for v in errors.values() for m in v),
            errors=errors,
        )
    bulk_update_with_history(
        rows,
        Milestone,
        ["status", "percent_complete", "version", "last_progress_at", "updated_at"],
        batch_size=500,
        default_user=actor,
        default_change_reason=reason,
    )
    _completion_gate(rows, previous_status, actor=actor, reason=reason)
    return rows


# Dependencies -------------------------------------------------------------


def _find_path(edges: Mapping[int, list[int]], start: int, goal: int) -> list[int]:
    """A path start -> goal in the graph, or [] (iterative DFS)."""
    stack = [(start, [start])]
    seen = {start}
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return []


@retry_on_deadlock
@transaction.atomic
def dependency_add(
    *,
    actor: User | None,
    predecessor: Milestone,
    successor: Milestone,
    type: str = Dependency.Type.FS,
    lag_days: int = 0,
) -> Dependency:
    """Link two milestones of one portfolio; self-links and cycles are refused."""
    if predecessor.pk == successor.pk:
        raise Invalid(
            "A milestone cannot depend on itself.",
            errors={"predecessor": ["A milestone cannot depend on itself."]},
        )
    _require(actor, CHANGE, successor)
    if predecessor.portfolio_id != successor.portfolio_id:
        raise Invalid(
            "Both milestones must be in the same portfolio.",
            errors={"predecessor": ["This milestone is in another portfolio."]},
        )
    # Serialise graph edits per portfolio so two concurrent links cannot form a
    # cycle that neither saw.
    Portfolio.objects.select_for_update(no_key=True).get(pk=successor.portfolio_id)
    edges: dict[int, list[int]] = {}
    for pred_id, succ_id in Dependency.objects.filter(
        successor__portfolio_id=successor.portfolio_id
    ).values_list("predecessor_id", "successor_id"):
        edges.setdefault(pred_id, []).append(succ_id)
    path = _find_path(edges, successor.pk, predecessor.pk)
    if path:
        names = dict(Milestone.objects.filter(pk__in=path).values_list("pk", "name"))
        cycle = " → ".join(names[pk] for pk in [*path, successor.pk])
        raise Invalid(
            f"This dependency would create a cycle: {cycle}.",
            errors={"predecessor": [f"Cycle: {cycle}."]},
        )
    dependency = Dependency(
        predecessor=predecessor, successor=successor, type=type, lag_days=lag_days
    )
    return _save_new(dependency, actor=actor, reason="Dependency added")


@transaction.atomic
def dependency_update(
    *,
    actor: User | None,
    dependency: Dependency,
    type: str | None = None,
    lag_days: int | None = None,
) -> Dependency:
    """Change a dependency's type or lag."""
    _require(actor, CHANGE, dependency.successor)
    if type is not None:
        dependency.type = type
    if lag_days is not None:
        dependency.lag_days = lag_days
    set_history_user(dependency, actor)
    try:
        dependency.full_clean()
    except ValidationError as exc:
        raise invalid_from(exc) from exc
    dependency.save(update_fields=["type", "lag_days"])
    return dependency


@transaction.atomic
def dependency_remove(*, actor: User | None, dependency: Dependency) -> None:
    """Remove a dependency."""
    _require(actor, CHANGE, dependency.successor)
    set_history_user(dependency, actor)
    set_change_reason(dependency, "Dependency removed")
    dependency.delete()


# Checkpoints, allocations, KPIs -------------------------------------------


def checkpoint_create(
    *, actor: User | None, milestone: Milestone, **fields: Any
) -> Checkpoint:
    """Add a checkpoint to a milestone's timeline."""
    _require(actor, CHANGE, milestone)
    return _save_new(Checkpoint(milestone=milestone, **fields), actor=actor)


def allocation_create(
    *, actor: User | None, milestone: Milestone, **fields: Any
) -> ResourceAllocation:
    """Allocate FTEs of an org unit to a milestone."""
    _require(actor, CHANGE, milestone)
    return _save_new(ResourceAllocation(milestone=milestone, **fields), actor=actor)


def kpi_create(*, actor: User | None, portfolio: Portfolio, **fields: Any) -> KPI:
    """Define a KPI on a portfolio, one of its objectives or one of its milestones."""
    _require(actor, CHANGE, portfolio)
    return _save_new(KPI(portfolio=portfolio, **fields), actor=actor)


def kpi_record(
    *, actor: User | None, kpi: KPI, measured_on: date, value: Decimal, note: str = ""
) -> KPIMeasurement:
    """Record a KPI value (contributors in scope may, for milestone KPIs)."""
    _require(
        actor, UPDATE, kpi.milestone if kpi.milestone is not None else kpi.portfolio
    )
    measurement = KPIMeasurement(
        kpi=kpi, measured_on=measured_on, value=value, note=note, recorded_by=actor
    )
    return _save_new(measurement, actor=actor)


@transaction.atomic
def milestone_apply_approved(
    *,
    actor: User | None,
    milestone: Milestone,
    values: Mapping[str, Any],
    reason: str,
) -> Milestone:
    """Apply what an approver accepted (a new baseline, a validated
    completion) to a milestone the caller has locked (``milestone_lock``):
    the one writer of a baseline after ``milestone_create``, called by
    ``approvals.services.approval_decide`` once it has checked the decision.
    Recorded in history with ``reason``; escalations are evaluated again and
    ``milestone_updated`` sent once it commits, as after a progress update."""
    fields = []
    for field, value in values.items():
        setattr(milestone, field, value)
        fields.append(field)
    _save_milestone(milestone, actor=actor, fields=fields, reason=reason)
    actor_id = actor.pk if actor is not None else None
    milestone_id = milestone.pk
    checks_queue([milestone_id])
    transaction.on_commit(
        lambda: milestone_updated.send(
            sender=Milestone,
            milestone_id=milestone_id,
            update_id=None,
            actor_id=actor_id,
        )
    )
    return milestone


def milestone_lock(milestone_id: int) -> Milestone:
    """The milestone, locked for this transaction (approvals decide on it)."""
    return _locked(milestone_id)


def milestone_check_version(milestone: Milestone, expected_version: int | None) -> None:
    """``Conflict`` unless the milestone is still at the version the user saw."""
    _check_version(milestone, expected_version)


# The completion gate ---------------------------------------------------------


def _completion_gate(
    milestones: list[Milestone],
    previous: Mapping[int, str],
    *,
    actor: User | None,
    reason: str,
) -> None:
    """After a progress write: announce (``completion_gate_moved``, in this
    transaction) the milestones that entered Pending validation and those that
    left it; the approvals app opens and withdraws their validations."""
    pending = Status.PENDING_VALIDATION
    entered = [
        m for m in milestones if m.status == pending and previous[m.pk] != pending
    ]
    left = [m.pk for m in milestones if previous[m.pk] == pending != m.status]
    if entered or left:
        completion_gate_moved.send(
            sender=Milestone, entered=entered, left=left, actor=actor, reason=reason
        )
