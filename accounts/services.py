"""Writes of the accounts app: org units and memberships.

Memberships are the only source of scope grants: creating or deleting one
recomputes the user's guardian permissions on that scope, so grants never
drift from memberships.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from portal.errors import Invalid

from . import policy
from .models import Membership, OrgUnit, User
from .roles import ROLE_ACTIONS, Role


def _unique(messages) -> list[str]:
    # A rule checked both in clean() and by a constraint reports twice.
    return list(dict.fromkeys(messages))


def _invalid_from(exc: ValidationError) -> Invalid:
    if hasattr(exc, "error_dict"):
        errors = {
            k: _unique(m for e in v for m in e.messages)
            for k, v in exc.error_dict.items()
        }
        message = "; ".join(_unique(m for msgs in errors.values() for m in msgs))
        return Invalid(message, errors=errors)
    messages = _unique(exc.messages)
    return Invalid("; ".join(messages), errors={"__all__": messages})


def org_unit_create(
    *, actor: User | None, name: str, code: str, kind: str, parent: OrgUnit | None
) -> OrgUnit:
    """Add a unit to the tree under ``parent`` (``None`` only for the global unit).

    Kinds nest global > region > country > site, and there is one global unit:
    the organisation is a single tree.
    """
    unit = OrgUnit(name=name, code=code, kind=kind, parent=parent)
    unit.path = f"{parent.path if parent else '/'}{code}/"
    unit._history_user = actor
    try:
        unit.full_clean()
    except ValidationError as exc:
        raise _invalid_from(exc) from exc
    try:
        with transaction.atomic():
            if (
                kind == OrgUnit.Kind.GLOBAL
                and OrgUnit.objects.filter(kind=OrgUnit.Kind.GLOBAL).exists()
            ):
                raise Invalid(
                    "There is already a global unit; add regions under it.",
                    errors={"kind": ["There is already a global unit."]},
                )
            unit.save()
    except IntegrityError as exc:
        raise Invalid(
            "An org unit with this code already exists.",
            errors={"code": ["An org unit with this code already exists."]},
        ) from exc
    return unit


def org_unit_update(*, actor: User | None, unit: OrgUnit, **fields) -> OrgUnit:
    """Rename a unit or set its capacity; its code and place in the tree stay."""
    allowed = {"name", "fte_capacity"}
    unknown = set(fields) - allowed
    if unknown:
        raise Invalid(
            "Only the name and FTE capacity of an org unit can change.",
            errors={f: ["This field cannot change."] for f in unknown},
        )
    with transaction.atomic():
        unit = OrgUnit.objects.select_for_update(no_key=True).get(pk=unit.pk)
        for field, value in fields.items():
            setattr(unit, field, value)
        unit._history_user = actor
        try:
            unit.full_clean()
        except ValidationError as exc:
            raise _invalid_from(exc) from exc
        unit.save(update_fields=list(fields))
    return unit


def org_unit_delete(*, actor: User | None, unit: OrgUnit) -> None:
    """Remove a unit nothing depends on (no children, portfolios, milestones).

    Memberships on the unit go with it, and so do the grants they gave.
    """
    with transaction.atomic():
        members = list(User.objects.filter(memberships__org_unit=unit).distinct())
        unit._history_user = actor
        try:
            unit.delete()
        except ProtectedError as exc:
            raise Invalid(
                f"{unit} still has sub-units, portfolios or milestones; "
                "move or remove them first."
            ) from exc
        for user in members:
            _sync_groups(user, actor)


def _sync_scope_grants(user: User, scope) -> None:
    """Make the user's guardian grants on ``scope`` match their memberships."""
    field = "org_unit" if isinstance(scope, OrgUnit) else "portfolio"
    roles = Membership.objects.filter(user=user, **{field: scope}).values_list(
        "role", flat=True
    )
    wanted = set().union(*(ROLE_ACTIONS[r] for r in roles)) if roles else set()
    policy.revoke(user, set(policy.ACTIONS) - wanted, scope)
    policy.grant(user, wanted, scope)


def _sync_groups(user: User, actor: User | None) -> None:
    """Role groups and staff status follow the user's memberships."""
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    wanted = Group.objects.filter(name__in=[Role(r).label for r in roles])
    role_groups = Group.objects.filter(name__in=Role.labels)
    user.groups.remove(*role_groups.exclude(pk__in=wanted))
    user.groups.add(*wanted)
    # A membership opens the back office; losing the last one closes it
    # (superusers keep theirs).
    staff = bool(roles) or user.is_superuser
    if user.is_staff != staff:
        user.is_staff = staff
        user._history_user = actor
        user.save(update_fields=["is_staff"])


def membership_create(
    *,
    actor: User | None,
    user: User,
    role: str,
    org_unit: OrgUnit | None = None,
    portfolio=None,
    authority_limit: Decimal | None = None,
) -> Membership:
    """Give ``user`` a role in one scope (an org unit subtree or a portfolio)."""
    membership = Membership(
        user=user,
        role=role,
        org_unit=org_unit,
        portfolio=portfolio,
        authority_limit=authority_limit,
    )
    membership._history_user = actor
    try:
        membership.full_clean()
    except ValidationError as exc:
        raise _invalid_from(exc) from exc
    try:
        with transaction.atomic():
            membership.save()
            _sync_scope_grants(user, membership.scope)
            _sync_groups(user, actor)
    except IntegrityError as exc:
        raise Invalid("This user already has this role in this scope.") from exc
    return membership


def membership_update(
    *, actor: User | None, membership: Membership, authority_limit: Decimal | None
) -> Membership:
    """Change an executive's authority limit."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update(no_key=True).get(
            pk=membership.pk
        )
        membership.authority_limit = authority_limit
        membership._history_user = actor
        try:
            membership.full_clean()
        except ValidationError as exc:
            raise _invalid_from(exc) from exc
        membership.save(update_fields=["authority_limit"])
    return membership


def membership_delete(*, actor: User | None, membership: Membership) -> None:
    """Remove a membership and the grants that only it gave."""
    user, scope = membership.user, membership.scope
    with transaction.atomic():
        membership._history_user = actor
        membership.delete()
        _sync_scope_grants(user, scope)
        _sync_groups(user, actor)
