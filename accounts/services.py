"""Writes of the accounts app: org units and memberships.

Memberships are the only source of scope grants: creating or deleting one
recomputes the user's guardian permissions on that scope, so grants never
drift from memberships.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model, ProtectedError, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portal.errors import Invalid
from portal.kernel import invalid_from, set_history_user

from . import policy, signals
from .models import ApiToken, Membership, OrgUnit, User
from .roles import ACTIONS, ROLE_ACTIONS, Role


def org_unit_create(
    *, actor: User | None, name: str, code: str, kind: str, parent: OrgUnit | None
) -> OrgUnit:
    """Add a unit to the tree under ``parent`` (``None`` only for the global unit).

    Kinds nest global > region > country > site, and there is one global unit:
    the organisation is a single tree.
    """
    unit = OrgUnit(name=name, code=code, kind=kind, parent=parent)
    unit.path = f"{parent.path if parent else '/'}{code}/"
    set_history_user(unit, actor)
    try:
        unit.full_clean()
    except ValidationError as exc:
        raise invalid_from(exc) from exc
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


def org_unit_update(*, actor: User | None, unit: OrgUnit, **fields: Any) -> OrgUnit:
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
        set_history_user(unit, actor)
        try:
            unit.full_clean()
        except ValidationError as exc:
            raise invalid_from(exc) from exc
        unit.save(update_fields=list(fields))
    return unit


def org_unit_delete(*, actor: User | None, unit: OrgUnit) -> None:
    """Remove a unit nothing depends on (no children, portfolios, milestones).

    Memberships on the unit go with it, and so do the grants they gave.
    """
    with transaction.atomic():
        members = list(User.objects.filter(memberships__org_unit=unit).distinct())
        set_history_user(unit, actor)
        try:
            unit.delete()
        except ProtectedError as exc:
            raise Invalid(
                f"{unit} still has sub-units, portfolios or milestones; "
                "move or remove them first."
            ) from exc
        for user in members:
            _sync_groups(user, actor)


def _sync_scope_grants(user: User, scope: Model) -> None:
    """Make the user's guardian grants on ``scope`` match their memberships."""
    field = "org_unit" if isinstance(scope, OrgUnit) else "portfolio"
    roles = Membership.objects.filter(user=user, **{field: scope}).values_list(
        "role", flat=True
    )
    wanted = set().union(*(ROLE_ACTIONS[r] for r in roles)) if roles else set()
    policy.revoke(user, set(ACTIONS) - wanted, scope)
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
        set_history_user(user, actor)
        user.save(update_fields=["is_staff"])


def membership_create(
    *,
    actor: User | None,
    user: User,
    role: str,
    org_unit: OrgUnit | None = None,
    portfolio: Any = None,  # a milestones.Portfolio: a layer above, not imported
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
    set_history_user(membership, actor)
    try:
        membership.full_clean()
    except ValidationError as exc:
        raise invalid_from(exc) from exc
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
        set_history_user(membership, actor)
        try:
            membership.full_clean()
        except ValidationError as exc:
            raise invalid_from(exc) from exc
        membership.save(update_fields=["authority_limit"])
    return membership


def membership_delete(*, actor: User | None, membership: Membership) -> None:
    """Remove a membership and the grants that only it gave."""
    user, scope = membership.user, membership.scope
    with transaction.atomic():
        set_history_user(membership, actor)
        membership.delete()
        _sync_scope_grants(user, scope)
        _sync_groups(user, actor)


# Passwords, deactivation and API tokens ------------------------------------------


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def password_fingerprint(user: User) -> str:
    """A keyed digest of the user's password hash: a token made under one
    password no longer matches once the password changes, by whatever path."""
    return salted_hmac(
        "cairn.accounts.api-token", user.password, algorithm="sha256"
    ).hexdigest()


def api_token_find(secret: str) -> ApiToken | None:
    """The token whose secret is ``secret`` (with its user), or None."""
    return (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_digest(secret))
        .first()
    )


def api_token_create(
    *, user: User, name: str = "", request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """Issue a new named token for ``user``; returns it with its secret, which
    is shown once and never stored (only its digest is)."""
    now = timezone.now()
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=(name or "").strip() or f"API token {now:%Y-%m-%d %H:%M}",
        key_hash=_token_digest(secret),
        password_fingerprint=password_fingerprint(user),
        created=now,
        expires=now + timedelta(days=settings.API_TOKEN_TTL_DAYS),
    )
    try:
        token.full_clean(exclude=["user"])
    except ValidationError as exc:
        raise invalid_from(exc) from exc
    with transaction.atomic():
        token.save()
        signals.announce(
            signals.TOKEN_CREATED,
            user=user,
            request=request,
            obj=token,
            details={"name": token.name, "expires": token.expires},
        )
    return token, secret


def api_token_touch(token: ApiToken) -> None:
    """Note the token's use, at most once a minute (a write per request would
    cost more than the answer)."""
    now = timezone.now()
    stale = now - timedelta(minutes=1)
    if token.last_used is None or token.last_used < stale:
        # Not a tracked model: a plain UPDATE, no history row; the condition
        # keeps concurrent requests from all writing it.
        ApiToken.objects.filter(
            Q(last_used__isnull=True) | Q(last_used__lt=stale), pk=token.pk
        ).update(last_used=now)
        token.last_used = now


def api_token_revoke(
    *, actor: User, token: ApiToken, request: HttpRequest | None = None
) -> None:
    """Revoke one token; only its owner may (others get a 404 before this)."""
    if token.user_id != actor.pk:
        raise Invalid("Only the owner may revoke a token.")
    with transaction.atomic():
        signals.announce(
            signals.TOKEN_REVOKED,
            user=actor,
            request=request,
            obj=token,
            details={"name": token.name, "reason": "revoked by its owner"},
        )
        token.delete()


def api_tokens_revoke_all(*, user: User, reason: str, actor: User | None = None) -> int:
    """Revoke every token of ``user`` (password change, deactivation)."""
    with transaction.atomic():
        names = list(user.api_tokens.values_list("name", flat=True))
        if not names:
            return 0
        user.api_tokens.all().delete()
        signals.announce(
            signals.TOKEN_REVOKED,
            user=actor or user,
            username=user.username,
            details={"names": names, "reason": reason, "owner": user.username},
        )
    return len(names)


def user_password_set(*, actor: User | None, user: User, password: str | None) -> User:
    """Set (or, with ``None``, disable) ``user``'s password and revoke their
    API tokens. Every password change (own page, admin) comes through here."""
    with transaction.atomic():
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        set_history_user(user, actor)
        user.save(update_fields=["password"])
        api_tokens_revoke_all(user=user, reason="password change", actor=actor)
    return user


def user_deactivate(*, actor: User | None, user: User) -> User:
    """Deactivate ``user`` (they can no longer sign in) and revoke their tokens."""
    with transaction.atomic():
        if User.objects.filter(pk=user.pk, is_active=True).exists():
            user.is_active = False
            set_history_user(user, actor)
            user.save(update_fields=["is_active"])
        user.is_active = False
        api_tokens_revoke_all(user=user, reason="deactivation", actor=actor)
    return user
