"""The milestones back office: scoped, written through services, history kept."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import policy
from accounts.roles import VIEW, Role
from milestones import services
from milestones.models import (
    MILESTONE_BASELINE_FIELDS,
    Checkpoint,
    Dependency,
    Milestone,
    MilestoneCategory,
    ProgressUpdate,
    Status,
)
from tests.factories import make_member, make_milestone, make_portfolio

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"


def url(name: str, *args) -> str:
    return reverse(f"admin:milestones_{name}", args=args)


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user, backend=BACKEND)
        return client

    return login


def _put(form, data: dict) -> None:
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[form.add_prefix(name)] = "on" if value is True else str(value)


def form_data(response) -> dict:
    """The POST data of an admin change form, as the page shows it."""
    data: dict = {}
    _put(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _put(formset.management_form, data)
        for form in formset.forms:
            _put(form, data)
    return data


def add_row(data: dict, prefix: str, **fields) -> None:
    """Append a new row to an inline formset's POST data."""
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = str(value)
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)


def errors_of(response) -> str:
    form = response.context["adminform"].form
    messages = [str(m) for errs in form.errors.values() for m in errs]
    for inline in response.context["inline_admin_formsets"]:
        messages += [str(m) for m in inline.formset.non_form_errors()]
    return " ".join(messages)


# Changelist ------------------------------------------------------------------


def test_changelist_runs_the_same_queries_for_10_and_200_milestones(
    as_user, pmo, org, portfolio, member, django_assert_max_num_queries
):
    owners = [member(Role.MILESTONE_OWNER, org.emea) for _ in range(3)]
    objective = services.objective_create(
        actor=None, portfolio=portfolio, code="O1", title="Grow"
    )
    units = [org.fr, org.de, org.jp, org.us]

    def plan(count: int, start: int) -> None:
        for i in range(start, start + count):
            make_milestone(
                portfolio,
                units[i % 4],
                owner=owners[i % 3],
                objective=objective if i % 2 else None,
                code=f"M-{i:03d}",
            )

    plan(10, 0)
    client = as_user(pmo)
    changelist = url("milestone_changelist") + "?all="
    client.get(changelist)  # warm per-process caches (content types, perms)
    with CaptureQueriesContext(connection) as few:
        response = client.get(changelist)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 10

    plan(190, 10)
    with django_assert_max_num_queries(len(few)):
        response = client.get(changelist)
    assert len(response.context["cl"].result_list) == 200
    assert b"M-199" in response.content


def test_out_of_scope_milestone_answers_404(as_user, org, member, milestone_in):
    emea_pmo = member(Role.PORTFOLIO_MANAGER, org.emea)
    near, far = milestone_in(org.fr), milestone_in(org.jp)
    client = as_user(emea_pmo)

    assert client.get(url("milestone_change", near.pk)).status_code == 200
    assert client.get(url("milestone_change", far.pk)).status_code == 404
    assert client.post(url("milestone_change", far.pk), {}).status_code == 404
    assert client.get(url("milestone_history", far.pk)).status_code == 404
    listed = client.get(url("milestone_changelist")).context["cl"].result_list
    assert list(listed) == [near]


def test_list_filters_offer_only_values_in_scope(as_user, org, member, portfolio):
    emea_pmo = member(Role.PORTFOLIO_MANAGER, org.emea)
    fr_owner = member(Role.MILESTONE_OWNER, org.fr, username="owner-fr")
    de_owner = member(Role.MILESTONE_OWNER, org.de, username="owner-de")
    jp_owner = member(Role.MILESTONE_OWNER, org.apac, username="owner-jp")
    regional = make_portfolio(org.emea, name="EMEA Excellence")
    asia = make_portfolio(org.apac, name="Asia Growth")
    make_milestone(portfolio, org.fr, owner=fr_owner)
    make_milestone(regional, org.de, owner=de_owner)
    make_milestone(portfolio, org.jp, owner=jp_owner)
    make_milestone(asia, org.jp, owner=jp_owner)

    response = as_user(emea_pmo).get(url("milestone_changelist"))
    specs = {str(spec.title): spec for spec in response.context["cl"].filter_specs}

    def labels(title):
        return {str(label) for _, label in specs[title].lookup_choices}

    assert labels("org unit") == {"France", "Germany"}
    assert labels("owner") == {str(fr_owner), str(de_owner)}
    assert labels("portfolio") == {"AI Transformation", "EMEA Excellence"}
    assert labels("category") == {
        "AI Transformation · Foundation",
        "EMEA Excellence · Foundation",
    }
    assert labels("overdue") == {"Overdue", "Not overdue"}


def test_overdue_filter_uses_the_overdue_queryset(as_user, pmo, org, milestone_in):
    today = date.today()
    late = milestone_in(
        org.fr,
        planned_start=date(today.year - 1, 1, 1),
        planned_completion=date(today.year - 1, 6, 1),
    )
    milestone_in(org.fr)
    response = as_user(pmo).get(url("milestone_changelist") + "?overdue=yes")
    assert list(response.context["cl"].result_list) == [late]


# Create and edit ---------------------------------------------------------------


def test_admin_create_goes_through_the_service_and_records_the_admin(
    as_user, pmo, org, portfolio
):
    client = as_user(pmo)
    data = form_data(client.get(url("milestone_add")))
    category = portfolio.categories.get(name="Quick Wins")
    data.update(
        name="Data platform live",
        portfolio=portfolio.pk,
        category=category.pk,
        org_unit=org.fr.pk,
        type="strategic",
        success_criteria="Platform serves 3 use cases.",
        weight="2",
        approved_budget="250000",
        planned_start="2026-02-01",
        planned_completion="2026-06-30",
    )
    add_row(data, "checkpoints", name="Pilot", due_date="2026-04-01")

    response = client.post(url("milestone_add"), data)

    assert response.status_code == 302, errors_of(response)
    milestone = Milestone.objects.get(name="Data platform live")
    created = milestone.history.get()
    assert (created.history_type, created.history_user) == ("+", pmo)
    assert milestone.version == 1
    checkpoint = Checkpoint.objects.get(milestone=milestone)
    assert checkpoint.history.get().history_user == pmo


def test_admin_create_with_reversed_dates_is_a_form_error(as_user, pmo, org, portfolio):
    client = as_user(pmo)
    data = form_data(client.get(url("milestone_add")))
    data.update(
        name="Backwards",
        portfolio=portfolio.pk,
        category=portfolio.categories.first().pk,
        org_unit=org.fr.pk,
        type="strategic",
        success_criteria="x",
        weight="1",
        approved_budget="1",
        planned_start="2026-06-01",
        planned_completion="2026-01-01",
    )
    response = client.post(url("milestone_add"), data)
    assert response.status_code == 200
    assert "cannot be before the planned start" in errors_of(response)
    assert not Milestone.objects.filter(name="Backwards").exists()


def test_admin_edit_bumps_the_version_and_records_the_admin(
    as_user, pmo, org, milestone_in
):
    milestone = milestone_in(org.fr)
    client = as_user(pmo)
    data = form_data(client.get(url("milestone_change", milestone.pk)))
    assert data["expected_version"] == "1"
    data["name"] = "Renamed in the admin"

    response = client.post(url("milestone_change", milestone.pk), data)

    assert response.status_code == 302, errors_of(response)
    milestone.refresh_from_db()
    assert (milestone.name, milestone.version) == ("Renamed in the admin", 2)
    latest = milestone.history.first()
    assert (latest.history_type, latest.history_user) == ("~", pmo)


def test_stale_version_is_refused_with_a_message(as_user, pmo, org, milestone_in):
    milestone = milestone_in(org.fr)
    client = as_user(pmo)
    data = form_data(client.get(url("milestone_change", milestone.pk)))
    services.milestone_update(
        actor=None, milestone=milestone, expected_version=1, name="Changed meanwhile"
    )
    data["name"] = "My edit"

    response = client.post(url("milestone_change", milestone.pk), data)

    assert response.status_code == 200
    assert "changed by someone else" in errors_of(response)
    assert b"My edit" in response.content  # the user's input is kept
    milestone.refresh_from_db()
    assert (milestone.name, milestone.version) == ("Changed meanwhile", 2)


def test_stale_version_caught_by_the_service_is_a_form_error(
    as_user, pmo, org, milestone_in, monkeypatch
):
    """A concurrent save between the form check and the locked write."""
    milestone = milestone_in(org.fr)
    client = as_user(pmo)
    data = form_data(client.get(url("milestone_change", milestone.pk)))
    data["name"] = "Mine"
    real_update = services.milestone_update

    def racing_update(**kwargs):
        real_update(actor=None, milestone=milestone, expected_version=1, name="Theirs")
        return real_update(**kwargs)

    monkeypatch.setattr(services, "milestone_update", racing_update)
    response = client.post(url("milestone_change", milestone.pk), data)

    assert response.status_code == 200
    assert "changed by someone else" in errors_of(response)
    milestone.refresh_from_db()
    # Refused: the whole attempt, the racing write included, was rolled back.
    assert milestone.version == 1
    assert milestone.name != "Mine"


def test_baseline_is_read_only_and_edits_keep_their_optional_reason(
    as_user, pmo, org, milestone_in
):
    """The baseline changes only through approved requests (approvals)."""
    milestone = milestone_in(org.fr, approved_budget=Decimal("100000"))
    client = as_user(pmo)
    change = url("milestone_change", milestone.pk)
    page = client.get(change)
    form = page.context["adminform"].form
    assert not set(MILESTONE_BASELINE_FIELDS) & set(form.fields)
    assert reverse("approvals:request", args=[milestone.pk]) in page.content.decode()

    data = form_data(page)
    data["approved_budget"] = "150000"  # forged: not a field of the form
    data["description"] = "Scope clarified"
    data["change_reason"] = "Workshop outcome"
    assert client.post(change, data).status_code == 302

    milestone.refresh_from_db()
    assert milestone.approved_budget == Decimal("100000")
    assert (milestone.description, milestone.version) == ("Scope clarified", 2)
    latest = milestone.history.first()
    assert (latest.history_user, latest.history_change_reason) == (
        pmo,
        "Workshop outcome",
    )


def test_owner_sees_baseline_read_only(as_user, org, member, milestone_in):
    owner = member(Role.MILESTONE_OWNER, org.emea)
    milestone = milestone_in(org.fr, owner=owner)
    client = as_user(owner)
    change = url("milestone_change", milestone.pk)
    form = client.get(change).context["adminform"].form
    assert "approved_budget" not in form.fields
    assert "org_unit" not in form.fields
    data = form_data(client.get(change))
    data["description"] = "Clarified by the owner"
    assert client.post(change, data).status_code == 302
    milestone.refresh_from_db()
    assert milestone.description == "Clarified by the owner"
    assert milestone.history.first().history_user == owner


def test_contributor_cannot_open_the_change_form(as_user, contributor_emea, org):
    assert as_user(contributor_emea).get(url("milestone_add")).status_code == 403


# Portfolio and weights ----------------------------------------------------------


def test_category_weights_must_sum_to_100(as_user, pmo, portfolio):
    client = as_user(pmo)
    change = url("portfolio_change", portfolio.pk)
    data = form_data(client.get(change))
    names = {data[f"categories-{i}-name"]: i for i in range(5)}
    data[f"categories-{names['Foundation']}-weight"] = "10"

    refused = client.post(change, data)

    assert refused.status_code == 200
    assert "weights sum to 85 %; they must sum to 100 %" in errors_of(refused)
    assert portfolio.categories.get(name="Foundation").weight == Decimal("25")


def test_weight_change_needs_a_reason_and_goes_through_categories_set(
    as_user, pmo, portfolio
):
    client = as_user(pmo)
    change = url("portfolio_change", portfolio.pk)
    data = form_data(client.get(change))
    names = {data[f"categories-{i}-name"]: i for i in range(5)}
    data[f"categories-{names['Foundation']}-weight"] = "20"
    data[f"categories-{names['Optimization']}-weight"] = "10"

    refused = client.post(change, data)
    assert refused.status_code == 200
    assert "change_reason" in refused.context["adminform"].form.errors
    assert portfolio.categories.get(name="Foundation").weight == Decimal("25")

    data["change_reason"] = "Steering committee re-weighting"
    assert client.post(change, data).status_code == 302
    foundation = portfolio.categories.get(name="Foundation")
    assert foundation.weight == Decimal("20")
    latest = foundation.history.first()
    assert latest.history_change_reason == "Steering committee re-weighting"
    assert latest.history_user == pmo


def test_portfolio_created_in_the_admin_gets_default_categories(as_user, pmo, org):
    client = as_user(pmo)
    data = form_data(client.get(url("portfolio_add")))
    data.update(
        slug="cloud",
        name="Cloud",
        currency="EUR",
        org_unit=org.world.pk,
        period_start="2026-01-01",
        period_end="2026-12-31",
    )
    add_row(data, "objectives", code="C1", title="Move to the cloud")
    response = client.post(url("portfolio_add"), data)
    assert response.status_code == 302, errors_of(response)
    categories = MilestoneCategory.objects.filter(portfolio__slug="cloud")
    assert sum(c.weight for c in categories) == Decimal("100")
    assert categories.count() == 5
    objective = categories.first().portfolio.objectives.get()
    assert objective.history.get().history_user == pmo


# Dependencies --------------------------------------------------------------------


def test_dependency_cycle_is_refused_naming_the_cycle(as_user, pmo, org, milestone_in):
    a = milestone_in(org.fr, name="Alpha")
    b = milestone_in(org.fr, name="Bravo")
    c = milestone_in(org.fr, name="Charlie")
    services.dependency_add(actor=None, predecessor=a, successor=b)
    services.dependency_add(actor=None, predecessor=b, successor=c)
    client = as_user(pmo)
    change = url("milestone_change", a.pk)
    data = form_data(client.get(change))
    add_row(data, "predecessor_links", predecessor=c.pk, type="FS", lag_days=0)
    data["description"] = "Also edited"

    response = client.post(change, data)

    assert response.status_code == 200
    assert "cycle: Alpha → Bravo → Charlie → Alpha" in errors_of(response)
    assert Dependency.objects.count() == 2
    a.refresh_from_db()
    assert (a.description, a.version) == ("", 1)  # nothing of the save kept


def test_dependency_added_inline_records_history(as_user, pmo, org, milestone_in):
    a, b = milestone_in(org.fr, name="Alpha"), milestone_in(org.fr, name="Bravo")
    client = as_user(pmo)
    change = url("milestone_change", b.pk)
    data = form_data(client.get(change))
    add_row(data, "predecessor_links", predecessor=a.pk, type="SS", lag_days=3)
    assert client.post(change, data).status_code == 302
    dependency = Dependency.objects.get(predecessor=a, successor=b)
    assert (dependency.type, dependency.lag_days) == ("SS", 3)
    assert dependency.history.get().history_user == pmo


# Progress updates -----------------------------------------------------------------


def test_progress_updates_cannot_be_changed_or_deleted(
    as_user, superuser, contributor_emea, org, milestone_in
):
    milestone = milestone_in(org.fr)
    update = services.milestone_submit_update(
        actor=contributor_emea,
        milestone=milestone,
        expected_version=1,
        status=Status.ON_TRACK,
        percent_complete=Decimal("10"),
        actual_spend=Decimal("0"),
    )
    client = as_user(superuser)
    change = url("progressupdate_change", update.pk)
    delete = url("progressupdate_delete", update.pk)

    assert client.get(change).status_code == 200  # view only
    assert client.post(change, {"achievements": "rewritten"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(url("progressupdate_add")).status_code == 403
    update.refresh_from_db()
    assert update.achievements == ""
    assert ProgressUpdate.objects.count() == 1


# Bulk action -------------------------------------------------------------------------


def _bulk_query_bound(rows: int) -> int:
    """A fixed overhead plus batches: at most one query per 20 rows, never one
    per row.

    The overhead (session, permissions, the user's grants read once per
    action, changelist filters and count, locking) is about 25 queries. The
    service updates the rows, inserts their history and chains it into the
    audit log in batches of at most 500 rows; SQLite
    (999 parameters a query for Django 5.2) makes them smaller, about 26 history
    rows a query: some 75 queries in all for 1,000 rows there, under 30 on
    PostgreSQL.
    """
    return 35 + rows // 20


def test_bulk_status_action_changes_1000_milestones_in_batches(
    as_user, pmo, org, portfolio, django_assert_max_num_queries
):
    category = portfolio.categories.first()
    for i in range(1000):
        make_milestone(portfolio, org.fr, category=category, name=f"Bulk {i}")
    # "Select all 1000" on the changelist: the page's ids plus select_across.
    page_ids = list(Milestone.objects.values_list("pk", flat=True)[:100])
    client = as_user(pmo)
    client.get(url("milestone_changelist"))  # warm caches

    bound = _bulk_query_bound(1000)
    with django_assert_max_num_queries(bound) as captured:
        response = client.post(
            url("milestone_changelist"),
            {
                "action": "set_status",
                "_selected_action": page_ids,
                "select_across": "1",
                "apply": "Apply",
                "status": Status.AT_RISK,
                "reason": "Supplier delay",
            },
        )

    assert response.status_code == 302
    assert len(captured) < 1000 / 10  # batches, not rows
    assert Milestone.objects.filter(status=Status.AT_RISK, version=2).count() == 1000
    records = Milestone.history.filter(history_change_reason="Supplier delay")
    assert records.count() == 1000
    assert set(records.values_list("history_user", flat=True)) == {pmo.pk}


def test_bulk_action_asks_for_a_reason_first(as_user, pmo, org, milestone_in):
    milestone = milestone_in(org.fr)
    client = as_user(pmo)
    selection = {"action": "set_status", "_selected_action": [milestone.pk]}

    page = client.post(url("milestone_changelist"), selection)
    assert page.status_code == 200
    assert "reason" in page.context["form"].fields

    refused = client.post(
        url("milestone_changelist"),
        {**selection, "apply": "Apply", "status": Status.DELAYED, "reason": ""},
    )
    assert refused.status_code == 200
    assert "reason" in refused.context["form"].errors
    milestone.refresh_from_db()
    assert (milestone.status, milestone.version) == (Status.NOT_STARTED, 1)


def test_bulk_action_validates_the_percent(as_user, pmo, org, milestone_in):
    milestone = milestone_in(org.fr)
    response = as_user(pmo).post(
        url("milestone_changelist"),
        {
            "action": "set_status",
            "_selected_action": [milestone.pk],
            "apply": "Apply",
            "status": Status.ON_TRACK,
            "percent_complete": "140",
            "reason": "Going well",
        },
    )
    assert response.status_code == 200
    assert "percent_complete" in response.context["form"].errors
    milestone.refresh_from_db()
    assert (milestone.status, milestone.version) == (Status.NOT_STARTED, 1)


def test_bulk_action_refused_by_the_service_changes_nothing(
    as_user, org, member, milestone_in
):
    """An owner who may only view one of the selected milestones."""
    owner = member(Role.MILESTONE_OWNER, org.apac)
    own = milestone_in(org.fr, owner=owner)
    other = milestone_in(org.fr)
    policy.grant(owner, [VIEW], other)
    response = as_user(owner).post(
        url("milestone_changelist"),
        {
            "action": "set_status",
            "_selected_action": [own.pk, other.pk],
            "apply": "Apply",
            "status": Status.ON_TRACK,
            "reason": "Going well",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "You may not update every milestone" in response.content.decode()
    assert set(Milestone.objects.values_list("status", "version")) == {
        (Status.NOT_STARTED, 1)
    }


# Scoping of every milestones admin, per role ----------------------------------


def _progress_update(portfolio, unit):
    contributor = make_member(Role.CONTRIBUTOR, unit)
    milestone = make_milestone(portfolio, unit)
    return services.milestone_submit_update(
        actor=contributor,
        milestone=milestone,
        expected_version=1,
        status=Status.ON_TRACK,
        percent_complete=Decimal("5"),
        actual_spend=Decimal("0"),
    )


def _kpi(portfolio, unit):
    return services.kpi_create(
        actor=None,
        portfolio=make_portfolio(unit),
        name="Adoption",
        baseline=Decimal("0"),
        target=Decimal("80"),
    )


BUILDERS = {
    "portfolio": lambda portfolio, unit: make_portfolio(unit),
    "milestone": make_milestone,
    "milestonecategory": lambda portfolio, unit: make_portfolio(
        unit
    ).categories.first(),
    "strategicobjective": lambda portfolio, unit: services.objective_create(
        actor=None, portfolio=make_portfolio(unit), code="O1", title="Grow"
    ),
    "checkpoint": lambda portfolio, unit: services.checkpoint_create(
        actor=None,
        milestone=make_milestone(portfolio, unit),
        name="Pilot",
        due_date=date(2026, 5, 1),
    ),
    "progressupdate": _progress_update,
    "resourceallocation": lambda portfolio, unit: services.allocation_create(
        actor=None,
        milestone=make_milestone(portfolio, unit),
        org_unit=unit,
        fte=Decimal("1.5"),
        role="Data engineer",
    ),
    "kpi": _kpi,
    "kpimeasurement": lambda portfolio, unit: services.kpi_record(
        actor=None,
        kpi=_kpi(portfolio, unit),
        measured_on=date(2026, 3, 1),
        value=Decimal("12"),
    ),
}


@pytest.mark.parametrize("model_name", sorted(BUILDERS))
def test_admin_is_scoped_for_each_role_and_never_deletes(
    model_name, client, org, portfolio, superuser
):
    """What tests/portal/test_routes.py checks for deletable admins, with
    delete refused for everyone."""
    inside = BUILDERS[model_name](portfolio, org.fr)
    outside = BUILDERS[model_name](portfolio, org.jp)
    users = [make_member(role, org.emea) for role in Role] + [superuser]

    for user in users:
        client.force_login(user, backend=BACKEND)
        su = user.is_superuser
        may_view = user.has_perm(f"milestones.view_{model_name}") or user.has_perm(
            f"milestones.change_{model_name}"
        )
        changelist = client.get(url(f"{model_name}_changelist"))
        if not may_view:
            assert changelist.status_code == 403, user
            assert client.get(url(f"{model_name}_change", inside.pk)).status_code == 403
            continue
        assert changelist.status_code == 200, user
        listed = set(changelist.context["cl"].queryset.values_list("pk", flat=True))
        assert inside.pk in listed
        assert (outside.pk in listed) == su
        assert client.get(url(f"{model_name}_change", inside.pk)).status_code == 200
        out = 200 if su else 404
        assert client.get(url(f"{model_name}_change", outside.pk)).status_code == out
        assert client.get(url(f"{model_name}_history", outside.pk)).status_code == out
        for obj in (inside, outside):
            assert client.get(url(f"{model_name}_delete", obj.pk)).status_code == 403


def test_form_choices_are_scoped(as_user, org, member, portfolio):
    emea_pmo = member(Role.PORTFOLIO_MANAGER, org.emea)
    regional = make_portfolio(org.emea, name="EMEA Excellence")
    make_portfolio(org.apac, name="Asia Growth")
    member(Role.CONTRIBUTOR, org.apac, username="far-away")
    colleague = member(Role.CONTRIBUTOR, org.fr, username="colleague")

    form = as_user(emea_pmo).get(url("milestone_add")).context["adminform"].form

    portfolios = set(form.fields["portfolio"].queryset)
    assert portfolios == {regional}  # plans may only be changed there
    units = {u.code for u in form.fields["org_unit"].queryset}
    assert units == {"emea", "fr", "de", "fr-paris"}
    owners = set(form.fields["owner"].queryset)
    assert colleague in owners and emea_pmo in owners
    assert not any(u.username == "far-away" for u in owners)
    categories = {c.portfolio for c in form.fields["category"].queryset}
    assert categories == {regional}


@pytest.mark.parametrize(
    "model_name",
    [
        "portfolio",
        "strategicobjective",
        "milestone",
        "dependency",
        "checkpoint",
        "resourceallocation",
        "kpi",
        "kpimeasurement",
    ],
)
def test_add_pages_render_for_a_portfolio_manager(as_user, pmo, model_name):
    response = as_user(pmo).get(url(f"{model_name}_add"))
    assert response.status_code == 200


def test_history_page_shows_user_and_reason(as_user, pmo, org, milestone_in):
    milestone = milestone_in(org.fr)
    services.milestone_update(
        actor=pmo,
        milestone=milestone,
        expected_version=1,
        risk_factors="Vendor lock-in",
        reason="Risk review",
    )
    page = as_user(pmo).get(url("milestone_history", milestone.pk))
    assert page.status_code == 200
    assert "Risk review" in page.content.decode()
    assert str(pmo) in page.content.decode()
    # Past versions cannot be opened for revert.
    record = milestone.history.first()
    assert (
        as_user(pmo)
        .get(url("milestone_simple_history", milestone.pk, record.history_id))
        .status_code
        == 404
    )


def test_kpi_page_records_measurements_through_the_service(as_user, pmo, portfolio):
    kpi = services.kpi_create(
        actor=None,
        portfolio=portfolio,
        name="Adoption (%)",
        baseline=Decimal("0"),
        target=Decimal("80"),
    )
    client = as_user(pmo)
    change = url("kpi_change", kpi.pk)
    data = form_data(client.get(change))
    add_row(data, "measurements", measured_on="2026-03-31", value="12.5")
    assert client.post(change, data).status_code == 302
    measurement = kpi.measurements.get()
    assert (measurement.value, measurement.recorded_by) == (Decimal("12.5"), pmo)
    assert measurement.history.get().history_user == pmo


def test_dependency_admin_deletes_through_the_service(as_user, pmo, org, milestone_in):
    a, b = milestone_in(org.fr), milestone_in(org.fr)
    dependency = services.dependency_add(actor=None, predecessor=a, successor=b)
    client = as_user(pmo)
    response = client.post(url("dependency_delete", dependency.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Dependency.objects.exists()
    removed = Dependency.history.get(history_type="-")
    assert (removed.history_user, removed.history_change_reason) == (
        pmo,
        "Dependency removed",
    )


def test_changelist_checkboxes_are_djangos_markup(as_user, pmo, org, milestone_in):
    from django.contrib import admin as django_admin

    tricky = milestone_in(org.fr, name='Rollout <b>"EMEA"</b> & more')
    response = as_user(pmo).get(url("milestone_changelist"))
    model_admin = django_admin.site._registry[Milestone]
    stock = django_admin.ModelAdmin.action_checkbox(model_admin, tricky)

    assert model_admin.action_checkbox(tricky) == stock
    assert stock in response.content.decode()
    assert "&lt;b&gt;&quot;EMEA&quot;&lt;/b&gt; &amp; more" in stock
