"""Test data, built through the real services wherever a service exists."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from accounts import services as account_services
from accounts.models import OrgUnit, User
from milestones import services as milestone_services
from milestones.models import Milestone, Portfolio

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


@dataclass
class Org:
    """The test organisation: global > regions > countries > a site."""

    world: OrgUnit
    emea: OrgUnit
    fr: OrgUnit
    de: OrgUnit
    paris: OrgUnit
    apac: OrgUnit
    jp: OrgUnit
    amer: OrgUnit
    us: OrgUnit


def build_org() -> Org:
    create = account_services.org_unit_create
    world = create(actor=None, name="Global", code="global", kind="global", parent=None)
    emea = create(actor=None, name="EMEA", code="emea", kind="region", parent=world)
    apac = create(actor=None, name="APAC", code="apac", kind="region", parent=world)
    amer = create(actor=None, name="AMER", code="amer", kind="region", parent=world)
    fr = create(actor=None, name="France", code="fr", kind="country", parent=emea)
    de = create(actor=None, name="Germany", code="de", kind="country", parent=emea)
    paris = create(actor=None, name="Paris", code="fr-paris", kind="site", parent=fr)
    jp = create(actor=None, name="Japan", code="jp", kind="country", parent=apac)
    us = create(
        actor=None, name="United States", code="us", kind="country", parent=amer
    )
    return Org(world, emea, fr, de, paris, apac, jp, amer, us)


def make_member(role: str, scope, *, authority_limit=None, **user_fields) -> User:
    """A user holding ``role`` on ``scope`` (an OrgUnit or a Portfolio)."""
    user = UserFactory(**user_fields)
    key = "org_unit" if isinstance(scope, OrgUnit) else "portfolio"
    account_services.membership_create(
        actor=None,
        user=user,
        role=role,
        authority_limit=authority_limit,
        **{key: scope},
    )
    return user


def make_portfolio(org_unit: OrgUnit, **fields) -> Portfolio:
    n = next(_seq)
    defaults = {
        "slug": f"portfolio-{n}",
        "name": f"Portfolio {n}",
        "period_start": date(2026, 1, 1),
        "period_end": date(2027, 12, 31),
        "currency": "EUR",
    }
    defaults.update(fields)
    return milestone_services.portfolio_create(
        actor=None, org_unit=org_unit, **defaults
    )


def make_milestone(portfolio: Portfolio, org_unit: OrgUnit, **fields) -> Milestone:
    n = next(_seq)
    today = timezone.localdate()
    defaults = {
        "name": f"Milestone {n}",
        "category": portfolio.categories.order_by("order").first(),
        "success_criteria": "Measurable outcome achieved.",
        "approved_budget": Decimal("100000.00"),
        "planned_start": today - timedelta(days=30),
        "planned_completion": today + timedelta(days=60),
    }
    defaults.update(fields)
    return milestone_services.milestone_create(
        actor=None, portfolio=portfolio, org_unit=org_unit, **defaults
    )
