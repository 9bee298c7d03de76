"""The demo organisation and users of DESIGN.md, created idempotently."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from accounts import services
from accounts.models import Membership, OrgUnit, User
from accounts.roles import Role

# (code, name, kind, parent code)
DEMO_UNITS = (
    ("global", "Global", OrgUnit.Kind.GLOBAL, None),
    ("emea", "EMEA", OrgUnit.Kind.REGION, "global"),
    ("apac", "APAC", OrgUnit.Kind.REGION, "global"),
    ("amer", "AMER", OrgUnit.Kind.REGION, "global"),
    ("uk", "United Kingdom", OrgUnit.Kind.COUNTRY, "emea"),
    ("de", "Germany", OrgUnit.Kind.COUNTRY, "emea"),
    ("fr", "France", OrgUnit.Kind.COUNTRY, "emea"),
    ("jp", "Japan", OrgUnit.Kind.COUNTRY, "apac"),
    ("sg", "Singapore", OrgUnit.Kind.COUNTRY, "apac"),
    ("au", "Australia", OrgUnit.Kind.COUNTRY, "apac"),
    ("us", "United States", OrgUnit.Kind.COUNTRY, "amer"),
    ("br", "Brazil", OrgUnit.Kind.COUNTRY, "amer"),
    ("uk-london", "London", OrgUnit.Kind.SITE, "uk"),
    ("de-munich", "Munich", OrgUnit.Kind.SITE, "de"),
)

# (username, first, last, role, scope code, authority limit)
DEMO_USERS = (
    ("exec", "Erin", "Executive", Role.EXECUTIVE, "global", Decimal("250000")),
    ("exec2", "Eli", "Second", Role.EXECUTIVE, "global", Decimal("2000000")),
    ("pmo", "Pat", "Manager", Role.PORTFOLIO_MANAGER, "global", None),
    ("owner-emea", "Olivia", "Owner", Role.MILESTONE_OWNER, "emea", None),
    ("contributor-emea", "Chris", "Contributor", Role.CONTRIBUTOR, "emea", None),
    ("contributor-apac", "Aki", "Contributor", Role.CONTRIBUTOR, "apac", None),
    ("auditor", "Ada", "Auditor", Role.COMPLIANCE_AUDITOR, "global", None),
)


@transaction.atomic
def seed_organisation() -> dict[str, OrgUnit]:
    units: dict[str, OrgUnit] = {u.code: u for u in OrgUnit.objects.all()}
    for code, name, kind, parent in DEMO_UNITS:
        if code not in units:
            units[code] = services.org_unit_create(
                actor=None,
                name=name,
                code=code,
                kind=kind,
                parent=units[parent] if parent else None,
            )
    return units


@transaction.atomic
def seed_users(units: dict[str, OrgUnit], password: str) -> dict[str, User]:
    users: dict[str, User] = {}
    for username, first, last, role, scope, limit in DEMO_USERS:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@cairn.example",
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        if not Membership.objects.filter(
            user=user, role=role, org_unit=units[scope]
        ).exists():
            services.membership_create(
                actor=None,
                user=user,
                role=role,
                org_unit=units[scope],
                authority_limit=limit,
            )
        users[username] = user
    admin, created = User.objects.get_or_create(
        username="admin",
        defaults={"email": "admin@cairn.example", "first_name": "Admin"},
    )
    admin.is_staff = admin.is_superuser = True
    admin.set_password(password)
    admin.save()
    users["admin"] = admin
    return users
