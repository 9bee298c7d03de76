"""The access matrix: who may use each route of Cairn.

Every named route of ``portal.urls`` (the admin and ``api/v1/`` included) must be
declared here. ``tests/portal/test_routes.py`` walks the URL resolver and fails,
listing them, for every route nobody declared; then it *exercises* each
declaration, so the matrix cannot drift from what the views really do.

Declaring your routes
---------------------
Add a module ``tests/routes/<area>.py`` (it is picked up automatically) with a
dict ``ROUTES`` from a namespaced route name, as you would pass it to
``reverse()``, to an entry saying who may use the route::

    from accounts.roles import Role

    from . import AdminModel, Api, LoginRequired, Public, Staff

    ROUTES = {
        "healthz": Public(),
        "milestones:mine": LoginRequired(),
        "milestones:update": LoginRequired(no_role=404),  # dummy pk: 404
        "api:milestone-list": Api(),
        "api:milestone-detail": Api(no_role=404),
        "api:milestone-*": Api(no_role=None),  # a glob covers the rest
        "admin:risks_risk_*": AdminModel(build=build_risk),
    }

A key may be an ``fnmatch`` glob; an exact key wins over a glob. A name
declared twice (in one module or two), a name matched by two globs, and a key
that matches no route (a stale declaration) are errors. Routes must be named:
only Django's own admin patterns may be unnamed.

Entry kinds, and what the test checks for each
-----------------------------------------------
``Public(status=200, no_role=None)``
    Anyone. Anonymous gets ``status``; a signed-in user without any role gets
    ``no_role`` (default: ``status``).
``LoginRequired(no_role=200)``
    Anonymous is redirected to the login page (``/accounts/login/?next=...``);
    a signed-in user without any role gets ``no_role``.
``Staff(status=200, roles=ALL_ROLES)``
    Django admin site views (``admin_view``): anonymous and signed-in users
    who are not staff end on the admin login page; a member of each role in
    ``roles`` gets ``status``, members of the other roles 403.
``Api(no_role=200, anonymous=401)``
    An API endpoint: anonymous gets ``anonymous``; a signed-in user without
    any role gets ``no_role`` (empty lists: 200, objects: 404).
``AdminModel(build=None, exception="", note="")``
    Every route of one registered ModelAdmin (changelist, add, change,
    delete, history, and any URL its ``get_urls()`` adds, whatever its name),
    keyed ``"admin:<app_label>_<model_name>_*"``. Every registered model needs
    one, and its ModelAdmin must inherit ``accounts.admin_base.RestrictedAdmin``;
    otherwise ``exception`` gives the reason, and then no role group may hold
    any permission on the model (it stays superuser-only).
    ``build(ctx, org_unit) -> object`` (optional, recommended) makes an object
    that lies inside ``org_unit``. The test builds one under ``ctx.org.fr``
    (in scope) and one under ``ctx.org.jp`` (out of scope), then signs in as:
    a user without role (sent to the admin login); a member of each role on
    ``ctx.org.emea``: if the ModelAdmin lets the role view the model, the
    changelist lists the in-scope object and not the other, the in-scope
    change page answers 200, the out-of-scope change and history pages 404
    and its delete page 403 or 404 (never 200); otherwise the changelist
    answers 403; the superuser (both listed, both open).

Options common to every entry: ``method`` (``"get"``, or ``"post"`` for
POST-only views, sent with an empty body), ``kwargs`` (URL arguments: a dict,
or ``callable(ctx) -> dict`` that may create objects), ``query`` (a query
string dict) and ``note`` (why, for readers). Without ``kwargs`` a route's
parameters get dummy values naming no object (``999999`` for ``int``,
``"missing"`` otherwise), which is why object routes usually declare
``no_role=404``. ``None`` for an expected status skips that check.

``ctx`` is a :class:`RouteContext`: ``ctx.org`` (the test organisation of
``tests.factories.build_org``) and ``ctx.portfolio`` (a portfolio on
``ctx.org.world``).
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accounts.roles import Role

ALL_ROLES: tuple[str, ...] = tuple(Role)

Kwargs = dict[str, Any] | Callable[["RouteContext"], dict[str, Any]] | None


@dataclass
class RouteContext:
    """What ``kwargs`` and ``build`` callables may use to create objects."""

    org: Any
    portfolio: Any


@dataclass(frozen=True, kw_only=True)
class Entry:
    method: str = "get"
    kwargs: Kwargs = None
    query: dict[str, str] | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Public(Entry):
    """Anyone may use the route, signed in or not."""

    status: int = 200
    no_role: int | None = None


@dataclass(frozen=True, kw_only=True)
class LoginRequired(Entry):
    """Any signed-in user; anonymous users are sent to the login page."""

    no_role: int | None = 200


@dataclass(frozen=True, kw_only=True)
class Staff(Entry):
    """An admin site view: staff only; ``roles`` get ``status``, others 403."""

    status: int = 200
    roles: tuple[str, ...] = ALL_ROLES


@dataclass(frozen=True, kw_only=True)
class Api(Entry):
    """An API endpoint: token or session authentication required."""

    no_role: int | None = 200
    anonymous: int = 401


@dataclass(frozen=True, kw_only=True)
class AdminModel:
    """Every route of one registered ModelAdmin, scoped by the access policy."""

    build: Callable[[RouteContext, Any], Any] | None = None
    exception: str = ""
    note: str = ""


@dataclass(frozen=True)
class Declaration:
    key: str
    entry: Any
    module: str

    @property
    def is_glob(self) -> bool:
        return any(c in self.key for c in "*?[")


@dataclass(frozen=True)
class Route:
    """One URL pattern: its namespaced name (``None`` if unnamed) and pattern."""

    name: str | None
    pattern: Any
    path: str


def walk_routes(urlconf: str | None = None) -> list[Route]:
    """Every URL pattern of ``urlconf`` (default: ``ROOT_URLCONF``)."""
    from django.urls import URLResolver, get_resolver

    def walk(patterns, namespaces, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = (*namespaces, p.namespace) if p.namespace else namespaces
                yield from walk(p.url_patterns, ns, prefix + str(p.pattern))
            else:
                name = ":".join((*namespaces, p.name)) if p.name else None
                yield Route(name, p.pattern, prefix + str(p.pattern))

    return list(walk(get_resolver(urlconf).url_patterns, (), "/"))


def admin_route_names(model_admin) -> set[str]:
    """The namespaced names of every URL a registered ModelAdmin defines."""
    namespace = model_admin.admin_site.name
    return {f"{namespace}:{p.name}" for p in model_admin.get_urls() if p.name}


def admin_key(model) -> str:
    """The matrix key of a model's admin routes: ``admin:<app>_<model>_*``."""
    return f"admin:{model._meta.app_label}_{model._meta.model_name}_*"


@dataclass
class Matrix:
    """Every declaration of every ``tests/routes/*.py`` module."""

    declarations: dict[str, Declaration] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, key: str, entry: Any, module: str) -> None:
        if not isinstance(entry, Entry | AdminModel):
            self.errors.append(f"{module}: {key!r} is not an access matrix entry.")
            return
        if key in self.declarations:
            other = self.declarations[key].module
            self.errors.append(f"{key!r} is declared in both {other} and {module}.")
            return
        self.declarations[key] = Declaration(key, entry, module)

    def resolve(self, names, admin_site) -> dict[str, Declaration | None]:
        """Map each route name to the declaration covering it (``None``: none).

        A registered model's admin routes belong to its ``AdminModel`` entry;
        other names match an exact key first, then a glob.
        """
        covering: dict[str, Declaration | None] = {}
        for model, model_admin in admin_site._registry.items():
            declaration = self.declarations.get(admin_key(model))
            for name in admin_route_names(model_admin):
                covering[name] = declaration
        globs = [
            d
            for d in self.declarations.values()
            if d.is_glob and not isinstance(d.entry, AdminModel)
        ]
        for name in sorted(set(names) - set(covering)):
            if name in self.declarations:
                covering[name] = self.declarations[name]
                continue
            matches = [d for d in globs if fnmatch.fnmatchcase(name, d.key)]
            if len(matches) > 1:
                keys = ", ".join(sorted(d.key for d in matches))
                self.errors.append(f"{name!r} matches several globs: {keys}.")
            covering[name] = matches[0] if matches else None
        return covering

    def admin_models(self) -> dict[str, Declaration]:
        return {
            key: d
            for key, d in self.declarations.items()
            if isinstance(d.entry, AdminModel)
        }


def collect() -> Matrix:
    """Import every module of this package and merge their ``ROUTES``."""
    matrix = Matrix()
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        routes = getattr(module, "ROUTES", None)
        if not isinstance(routes, dict):
            matrix.errors.append(f"{module.__name__} defines no ROUTES dict.")
            continue
        for key, entry in routes.items():
            matrix.add(key, entry, module.__name__)
    return matrix


def dummy_value(converter) -> Any:
    """A URL argument that names no object, for a route's converter."""
    name = type(converter).__name__
    if name == "IntConverter":
        return 999999
    if name == "UUIDConverter":
        return uuid.UUID(int=0)
    return "missing"
