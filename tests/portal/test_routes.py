"""Every route is in the access matrix (``tests/routes``), and behaves as declared."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import NoReverseMatch, resolve, reverse

from accounts.admin_base import RestrictedAdmin
from accounts.roles import Role

from .. import routes
from ..factories import UserFactory, make_member
from ..routes import AdminModel, Api, LoginRequired, Public, RouteContext, Staff

MATRIX = routes.collect()
ALL_ROUTES = routes.walk_routes()
NAMES = sorted({r.name for r in ALL_ROUTES if r.name})
COVERING = MATRIX.resolve(NAMES, admin.site)
ENTRY_ROUTES = [
    name
    for name in NAMES
    if COVERING.get(name) and not isinstance(COVERING[name].entry, AdminModel)
]
MODELS = {routes.admin_key(model): model for model in admin.site._registry}
BUILDABLE = sorted(
    key
    for key, declaration in MATRIX.admin_models().items()
    if declaration.entry.build is not None and key in MODELS
)
NO_ROLE, SUPERUSER = "no-role", "superuser"
ADMIN_USERS = (NO_ROLE, *Role, SUPERUSER)


# --- Coverage --------------------------------------------------------------


def test_every_route_is_declared_in_the_access_matrix():
    missing = [name for name in NAMES if COVERING.get(name) is None]
    assert not missing, (
        f"{len(missing)} route(s) missing from the access matrix; declare them "
        "in tests/routes/<area>.py (see tests/routes/__init__.py):\n  "
        + "\n  ".join(missing)
    )


def test_access_matrix_has_no_duplicate_or_stale_declaration():
    problems = list(MATRIX.errors)
    for key, declaration in MATRIX.declarations.items():
        if isinstance(declaration.entry, AdminModel):
            if key not in MODELS:
                problems.append(f"{key!r}: no model registered in the admin.")
        elif declaration.is_glob:
            if not any(c is declaration for c in COVERING.values()):
                problems.append(f"{key!r}: the glob matches no route.")
        elif key not in NAMES:
            problems.append(f"{key!r}: no such route.")
    assert not problems, "\n".join(problems)


def test_only_django_admin_internals_are_unnamed():
    unnamed = [r.path for r in ALL_ROUTES if not r.name]
    outside_admin = [path for path in unnamed if not path.startswith("/admin/")]
    assert not outside_admin, f"Name these routes: {outside_admin}"


def test_every_admin_model_is_declared_and_restricted():
    problems = []
    for key, model in sorted(MODELS.items()):
        declaration = MATRIX.declarations.get(key)
        model_admin = admin.site._registry[model]
        if declaration is None or not isinstance(declaration.entry, AdminModel):
            problems.append(
                f"{key!r}: declare AdminModel(...) for {model._meta.label}."
            )
        elif not isinstance(model_admin, RestrictedAdmin):
            if not declaration.entry.exception:
                problems.append(
                    f"{type(model_admin).__name__} ({model._meta.label}) must inherit"
                    " accounts.admin_base.RestrictedAdmin or declare exception=..."
                )
        elif declaration.entry.exception:
            problems.append(f"{key!r} is restricted: drop its exception.")
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_unrestricted_admins_stay_superuser_only():
    """An admin outside the access policy must not open to any role."""
    leaks = []
    for key, declaration in MATRIX.admin_models().items():
        model = MODELS.get(key)
        if model is None or not declaration.entry.exception:
            continue
        types = ContentType.objects.get_for_models(
            model, for_concrete_models=False
        ).values()
        concrete = ContentType.objects.get_for_model(model)
        granted = Permission.objects.filter(
            content_type__in=[*types, concrete], group__name__in=Role.labels
        ).values_list("group__name", "codename")
        leaks += [f"{key}: {group} holds {codename}" for group, codename in granted]
    assert not leaks, "\n".join(leaks)


# --- Entries are exercised --------------------------------------------------


def _patterns(name):
    return [r.pattern for r in ALL_ROUTES if r.name == name]


def _url(name, entry, ctx_factory) -> str:
    if callable(entry.kwargs):
        kwargs = entry.kwargs(ctx_factory())
    elif entry.kwargs is not None:
        kwargs = entry.kwargs
    else:
        kwargs = None
    candidates = [kwargs] if kwargs is not None else [{}]
    if kwargs is None:
        for pattern in sorted(_patterns(name), key=lambda p: len(p.regex.groupindex)):
            converters = getattr(pattern, "converters", {}) or {}
            candidates.append(
                {
                    group: routes.dummy_value(converters.get(group))
                    for group in pattern.regex.groupindex
                }
            )
    for candidate in candidates:
        try:
            url = reverse(name, kwargs=candidate)
        except NoReverseMatch:
            continue
        return f"{url}?{urlencode(entry.query)}" if entry.query else url
    pytest.fail(f"Cannot build a URL for {name!r}: give its entry kwargs=...")


def _request(client, entry, url, **extra):
    return getattr(client, entry.method)(url, **extra)


def _assert_ends_on(response, view_name, what):
    assert response.redirect_chain, f"{what}: expected a redirect, got {response}"
    final = resolve(response.request["PATH_INFO"]).view_name
    assert (final, response.status_code) == (view_name, 200), what


def _assert_status(response, expected, what):
    if expected is not None:
        assert response.status_code == expected, f"{what}: {response}"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ENTRY_ROUTES)
def test_route_answers_as_declared(name, client, django_user_model, request):
    entry = COVERING[name].entry
    cache = {}

    def ctx():
        if "ctx" not in cache:
            cache["ctx"] = RouteContext(
                request.getfixturevalue("org"), request.getfixturevalue("portfolio")
            )
        return cache["ctx"]

    url = _url(name, entry, ctx)
    no_role_user = UserFactory(username="no-role")

    if isinstance(entry, Public):
        _assert_status(_request(client, entry, url), entry.status, "anonymous")
        client.force_login(no_role_user)
        expected = entry.status if entry.no_role is None else entry.no_role
        _assert_status(_request(client, entry, url), expected, "signed in, no role")
    elif isinstance(entry, LoginRequired):
        response = _request(client, entry, url)
        assert response.status_code == 302, f"anonymous: {response}"
        target = urlsplit(response.url)
        assert resolve(target.path).view_name == "login", response.url
        assert "next=" in target.query
        client.force_login(no_role_user)
        _assert_status(_request(client, entry, url), entry.no_role, "no role")
    elif isinstance(entry, Api):
        _assert_status(_request(client, entry, url), entry.anonymous, "anonymous")
        client.force_login(no_role_user)
        _assert_status(_request(client, entry, url), entry.no_role, "no role")
    elif isinstance(entry, Staff):
        response = _request(client, entry, url, follow=True)
        _assert_ends_on(response, "admin:login", "anonymous")
        client.force_login(no_role_user)
        response = _request(client, entry, url, follow=True)
        _assert_ends_on(response, "admin:login", "signed in, not staff")
        org = ctx().org
        for role in Role:
            client.force_login(make_member(role, org.emea, username=f"m-{role}"))
            expected = entry.status if role in entry.roles else 403
            _assert_status(_request(client, entry, url), expected, role.label)
    else:  # pragma: no cover - a new kind needs its checks here
        pytest.fail(f"No checks for {type(entry).__name__}")


# --- Admin models: scoped for every role ------------------------------------


def _admin_url(model, view, obj=None):
    info = model._meta.app_label, model._meta.model_name
    return reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk] if obj else [])


def _scope_problems(client, model, who, user, inside, outside) -> list[str]:
    """What goes wrong for one user on one admin model (empty: all is well)."""
    problems = []

    def expect(view, obj, statuses):
        status = client.get(_admin_url(model, view, obj)).status_code
        if status not in statuses:
            where = "in scope" if obj is inside else "out of scope"
            problems.append(f"{who}: {view} {where} answered {status}, not {statuses}")

    client.force_login(user)
    if who == NO_ROLE:
        for view, obj in (("changelist", None), ("change", outside)):
            response = client.get(_admin_url(model, view, obj), follow=True)
            final = resolve(response.request["PATH_INFO"]).view_name
            if final != "admin:login":
                problems.append(f"{who}: {view} ended on {final}, not admin:login")
        return problems
    changelist = client.get(_admin_url(model, "changelist"))
    model_admin = admin.site._registry[model]
    if not model_admin.has_view_or_change_permission(changelist.wsgi_request):
        if changelist.status_code != 403:
            problems.append(f"{who}: changelist answered {changelist.status_code}")
        expect("change", inside, {403})
        return problems
    if changelist.status_code != 200:
        return [f"{who}: changelist answered {changelist.status_code}"]
    listed = set(changelist.context["cl"].queryset.values_list("pk", flat=True))
    if inside.pk not in listed:
        problems.append(f"{who}: the in-scope object is not listed")
    if (outside.pk in listed) != (who == SUPERUSER):
        problems.append(
            f"{who}: the out-of-scope object is listed: {outside.pk in listed}"
        )
    expect("change", inside, {200})
    if who == SUPERUSER:
        expect("change", outside, {200})
    else:
        expect("change", outside, {404})
        expect("history", outside, {404})
        # Refused either way: 404 when the role may delete such objects at all.
        expect("delete", outside, {403, 404})
    return problems


@pytest.mark.parametrize(
    "key", BUILDABLE, ids=lambda k: k.removeprefix("admin:").removesuffix("_*")
)
def test_admin_model_is_scoped_for_each_role(key, client, org, portfolio):
    model = MODELS[key]
    build = MATRIX.declarations[key].entry.build
    ctx = RouteContext(org, portfolio)
    inside, outside = build(ctx, org.fr), build(ctx, org.jp)
    problems = []
    for who in ADMIN_USERS:
        if who == NO_ROLE:
            user = UserFactory(username="no-role")
        elif who == SUPERUSER:
            user = UserFactory(username="root", is_superuser=True, is_staff=True)
        else:
            user = make_member(who, org.emea, username=f"member-{who}")
        problems += _scope_problems(client, model, who, user, inside, outside)
    assert not problems, f"{model._meta.label} admin:\n" + "\n".join(problems)
