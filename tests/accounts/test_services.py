"""Writes of the accounts app: the org unit tree and memberships."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from accounts import policy, services
from accounts.models import Membership, OrgUnit
from accounts.roles import APPROVE, CHANGE, UPDATE, VIEW, Role
from portal.errors import Invalid

from ..factories import UserFactory, make_milestone, make_portfolio


def create_unit(**fields):
    return services.org_unit_create(actor=None, **fields)


def role_groups(user):
    return set(user.groups.values_list("name", flat=True))


# --- Org units ----------------------------------------------------------------


def test_org_unit_paths_follow_the_tree(org):
    assert org.world.path == "/global/"
    assert org.paris.path == "/global/emea/fr/fr-paris/"
    assert [u.depth for u in (org.world, org.emea, org.fr, org.paris)] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("kind", "parent", "message"),
    [
        ("country", "world", "A country must sit under a region."),
        ("site", "emea", "A site must sit under a country."),
        ("site", None, "Only the global unit has no parent."),
        ("region", None, "Only the global unit has no parent."),
        ("region", "fr", "A region must sit under a global."),
        ("global", "emea", "The global unit cannot have a parent."),
        ("global", None, "There is already a global unit"),
    ],
)
def test_org_unit_kinds_must_nest(kind, parent, message, org):
    count = OrgUnit.objects.count()
    with pytest.raises(Invalid, match=message) as exc:
        create_unit(
            name="New",
            code="new",
            kind=kind,
            parent=getattr(org, parent) if parent else None,
        )
    assert set(exc.value.errors) <= {"parent", "kind"}
    assert OrgUnit.objects.count() == count


def test_org_unit_codes_are_unique(org):
    with pytest.raises(Invalid, match="(?i)with this code already exists") as exc:
        create_unit(name="France again", code="fr", kind="country", parent=org.amer)
    assert "code" in exc.value.errors
    assert OrgUnit.objects.filter(code="fr").count() == 1


def test_org_unit_code_must_be_a_slug(org):
    with pytest.raises(Invalid) as exc:
        create_unit(name="Spain", code="es/madrid", kind="country", parent=org.emea)
    assert "code" in exc.value.errors
    assert not OrgUnit.objects.filter(name="Spain").exists()


def test_org_unit_update_changes_name_and_capacity_only(org):
    unit = services.org_unit_update(
        actor=None, unit=org.fr, name="République française", fte_capacity=12
    )
    assert (unit.name, unit.fte_capacity) == ("République française", 12)
    with pytest.raises(Invalid, match="Only the name and FTE capacity"):
        services.org_unit_update(actor=None, unit=org.fr, code="fra")
    with pytest.raises(Invalid) as exc:
        services.org_unit_update(actor=None, unit=org.fr, fte_capacity=-1)
    assert "fte_capacity" in exc.value.errors
    org.fr.refresh_from_db()
    assert (org.fr.code, org.fr.fte_capacity) == ("fr", 12)


def test_org_unit_in_use_cannot_be_deleted(org, portfolio):
    make_milestone(portfolio, org.jp)
    for unit in (org.emea, org.jp, org.world):  # children; a milestone; both
        with pytest.raises(Invalid, match="move or remove them first"):
            services.org_unit_delete(actor=None, unit=unit)
        assert OrgUnit.objects.filter(pk=unit.pk).exists()


def test_deleting_an_empty_unit_withdraws_its_memberships(org, member):
    user = member(Role.CONTRIBUTOR, org.paris)
    services.org_unit_delete(actor=None, unit=org.paris)
    assert not OrgUnit.objects.filter(code="fr-paris").exists()
    assert not user.memberships.exists()
    assert not role_groups(user)


# --- Memberships ----------------------------------------------------------------

SCOPE_MESSAGE = "A membership needs exactly one scope: an org unit or a portfolio."


@pytest.mark.parametrize("scopes", ["neither", "both"])
def test_membership_needs_exactly_one_scope(scopes, org, portfolio):
    user = UserFactory()
    extra = {"org_unit": org.fr, "portfolio": portfolio} if scopes == "both" else {}
    with pytest.raises(Invalid) as exc:
        services.membership_create(
            actor=None, user=user, role=Role.CONTRIBUTOR, **extra
        )
    assert exc.value.message == SCOPE_MESSAGE  # once, not once per check
    assert not Membership.objects.filter(user=user).exists()
    user.refresh_from_db()
    assert not user.is_staff and not role_groups(user)


@pytest.mark.parametrize("scopes", ["neither", "both"])
def test_database_refuses_a_membership_without_exactly_one_scope(
    scopes, org, portfolio
):
    user = UserFactory()
    extra = {"org_unit": org.fr, "portfolio": portfolio} if scopes == "both" else {}
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, role=Role.CONTRIBUTOR, **extra)
    assert not Membership.objects.filter(user=user).exists()


def test_authority_limit_is_for_executives_only(org):
    user = UserFactory()
    with pytest.raises(Invalid, match="Only executives carry an authority limit"):
        services.membership_create(
            actor=None,
            user=user,
            role=Role.PORTFOLIO_MANAGER,
            org_unit=org.fr,
            authority_limit=Decimal("1000"),
        )
    assert not user.memberships.exists()


def test_authority_limit_cannot_be_negative(org):
    user = UserFactory()
    with pytest.raises(Invalid) as exc:
        services.membership_create(
            actor=None,
            user=user,
            role=Role.EXECUTIVE,
            org_unit=org.fr,
            authority_limit=Decimal("-1"),
        )
    assert "authority_limit" in exc.value.errors
    assert not user.memberships.exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=user, role=Role.EXECUTIVE, org_unit=org.fr, authority_limit=-1
        )


def test_executive_limit_can_change_but_not_go_negative(org, member):
    executive = member(Role.EXECUTIVE, org.emea, authority_limit=Decimal("1000"))
    membership = executive.memberships.get()
    services.membership_update(
        actor=None, membership=membership, authority_limit=Decimal("5000")
    )
    assert policy.authority_limit(executive, org_unit=org.fr) == Decimal("5000")
    with pytest.raises(Invalid):
        services.membership_update(
            actor=None, membership=membership, authority_limit=Decimal("-5")
        )
    assert policy.authority_limit(executive, org_unit=org.fr) == Decimal("5000")


def test_limit_update_refused_for_a_non_executive(org, member):
    contributor = member(Role.CONTRIBUTOR, org.emea)
    membership = contributor.memberships.get()
    with pytest.raises(Invalid, match="Only executives"):
        services.membership_update(
            actor=None, membership=membership, authority_limit=Decimal("1")
        )
    membership.refresh_from_db()
    assert membership.authority_limit is None


def test_duplicate_membership_is_refused(org, portfolio, member):
    user = member(Role.CONTRIBUTOR, org.fr)
    for scope in ({"org_unit": org.fr}, {"portfolio": portfolio}):
        if "portfolio" in scope:
            services.membership_create(
                actor=None, user=user, role=Role.CONTRIBUTOR, **scope
            )
        with pytest.raises(Invalid, match="already has this role"):
            services.membership_create(
                actor=None, user=user, role=Role.CONTRIBUTOR, **scope
            )
    assert user.memberships.count() == 2
    # Another role in the same scope is a different membership.
    services.membership_create(
        actor=None, user=user, role=Role.MILESTONE_OWNER, org_unit=org.fr
    )
    assert user.memberships.count() == 3


def test_membership_gives_role_group_staff_and_scope_grants(org):
    user = UserFactory()
    assert not user.is_staff
    services.membership_create(
        actor=None, user=user, role=Role.PORTFOLIO_MANAGER, org_unit=org.emea
    )
    user.refresh_from_db()
    assert user.is_staff
    assert role_groups(user) == {"Portfolio Manager"}
    assert user.has_perm("milestones.add_milestone")
    for action, allowed in ((VIEW, True), (CHANGE, True), (APPROVE, False)):
        assert policy.can(user, action, org.paris) is allowed
    assert not policy.can(user, VIEW, org.jp)


def test_membership_records_who_granted_it(org, superuser):
    user = UserFactory()
    membership = services.membership_create(
        actor=superuser, user=user, role=Role.CONTRIBUTOR, org_unit=org.fr
    )
    assert membership.history.get().history_user == superuser


def test_deleting_a_membership_keeps_what_another_still_gives(org, portfolio):
    user = UserFactory()
    create = services.membership_create
    contributor_fr = create(
        actor=None, user=user, role=Role.CONTRIBUTOR, org_unit=org.fr
    )
    pm_fr = create(actor=None, user=user, role=Role.PORTFOLIO_MANAGER, org_unit=org.fr)
    create(actor=None, user=user, role=Role.CONTRIBUTOR, portfolio=portfolio)
    assert role_groups(user) == {"Contributor", "Portfolio Manager"}

    # Same scope: the contributor grants (view, update) stay, change goes.
    services.membership_delete(actor=None, membership=pm_fr)
    assert policy.can(user, VIEW, org.fr) and policy.can(user, UPDATE, org.fr)
    assert not policy.can(user, CHANGE, org.fr)
    assert role_groups(user) == {"Contributor"}

    # The Contributor group stays while another contributor membership exists.
    services.membership_delete(actor=None, membership=contributor_fr)
    assert not policy.can(user, VIEW, org.fr)
    assert policy.can(user, VIEW, portfolio)
    assert role_groups(user) == {"Contributor"}
    user.refresh_from_db()
    assert user.is_staff


def test_losing_the_last_membership_closes_the_back_office(org):
    user = UserFactory()
    membership = services.membership_create(
        actor=None, user=user, role=Role.CONTRIBUTOR, org_unit=org.fr
    )
    services.membership_delete(actor=None, membership=membership)
    user.refresh_from_db()
    assert not user.is_staff
    assert not role_groups(user)
    assert Group.objects.filter(name="Contributor").exists()


def test_superuser_stays_staff_without_memberships(org, superuser):
    membership = services.membership_create(
        actor=None, user=superuser, role=Role.EXECUTIVE, org_unit=org.fr
    )
    services.membership_delete(actor=None, membership=membership)
    superuser.refresh_from_db()
    assert superuser.is_staff


def test_portfolio_membership_covers_that_portfolio_only(org, portfolio):
    other = make_portfolio(org.world)
    user = UserFactory()
    services.membership_create(
        actor=None, user=user, role=Role.EXECUTIVE, portfolio=portfolio
    )
    inside = make_milestone(portfolio, org.jp)
    outside = make_milestone(other, org.jp)
    assert policy.can(user, APPROVE, inside)
    assert not policy.can(user, VIEW, outside)
