from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import policy
from accounts.models import OrgUnit
from accounts.roles import APPROVE, CHANGE, UPDATE, VIEW, Role
from milestones.models import Milestone, Portfolio

from ..factories import UserFactory


@pytest.fixture
def world(org, portfolio, milestone_in):
    owner = UserFactory(username="owner")
    return {
        "fr": milestone_in(org.fr, name="FR rollout"),
        "paris": milestone_in(org.paris, name="Paris pilot", owner=owner),
        "jp": milestone_in(org.jp, name="JP rollout"),
        "us": milestone_in(org.us, name="US rollout"),
        "owner": owner,
    }


def names(qs):
    return sorted(qs.values_list("name", flat=True))


def test_subtree_is_one_query_at_any_depth(org, django_assert_num_queries):
    with django_assert_num_queries(1):
        codes = sorted(OrgUnit.objects.subtree(org.emea).values_list("code", flat=True))
    assert codes == ["de", "emea", "fr", "fr-paris"]
    assert OrgUnit.objects.subtree(org.world).count() == 9
    ancestors = OrgUnit.objects.ancestors(org.paris).values_list("code", flat=True)
    assert list(ancestors) == ["global", "emea", "fr", "fr-paris"]


def test_contributor_sees_own_region_subtree_only(world, contributor_emea):
    visible = Milestone.objects.restrict(contributor_emea, VIEW)
    assert names(visible) == ["FR rollout", "Paris pilot"]
    assert names(Milestone.objects.restrict(contributor_emea, UPDATE)) == [
        "FR rollout",
        "Paris pilot",
    ]
    assert not Milestone.objects.restrict(contributor_emea, CHANGE).exists()
    assert not Milestone.objects.restrict(contributor_emea, APPROVE).exists()


def test_owner_may_change_own_milestone_only(world):
    owner = world["owner"]
    assert names(Milestone.objects.restrict(owner, CHANGE)) == ["Paris pilot"]
    assert names(Milestone.objects.restrict(owner, VIEW)) == ["Paris pilot"]
    assert not Milestone.objects.restrict(owner, APPROVE).exists()


def test_portfolio_manager_changes_everything_in_scope(world, pmo):
    assert Milestone.objects.restrict(pmo, CHANGE).count() == 4
    assert not Milestone.objects.restrict(pmo, APPROVE).exists()


def test_executive_approves_in_scope_only(org, world, member):
    emea_exec = member(Role.EXECUTIVE, org.emea, authority_limit=Decimal("1000"))
    assert names(Milestone.objects.restrict(emea_exec, APPROVE)) == [
        "FR rollout",
        "Paris pilot",
    ]
    assert not Milestone.objects.restrict(emea_exec, CHANGE).exists()
    limit = policy.authority_limit(emea_exec, org_unit=org.fr)
    assert limit == Decimal("1000")
    assert policy.authority_limit(emea_exec, org_unit=org.jp) is None


def test_portfolio_membership_covers_all_its_milestones(world, portfolio, member):
    auditor = member(Role.COMPLIANCE_AUDITOR, portfolio)
    assert Milestone.objects.restrict(auditor, VIEW).count() == 4
    assert Milestone.objects.restrict(auditor, "audit").count() == 4
    assert not Milestone.objects.restrict(auditor, CHANGE).exists()


def test_contributor_sees_portfolio_of_their_milestones(world, portfolio, org, member):
    contributor = member(Role.CONTRIBUTOR, org.jp)
    assert list(Portfolio.objects.restrict(contributor, VIEW)) == [portfolio]
    assert not Portfolio.objects.restrict(contributor, CHANGE).exists()
    lonely = member(Role.CONTRIBUTOR, org.de)
    assert not Portfolio.objects.restrict(lonely, VIEW).exists()


def test_per_object_grant_is_an_exception(world):
    validator = UserFactory(username="validator")
    assert not Milestone.objects.restrict(validator, VIEW).exists()
    policy.grant(validator, [VIEW, APPROVE], world["jp"])
    assert names(Milestone.objects.restrict(validator, VIEW)) == ["JP rollout"]
    assert names(Milestone.objects.restrict(validator, APPROVE)) == ["JP rollout"]
    policy.revoke(validator, [VIEW, APPROVE], world["jp"])
    assert not Milestone.objects.restrict(validator, VIEW).exists()


def test_superuser_sees_all_and_anonymous_nothing(world, superuser):
    from django.contrib.auth.models import AnonymousUser

    assert Milestone.objects.restrict(superuser, APPROVE).count() == 4
    assert not Milestone.objects.restrict(AnonymousUser(), VIEW).exists()
    inactive = UserFactory(is_active=False, is_superuser=True)
    assert not Milestone.objects.restrict(inactive, VIEW).exists()


def test_restrict_is_a_single_query_for_any_number_of_grants(world, org, member):
    user = member(Role.CONTRIBUTOR, org.fr)
    from accounts import services

    services.membership_create(
        actor=None, user=user, role=Role.CONTRIBUTOR, org_unit=org.jp
    )
    with CaptureQueriesContext(connection) as ctx:
        got = names(Milestone.objects.restrict(user, VIEW))
    assert got == ["FR rollout", "JP rollout", "Paris pilot"]
    assert len(ctx.captured_queries) == 1


def test_removing_a_membership_removes_its_grants(world, org, member):
    from accounts import services

    user = member(Role.CONTRIBUTOR, org.emea)
    assert Milestone.objects.restrict(user, VIEW).count() == 2
    services.membership_delete(actor=None, membership=user.memberships.get())
    assert not Milestone.objects.restrict(user, VIEW).exists()
    assert not user.groups.exists()


def test_unknown_action_is_refused(world, contributor_emea):
    with pytest.raises(ValueError, match="Unknown action"):
        Milestone.objects.restrict(contributor_emea, "delete")


# Grants read once per request ---------------------------------------------------


def test_grants_read_once_gives_the_same_rows_as_the_subqueries(
    world, org, portfolio, member
):
    from accounts import services

    contributor = member(Role.CONTRIBUTOR, org.emea, username="c-emea")
    manager = member(Role.PORTFOLIO_MANAGER, portfolio, username="pm")
    validator = UserFactory(username="validator")
    policy.grant(validator, [VIEW], world["jp"])
    users = [contributor, manager, validator, world["owner"]]
    outside = {
        (u.username, action): names(Milestone.objects.restrict(u, action))
        for u in users
        for action in (VIEW, UPDATE, CHANGE)
    }
    assert outside[("validator", VIEW)] == ["JP rollout"]
    assert len(outside[("pm", CHANGE)]) == 4

    with policy.grants_read_once():
        inside = {
            (u.username, action): names(Milestone.objects.restrict(u, action))
            for u in users
            for action in (VIEW, UPDATE, CHANGE)
        }
        # Read once: a second restrict asks only for the rows.
        with CaptureQueriesContext(connection) as again:
            list(Milestone.objects.restrict(contributor, VIEW))
        # A grant made inside the block is seen by the rest of it.
        services.membership_create(
            actor=None, user=validator, role=Role.CONTRIBUTOR, org_unit=org.us
        )
        granted = names(Milestone.objects.restrict(validator, VIEW))

    assert inside == outside
    assert len(again.captured_queries) == 1
    assert granted == ["JP rollout", "US rollout"]


def test_without_the_block_nothing_is_kept(world, org, member):
    contributor = member(Role.CONTRIBUTOR, org.emea, username="c-emea")
    with CaptureQueriesContext(connection) as first:
        list(Milestone.objects.restrict(contributor, VIEW))
    with CaptureQueriesContext(connection) as second:
        list(Milestone.objects.restrict(contributor, VIEW))
    # One query each, the grants as subqueries inside it.
    assert len(first.captured_queries) == len(second.captured_queries) == 1
    assert "orgunituserobjectpermission" in first.captured_queries[0]["sql"]


def test_scope_signature_changes_with_the_grants(org, member):
    from accounts import services

    one = member(Role.CONTRIBUTOR, org.emea, username="one")
    two = member(Role.CONTRIBUTOR, org.emea, username="two")
    assert policy.scope_signature(one) is None  # only within a request
    with policy.grants_read_once():
        before = policy.scope_signature(one)
        # Same units, but a different user: ownership differs.
        assert policy.scope_signature(two) not in (None, before)
        services.membership_create(
            actor=None, user=one, role=Role.CONTRIBUTOR, org_unit=org.jp
        )
        assert policy.scope_signature(one) != before


# Who may act: the reverse of restrict ------------------------------------------


@pytest.mark.parametrize("action", [VIEW, UPDATE, CHANGE, APPROVE])
def test_holders_are_exactly_the_users_restrict_lets_through(
    action, org, portfolio, milestone_in, django_assert_max_num_queries
):
    from ..factories import make_member

    milestones = [milestone_in(org.fr), milestone_in(org.jp), milestone_in(org.paris)]
    owner = UserFactory(username="owner")
    milestones[0].owner = owner
    milestones[0].save(update_fields=["owner"])
    users = [owner]
    for role in Role:
        for unit in (org.world, org.emea, org.fr, org.jp):
            users.append(make_member(role, unit, username=f"{role}-{unit.code}"))
        users.append(make_member(role, portfolio, username=f"{role}-portfolio"))
    validator = UserFactory(username="validator")
    policy.grant(validator, [APPROVE, VIEW], milestones[1])
    users.append(validator)
    retired = make_member(Role.EXECUTIVE, org.world, username="retired")
    retired.is_active = False
    retired.save()
    users.append(retired)

    with django_assert_max_num_queries(5):
        found = policy.holders(action, milestones)

    for m in milestones:
        expected = sorted(
            (u.username for u in users if policy.can(u, action, m)),
        )
        assert [u.username for u in found[m.pk]] == expected, (action, m.org_unit)
        assert all(u.is_active for u in found[m.pk])
    assert ("validator" in [u.username for u in found[milestones[1].pk]]) == (
        action in (APPROVE, VIEW)
    )


def test_the_system_actor_reads_everything_and_is_no_superuser(world):
    assert policy.SYSTEM.is_superuser is False
    assert policy.restrict(Milestone.objects.all(), policy.SYSTEM).count() == (
        Milestone.objects.count()
    )
    assert policy.can(policy.SYSTEM, APPROVE, Milestone.objects.first())
