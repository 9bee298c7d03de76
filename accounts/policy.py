"""The access policy: which rows a user may view, update, change, approve or audit.

Every admin class, page, API viewset, report and task scopes its rows here, and
nowhere else.

Vocabulary
----------
*Actions* (``accounts.roles``): ``view``, ``update`` (submit progress),
``change`` (edit plans), ``approve`` (decide requests), ``audit`` (read
history and access events).

*Grants*: a :class:`~accounts.models.Membership` (user, role, scope) grants the
role's actions as django-guardian object permissions named ``<action>_scope``
on its scope object: an :class:`~accounts.models.OrgUnit` (covering its whole
subtree) or a ``milestones.Portfolio``. A single object can carry its own
guardian grant too (an external validator on one milestone). Owning an object
gives ``view``, ``update`` and ``change`` on it. Superusers may do everything;
anonymous and inactive users nothing.

API
---
``restrict(queryset, user, action="view") -> QuerySet``
    The rows of ``queryset`` the user may act on, as one SQL query: the grants
    are ``EXISTS`` subqueries, the subtree test compares materialised paths.
    Models opt in by declaring ``access_scope = Scope(...)``; querysets that
    inherit :class:`accounts.querysets.RestrictedQuerySet` expose it as
    ``Model.objects.restrict(user, action)``.

``can(user, action, obj) -> bool``
    Whether the user may take ``action`` on one object: within
    ``grants_read_once`` (every request), answered from the grants read and
    the object's scope columns without a query when its scope is declared by
    its own columns; else one query.

``get_for_user(queryset, user, action, **lookup) -> object``
    Fetch-for-action: the object, or :class:`portal.errors.NotFound` when it does
    not exist *or* is out of scope (both answer 404), or
    :class:`portal.errors.Forbidden` when the user may view it but not take the
    action (403).

``authority_limit(user, *, org_unit, portfolio) -> Decimal | None``
    The largest authority limit of the user's executive memberships covering
    the org unit or the portfolio; ``None`` if they have none.

``grant(user, actions, obj)`` / ``revoke(user, actions, obj)``
    Per-object guardian grants, for exceptions and for the membership service.

``grants_read_once()``
    A context manager for one request (``portal.middleware``): inside it, a
    user's grants (the org units their subtree grants cover, their portfolio
    grants, their per-object grants) are read once for every action, in two
    queries (a UNION over the grant tables, then the units of the granted
    subtrees), and ``restrict`` filters by those ids instead of by
    subqueries: quicker to build (a page restricts a dozen querysets) and
    plain for the database's planner. ``grant`` and ``revoke`` forget what
    was read, so a change made in the request is seen by the rest of it.
    Outside the block (tasks, shells) every ``restrict`` asks the database.

``remembered()``
    A context manager for one unit of work that checks the same object many
    times (an import of thousands of rows into one portfolio): grants are
    read once as above, and ``can`` answers a repeated (user, action, object)
    from memory. Leaving the block forgets everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import (
    Exists,
    F,
    Field,
    ForeignObjectRel,
    Max,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import Cast, Length, Substr

from .roles import ACTIONS, OWNER_ACTIONS, VIEW, Role

_M = TypeVar("_M", bound="Model")
_QS = TypeVar("_QS", bound="QuerySet[Any, Any]")
_K = TypeVar("_K")

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import Model

    from .models import OrgUnit, User


class SystemActor:
    """The organisation's own scheduled work (the weekly report distribution,
    sweeps that read as a whole): the policy lets it read and act on every
    row. It is no database row and no superuser (``is_superuser`` is False,
    so code outside the policy grants it nothing by mistake); it never
    appears as the author of anything: services record such work with no
    actor."""

    pk = id = None
    username = "system"
    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    is_anonymous = False

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return "Cairn (scheduled)"


SYSTEM = SystemActor()

# Whoever the policy is asked about: a user, the anonymous visitor, the
# system's own scheduled work, or nobody.
Viewer: TypeAlias = "User | AnonymousUser | SystemActor | None"


def sees_everything(user: Viewer) -> bool:
    """Superusers and the system actor: every row, every action."""
    return isinstance(user, SystemActor) or bool(user is not None and user.is_superuser)


ORG_UNIT_GRANTS = "accounts.OrgUnitUserObjectPermission"


@dataclass(frozen=True)
class Scope:
    """How a model's rows relate to scopes. Each entry is an ORM lookup path.

    ``org_unit``: path to the row's org unit ("" when the model *is* OrgUnit).
    ``portfolio``: path to the row's portfolio ("" when the model is Portfolio).
    ``owner``: path to a user whose ownership gives the owner actions.
    ``grants``: label of a guardian direct-FK table holding per-object grants.
    ``member_of``: the row is a user; visible when they hold a membership
    inside a scope the viewer may act on (and always to themselves).
    ``via``: path to a related restricted model whose access this row follows
    (for child rows such as a portfolio's categories).
    ``children``: a reverse relation; the row is also *viewable* when any of
    those children is (a contributor sees the portfolio of their milestones).
    ``requires``: further relations to restricted rows that, when set, the
    user must also be able to act on (a dependency names both its milestones;
    a KPI attached to a milestone follows that milestone, not just the
    portfolio): a row is never shown for naming what the reader cannot see.
    """

    org_unit: str | None = None
    portfolio: str | None = None
    owner: str | None = None
    grants: str | None = None
    member_of: bool = False
    via: str | None = None
    children: str | None = None
    requires: tuple[str, ...] = ()


def _check_action(action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}; expected one of {ACTIONS}.")
    return f"{action}_scope"


def _join(prefix: str, field: str) -> str:
    return f"{prefix}__{field}" if prefix else field


# Grants read once per request (see ``grants_read_once``): (kind, user id,
# codename) -> ids. None outside such a block.
# ("all", user id) marks a user whose grants were all read.
GrantKey: TypeAlias = tuple[Any, ...]
_grants_read: ContextVar[dict[GrantKey, Any] | None] = ContextVar(
    "policy_grants", default=None
)
# More ids than this stay a subquery: a literal list that long helps nobody.
MAX_LITERAL_IDS = 1000


@contextmanager
def grants_read_once() -> Iterator[None]:
    """Within the block, each user's grants are read once per action."""
    outer = _grants_read.get()
    token = _grants_read.set({} if outer is None else outer)
    try:
        yield
    finally:
        _grants_read.reset(token)


def forget_grants() -> None:
    """Drop the grants read so far in this block (after a change to them)."""
    read = _grants_read.get()
    if read is not None:
        read.clear()
    memo = _remembered.get()
    if memo is not None:
        memo.clear()


@cache
def grant_tables() -> tuple[str, ...]:
    """Every grant table: the org units' (subtree grants), then each table a
    model's scope declares (``Scope(grants=...)``): the policy names no other
    app's tables."""
    labels = {
        scope.grants
        for model in apps.get_models()
        if (scope := scope_of(model)) is not None and scope.grants
    }
    return (ORG_UNIT_GRANTS, *sorted(labels - {ORG_UNIT_GRANTS}))


def scope_of(model: type[Model]) -> Scope | None:
    """The ``access_scope`` a model declares, if any."""
    scope: Scope | None = getattr(model, "access_scope", None)
    return scope


def _declared_scope(model: type[Model]) -> Scope:
    scope = scope_of(model)
    if scope is None:
        raise TypeError(f"{model.__name__} declares no access_scope.")
    return scope


def _portfolio_grants(model: type[Model], scope: Scope) -> str | None:
    """The grant table of the portfolio a ``scope.portfolio`` path leads to
    (declared by that model's own scope)."""
    path = scope.portfolio or ""
    target = model if path == "" else _model_at(model, path)
    return _declared_scope(target).grants


def _own_grants(scope: Scope) -> str | None:
    """The per-object grant table of a row, unless the row is a portfolio
    (whose grants ``_portfolio_grants`` reads already)."""
    return scope.grants if scope.portfolio != "" else None


def _ids_read_once(
    key: GrantKey, ids: Callable[[], QuerySet[Any, Any]]
) -> list[int] | None:
    """The ids ``ids()`` lists (a ``values_list(..., flat=True)`` queryset),
    read once per ``grants_read_once`` block; None outside a block or when
    there are too many to be worth a literal list (the caller then uses its
    subquery). The user's grants of the three scope tables are read for every
    action at once, on the first ask (:func:`_read_all_grants`)."""
    read = _grants_read.get()
    if read is None:
        return None
    if key not in read:
        kind, user_pk, codename = key
        if kind in ("units", *grant_tables()) and ("all", user_pk) not in read:
            read.update(_read_all_grants(user_pk))
            read[("all", user_pk)] = []
        if key not in read:
            listed = list(ids()[: MAX_LITERAL_IDS + 1])
            read[key] = listed if len(listed) <= MAX_LITERAL_IDS else None
    found: list[int] | None = read[key]
    return found


def _read_all_grants(user_pk: int) -> dict[GrantKey, list[int] | None]:
    """Every scope grant of the user, for every action, in two queries: one
    over the grant tables (a UNION; an org unit grant as its path), and,
    when there are org unit grants, one listing the units of their subtrees.
    Returns ``{(kind, user id, codename): ids}`` for every action (an empty
    list where there is no grant; None where a list would be too long)."""
    from django.db.models import CharField, Value

    codenames = [_check_action(action) for action in ACTIONS]

    def rows(label: str, key: str | Cast) -> QuerySet[Any, Any]:
        grants: QuerySet[Any, Any] = (
            apps.get_model(label)
            .objects.filter(user_id=user_pk, permission__codename__in=codenames)
            .order_by()
            .values_list(
                Value(label, output_field=CharField()), "permission__codename", key
            )
        )
        return grants

    as_text = Cast("content_object_id", output_field=CharField())
    tables = grant_tables()
    union = rows(ORG_UNIT_GRANTS, "content_object__path").union(
        *(rows(label, as_text) for label in tables[1:]), all=True
    )
    found: dict[GrantKey, list[int]] = {
        (kind, user_pk, codename): []
        for kind in ("units", *tables)
        for codename in codenames
    }
    paths: dict[str, set[str]] = {}
    for label, codename, key in union:
        if label == ORG_UNIT_GRANTS:
            paths.setdefault(codename, set()).add(key)
        else:
            found[(label, user_pk, codename)].append(int(key))
    if paths:
        from .models import OrgUnit

        granted = sorted(set[str]().union(*paths.values()))
        under = Q(pk__in=[])
        for path in granted:
            under |= Q(path__startswith=path)
        for pk, path in OrgUnit.objects.filter(under).values_list("pk", "path"):
            for codename, roots in paths.items():
                if any(path.startswith(root) for root in roots):
                    found[("units", user_pk, codename)].append(pk)
                if path in roots:  # the granted unit itself
                    found[(ORG_UNIT_GRANTS, user_pk, codename)].append(pk)
    return {
        key: (ids if len(ids) <= MAX_LITERAL_IDS else None)
        for key, ids in found.items()
    }


def scope_signature(user: Viewer, action: str = VIEW) -> str | None:
    """A short digest of everything that decides which rows ``user`` may take
    ``action`` on among milestones and what hangs off them: their id
    (ownership), the org units their grants cover, their portfolio, org unit
    and milestone grants, as read once in this block. Two readers with the
    same signature see the same milestones, so a figure computed for one may
    be kept for the other. None outside ``grants_read_once`` or when a grant
    list is too long to be read as a list."""
    if _grants_read.get() is None:
        return None
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if sees_everything(user):
        return "superuser"
    codename = _check_action(action)
    units = covered_org_units(user, codename)
    read = [units] + [_granted_ids(label, user, codename) for label in grant_tables()]
    lists: list[list[int]] = []
    for ids in read:
        if not isinstance(ids, list):
            return None
        lists.append(ids)
    text = repr((user.pk, [sorted(ids) for ids in lists]))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def covered_org_units(user: Viewer, codename: str) -> list[int] | QuerySet[Any, Any]:
    """Ids of the org units inside a subtree the user holds ``codename`` on.

    Uncorrelated with the rows being filtered: the database evaluates it once
    over the (small) org unit table and semi-joins the rows on their unit id,
    instead of testing the subtree row by row. Within ``grants_read_once``,
    a list of ids read once.
    """
    assert user is not None
    ids = _ids_read_once(
        ("units", user.pk, codename),
        lambda: _covered_org_units(user, codename).values_list("pk", flat=True),
    )
    return _covered_org_units(user, codename) if ids is None else ids


def _covered_org_units(user: Viewer, codename: str) -> QuerySet[OrgUnit, Any]:
    from .models import OrgUnit

    grants = apps.get_model(ORG_UNIT_GRANTS).objects.filter(
        user=user, permission__codename=codename
    )
    # A unit lies in the granted unit's subtree when the granted path is a
    # prefix of its path.
    covering = grants.annotate(granted_len=Length("content_object__path")).filter(
        content_object__path=Substr(
            OuterRef("path"),
            1,
            F("granted_len"),  # type: ignore[arg-type]  # an F() is an expression too
        )
    )
    return OrgUnit.objects.filter(Exists(covering)).values("pk")


def _org_unit_q(user: Viewer, codename: str, lookup: str) -> Q:
    return Q(**{f"{lookup or 'pk'}__in": covered_org_units(user, codename)})


def _granted_ids(label: str, user: Viewer, codename: str) -> list[int] | None:
    """Ids of the objects a per-object grant table gives ``user`` ``codename``
    on, read once within ``grants_read_once``; None outside a block (or when
    there are too many), meaning: use the correlated ``EXISTS``."""
    assert user is not None
    return _ids_read_once(
        (label, user.pk, codename),
        lambda: (
            apps.get_model(label)
            .objects.filter(user=user, permission__codename=codename)
            .order_by()
            .values_list("content_object_id", flat=True)
        ),
    )


def _portfolio_q(user: Viewer, codename: str, lookup: str, label: str) -> Q:
    ids = _granted_ids(label, user, codename)
    if ids is not None:
        return Q(**{f"{lookup or 'pk'}__in": ids})
    grants = apps.get_model(label).objects.filter(
        user=user,
        permission__codename=codename,
        content_object=OuterRef(lookup or "pk"),
    )
    return Q(Exists(grants))


def _model_at(model: type[Model], path: str) -> type[Model]:
    """The model at the end of an ORM path (``"milestone__portfolio"``)."""
    for name in path.split("__"):
        related = model._meta.get_field(name).related_model
        if related is None or isinstance(related, str):
            raise TypeError(f"{model.__name__}.{name} is no relation.")
        model = related
    return model


def _restricted_all(
    model: type[Model], user: Viewer, action: str
) -> QuerySet[Any, Any]:
    """``restrict(model.objects.all(), user, action)``, built once per
    ``grants_read_once`` block: a scope through a relation (``via``,
    ``requires``, ``children``, ``member_of``) nests the related model's
    filter, and a page scoping a dozen models nests the same few again and
    again (the audit trail, 20 history tables). Forgotten with the grants."""
    read = _grants_read.get()
    if read is None:
        return restrict(model._default_manager.all(), user, action)
    key = ("restricted", model._meta.label_lower, getattr(user, "pk", None), action)
    if key not in read:
        read[key] = restrict(model._default_manager.all(), user, action)
    found: QuerySet[Any, Any] = read[key]
    return found


def grants_within_view(user: Viewer, action: str) -> bool:
    """Whether every grant ``user`` holds for ``action`` they also hold for
    ``view`` (as read once in this block), so that ``restrict(action)`` is
    within ``restrict(view)`` for every model: the policy combines the same
    grants the same way for every action, and owning an object or seeing
    its children only ever widens ``view``. False when unsure (outside a
    block, a grant list too long)."""
    if _grants_read.get() is None:
        return False
    small, large = _check_action(action), _check_action(VIEW)
    pairs: list[tuple[object, object]] = [
        (covered_org_units(user, small), covered_org_units(user, large))
    ]
    pairs += [
        (_granted_ids(label, user, small), _granted_ids(label, user, large))
        for label in grant_tables()
    ]
    return all(
        isinstance(a, list) and isinstance(b, list) and set(a) <= set(b)
        for a, b in pairs
    )


def scope_q(model: type[Model], user: Viewer, action: str) -> Q:
    """The filter selecting ``model`` rows the (non-superuser) user may act on."""
    codename = _check_action(action)
    scope: Scope | None = getattr(model, "access_scope", None)
    if scope is None:
        raise TypeError(f"{model.__name__} declares no access_scope.")
    if scope.via is not None:
        related = _model_at(model, scope.via)
        inner = _restricted_all(related, user, action)
        return Q(**{f"{scope.via}__in": inner.values("pk")}) & _required_q(
            model, scope, user, action
        )
    query = Q(pk__in=[])
    if scope.org_unit is not None:
        query |= _org_unit_q(user, codename, scope.org_unit)
    portfolio_grants = (
        _portfolio_grants(model, scope) if scope.portfolio is not None else None
    )
    if portfolio_grants is not None:
        query |= _portfolio_q(user, codename, scope.portfolio or "", portfolio_grants)
    if scope.owner is not None and action in OWNER_ACTIONS:
        query |= Q(**{scope.owner: user})
    own_grants = _own_grants(scope)
    if own_grants is not None:
        ids = _granted_ids(own_grants, user, codename)
        if ids is not None:
            query |= Q(pk__in=ids)
        else:
            grants = apps.get_model(own_grants).objects.filter(
                user=user,
                permission__codename=codename,
                content_object=OuterRef("pk"),
            )
            query |= Q(Exists(grants))
    if scope.children is not None and action == VIEW:
        relation = model._meta.get_field(scope.children)
        assert isinstance(relation, ForeignObjectRel)
        children = _restricted_all(relation.related_model, user, VIEW)
        query |= Q(pk__in=children.values(relation.field.name))
    if scope.member_of:
        from .models import Membership

        visible = _restricted_all(Membership, user, action)
        assert user is not None
        query |= Q(pk=user.pk) | Q(memberships__in=visible.values("pk"))
    return query


def _required_q(model: type[Model], scope: Scope, user: Viewer, action: str) -> Q:
    """Each relation of ``scope.requires``: empty, or a row the user may act on."""
    query = Q()
    for path in scope.requires:
        related = _model_at(model, path)
        inner = _restricted_all(related, user, action)
        query &= Q(**{f"{path}__isnull": True}) | Q(
            **{f"{path}__in": inner.values("pk")}
        )
    return query


def restrict(queryset: _QS, user: Viewer, action: str = VIEW) -> _QS:
    """The rows of ``queryset`` that ``user`` may take ``action`` on."""
    _check_action(action)
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if sees_everything(user):
        return queryset
    query = scope_q(queryset.model, user, action)
    scope = _declared_scope(queryset.model)
    if scope.member_of:
        # Joining memberships may repeat a user.
        return queryset.filter(
            pk__in=queryset.model._default_manager.filter(query).values("pk")
        )
    return queryset.filter(query)


_remembered: ContextVar[dict[tuple[Any, ...], bool] | None] = ContextVar(
    "policy_remembered", default=None
)


@contextmanager
def remembered() -> Iterator[None]:
    """Within the block, ``can`` checks each (user, action, object) once and
    grants are read once (``grants_read_once``)."""
    token = _remembered.set({} if _remembered.get() is None else _remembered.get())
    try:
        with grants_read_once():
            yield
    finally:
        _remembered.reset(token)


def can(user: Viewer, action: str, obj: Model) -> bool:
    """Whether ``user`` may take ``action`` on ``obj``."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if sees_everything(user):
        return True
    answer = _can_from_grants_read(user, action, obj)
    if answer is not None:
        return answer
    memo = _remembered.get()
    key = (user.pk, action, obj._meta.label_lower, obj.pk)
    if memo is not None and key in memo:
        return memo[key]
    manager = type(obj)._default_manager
    answer = restrict(manager.filter(pk=obj.pk), user, action).exists()
    if memo is not None and obj.pk is not None:
        memo[key] = answer
    return answer


def _can_from_grants_read(user: Viewer, action: str, obj: Model) -> bool | None:
    """``can`` answered without a query, from the grants read once in this
    block and the object's own scope columns (its org unit, portfolio, owner
    and id), for models whose scope is declared by those columns alone; the
    same test ``restrict`` makes in SQL. None when that is not possible
    (outside a block, a scope through a relation, a grant list too long, an
    unsaved object), and the caller asks the database."""
    if _grants_read.get() is None or obj.pk is None or user is None:
        return None
    scope = scope_of(type(obj))
    if scope is None or scope.via is not None or scope.member_of:
        return None
    codename = _check_action(action)

    def column(path: str) -> Any:
        if path == "":
            return obj.pk
        if "__" in path:
            raise LookupError(path)
        field = obj._meta.get_field(path)
        if not isinstance(field, Field):
            raise LookupError(path)
        return getattr(obj, field.attname)

    try:
        if scope.org_unit is not None:
            units = covered_org_units(user, codename)
            if not isinstance(units, list):
                return None
            if column(scope.org_unit) in units:
                return True
        portfolio_grants = (
            _portfolio_grants(type(obj), scope) if scope.portfolio is not None else None
        )
        if portfolio_grants is not None:
            ids = _granted_ids(portfolio_grants, user, codename)
            if ids is None:
                return None
            if column(scope.portfolio or "") in ids:
                return True
        if scope.owner is not None and action in OWNER_ACTIONS:
            if column(scope.owner) == user.pk:
                return True
        own_grants = _own_grants(scope)
        if own_grants is not None:
            ids = _granted_ids(own_grants, user, codename)
            if ids is None:
                return None
            if obj.pk in ids:
                return True
    except LookupError:
        return None
    if scope.children is not None and action == VIEW:
        return None  # seen through a child row: the database knows
    return False


def require(actor: Viewer, action: str, obj: Model) -> None:
    """A service's check before it acts: system work (``actor`` None) is
    trusted; a user who cannot see ``obj`` gets ``NotFound`` (as if missing),
    one who sees it but may not take ``action`` ``Forbidden``."""
    from portal.errors import Forbidden, NotFound

    if actor is None:
        return
    label = obj._meta.verbose_name
    if not can(actor, VIEW, obj):
        raise NotFound(f"No such {label}.")
    if not can(actor, action, obj):
        raise Forbidden(f"You may not {action} this {label}.")


def get_for_user(
    queryset: QuerySet[_M, _M], user: Viewer, action: str = VIEW, **lookup: Any
) -> _M:
    """Fetch one object for ``action``: 404 if unseen, 403 if seen but not allowed."""
    from portal.errors import Forbidden, NotFound

    label = queryset.model._meta.verbose_name
    try:
        obj = restrict(queryset, user, VIEW).get(**lookup)
    except (
        ObjectDoesNotExist,  # the model's DoesNotExist
        ValueError,
        TypeError,
        ValidationError,  # a malformed UUID, for instance
    ) as exc:
        raise NotFound(f"No such {label}.") from exc
    if action != VIEW and not can(user, action, obj):
        raise Forbidden(f"You may not {action} this {label}.")
    return obj


def authority_limit(
    user: User, *, org_unit: OrgUnit | None = None, portfolio: Model | None = None
) -> Decimal | None:
    """Largest authority limit among the user's executive memberships covering
    ``org_unit`` (an ancestor-or-self) or ``portfolio``."""
    from .models import Membership

    query = Q(pk__in=[])
    if org_unit is not None:
        prefixes = ancestor_paths(org_unit.path)
        query |= Q(org_unit__path__in=prefixes)
    if portfolio is not None:
        query |= Q(portfolio=portfolio)
    result = Membership.objects.filter(query, user=user, role=Role.EXECUTIVE).aggregate(
        limit=Max("authority_limit")
    )
    limit: Decimal | None = result["limit"]
    return limit


def ancestor_paths(path: str) -> list[str]:
    """The materialised paths of an org unit and every unit above it."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


# Who may act ----------------------------------------------------------------------


def holders(action: str, objects: Iterable[Model]) -> dict[int, list[User]]:
    """Who may take ``action`` on each of ``objects`` (one model, whose scope
    is declared by its own relations: org unit, portfolio, owner, per-object
    grants), by object id: the active users holding a grant that covers the
    object (a membership on its org unit or a unit above, or on its
    portfolio, or a grant on the object itself) or owning it, sorted by
    username. Superusers are listed only when they hold such a grant (they
    may act anyway, but are not asked). Five queries whatever the number of
    objects; the reverse of :func:`restrict`, and the only reader of grants
    besides it."""
    from django.contrib.auth import get_user_model

    objects = list(objects)
    if not objects:
        return {}
    model = type(objects[0])
    scope: Scope | None = getattr(model, "access_scope", None)
    if scope is None or scope.via is not None or scope.member_of:
        raise TypeError(f"{model.__name__}: holders need a scope of its own columns.")
    codename = _check_action(action)
    pks = [obj.pk for obj in objects]
    columns = ["pk"]
    if scope.org_unit is not None:
        columns.append(_join(scope.org_unit, "path") if scope.org_unit else "path")
    if scope.portfolio is not None:
        columns.append(scope.portfolio or "pk")
    if scope.owner is not None:
        columns.append(scope.owner)
    rows = model._default_manager.filter(pk__in=pks).values_list(*columns)
    found: dict[int, set[int]] = {pk: set() for pk in pks}
    unit_paths: dict[int, list[str]] = {}
    portfolio_of: dict[int, int] = {}
    for row in rows:
        values = iter(row)
        pk = next(values)
        if scope.org_unit is not None:
            unit_paths[pk] = ancestor_paths(next(values) or "")
        if scope.portfolio is not None:
            portfolio_of[pk] = next(values)
        if scope.owner is not None:
            owner = next(values)
            if owner is not None and action in OWNER_ACTIONS:
                found[pk].add(owner)
    if unit_paths:
        wanted = set().union(*unit_paths.values())
        by_path: dict[str, set[int]] = {}
        for user_id, path in (
            apps.get_model(ORG_UNIT_GRANTS)
            .objects.filter(
                permission__codename=codename, content_object__path__in=wanted
            )
            .values_list("user_id", "content_object__path")
        ):
            by_path.setdefault(path, set()).add(user_id)
        for pk, paths in unit_paths.items():
            for path in paths:
                found[pk] |= by_path.get(path, set())
    per_object: list[tuple[str, dict[int, int]]] = []
    if portfolio_of:
        label = _portfolio_grants(model, scope)
        if label is not None:
            per_object.append((label, portfolio_of))
    own_grants = _own_grants(scope)
    if own_grants is not None:
        per_object.append((own_grants, {pk: pk for pk in pks}))
    for label, target in per_object:
        by_target: dict[int, set[int]] = {}
        for user_id, target_id in (
            apps.get_model(label)
            .objects.filter(
                permission__codename=codename, content_object__in=set(target.values())
            )
            .values_list("user_id", "content_object_id")
        ):
            by_target.setdefault(target_id, set()).add(user_id)
        for pk, target_id in target.items():
            found[pk] |= by_target.get(target_id, set())
    users = get_user_model()._default_manager.filter(
        pk__in=set[int]().union(*found.values()), is_active=True
    )
    by_id = {u.pk: u for u in users}
    return {
        pk: sorted(
            (by_id[u] for u in ids if u in by_id), key=lambda u: u.get_username()
        )
        for pk, ids in found.items()
    }


def role_holders(
    wanted: dict[_K, tuple[str, int, tuple[str, ...]]],
) -> dict[_K, list[User]]:
    """The active members of a role within a scope, for each key of
    ``wanted``: ``(role, portfolio id, org unit paths)`` means members of
    ``role`` on that portfolio or on any of those units or a unit above
    them. One query for every key. For work addressed to a role (an
    escalation's target role, a portfolio's executives) rather than to an
    action."""
    from .models import Membership

    if not wanted:
        return {}
    covering = {
        key: {p for path in paths for p in ancestor_paths(path)}
        for key, (_, _, paths) in wanted.items()
    }
    memberships = list(
        Membership.objects.filter(
            role__in={role for role, _, _ in wanted.values()}, user__is_active=True
        )
        .filter(
            Q(portfolio_id__in={pid for _, pid, _ in wanted.values()})
            | Q(org_unit__path__in=set[str]().union(*covering.values()))
        )
        .select_related("user", "org_unit")
        .order_by("user__username", "pk")
    )
    result: dict[_K, list[User]] = {}
    for key, (role, portfolio_id, _) in wanted.items():
        users: dict[int, User] = {}
        for m in memberships:
            if m.role == role and (
                m.portfolio_id == portfolio_id
                or (m.org_unit is not None and m.org_unit.path in covering[key])
            ):
                users.setdefault(m.user_id, m.user)
        result[key] = list(users.values())
    return result


def holds_role(
    user: Viewer, role: str, *, portfolio_id: int, org_unit_paths: tuple[str, ...]
) -> bool:
    """Whether ``user`` is a member of ``role`` on the portfolio or on one of
    the units (or above); superusers always, inactive users never."""
    from .models import Membership

    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if sees_everything(user):
        return True
    assert not isinstance(user, SystemActor)  # sees everything
    paths = {p for path in org_unit_paths for p in ancestor_paths(path)}
    return Membership.objects.filter(
        Q(portfolio_id=portfolio_id) | Q(org_unit__path__in=paths),
        user=user,
        role=role,
    ).exists()


def grant(user: User, actions: Iterable[str], obj: Model) -> None:
    """Give ``user`` the scope permissions for ``actions`` on ``obj``."""
    from guardian.shortcuts import assign_perm

    for action in actions:
        assign_perm(_check_action(action), user, obj)
    forget_grants()


def revoke(user: User, actions: Iterable[str], obj: Model) -> None:
    """Withdraw the scope permissions for ``actions`` on ``obj``."""
    from guardian.shortcuts import remove_perm

    for action in actions:
        remove_perm(_check_action(action), user, obj)
    forget_grants()
