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
from accounts.roles import APPROVE, CHANGE, UPDATE, VIEW
from portal.audit import bulk_create_with_history, bulk_update_with_history
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
    APPROVAL_CHANGE_FIELDS,
    DEFAULT_CATEGORIES,
    KPI,
    MILESTONE_BASELINE_FIELDS,
    ApprovalDecision,
    ApprovalRequest,
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
from .signals import milestone_updated

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
    validated = milestone.status == Status.PENDING_VALIDATION or (
        ApprovalRequest.objects.filter(
            milestone=milestone, kind=ApprovalRequest.Kind.COMPLETION
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


# Approvals -----------------------------------------------------------------
#
# Baselines (approved budget, planned dates, success criteria, weight) change
# only through an approved request: ``approval_request`` records what someone
# asks for, ``approval_decide`` applies it once approved (``_approval_apply``,
# the only writer of a milestone's baseline after ``milestone_create``).

APPROVAL_KIND_FIELDS = {
    ApprovalRequest.Kind.REAUTHORIZATION: (
        "new_approved_budget",
        "new_planned_start",
        "new_planned_completion",
    ),
    ApprovalRequest.Kind.BASELINE_CHANGE: (
        "new_planned_start",
        "new_planned_completion",
        "new_success_criteria",
        "new_weight",
        "new_requires_validation",
    ),
    ApprovalRequest.Kind.COMPLETION: (),
}
_KIND_HINTS = {
    ApprovalRequest.Kind.REAUTHORIZATION: (
        "A reauthorization changes the approved budget and planned dates; "
        "request a baseline change for success criteria, weight or the "
        "completion gate."
    ),
    ApprovalRequest.Kind.BASELINE_CHANGE: (
        "A baseline change covers planned dates, success criteria, weight and "
        "the completion gate; request a reauthorization to change the approved "
        "budget."
    ),
    ApprovalRequest.Kind.COMPLETION: (
        "A completion validation proposes no change: leave the values as they are."
    ),
}


def _approval_reason(text: str) -> str:
    # simple-history keeps 100 characters of change reason.
    return text[:100]


def _request_link(approval: ApprovalRequest) -> str:
    from django.urls import reverse

    return reverse("approvals:detail", args=[approval.pk])


def _label(field: str) -> str:
    return str(Milestone._meta.get_field(APPROVAL_CHANGE_FIELDS[field]).verbose_name)


@transaction.atomic
def approval_request(
    *,
    actor,
    milestone: Milestone | int,
    kind: str,
    reason: str,
    new_approved_budget: Decimal | None = None,
    new_planned_start: date | None = None,
    new_planned_completion: date | None = None,
    new_success_criteria: str = "",
    new_weight: Decimal | None = None,
    new_requires_validation: bool | None = None,
    escalation_id: int | None = None,
    escalation_summary: str = "",
) -> ApprovalRequest:
    """Ask for a baseline change, a reauthorization or a completion validation.

    Owners and plan changers of the milestone may ask (``change`` on it). Only
    the fields the kind covers may change (see ``APPROVAL_KIND_FIELDS``);
    values equal to the milestone's are ignored, and at least one must change
    (none for a completion validation, which needs the milestone to be
    Pending validation). The approvers in scope are notified once it commits.
    """
    milestone_id = milestone.pk if isinstance(milestone, Milestone) else milestone
    current = (
        Milestone.objects.select_related("portfolio", "org_unit", "owner")
        .filter(pk=milestone_id)
        .first()
    )
    if current is None:
        from portal.errors import NotFound

        raise NotFound("No such milestone.")
    _require(actor, CHANGE, current)
    if kind not in ApprovalRequest.Kind.values:
        raise Invalid(
            f"Unknown kind of request {kind!r}.",
            errors={"kind": [f"Choose one of {', '.join(ApprovalRequest.Kind)}."]},
        )
    if not (reason or "").strip():
        raise Invalid(
            "Say why the change is needed.",
            errors={"reason": ["Say why the change is needed."]},
        )
    if current.is_closed:
        raise Invalid(
            f"{current} is {current.get_status_display().lower()}: its baseline "
            "and completion are final."
        )
    offered = {
        "new_approved_budget": new_approved_budget,
        "new_planned_start": new_planned_start,
        "new_planned_completion": new_planned_completion,
        "new_success_criteria": (new_success_criteria or "").strip(),
        "new_weight": new_weight,
        "new_requires_validation": new_requires_validation,
    }
    changes = {
        field: value
        for field, value in offered.items()
        if value is not None
        and value != ""
        and value != getattr(current, APPROVAL_CHANGE_FIELDS[field])
    }
    allowed = APPROVAL_KIND_FIELDS[kind]
    outside = [field for field in changes if field not in allowed]
    if outside:
        raise Invalid(
            _KIND_HINTS[kind],
            errors={field: [_KIND_HINTS[kind]] for field in outside},
        )
    if kind == ApprovalRequest.Kind.COMPLETION:
        if current.status != Status.PENDING_VALIDATION:
            raise Invalid(
                f"{current} is not Pending validation: report it completed in a "
                "progress update first.",
                errors={"kind": ["The milestone is not Pending validation."]},
            )
        if ApprovalRequest.objects.filter(
            milestone=current,
            kind=ApprovalRequest.Kind.COMPLETION,
            status=ApprovalRequest.Status.PENDING,
        ).exists():
            raise Invalid(
                f"The completion of {current} already awaits validation.",
                errors={"kind": ["A completion validation is already pending."]},
            )
    elif not changes:
        raise Invalid(
            "The request changes nothing: give at least one new value.",
            errors={
                field: ["Give a new value (the current one changes nothing)."]
                for field in allowed
            },
        )
    start = changes.get("new_planned_start", current.planned_start)
    end = changes.get("new_planned_completion", current.planned_completion)
    if end < start:
        field = (
            "new_planned_completion"
            if "new_planned_completion" in changes
            else "new_planned_start"
        )
        raise Invalid(
            "The planned completion cannot be before the planned start.",
            errors={field: ["The planned completion cannot precede the start."]},
        )
    approval = ApprovalRequest(
        milestone=current,
        kind=kind,
        requested_by=actor,
        requested_at=timezone.now(),
        reason=reason.strip(),
        escalation_id=escalation_id,
        escalation_summary=escalation_summary[:400],
        **changes,
    )
    for field in changes:
        target = APPROVAL_CHANGE_FIELDS[field]
        setattr(approval, field.replace("new_", "old_", 1), getattr(current, target))
    _save_new(approval, actor=actor, reason="Requested")
    approval.milestone = current
    _notify_approvers([approval], event="requested")
    return approval


@transaction.atomic
def approval_request_for_escalation(
    *,
    milestone: Milestone | int,
    escalation_id: int,
    summary: str = "",
) -> tuple[ApprovalRequest | None, bool]:
    """The reauthorization request of one budget-overrun escalation, raised by
    the system; idempotent: one request per escalation however often it is
    called (a later call returns the first request and ``created`` False).

    The proposed budget is the milestone's estimate at completion. Returns
    ``(None, False)`` when there is nothing to reauthorize (the milestone is
    closed, or has no estimate other than its approved budget).
    """
    milestone_id = milestone.pk if isinstance(milestone, Milestone) else milestone
    try:
        with transaction.atomic():
            created = approval_requests_for_escalations(
                [(escalation_id, milestone_id, summary)]
            )
    except IntegrityError:
        created = []  # a concurrent caller created it first
    if created:
        return created[0], True
    return ApprovalRequest.objects.filter(escalation_id=escalation_id).first(), False


@transaction.atomic
def approval_requests_for_escalations(
    escalations: Iterable[tuple[int, int, str]],
) -> list[ApprovalRequest]:
    """Open the missing reauthorization requests of budget-overrun escalations,
    given as ``(escalation_id, milestone_id, summary)``; returns the new ones.

    The escalation engine calls this on every sweep with its unresolved
    budget-overrun escalations: those that already have a request are skipped
    (one query), so a second sweep opens nothing. Each new request proposes
    the milestone's estimate at completion as its approved budget, is made by
    the system (no requester: any approver in scope may decide it) and is
    announced to the approvers. A fixed number of queries whatever the number.
    """
    wanted = {int(e): (int(m), s or "") for e, m, s in escalations}
    if not wanted:
        return []
    existing = set(
        ApprovalRequest.objects.filter(escalation_id__in=list(wanted)).values_list(
            "escalation_id", flat=True
        )
    )
    todo = {e: v for e, v in wanted.items() if e not in existing}
    if not todo:
        return []
    milestones = Milestone.objects.select_related("portfolio").in_bulk(
        {m for m, _ in todo.values()}
    )
    now = timezone.now()
    rows = []
    for escalation_id, (milestone_id, summary) in sorted(todo.items()):
        milestone = milestones.get(milestone_id)
        if milestone is None or milestone.is_closed:
            continue
        budget = milestone.estimate_at_completion
        if budget is None or budget == milestone.approved_budget:
            continue
        summary = summary.strip()
        reason = (
            f"Financial review of budget overrun escalation #{escalation_id}: "
            "reauthorize the estimate at completion as the approved budget."
        )
        rows.append(
            ApprovalRequest(
                milestone=milestone,
                kind=ApprovalRequest.Kind.REAUTHORIZATION,
                requested_by=None,
                requested_at=now,
                reason=reason,
                new_approved_budget=budget,
                old_approved_budget=milestone.approved_budget,
                escalation_id=escalation_id,
                escalation_summary=summary[:400],
            )
        )
    if not rows:
        return []
    created = bulk_create_with_history(
        rows,
        ApprovalRequest,
        default_user=None,
        default_change_reason="Requested by a budget overrun escalation",
        default_date=now,
    )
    _notify_approvers(created, event="requested")
    return created


def _fetch_request(approval: ApprovalRequest | int, *, lock: bool) -> ApprovalRequest:
    approval_id = approval.pk if isinstance(approval, ApprovalRequest) else approval
    queryset = ApprovalRequest.objects.all()
    if lock:
        queryset = queryset.select_for_update(of=("self",), no_key=True)
    found = queryset.filter(pk=approval_id).first()
    if found is None:
        from portal.errors import NotFound

        raise NotFound("No such approval request.")
    return found


def _require_pending(approval: ApprovalRequest) -> None:
    if not approval.is_pending:
        raise Conflict(
            f"Request #{approval.pk} is already {approval.get_status_display().lower()}"
            "; nothing was changed.",
            errors={"status": [f"Already {approval.get_status_display().lower()}."]},
        )


@transaction.atomic
def approval_withdraw(
    *, actor, approval: ApprovalRequest | int, comment: str = ""
) -> ApprovalRequest:
    """Withdraw a pending request: its requester may (or, for a request the
    system raised, anyone who may change the milestone)."""
    current = _fetch_request(approval, lock=True)
    milestone = Milestone.objects.get(pk=current.milestone_id)
    _require(actor, VIEW, milestone)
    if actor is not None and not actor.is_superuser:
        if current.requested_by_id is not None:
            if current.requested_by_id != actor.pk:
                raise Forbidden("Only the requester may withdraw this request.")
        elif not policy.can(actor, CHANGE, milestone):
            raise Forbidden("You may not withdraw this request.")
    _require_pending(current)
    current.status = ApprovalRequest.Status.WITHDRAWN
    current.decided_at = timezone.now()
    current._history_user = actor
    current._change_reason = _approval_reason(
        "Withdrawn" + (f": {comment.strip()}" if (comment or "").strip() else "")
    )
    current.save(update_fields=["status", "decided_at"])
    current.milestone = milestone
    return current


def _snapshot(milestone: Milestone) -> dict[str, Any]:
    """The milestone as the approver saw it, JSON-ready."""
    fields = (
        "name",
        "status",
        "percent_complete",
        "approved_budget",
        "actual_spend",
        "estimate_at_completion",
        "planned_start",
        "planned_completion",
        "forecast_completion",
        "actual_completion",
        "success_criteria",
        "weight",
        "version",
    )
    values: dict[str, Any] = {}
    for field in fields:
        value = getattr(milestone, field)
        if isinstance(value, Decimal | date):
            value = str(value) if isinstance(value, Decimal) else value.isoformat()
        values[field] = value
    return values


def _authority(actor, milestone: Milestone, amount: Decimal) -> tuple:
    """(the approver's limit, whether ``amount`` is within it)."""
    if amount == 0:
        return None, True
    if actor.is_superuser:
        return None, True
    limit = policy.authority_limit(
        actor, org_unit=milestone.org_unit, portfolio=milestone.portfolio
    )
    # No limit on record means no authority to approve an amount alone.
    return limit, limit is not None and amount <= limit


@retry_on_deadlock
@transaction.atomic
def approval_decide(
    *,
    actor,
    approval: ApprovalRequest | int,
    outcome: str,
    comment: str = "",
    expected_version: int | None = None,
) -> ApprovalRequest:
    """Approve or reject a pending request, applying an approved change.

    Rules: the approver needs ``approve`` on the milestone (404 when they
    cannot see it, 403 when they see it but may not approve) and never
    decides a request they made (403); a rejection needs a comment (400); a
    request already decided, or decided meanwhile by someone else, answers
    409. ``expected_version`` is the milestone version the approver saw (409
    if it moved). A reauthorization whose amount (the budget change,
    |new - current|) exceeds the approver's authority limit stays pending
    until a second, different executive approves it too. The approved change
    is applied in this transaction, with the rows locked, and recorded in the
    milestone's history as "Approved request #N"; a rejection changes nothing
    but the request. The requester (the owner, for a request the system
    raised) is told the outcome.
    """
    if actor is None:
        raise Forbidden("A decision needs an approver.")
    # The request row is the lock two deciders compete for: the second waits,
    # then sees the first's outcome and is refused.
    current = _fetch_request(approval, lock=True)
    if not policy.can(actor, VIEW, current):
        from portal.errors import NotFound

        raise NotFound("No such approval request.")
    milestone = _locked(current.milestone_id)
    if not policy.can(actor, APPROVE, milestone):
        raise Forbidden("You may not decide requests on this milestone.")
    if current.requested_by_id == actor.pk:
        raise Forbidden("You cannot decide your own request.")
    if outcome not in ApprovalDecision.Outcome.values:
        raise Invalid(
            f"Unknown outcome {outcome!r}.",
            errors={"outcome": ["Choose approve or reject."]},
        )
    comment = (comment or "").strip()
    if outcome == ApprovalDecision.Outcome.REJECT and not comment:
        raise Invalid(
            "Say why you reject the request.",
            errors={"comment": ["A rejection needs a comment."]},
        )
    _require_pending(current)
    earlier = list(current.decisions.all())
    if any(d.approver_id == actor.pk for d in earlier):
        raise Forbidden(
            "You already approved this request: it needs a second executive."
        )
    _check_version(milestone, expected_version)
    if outcome == ApprovalDecision.Outcome.APPROVE:
        _check_still_applies(current, milestone)
    now = timezone.now()
    amount = current.amount
    limit, within = _authority(actor, milestone, amount)
    decision = ApprovalDecision(
        request=current,
        approver=actor,
        outcome=outcome,
        comment=comment,
        decided_at=now,
        authority_limit=limit,
        within_limit=within,
        snapshot=_snapshot(milestone),
    )
    _save_new(decision, actor=actor, reason=f"Decision on request #{current.pk}")
    current.milestone = milestone
    if outcome == ApprovalDecision.Outcome.REJECT:
        return _close_request(current, ApprovalRequest.Status.REJECTED, actor, now)
    if not within:
        # Recorded (the decision row says so, with the approver's limit); the
        # final approval must come from someone whose authority limit covers
        # the amount: approvals below it, however many, never add up to it.
        _notify_approvers([current], event="second", exclude={actor.pk})
        return current
    _approval_apply(current, milestone, actor=actor)
    return _close_request(current, ApprovalRequest.Status.APPROVED, actor, now)


def _check_still_applies(approval: ApprovalRequest, milestone: Milestone) -> None:
    """The version check of the request itself: the values it replaces must
    still be the milestone's (another approved change may have moved them)."""
    if approval.kind == ApprovalRequest.Kind.COMPLETION:
        if milestone.status != Status.PENDING_VALIDATION:
            raise Conflict(
                f"{milestone} is no longer Pending validation (it is "
                f"{milestone.get_status_display()}); nothing was changed.",
                errors={"status": ["The milestone left Pending validation."]},
            )
        return
    moved = []
    for field, target in APPROVAL_CHANGE_FIELDS.items():
        if getattr(approval, field) in (None, ""):
            continue
        old = getattr(approval, field.replace("new_", "old_", 1))
        if old != getattr(milestone, target):
            moved.append(_label(field))
    if moved:
        raise Conflict(
            f"The milestone's {', '.join(moved)} changed since request "
            f"#{approval.pk} was made; nothing was changed. Reject it, or ask the "
            "requester to withdraw it and request again.",
            errors={"version": ["The baseline changed since the request."]},
        )


def _approval_apply(approval: ApprovalRequest, milestone: Milestone, *, actor) -> None:
    """Apply an approved request to its (locked) milestone: the one place a
    baseline changes after planning, with "Approved request #N" in history."""
    reason = f"Approved request #{approval.pk}"
    if approval.kind == ApprovalRequest.Kind.COMPLETION:
        milestone.status = Status.COMPLETED
        milestone.percent_complete = Decimal("100")
        fields = ["status", "percent_complete"]
        if milestone.actual_completion is None:
            milestone.actual_completion = timezone.localdate()
            fields.append("actual_completion")
    else:
        fields = []
        for target, value in approval.proposed().items():
            setattr(milestone, target, value)
            fields.append(target)
    _save_milestone(milestone, actor=actor, fields=fields, reason=reason)
    actor_id = actor.pk if actor is not None else None
    milestone_id = milestone.pk
    # Escalations follow the new baseline (an approved budget clears its
    # overrun); receivers run once this commits, as after a progress update.
    checks_queue([milestone_id])
    transaction.on_commit(
        lambda: milestone_updated.send(
            sender=Milestone,
            milestone_id=milestone_id,
            update_id=None,
            actor_id=actor_id,
        )
    )


def _close_request(
    approval: ApprovalRequest, status: str, actor, now: datetime
) -> ApprovalRequest:
    approval.status = status
    approval.decided_at = now
    approval._history_user = actor
    approval._change_reason = _approval_reason(
        f"{ApprovalRequest.Status(status).label} by {actor}"
    )
    approval.save(update_fields=["status", "decided_at"])
    _notify_requester(approval)
    return approval


# Completion gates ---------------------------------------------------------------


def _completion_gate(
    milestones: list[Milestone], previous: Mapping[int, str], *, actor, reason: str
) -> None:
    """After a progress write: milestones entering Pending validation get a
    completion validation request; those leaving it see theirs withdrawn."""
    pending = Status.PENDING_VALIDATION
    entered = [
        m for m in milestones if m.status == pending and previous[m.pk] != pending
    ]
    left = [m.pk for m in milestones if previous[m.pk] == pending != m.status]
    _completion_requests_open(
        entered, actor=actor, reason=f"Completion reported ({reason})."
    )
    _completion_requests_close(left, actor=actor, reason=f"superseded by {reason}")


def _completion_requests_open(milestones: list[Milestone], *, actor, reason: str):
    """Open a completion validation for each milestone that just entered
    Pending validation and has none pending (set-based: one read, one insert
    and one history insert whatever the number)."""
    if not milestones:
        return []
    pending = set(
        ApprovalRequest.objects.filter(
            milestone__in=[m.pk for m in milestones],
            kind=ApprovalRequest.Kind.COMPLETION,
            status=ApprovalRequest.Status.PENDING,
        ).values_list("milestone_id", flat=True)
    )
    now = timezone.now()
    rows = [
        ApprovalRequest(
            milestone=m,
            kind=ApprovalRequest.Kind.COMPLETION,
            requested_by=actor,
            requested_at=now,
            reason=reason,
        )
        for m in milestones
        if m.pk not in pending
    ]
    if not rows:
        return []
    created = bulk_create_with_history(
        rows,
        ApprovalRequest,
        default_user=actor,
        default_change_reason="Requested: completion reported",
    )
    _notify_approvers(created, event="requested")
    return created


def _completion_requests_close(milestone_ids: list[int], *, actor, reason: str):
    """Withdraw the pending completion validations of milestones that left
    Pending validation (a later progress update superseded them)."""
    if not milestone_ids:
        return
    stale = list(
        ApprovalRequest.objects.select_for_update(no_key=True).filter(
            milestone__in=milestone_ids,
            kind=ApprovalRequest.Kind.COMPLETION,
            status=ApprovalRequest.Status.PENDING,
        )
    )
    if not stale:
        return
    now = timezone.now()
    for approval in stale:
        approval.status = ApprovalRequest.Status.WITHDRAWN
        approval.decided_at = now
    bulk_update_with_history(
        stale,
        ApprovalRequest,
        ["status", "decided_at"],
        default_user=actor,
        default_change_reason=_approval_reason(f"Withdrawn: {reason}"),
    )


# Approval notifications ------------------------------------------------------


def approvers_by_milestone(milestones: list[Milestone]) -> dict[int, list]:
    """The active users who may approve on each milestone (executives whose
    scope covers it, per-object validators): the access policy's holders of
    ``approve``, in a fixed number of queries for any number of milestones."""
    return policy.holders(APPROVE, milestones)


def _shown(value) -> Any:
    """A proposed value as a message shows it (the gate as yes / no)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _describe(approval: ApprovalRequest) -> list[str]:
    lines = []
    for field in APPROVAL_CHANGE_FIELDS:
        new = getattr(approval, field)
        if new in (None, ""):
            continue
        old = getattr(approval, field.replace("new_", "old_", 1))
        old, new = _shown(old), _shown(new)
        lines.append(f"{_label(field).capitalize()}: {old} → {new}")
    return lines


def _messages_for(users, key: str, subject: str, body: str, link: str):
    from portal.notifications import Message

    for user in users:
        yield Message(
            "portal", f"{key}:portal:{user.pk}", subject, body, user.pk, "", link
        )
        if user.email:
            yield Message(
                "email",
                f"{key}:email:{user.pk}",
                subject,
                body,
                user.pk,
                user.email,
                link,
            )


def _notify_approvers(
    approvals: list[ApprovalRequest], *, event: str, exclude: set[int] | None = None
) -> int:
    """Tell the approvers in scope about new requests (``event`` "requested")
    or about a request awaiting a second executive ("second")."""
    from portal.notifications.services import notifications_enqueue

    if not approvals:
        return 0
    approvers = approvers_by_milestone([a.milestone for a in approvals])
    messages: list = []
    for approval in approvals:
        skip = set(exclude or ()) | {approval.requested_by_id}
        users = [u for u in approvers[approval.milestone_id] if u.pk not in skip]
        who = approval.requested_by or "the system"
        if event == "second":
            subject = f"Approval within authority needed: {approval}"
            intro = (
                f"Request #{approval.pk} was approved, but its amount "
                f"({approval.amount:,.2f}) is above that approver's authority "
                "limit: an executive whose limit covers it must approve it."
            )
        else:
            subject = f"Approval needed: {approval}"
            intro = f"{who} asks: {approval.get_kind_display()}."
        body = "\n".join(
            [
                intro,
                f"Milestone: {approval.milestone.name}",
                *_describe(approval),
                f"Reason: {approval.reason}",
            ]
        )
        messages += _messages_for(
            users,
            f"approval:{approval.pk}:{event}",
            subject,
            body,
            _request_link(approval),
        )
    return notifications_enqueue(messages)


def _notify_requester(approval: ApprovalRequest) -> int:
    """Tell the requester (the owner, for a request the system raised) how
    their request was decided."""
    from portal.notifications.services import notifications_enqueue

    recipient = approval.requested_by or approval.milestone.owner
    if recipient is None or not recipient.is_active:
        return 0
    last = approval.decisions.select_related("approver").order_by("-pk").first()
    status = approval.get_status_display().lower()
    subject = f"Request {status}: {approval}"
    body = "\n".join(
        line
        for line in (
            f"Request #{approval.pk} ({approval.get_kind_display()}) on "
            f"{approval.milestone.name} was {status}"
            + (f" by {last.approver}." if last else "."),
            f"Comment: {last.comment}" if last and last.comment else "",
            *(_describe(approval) if status == "approved" else ()),
        )
        if line
    )
    messages = _messages_for(
        [recipient],
        f"approval:{approval.pk}:{approval.status}",
        subject,
        body,
        _request_link(approval),
    )
    return notifications_enqueue(messages)
