"""The compliance history browser: ``/audit/``, an object's history, the
point-in-time views, the CSV export and ``/api/v1/history/``.

Edits made through every entrance (update form, admin, API, import, Celery
task) appear with the right user and reason; each reader sees their scope;
the Compliance Auditor reads and changes nothing; history stays append-only.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import tablib
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from milestones import services
from milestones.models import Milestone, ProgressUpdate, Status
from milestones.resources import MilestoneResource
from portal import audit
from portal.models import AuditEvent
from reporting import services as reporting_services
from risks import tasks as risk_tasks
from risks.models import Escalation
from risks.services import escalation_rules_ensure_defaults

from ..factories import PASSWORD, UserFactory, make_member
from ..milestones.conftest_api import client_for
from ..milestones.test_admin import form_data as admin_form_data
from ..milestones.test_views import form_data as update_form_data
from .helpers import backdate_history

pytestmark = pytest.mark.django_db

TRAIL = "/audit/"
EXPORT = "/audit/export.csv"
API = "/api/v1/history/"
BACKEND = "django.contrib.auth.backends.ModelBackend"


def signed_in(client, user):
    client.force_login(user, backend=BACKEND)
    return client


def trail(client, **params):
    """The entries of the first page of ``/audit/`` (200 expected)."""
    response = client.get(TRAIL, params)
    assert response.status_code == 200, response.content[:500]
    return response.context["page"].entries


def changes(entry) -> dict[str, tuple[str, str]]:
    return {c.field: (c.old, c.new) for c in entry.changes}


def latest_change(client, milestone):
    entries = trail(client, model="milestones.milestone", object=milestone.pk)
    return entries[0]


def progress(milestone, actor, percent="40", **fields):
    values = {
        "status": Status.IN_PROGRESS,
        "percent_complete": Decimal(percent),
        "actual_spend": Decimal("1000"),
    }
    values.update(fields)
    return services.milestone_submit_update(
        actor=actor, milestone=milestone, expected_version=None, **values
    )


@pytest.fixture
def emea_auditor(org):
    return make_member(Role.COMPLIANCE_AUDITOR, org.emea, username="auditor-emea")


# Every entrance appears with its user and reason ----------------------------------


def test_update_form_edit_is_in_the_trail(client, org, milestone_in, auditor):
    contributor = make_member(Role.CONTRIBUTOR, org.emea, username="contrib-fr")
    milestone = milestone_in(org.fr)
    signed_in(client, contributor)
    response = client.post(
        reverse("milestones:update", args=[milestone.pk]), update_form_data(milestone)
    )
    assert response.status_code == 302
    update = ProgressUpdate.objects.get()

    entry = latest_change(signed_in(client, auditor), milestone)

    assert (entry.user_id, entry.action) == (contributor.pk, "Changed")
    assert entry.reason == f"Progress update #{update.pk}"
    assert changes(entry)["percent_complete"] == ("0.00", "40.00")
    assert changes(entry)["status"] == ("Not started", "In progress")


def test_admin_edit_is_in_the_trail(client, org, milestone_in, pmo, auditor):
    milestone = milestone_in(org.fr, description="Old text")
    signed_in(client, pmo)
    change = reverse("admin:milestones_milestone_change", args=[milestone.pk])
    data = admin_form_data(client.get(change))
    data["description"] = "Scope clarified with the French team"
    data["change_reason"] = "Steering committee minutes 12"
    assert client.post(change, data).status_code == 302

    entry = latest_change(signed_in(client, auditor), milestone)

    assert (entry.user_id, entry.reason) == (pmo.pk, "Steering committee minutes 12")
    assert changes(entry)["description"] == (
        "Old text",
        "Scope clarified with the French team",
    )


def test_api_edit_is_in_the_trail(client, org, milestone_in, pmo, auditor):
    milestone = milestone_in(org.fr)
    response = client_for(pmo).patch(
        f"/api/v1/milestones/{milestone.pk}/",
        {"name": "Renamed by API", "version": 1, "reason": "Naming convention"},
        format="json",
    )
    assert response.status_code == 200, response.json()

    entry = latest_change(signed_in(client, auditor), milestone)

    assert (entry.user_id, entry.reason) == (pmo.pk, "Naming convention")
    assert changes(entry)["name"][1] == "Renamed by API"


def test_import_is_in_the_trail(client, org, milestone_in, pmo, auditor):
    milestone = milestone_in(org.fr, name="Before import")
    dataset = tablib.Dataset(headers=["id", "version", "name"])
    dataset.append([milestone.pk, milestone.version, "After import"])
    result = MilestoneResource(user=pmo).import_data(
        dataset, dry_run=False, reason="Q3 re-plan"
    )
    assert not result.has_errors() and not result.has_validation_errors()

    entry = latest_change(signed_in(client, auditor), milestone)

    assert (entry.user_id, entry.reason) == (pmo.pk, "Q3 re-plan")
    assert changes(entry)["name"] == ("Before import", "After import")


def test_celery_task_change_is_in_the_trail(client, org, milestone_in, auditor):
    escalation_rules_ensure_defaults()
    reporter = UserFactory(username="reporter", is_superuser=True)
    planned = timezone.localdate() + timedelta(days=60)
    milestone = milestone_in(org.fr, planned_completion=planned)
    progress(milestone, reporter, forecast_completion=planned + timedelta(days=30))

    risk_tasks.run_escalation_sweep.delay()  # eager: no broker in tests

    escalation = Escalation.objects.get(milestone=milestone)
    entries = trail(signed_in(client, auditor), model="risks.escalation")
    entry = next(e for e in entries if e.object_id == escalation.pk)
    assert (entry.user_id, entry.username, entry.action) == (None, "system", "Created")
    assert entry.reason.startswith("Opened by the escalation sweep")
    assert audit.verify_chain().ok


# Scope ----------------------------------------------------------------------------


def test_contributor_sees_only_their_scope(client, org, milestone_in, pmo):
    paris = milestone_in(org.fr, name="Paris pilot")
    tokyo = milestone_in(org.jp, name="Tokyo pilot")
    progress(paris, pmo)
    progress(tokyo, pmo)
    contributor = make_member(Role.CONTRIBUTOR, org.emea, username="contrib")
    signed_in(client, contributor)

    shown = {(e.model, e.object_id) for e in trail(client)}
    api = {
        (e["model"], e["object_id"])
        for e in client.get(API, {"limit": 200}).json()["results"]
    }

    assert ("milestones.milestone", paris.pk) in shown
    assert ("milestones.milestone", tokyo.pk) not in shown
    assert not any(model == "access" for model, _ in shown)
    assert ("milestones.milestone", str(tokyo.pk)) not in api
    assert ("milestones.milestone", str(paris.pk)) in api
    for url in (
        reverse("audit:object", args=["milestones.milestone", tokyo.pk]),
        reverse("audit:milestone_as_of", args=[tokyo.pk]),
    ):
        assert client.get(url).status_code == 404
    assert client.get(TRAIL, {"model": "milestones.milestone", "object": tokyo.pk})
    assert not trail(client, model="milestones.milestone", object=tokyo.pk)


def test_scoped_auditor_sees_access_events_of_the_users_they_audit(
    client, org, emea_auditor
):
    french = make_member(Role.CONTRIBUTOR, org.fr, username="french")
    japanese = make_member(Role.CONTRIBUTOR, org.jp, username="japanese")
    for user in (french, japanese):
        audit.event_record(kind=AuditEvent.Kind.LOGIN, user=user)
    audit.event_record(kind=AuditEvent.Kind.LOGIN_FAILED, username="ghost")

    shown = {e.user_id for e in trail(signed_in(client, emea_auditor), model="access")}

    assert french.pk in shown
    assert japanese.pk not in shown and None not in shown


def test_global_auditor_sees_every_access_event(client, auditor):
    audit.event_record(kind=AuditEvent.Kind.LOGIN_FAILED, username="ghost")
    entries = trail(signed_in(client, auditor), model="access")
    assert any(e.username == "ghost" and e.action == "Failed sign-in" for e in entries)


def test_deleted_objects_history_is_for_those_who_see_everything(
    client, org, milestone_in, pmo, superuser
):
    first, second = milestone_in(org.fr), milestone_in(org.fr)
    link = services.dependency_add(actor=pmo, predecessor=first, successor=second)
    url = reverse("audit:object", args=["milestones.dependency", link.pk])
    services.dependency_remove(actor=pmo, dependency=link)

    assert signed_in(client, pmo).get(url).status_code == 404
    response = signed_in(client, superuser).get(url)
    assert response.status_code == 200
    actions = [e.action for e in response.context["page"].entries]
    assert actions == ["Deleted", "Created"]


# The auditor reads and changes nothing --------------------------------------------


def test_auditor_cannot_change_anything(client, org, milestone_in, auditor):
    milestone = milestone_in(org.fr, name="Untouched")
    signed_in(client, auditor)
    change = reverse("admin:milestones_milestone_change", args=[milestone.pk])
    assert client.get(change).status_code == 200  # view-only
    assert client.post(change, {"name": "Touched"}).status_code == 403

    api = client_for(auditor)
    assert api.get(f"/api/v1/milestones/{milestone.pk}/").status_code == 200
    response = api.patch(
        f"/api/v1/milestones/{milestone.pk}/",
        {"name": "Touched", "version": 1},
        format="json",
    )
    assert response.status_code == 403

    update = reverse("milestones:update", args=[milestone.pk])
    assert client.post(update, update_form_data(milestone)).status_code == 403
    for url in (TRAIL, EXPORT):
        assert client.post(url).status_code == 405
    assert api.post(API, {}).status_code == 405
    event = audit.event_record(kind=AuditEvent.Kind.LOGIN, user=auditor)
    event_change = reverse("admin:portal_auditevent_change", args=[event.pk])
    assert client.get(event_change).status_code == 200
    assert client.post(event_change, {"username": "x"}).status_code == 403

    milestone.refresh_from_db()
    assert (milestone.name, milestone.version) == ("Untouched", 1)
    assert not ProgressUpdate.objects.exists()


# History is append-only ---------------------------------------------------------------


def test_history_cannot_be_reverted_or_deleted_in_the_admin(
    client, org, milestone_in, superuser
):
    milestone = milestone_in(org.fr)
    record = milestone.history.get()
    signed_in(client, superuser)
    revert = reverse(
        "admin:milestones_milestone_simple_history",
        args=[milestone.pk, record.history_id],
    )
    assert client.get(revert).status_code == 404
    assert client.post(revert, {"name": "Reverted"}).status_code == 404

    history_models = set(audit.history_models())
    assert not history_models & set(admin.site._registry)
    event = audit.event_record(kind=AuditEvent.Kind.LOGIN, user=superuser)
    for view in ("change", "delete"):
        url = reverse(f"admin:portal_auditevent_{view}", args=[event.pk])
        assert client.post(url, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:portal_auditevent_add")).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_history_api_is_read_only(superuser):
    client = client_for(superuser)
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(API, {}, format="json").status_code == 405


# Access events in the trail -------------------------------------------------------


def test_sign_ins_downloads_and_exports_are_in_the_trail(
    client, org, portfolio, auditor
):
    alice = make_member(Role.EXECUTIVE, org.world, username="alice")
    client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert client.get(f"/reports/{portfolio.slug}/milestones.csv").status_code == 200
    reporting_services.log_download(alice, portfolio, "executive_pdf")

    entries = trail(signed_in(client, auditor), model="access", user="alice")

    assert [e.action for e in reversed(entries)] == [
        "Failed sign-in",
        "Signed in",
        "Export",
        "Report download",
    ]
    export, download = entries[1], entries[0]
    assert export.details == {"what": "milestones_csv", "portfolio": portfolio.pk}
    assert download.details["what"] == "executive_pdf"
    by_portfolio = trail(client, model="access", portfolio=portfolio.slug)
    assert {e.action for e in by_portfolio} == {"Export", "Report download"}


# The export -----------------------------------------------------------------------


def test_export_streams_the_filtered_trail_and_is_logged(
    client, org, milestone_in, pmo, auditor
):
    milestone = milestone_in(org.fr, name="Exported")
    progress(milestone, pmo, percent="25")
    milestone_in(org.de, name="Not exported")
    signed_in(client, auditor)

    response = client.get(
        EXPORT, {"model": "milestones.milestone", "object": milestone.pk}
    )

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["Object"] for r in rows} == {"Exported"}
    percent = next(r for r in rows if r["Field"] == "percent_complete")
    assert (percent["From"], percent["To"], percent["User ID"]) == (
        "0.00",
        "25.00",
        str(pmo.pk),
    )
    logged = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT, user=auditor)
    assert logged.details == {
        "what": "audit_trail",
        "filters": {"model": "milestones.milestone", "object": str(milestone.pk)},
    }


def test_bad_export_filters_answer_400_and_log_nothing(client, auditor):
    response = signed_in(client, auditor).get(EXPORT, {"since": "yesterday"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT).exists()


# Filters --------------------------------------------------------------------------


def test_filters_by_user_model_field_and_dates(
    client, org, milestone_in, pmo, superuser
):
    milestone = milestone_in(org.fr)
    services.milestone_update(
        actor=pmo,
        milestone=milestone,
        expected_version=1,
        description="Only the text",
        reason="Wording",
    )
    progress(milestone, superuser, percent="30")
    signed_in(client, superuser)

    by_pmo = trail(client, user="pmo", model="milestones.milestone")
    assert [e.reason for e in by_pmo] == ["Wording"]
    status_changes = trail(client, model="milestones.milestone", field="status")
    assert [e.action for e in status_changes] == ["Changed", "Created"]
    assert all("status" in changes(e) for e in status_changes)
    any_model = trail(client, field="percent_complete")
    assert {e.model for e in any_model} >= {"milestones.milestone"}
    today = timezone.localdate()
    assert trail(client, since=today.isoformat(), until=today.isoformat())
    yesterday = (today - timedelta(days=1)).isoformat()
    assert not trail(client, until=yesterday)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-13-01"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ({"user": "nobody"}, "user"),
        ({"portfolio": "atlantis"}, "portfolio"),
        ({"model": "auth.nothing"}, "model"),
        ({"object": "12"}, "object"),
        ({"object": "-1", "model": "milestones.milestone"}, "object"),
        ({"model": "milestones.milestone", "field": "colour"}, "field"),
        ({"after": "not-a-cursor"}, "after"),
    ],
)
def test_bad_filters_answer_400_with_the_field(client, auditor, params, field):
    signed_in(client, auditor)
    page = client.get(TRAIL, params)
    assert page.status_code == 400
    assert field in page.context["form"].errors
    response = client_for(auditor).get(API, params)
    assert response.status_code == 400
    assert field in response.json()


def test_api_limit_is_bounded(auditor):
    assert client_for(auditor).get(API, {"limit": "0"}).status_code == 400
    assert client_for(auditor).get(API, {"limit": "1000"}).status_code == 400


# Pagination -----------------------------------------------------------------------


def test_keyset_pages_cover_everything_once(client, org, milestone_in, superuser):
    for n in range(6):
        progress(milestone_in(org.fr, name=f"M{n}"), superuser)
    api = client_for(superuser)
    everything = [e["id"] for e in api.get(API, {"limit": 200}).json()["results"]]
    assert len(everything) > 12

    seen, url = [], f"{API}?limit=5"
    while url:
        body = api.get(url).json()
        seen += [e["id"] for e in body["results"]]
        url = body["next"]
        if len(seen) == 5:
            milestone_in(org.de, name="Written while paging")

    assert seen == everything  # older pages do not shift when new rows arrive
    ats = [e["at"] for e in api.get(API, {"limit": 200}).json()["results"]]
    assert ats == sorted(ats, reverse=True)


def test_page_links_to_the_next_page_and_each_object(
    client, org, milestone_in, superuser
):
    for n in range(30):
        milestone_in(org.fr, name=f"Bulk {n}")
    signed_in(client, superuser)
    response = client.get(TRAIL)
    page = response.context["page"]
    assert len(page.entries) == 50 and page.next_cursor
    html = response.content.decode()
    assert f"after={page.next_cursor}" in html
    first_change = next(e for e in page.entries if e.kind == "change")
    assert first_change.url in html
    older = client.get(TRAIL, {"after": page.next_cursor}).context["page"]
    assert not {e.cursor for e in older.entries} & {e.cursor for e in page.entries}


def _grow(org, milestone_in, pmo, n):
    for k in range(n):
        milestone = milestone_in(org.fr if k % 2 else org.jp)
        progress(milestone, pmo)
        audit.event_record(kind=AuditEvent.Kind.LOGIN, user=pmo)


@pytest.mark.parametrize("reader", ["superuser", "emea_auditor", "contributor_emea"])
def test_trail_query_count_does_not_grow_with_rows(
    client, org, milestone_in, pmo, reader, request, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = request.getfixturevalue(reader)
    signed_in(client, user)
    _grow(org, milestone_in, pmo, 2)
    client.get(TRAIL)
    api = client_for(user)
    with CaptureQueriesContext(connection) as few:
        client.get(TRAIL)
    with CaptureQueriesContext(connection) as few_api:
        api.get(API)

    _grow(org, milestone_in, pmo, 25)
    with django_assert_max_num_queries(len(few)):
        response = client.get(TRAIL)
    assert len(response.context["page"].entries) == 50
    with django_assert_max_num_queries(len(few_api)):
        api.get(API)


# One object and the point in time -------------------------------------------------


def test_object_page_shows_field_level_diffs(client, org, milestone_in, pmo, auditor):
    milestone = milestone_in(org.fr, name="Platform")
    services.milestone_update(
        actor=pmo,
        milestone=milestone,
        expected_version=1,
        org_unit=org.de,
        reason="Moved to Germany",
    )
    signed_in(client, auditor)
    response = client.get(
        reverse("audit:object", args=["milestones.milestone", milestone.pk])
    )
    assert response.status_code == 200
    moved = response.context["page"].entries[0]
    assert changes(moved)["org_unit"] == ("France", "Germany")
    assert "Moved to Germany" in response.content.decode()
    assert reverse("audit:milestone_as_of", args=[milestone.pk]) in (
        response.content.decode()
    )


def test_portfolio_as_of_a_past_date_shows_the_values_of_that_date(
    client, org, portfolio, milestone_in, pmo, auditor
):
    milestone = milestone_in(org.fr, name="Data platform")
    progress(milestone, pmo, percent="20")
    backdate_history(10)  # everything so far was recorded ten days ago
    progress(milestone, pmo, percent="80", status=Status.AT_RISK)
    services.milestone_update(
        actor=pmo,
        milestone=Milestone.objects.get(pk=milestone.pk),
        expected_version=None,
        name="Data platform v2",
        reason="Renamed",
    )
    signed_in(client, auditor)
    url = reverse("audit:portfolio_as_of", args=[portfolio.slug])
    past = (timezone.localdate() - timedelta(days=5)).isoformat()

    then = client.get(url, {"at": past})
    now = client.get(url)

    assert then.status_code == now.status_code == 200
    (row,) = then.context["state"].milestones
    assert (row["name"], row["percent_complete"], row["status"]) == (
        "Data platform",
        "20.00",
        "In progress",
    )
    assert "Data platform v2" not in then.content.decode()
    (row,) = now.context["state"].milestones
    assert (row["name"], row["percent_complete"], row["status"]) == (
        "Data platform v2",
        "80.00",
        "At risk",
    )
    weights = {c.name: c.weight for c in then.context["state"].categories}
    assert weights["Foundation"] == Decimal("25")
    long_ago = (timezone.localdate() - timedelta(days=30)).isoformat()
    before = client.get(url, {"at": long_ago}).context["state"]
    assert not before.portfolio.existed


def test_milestone_as_of_compares_then_and_now(client, org, milestone_in, pmo, auditor):
    milestone = milestone_in(org.fr, name="Old name")
    backdate_history(3)
    services.milestone_update(
        actor=pmo,
        milestone=milestone,
        expected_version=None,
        name="New name",
        reason="Renamed",
    )
    signed_in(client, auditor)
    url = reverse("audit:milestone_as_of", args=[milestone.pk])
    state = client.get(
        url, {"at": (timezone.localdate() - timedelta(days=1)).isoformat()}
    ).context["state"]
    name = next(f for f in state.fields if f.label == "Name")
    assert (name.then, name.now, name.changed) == ("Old name", "New name", True)

    assert client.get(url, {"at": "soon"}).status_code == 400
    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    assert client.get(url, {"at": future}).status_code == 400


# Scope of the trail at speed (#20) ------------------------------------------------


def _kpi(portfolio, milestone=None, name="Adoption"):
    from milestones.models import KPI

    return services.kpi_create(
        actor=None,
        portfolio=portfolio,
        milestone=milestone,
        name=name,
        kind=KPI.Kind.LAGGING,
        baseline=Decimal("0"),
        target=Decimal("100"),
    )


def test_regional_auditor_sees_kpis_of_their_milestones_and_portfolio_wide_ones(
    client, org, portfolio, milestone_in, emea_auditor
):
    from milestones.models import KPI

    paris = milestone_in(org.fr, name="Paris pilot")
    tokyo = milestone_in(org.jp, name="Tokyo pilot")
    ours, theirs, shared = (
        _kpi(portfolio, paris, "Paris adoption"),
        _kpi(portfolio, tokyo, "Tokyo adoption"),
        _kpi(portfolio, None, "Portfolio adoption"),
    )
    shown = {
        e.object_id
        for e in trail(signed_in(client, emea_auditor), model="milestones.kpi")
    }

    assert shown == {ours.pk, shared.pk}
    assert KPI.objects.restrict(emea_auditor, "view").filter(pk=theirs.pk).count() == 0


def test_an_audit_grant_without_view_still_opens_that_history(
    client, org, milestone_in, pmo
):
    from accounts import policy
    from accounts.roles import AUDIT

    tokyo = milestone_in(org.jp, name="Tokyo pilot")
    progress(tokyo, pmo)
    reader = make_member(Role.COMPLIANCE_AUDITOR, org.fr, username="auditor-fr")
    policy.grant(reader, [AUDIT], tokyo)
    with policy.grants_read_once():
        assert not policy.grants_within_view(reader, AUDIT)

    shown = {(e.model, e.object_id) for e in trail(signed_in(client, reader))}

    assert ("milestones.milestone", tokyo.pk) in shown


def test_grants_within_view_for_an_auditor_of_a_region(org, emea_auditor):
    from accounts import policy
    from accounts.roles import AUDIT

    assert not policy.grants_within_view(emea_auditor, AUDIT)  # outside a block
    with policy.grants_read_once():
        assert policy.grants_within_view(emea_auditor, AUDIT)


def test_regional_auditor_first_page_in_constant_queries(
    client, org, milestone_in, pmo, emea_auditor, django_assert_max_num_queries
):
    signed_in(client, emea_auditor)
    _grow(org, milestone_in, pmo, 30)
    # Session, user, grants (two), reach, portfolios, a query per history
    # table (22) and the access events, their previous records, names, the
    # admin's permissions, the navigation's unread notifications: as many for
    # 30 milestones as for 3.
    with django_assert_max_num_queries(39):
        response = client.get(TRAIL)
    assert response.status_code == 200
    assert len(response.context["page"].entries) == 50
