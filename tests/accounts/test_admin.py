"""The access policy, role by role, at the policy level and through the admin."""

from __future__ import annotations

import pytest
from django.forms import ModelChoiceField
from django.urls import reverse

from accounts import policy
from accounts.models import Membership, OrgUnit, User
from accounts.roles import APPROVE, CHANGE, VIEW, Role
from milestones.models import Milestone, Portfolio

from ..factories import UserFactory, make_milestone

ACTIONS = (VIEW, CHANGE, APPROVE)

# DESIGN.md, "Who uses it": what each role may do to objects in its scope.
# Outside its scope a role may do nothing.
IN_SCOPE = {
    Role.CONTRIBUTOR: {VIEW},
    Role.MILESTONE_OWNER: {VIEW},  # changes only the milestones it owns
    Role.PORTFOLIO_MANAGER: {VIEW, CHANGE},
    Role.EXECUTIVE: {VIEW, APPROVE},
    Role.COMPLIANCE_AUDITOR: {VIEW},
}


def pks(queryset):
    return set(queryset.values_list("pk", flat=True))


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_url(obj):
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


# --- Policy level -------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", list(Role))
def test_role_may_act_in_scope_only(role, action, org, scoped, member):
    allowed = action in IN_SCOPE[role]
    expected = {
        "emea_milestone": allowed,
        "emea_portfolio": allowed,
        "jp_milestone": False,
        "jp_portfolio": False,
    }
    by_unit = member(role, org.emea, username="by-unit")
    by_portfolio = member(role, scoped["emea_portfolio"], username="by-portfolio")
    for user in (by_unit, by_portfolio):
        got = {name: policy.can(user, action, obj) for name, obj in scoped.items()}
        assert got == expected, user.username
        restricted = pks(Milestone.objects.restrict(user, action))
        restricted |= pks(Portfolio.objects.restrict(user, action))
        assert restricted == {scoped[k].pk for k, ok in expected.items() if ok}


@pytest.mark.parametrize("action", ACTIONS)
def test_milestone_owner_changes_the_milestones_they_own(action, org, scoped, member):
    owner = member(Role.MILESTONE_OWNER, org.emea, username="owner")
    own = make_milestone(scoped["emea_portfolio"], org.paris, owner=owner)
    assert policy.can(owner, action, own) == (action in {VIEW, CHANGE})
    assert policy.can(owner, action, scoped["emea_milestone"]) == (action == VIEW)
    assert not policy.can(owner, action, scoped["jp_milestone"])


def test_get_for_user_answers_404_out_of_scope_and_403_for_a_forbidden_action(
    org, scoped, member
):
    from portal.errors import Forbidden, NotFound

    contributor = member(Role.CONTRIBUTOR, org.emea)
    milestones = Milestone.objects.all()
    emea, jp = scoped["emea_milestone"], scoped["jp_milestone"]
    assert policy.get_for_user(milestones, contributor, VIEW, pk=emea.pk) == emea
    with pytest.raises(NotFound):
        policy.get_for_user(milestones, contributor, CHANGE, pk=jp.pk)
    with pytest.raises(NotFound):
        policy.get_for_user(milestones, contributor, VIEW, pk="not-a-number")
    with pytest.raises(Forbidden):
        policy.get_for_user(milestones, contributor, CHANGE, pk=emea.pk)


# --- Through the admin --------------------------------------------------------

# Whether the admin lets a role edit (not just view) an in-scope object.
ADMIN_MAY_CHANGE = {
    Role.CONTRIBUTOR: False,
    Role.MILESTONE_OWNER: False,
    Role.PORTFOLIO_MANAGER: True,
    Role.EXECUTIVE: False,
    Role.COMPLIANCE_AUDITOR: False,
}


@pytest.mark.parametrize("role", list(Role))
def test_admin_lists_and_opens_in_scope_objects_only(role, client, org, scoped, member):
    client.force_login(member(role, org.emea))
    for model, inside, outside in (
        (Milestone, scoped["emea_milestone"], scoped["jp_milestone"]),
        (Portfolio, scoped["emea_portfolio"], scoped["jp_portfolio"]),
    ):
        response = client.get(changelist(model))
        assert response.status_code == 200
        listed = pks(response.context["cl"].queryset)
        assert inside.pk in listed
        assert outside.pk not in listed
        assert client.get(change_url(outside)).status_code == 404
        assert client.post(change_url(outside), {}).status_code in (403, 404)

        page = client.get(change_url(inside))
        assert page.status_code == 200
        assert page.context["has_change_permission"] is ADMIN_MAY_CHANGE[role]
        if not ADMIN_MAY_CHANGE[role]:
            assert client.post(change_url(inside), {}).status_code == 403


def test_admin_lets_an_owner_change_their_own_milestone_only(
    client, org, scoped, member
):
    owner = member(Role.MILESTONE_OWNER, org.emea)
    own = make_milestone(scoped["emea_portfolio"], org.fr, owner=owner)
    client.force_login(owner)
    assert client.get(change_url(own)).context["has_change_permission"] is True
    other = client.get(change_url(scoped["emea_milestone"]))
    assert other.context["has_change_permission"] is False


def test_superuser_sees_everything_in_the_admin(client, scoped, superuser):
    client.force_login(superuser)
    listed = pks(client.get(changelist(Milestone)).context["cl"].queryset)
    assert {scoped["emea_milestone"].pk, scoped["jp_milestone"].pk} <= listed
    assert client.get(change_url(scoped["jp_milestone"])).status_code == 200


def test_user_without_role_is_sent_to_the_admin_login(client, scoped):
    client.force_login(UserFactory())
    response = client.get(change_url(scoped["emea_milestone"]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_bad_object_ids_answer_404_not_500(client, org, superuser):
    client.force_login(superuser)
    for view in ("change", "history", "delete"):
        url = reverse(f"admin:accounts_orgunit_{view}", args=["not-a-number"])
        assert client.get(url).status_code == 404, view


def test_history_is_append_only_in_the_admin(client, org, superuser):
    client.force_login(superuser)
    history = org.fr.history.first()
    url = reverse("admin:accounts_orgunit_simple_history", args=[org.fr.pk, history.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"name": "Renamed"}).status_code == 404
    org.fr.refresh_from_db()
    assert org.fr.name == "France"


# --- Org unit admin -----------------------------------------------------------


def test_org_unit_admin_shows_the_tree_indented(client, org, superuser):
    client.force_login(superuser)
    response = client.get(changelist(OrgUnit))
    rows = list(response.context["cl"].result_list)
    assert [u.path for u in rows] == sorted(u.path for u in rows)
    html = response.content.decode()
    # The depth is a class (portal/portal.css: 1.5em per level); the CSP
    # allows no inline style.
    expected = [
        ("Global", 0),
        ("EMEA", 1),
        ("France", 2),
        ("Paris", 3),
    ]
    positions = []
    for name, depth in expected:
        cell = f'<span class="cairn-depth-{depth}">{name}</span>'
        assert cell in html, cell
        positions.append(html.index(cell))
    assert positions == sorted(positions), "a unit is listed before its parent"


def test_org_unit_admin_refuses_a_country_under_global(client, org, superuser):
    client.force_login(superuser)
    count = OrgUnit.objects.count()
    response = client.post(
        reverse("admin:accounts_orgunit_add"),
        {"name": "Italy", "code": "it", "kind": "country", "parent": org.world.pk},
    )
    assert response.status_code == 200
    assert "A country must sit under a region." in response.content.decode()
    assert OrgUnit.objects.count() == count


def test_org_unit_admin_adds_a_unit_through_the_service(client, org, superuser):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:accounts_orgunit_add"),
        {"name": "Italy", "code": "it", "kind": "country", "parent": org.emea.pk},
    )
    assert response.status_code == 302
    italy = OrgUnit.objects.get(code="it")
    assert italy.path == "/global/emea/it/"
    assert italy.history.get().history_user == superuser


def test_org_unit_admin_refuses_to_delete_a_unit_in_use(client, org, superuser):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:accounts_orgunit_delete", args=[org.fr.pk]), {"post": "yes"}
    )
    assert response.status_code == 200  # Django lists what protects it
    assert OrgUnit.objects.filter(pk=org.fr.pk).exists()


# --- Membership admin ---------------------------------------------------------

SCOPE_MESSAGE = "A membership needs exactly one scope: an org unit or a portfolio."


@pytest.mark.parametrize("scopes", ["neither", "both"])
def test_membership_admin_refuses_neither_or_both_scopes(
    scopes, client, org, portfolio, superuser
):
    client.force_login(superuser)
    user = UserFactory()
    data = {"user": user.pk, "role": Role.CONTRIBUTOR, "authority_limit": ""}
    if scopes == "both":
        data |= {"org_unit": org.fr.pk, "portfolio": portfolio.pk}
    response = client.post(reverse("admin:accounts_membership_add"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count(SCOPE_MESSAGE) == 1
    assert not Membership.objects.filter(user=user).exists()
    user.refresh_from_db()
    assert not user.is_staff
    assert not user.groups.exists()


def test_membership_admin_refuses_a_limit_for_a_non_executive(client, org, superuser):
    client.force_login(superuser)
    user = UserFactory()
    response = client.post(
        reverse("admin:accounts_membership_add"),
        {
            "user": user.pk,
            "role": Role.CONTRIBUTOR,
            "org_unit": org.fr.pk,
            "authority_limit": "1000",
        },
    )
    assert response.status_code == 200
    assert "Only executives carry an authority limit." in response.content.decode()
    assert not Membership.objects.filter(user=user).exists()


def test_membership_admin_creates_through_the_service(client, org, superuser):
    client.force_login(superuser)
    user = UserFactory()
    response = client.post(
        reverse("admin:accounts_membership_add"),
        {
            "user": user.pk,
            "role": Role.EXECUTIVE,
            "org_unit": org.emea.pk,
            "authority_limit": "1000",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["Executive"]
    assert policy.can(user, APPROVE, org.fr)


def test_membership_admin_refuses_a_duplicate(client, org, superuser, member):
    client.force_login(superuser)
    user = member(Role.CONTRIBUTOR, org.fr)
    response = client.post(
        reverse("admin:accounts_membership_add"),
        {"user": user.pk, "role": Role.CONTRIBUTOR, "org_unit": org.fr.pk},
    )
    assert response.status_code == 200
    assert "already has this role" in response.content.decode()
    assert user.memberships.count() == 1


def test_membership_admin_delete_withdraws_the_grants(client, org, superuser, member):
    client.force_login(superuser)
    user = member(Role.CONTRIBUTOR, org.fr)
    membership = user.memberships.get()
    url = reverse("admin:accounts_membership_delete", args=[membership.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not policy.can(user, VIEW, org.fr)
    assert not user.groups.exists()


# --- No out-of-scope object in choices, autocomplete or filters ---------------


def autocomplete(client, model_name, field_name, term=""):
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "accounts",
            "model_name": model_name,
            "field_name": field_name,
            "term": term,
        },
    )
    assert response.status_code == 200, response
    return {int(r["id"]) for r in response.json()["results"]}


def test_autocomplete_offers_in_scope_objects_only(client, org, scoped, member):
    auditor = member(Role.COMPLIANCE_AUDITOR, org.emea, username="auditor")
    fr_user = member(Role.CONTRIBUTOR, org.fr, username="fr-user")
    jp_user = member(Role.CONTRIBUTOR, org.jp, username="jp-user")
    client.force_login(auditor)

    assert autocomplete(client, "membership", "portfolio") == {
        scoped["emea_portfolio"].pk
    }
    assert autocomplete(client, "membership", "org_unit") == pks(
        OrgUnit.objects.subtree(org.emea)
    )
    users = autocomplete(client, "membership", "user")
    assert {auditor.pk, fr_user.pk} <= users
    assert jp_user.pk not in users
    assert not autocomplete(client, "membership", "org_unit", term="Japan")


def test_foreign_key_choices_are_scoped(client, org, scoped, member):
    client.force_login(member(Role.PORTFOLIO_MANAGER, org.emea))
    for model in (Milestone, Portfolio):
        opts = model._meta
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        assert response.status_code == 200
        form = response.context["adminform"].form
        scoped_fields = [
            (name, field)
            for name, field in form.fields.items()
            if isinstance(field, ModelChoiceField)
            and hasattr(field.queryset.model, "access_scope")
        ]
        assert scoped_fields, f"{model.__name__} admin has no scoped choice field"
        user = response.wsgi_request.user
        for name, field in scoped_fields:
            related = field.queryset.model
            allowed = pks(related.objects.restrict(user, VIEW))
            assert pks(field.queryset) <= allowed, f"{model.__name__}.{name}"
        if "org_unit" in form.fields:
            offered = pks(form.fields["org_unit"].queryset)
            assert offered == pks(OrgUnit.objects.subtree(org.emea))


def related_filter_choices(response):
    """{field path: pks offered} for the changelist's related-object filters."""
    choices = {}
    for spec in response.context["cl"].filter_specs:
        if hasattr(spec, "lookup_choices") and hasattr(spec, "field"):
            if spec.field.is_relation:
                choices[spec.field_path] = {pk for pk, _ in spec.lookup_choices}
    return choices


def test_list_filters_offer_in_scope_values_only(client, org, scoped, member):
    auditor = member(Role.COMPLIANCE_AUDITOR, org.emea)
    member(Role.CONTRIBUTOR, org.jp)
    member(Role.CONTRIBUTOR, org.fr)
    client.force_login(auditor)

    memberships = related_filter_choices(client.get(changelist(Membership)))
    assert memberships["org_unit"] == {org.emea.pk, org.fr.pk}

    milestones = related_filter_choices(client.get(changelist(Milestone)))
    outside = {scoped["jp_portfolio"].pk, org.jp.pk}
    for path, offered in milestones.items():
        assert offered, path
        assert not offered & outside or path not in ("portfolio", "org_unit"), path
    if "org_unit" in milestones:
        assert milestones["org_unit"] == {org.fr.pk}
    if "portfolio" in milestones:
        assert milestones["portfolio"] == {scoped["emea_portfolio"].pk}


def test_user_admin_shows_in_scope_memberships_only(client, org, member):
    from accounts import services

    auditor = member(Role.COMPLIANCE_AUDITOR, org.emea)
    traveller = member(Role.CONTRIBUTOR, org.fr, username="traveller")
    services.membership_create(
        actor=None, user=traveller, role=Role.CONTRIBUTOR, org_unit=org.jp
    )
    client.force_login(auditor)
    response = client.get(change_url(traveller))
    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    shown = {form.instance.org_unit_id for form in inline.formset.forms}
    assert shown == {org.fr.pk}
    assert User.objects.restrict(auditor).filter(pk=traveller.pk).exists()


def test_admin_shows_a_service_refusal_on_the_form_and_saves_nothing(
    client, org, superuser
):
    """The form is valid, the service refuses (a second global unit): the
    input comes back with the service's message, nothing is saved."""
    client.force_login(superuser)
    count = OrgUnit.objects.count()
    response = client.post(
        reverse("admin:accounts_orgunit_add"),
        {"name": "Second world", "code": "world-2", "kind": "global", "parent": ""},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "There is already a global unit." in html
    assert 'value="world-2"' in html
    assert OrgUnit.objects.count() == count
    assert "was added successfully" not in html
