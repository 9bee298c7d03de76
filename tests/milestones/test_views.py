"""Contributor pages: my milestones, progress update form, quick update, evidence."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from milestones import services
from milestones.forms import validate_evidence
from milestones.models import Milestone, ProgressUpdate, Status
from milestones.views import milestones_to_update
from tests.factories import UserFactory

BACKEND = "django.contrib.auth.backends.ModelBackend"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 32

MINE = reverse("milestones:mine")
QUICK = reverse("milestones:quick_update")


def update_url(milestone) -> str:
    return reverse("milestones:update", args=[milestone.pk])


def evidence_url(progress) -> str:
    return reverse("milestones:evidence", args=[progress.pk])


def login(client, user):
    client.force_login(user, backend=BACKEND)
    return client


def form_data(milestone, **overrides) -> dict:
    data = {
        "version": milestone.version,
        "status": Status.IN_PROGRESS,
        "percent_complete": "40",
        "actual_spend": "12500.50",
        "estimate_at_completion": "95000",
        "forecast_completion": "",
        "achievements": "Pilot live in two sites",
        "blockers": "Waiting for data access",
        "next_steps": "Roll out to the third site",
    }
    data.update(overrides)
    return data


def submit(milestone, actor, **fields):
    """A progress update through the service, as another screen would."""
    values = {
        "status": Status.ON_TRACK,
        "percent_complete": Decimal("10"),
        "actual_spend": Decimal("0"),
    }
    values.update(fields)
    return services.milestone_submit_update(
        actor=actor, milestone=milestone, expected_version=None, **values
    )


def office_file(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}document.xml", "<doc/>")
    return buffer.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def emea_milestone(milestone_in, org):
    return milestone_in(org.fr, name="Paris data platform")


@pytest.fixture
def apac_milestone(milestone_in, org):
    return milestone_in(org.jp, name="Tokyo data platform")


# Access -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mine", "quick_update", "update", "evidence"])
def test_anonymous_is_sent_to_login(client, emea_milestone, name):
    args = [] if name in ("mine", "quick_update") else [emea_milestone.pk]
    url = reverse(f"milestones:{name}", args=args)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]


def test_user_without_role_sees_empty_list_and_no_update_page(client, emea_milestone):
    login(client, UserFactory())
    response = client.get(MINE)
    assert response.status_code == 200
    assert list(response.context["page"].object_list) == []
    assert "no milestones for you to update" in response.text
    assert client.get(update_url(emea_milestone)).status_code == 404
    assert client.get(QUICK).context["form"].milestones == []


def test_contributor_sees_milestones_of_their_region(
    client, contributor_emea, emea_milestone, apac_milestone
):
    login(client, contributor_emea)
    response = client.get(MINE)
    assert response.status_code == 200
    shown = list(response.context["page"].object_list)
    assert shown == [emea_milestone]
    assert "Paris data platform" in response.text
    assert "Tokyo data platform" not in response.text
    assert client.get(update_url(emea_milestone)).status_code == 200


def test_contributor_only_sees_their_org_unit_subtree(
    client, member, org, milestone_in
):
    in_fr = milestone_in(org.fr, name="France")
    in_paris = milestone_in(org.paris, name="Paris site")
    in_de = milestone_in(org.de, name="Germany")
    in_emea = milestone_in(org.emea, name="EMEA-wide")
    user = member(Role.CONTRIBUTOR, org.fr)
    login(client, user)
    shown = set(client.get(MINE).context["page"].object_list)
    assert shown == {in_fr, in_paris}
    assert client.get(update_url(in_de)).status_code == 404
    assert client.get(update_url(in_emea)).status_code == 404
    assert client.get(update_url(in_paris)).status_code == 200


def test_contributor_cannot_update_other_region(
    client, contributor_emea, apac_milestone
):
    login(client, contributor_emea)
    assert client.get(update_url(apac_milestone)).status_code == 404
    response = client.post(update_url(apac_milestone), form_data(apac_milestone))
    assert response.status_code == 404
    apac_milestone.refresh_from_db()
    assert apac_milestone.version == 1
    assert not ProgressUpdate.objects.exists()


def test_missing_milestone_is_404(client, contributor_emea):
    login(client, contributor_emea)
    response = client.get(reverse("milestones:update", args=[999999]))
    assert response.status_code == 404


def test_executive_may_see_but_not_update(client, executive, emea_milestone):
    login(client, executive)
    assert list(client.get(MINE).context["page"].object_list) == []
    assert client.get(update_url(emea_milestone)).status_code == 403
    response = client.post(update_url(emea_milestone), form_data(emea_milestone))
    assert response.status_code == 403
    assert not ProgressUpdate.objects.exists()


def test_owner_may_update_own_milestone(client, milestone_in, org):
    owner = UserFactory(username="owner-no-membership")
    own = milestone_in(org.jp, name="Owned", owner=owner)
    other = milestone_in(org.jp, name="Not owned")
    login(client, owner)
    assert list(client.get(MINE).context["page"].object_list) == [own]
    assert client.get(update_url(other)).status_code == 404
    response = client.post(update_url(own), form_data(own))
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.percent_complete == Decimal("40")
    assert own.updates.get().author == owner


def test_pages_use_the_admin_look_and_phone_stylesheet(client, contributor_emea):
    login(client, contributor_emea)
    response = client.get(MINE)
    assert 'id="site-name"' in response.text
    assert "admin/css/base.css" in response.text
    assert "milestones/cairn.css" in response.text
    assert 'name="viewport"' in response.text
    # No asset from the network.
    assert "https://" not in response.text
    assert "http://" not in response.text.replace("http://www.w3.org", "")


# The list -----------------------------------------------------------------


def test_list_shows_dates_days_and_flags(client, contributor_emea, org, milestone_in):
    today = timezone.localdate()
    overdue = milestone_in(
        org.fr,
        name="Late one",
        planned_start=today - timedelta(days=90),
        planned_completion=today - timedelta(days=5),
    )
    soon = milestone_in(
        org.fr, name="Soon one", planned_completion=today + timedelta(days=10)
    )
    later = milestone_in(
        org.fr, name="Later one", planned_completion=today + timedelta(days=60)
    )
    login(client, contributor_emea)
    response = client.get(MINE)
    rows = {m.pk: m for m in response.context["page"].object_list}
    assert rows[overdue.pk].is_overdue and not rows[overdue.pk].is_due_soon
    assert rows[overdue.pk].days_remaining == -5
    assert rows[soon.pk].is_due_soon and not rows[soon.pk].is_overdue
    assert rows[soon.pk].days_remaining == 10
    assert not (rows[later.pk].is_overdue or rows[later.pk].is_due_soon)
    assert rows[later.pk].days_remaining == 60
    assert not any(m.is_stale for m in rows.values())  # all created just now
    assert response.context["summary"] == {
        "total": 3,
        "overdue": 1,
        "due_soon": 1,
        "stale": 0,
    }
    assert "5 late" in response.text
    assert "Overdue" in response.text and "Due soon" in response.text


def test_stale_flag_after_fourteen_days_without_update(
    contributor_emea, org, milestone_in
):
    updated = milestone_in(org.fr, name="Updated")
    never = milestone_in(org.fr, name="Never updated")
    closed = milestone_in(org.fr, name="Closed")
    submit(updated, contributor_emea)
    submit(closed, None, status=Status.CANCELLED)  # cancelled by the plan's editors
    now = timezone.now()
    rows = {m.pk: m for m in milestones_to_update(contributor_emea, now=now)}
    assert not any(m.is_stale for m in rows.values())
    later = now + timedelta(days=15)
    rows = {m.pk: m for m in milestones_to_update(contributor_emea, now=later)}
    assert rows[updated.pk].is_stale
    assert rows[never.pk].is_stale
    assert not rows[closed.pk].is_stale  # closed milestones are never flagged
    stale = milestones_to_update(contributor_emea, now=later).filter(is_stale=True)
    assert set(stale) == {updated, never}


def test_list_groups_by_portfolio_and_filters(
    client, contributor_emea, org, portfolio, milestone_in
):
    from tests.factories import make_milestone, make_portfolio

    other = make_portfolio(org.world, name="Zeta programme")
    in_other = make_milestone(other, org.de, name="Other programme milestone")
    first = milestone_in(org.fr, name="First")
    submit(first, contributor_emea, status=Status.AT_RISK)
    login(client, contributor_emea)
    response = client.get(MINE)
    text = response.text
    assert text.index("<h2>AI Transformation</h2>") < text.index(
        "<h2>Zeta programme</h2>"
    )
    response = client.get(MINE, {"portfolio": other.slug})
    assert list(response.context["page"].object_list) == [in_other]
    response = client.get(MINE, {"status": Status.AT_RISK})
    assert list(response.context["page"].object_list) == [first]
    # Filters only offer the user's portfolios; a foreign one is an error.
    foreign = make_portfolio(org.apac, name="Foreign")
    response = client.get(MINE, {"portfolio": foreign.slug})
    assert response.status_code == 200
    assert response.context["filterset"].errors["portfolio"]
    response = client.get(MINE, {"q": "first"})
    assert list(response.context["page"].object_list) == [first]
    response = client.get(MINE, {"flag": "overdue"})
    assert list(response.context["page"].object_list) == []


def test_list_query_count_is_constant(
    client, contributor_emea, org, milestone_in, django_assert_max_num_queries
):
    for _ in range(2):
        submit(milestone_in(org.fr), contributor_emea)
    login(client, contributor_emea)
    client.get(MINE)  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(MINE).status_code == 200
    for _ in range(18):
        submit(milestone_in(org.de), contributor_emea)
    with django_assert_max_num_queries(len(few)):
        response = client.get(MINE)
    assert response.context["summary"]["total"] == 20


# The update form ------------------------------------------------------------


def test_update_form_shows_current_values_and_last_five_updates(
    client, contributor_emea, emea_milestone
):
    for n in range(6):
        submit(emea_milestone, contributor_emea, achievements=f"Step {n}")
    emea_milestone.refresh_from_db()
    login(client, contributor_emea)
    response = client.get(update_url(emea_milestone))
    assert response.status_code == 200
    form = response.context["form"]
    assert form["version"].value() == emea_milestone.version == 7
    assert form["status"].value() == Status.ON_TRACK
    updates = response.context["updates"]
    assert [u.achievements for u in updates] == [f"Step {n}" for n in (5, 4, 3, 2, 1)]
    assert "Step 0" not in response.text
    assert 'name="version" value="7"' in response.text


def test_submit_update_saves_and_shows_it_at_once(
    client, contributor_emea, emea_milestone
):
    login(client, contributor_emea)
    response = client.post(
        update_url(emea_milestone),
        form_data(emea_milestone, forecast_completion="2049-01-31"),
    )
    assert response.status_code == 302
    assert response["Location"] == update_url(emea_milestone)
    emea_milestone.refresh_from_db()
    assert emea_milestone.status == Status.IN_PROGRESS
    assert emea_milestone.percent_complete == Decimal("40")
    assert emea_milestone.actual_spend == Decimal("12500.50")
    assert emea_milestone.forecast_completion.isoformat() == "2049-01-31"
    assert emea_milestone.version == 2
    progress = emea_milestone.updates.get()
    assert progress.author == contributor_emea
    assert progress.milestone_version == 1
    latest = emea_milestone.history.first()
    assert latest.history_user == contributor_emea
    assert latest.history_change_reason == f"Progress update #{progress.pk}"
    page = client.get(response["Location"])
    assert "Progress update saved" in page.text
    assert f'<a href="{MINE}">Back to my milestones</a></li>' in page.text
    assert "Pilot live in two sites" in page.text
    assert list(page.context["updates"]) == [progress]


def test_completion_of_gated_milestone_awaits_validation(
    client, contributor_emea, milestone_in, org
):
    gated = milestone_in(org.fr, requires_validation=True)
    login(client, contributor_emea)
    response = client.post(
        update_url(gated), form_data(gated, status=Status.COMPLETED), follow=True
    )
    assert "Completion now awaits validation" in response.text
    gated.refresh_from_db()
    assert gated.status == Status.PENDING_VALIDATION
    assert gated.percent_complete == 100


def test_tampered_version_is_a_form_error(client, contributor_emea, emea_milestone):
    login(client, contributor_emea)
    response = client.post(
        update_url(emea_milestone), form_data(emea_milestone, version="abc")
    )
    assert response.status_code == 200
    assert "version" in response.context["form"].errors
    assert "Reload the page" in response.text
    _assert_nothing_saved(emea_milestone)


def _assert_nothing_saved(milestone):
    fresh = Milestone.objects.get(pk=milestone.pk)
    assert fresh.version == milestone.version
    assert fresh.percent_complete == milestone.percent_complete
    assert fresh.actual_spend == milestone.actual_spend
    assert fresh.status == milestone.status
    assert not ProgressUpdate.objects.filter(milestone=milestone).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message", "kept"),
    [
        (
            {"percent_complete": "140"},
            "percent_complete",
            "from 0 to 100",
            'value="140"',
        ),
        ({"actual_spend": "-5"}, "actual_spend", "cannot be negative", 'value="-5"'),
        (
            {"estimate_at_completion": "-1"},
            "estimate_at_completion",
            "cannot be negative",
            'value="-1"',
        ),
        (
            {"forecast_completion": "2005-01-01"},
            "forecast_completion",
            "before the planned start",
            'value="2005-01-01"',
        ),
        ({"percent_complete": "lots"}, "percent_complete", "number", 'value="lots"'),
        ({"status": "finished"}, "status", "valid choice", "Pilot live in two sites"),
    ],
)
def test_bad_input_keeps_input_and_saves_nothing(
    client, contributor_emea, emea_milestone, overrides, field, message, kept
):
    login(client, contributor_emea)
    response = client.post(
        update_url(emea_milestone), form_data(emea_milestone, **overrides)
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert kept in response.text
    assert "Pilot live in two sites" in response.text  # other input kept too
    assert "Nothing was saved" in response.text
    _assert_nothing_saved(emea_milestone)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tool.exe", b"MZ\x90\x00binary", "are not accepted"),
        ("notes.html", b"<script>alert(1)</script>", "are not accepted"),
        ("report.pdf", b"MZ\x90\x00 not a pdf", "not a valid PDF"),
        ("photo.png", JPG, "not a valid PNG"),
        ("sheet.xlsx", office_file("word/"), "not a valid XLSX"),
        ("memo.docx", b"PK\x03\x04garbage", "not a valid DOCX"),
        ("data.csv", b"a,b\x00\x01\x02", "not a valid CSV"),
        ("noextension", b"hello", "are not accepted"),
    ],
)
def test_evidence_of_disallowed_type_is_refused(
    client, contributor_emea, emea_milestone, media, name, content, message
):
    login(client, contributor_emea)
    data = form_data(emea_milestone, percent_complete="55")
    data["evidence"] = SimpleUploadedFile(name, content)
    response = client.post(update_url(emea_milestone), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["evidence"]
    assert message in errors["evidence"][0]
    assert 'value="55"' in response.text
    _assert_nothing_saved(emea_milestone)
    assert not any(media.rglob("*.*"))


def test_evidence_too_large_is_refused(
    client, contributor_emea, emea_milestone, media, settings
):
    settings.EVIDENCE_MAX_BYTES = 1024
    login(client, contributor_emea)
    data = form_data(emea_milestone)
    data["evidence"] = SimpleUploadedFile("big.pdf", PDF + b" " * 2000)
    response = client.post(update_url(emea_milestone), data)
    assert response.status_code == 200
    assert "the limit is 1.0" in response.context["form"].errors["evidence"][0]
    _assert_nothing_saved(emea_milestone)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("report.pdf", PDF),
        ("chart.png", PNG),
        ("photo.jpg", JPG),
        ("photo.JPEG", JPG),
        ("sheet.xlsx", office_file("xl/")),
        ("memo.docx", office_file("word/")),
        ("data.csv", "région,coût\nParis,10\n".encode()),
        ("notes.txt", b"plain notes\n"),
    ],
)
def test_allowed_evidence_types_pass(name, content):
    validate_evidence(SimpleUploadedFile(name, content))


def test_evidence_types_come_from_settings(settings):
    from django.core.exceptions import ValidationError

    settings.EVIDENCE_ALLOWED_TYPES = ["pdf"]
    validate_evidence(SimpleUploadedFile("a.pdf", PDF))
    with pytest.raises(ValidationError, match="Allowed: pdf"):
        validate_evidence(SimpleUploadedFile("a.txt", b"text"))


def test_real_xlsx_from_openpyxl_passes():
    from openpyxl import Workbook

    buffer = io.BytesIO()
    Workbook().save(buffer)
    validate_evidence(SimpleUploadedFile("plan.xlsx", buffer.getvalue()))


# Optimistic locking ---------------------------------------------------------


def test_stale_form_shows_what_changed_and_keeps_input(
    client, contributor_emea, pmo, emea_milestone
):
    login(client, contributor_emea)
    rendered = client.get(update_url(emea_milestone)).context["form"]
    assert rendered["version"].value() == 1
    # Someone else saves meanwhile.
    submit(
        emea_milestone,
        pmo,
        status=Status.AT_RISK,
        percent_complete=Decimal("25"),
        actual_spend=Decimal("300"),
    )
    data = form_data(emea_milestone, achievements="My careful notes")
    response = client.post(update_url(emea_milestone), data)
    assert response.status_code == 200
    assert response.context["conflict"]
    assert "Someone else updated this milestone" in response.text
    changes = {c.field: c for c in response.context["changes"]}
    assert changes["percent_complete"].yours == "40 %"
    assert changes["percent_complete"].theirs == "25 %"
    assert changes["percent_complete"].by == str(pmo)
    assert changes["status"].yours == "In progress"
    assert changes["status"].theirs == "At risk"
    assert changes["actual_spend"].theirs == "300.00"
    assert changes["percent_complete"].when is not None
    assert str(pmo) in response.text
    # The user's input is kept, now based on the current version.
    assert "My careful notes" in response.text
    assert 'value="40"' in response.text
    form = response.context["form"]
    assert form["version"].value() == "2"
    # Nothing of the user's was saved; the other update stands.
    emea_milestone.refresh_from_db()
    assert emea_milestone.percent_complete == Decimal("25")
    assert emea_milestone.version == 2
    assert not ProgressUpdate.objects.filter(author=contributor_emea).exists()
    # Submitting again, knowingly, saves.
    data["version"] = 2
    assert client.post(update_url(emea_milestone), data).status_code == 302
    emea_milestone.refresh_from_db()
    assert emea_milestone.percent_complete == Decimal("40")
    assert emea_milestone.version == 3


def test_conflict_with_oneself_in_another_window_says_so(
    client, contributor_emea, emea_milestone
):
    login(client, contributor_emea)
    client.get(update_url(emea_milestone))
    # The same person saves from another window meanwhile.
    submit(
        emea_milestone,
        contributor_emea,
        status=Status.AT_RISK,
        percent_complete=Decimal("25"),
        actual_spend=Decimal("300"),
    )

    response = client.post(update_url(emea_milestone), form_data(emea_milestone))

    assert response.status_code == 200 and response.context["conflict"]
    assert "You updated this milestone in another window" in response.text
    assert "Someone else" not in response.text
    changes = {c.field: c for c in response.context["changes"]}
    assert changes["percent_complete"].by == "you, in another window"
    assert "you, in another window" in response.text


def test_conflict_asks_to_attach_evidence_again(
    client, contributor_emea, pmo, emea_milestone, media
):
    login(client, contributor_emea)
    submit(emea_milestone, pmo)
    data = form_data(emea_milestone, version=1)
    data["evidence"] = SimpleUploadedFile("report.pdf", PDF)
    response = client.post(update_url(emea_milestone), data)
    assert "Attach the file again" in response.text
    assert not ProgressUpdate.objects.filter(author=contributor_emea).exists()
    assert not any(media.rglob("*.pdf"))


# Evidence -------------------------------------------------------------------


def test_evidence_upload_and_download_by_region(
    client, contributor_emea, contributor_apac, member, org, emea_milestone, media
):
    login(client, contributor_emea)
    data = form_data(emea_milestone)
    data["evidence"] = SimpleUploadedFile("Steering report.pdf", PDF)
    assert client.post(update_url(emea_milestone), data).status_code == 302
    progress = emea_milestone.updates.get()
    assert progress.evidence.name.startswith(f"evidence/{emea_milestone.pk}/")
    assert (media / progress.evidence.name).read_bytes() == PDF
    page = client.get(update_url(emea_milestone))
    assert evidence_url(progress) in page.text
    assert "/media/" not in page.text  # never a public media URL

    response = client.get(evidence_url(progress))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "Steering_report.pdf" in response["Content-Disposition"]

    # Whoever may view the milestone may download; an executive views all.
    login(client, member(Role.EXECUTIVE, org.world))
    assert client.get(evidence_url(progress)).status_code == 200
    login(client, contributor_apac)
    assert client.get(evidence_url(progress)).status_code == 404
    login(client, UserFactory())
    assert client.get(evidence_url(progress)).status_code == 404


def test_evidence_download_404_without_file(client, contributor_emea, emea_milestone):
    progress = submit(emea_milestone, contributor_emea)
    login(client, contributor_emea)
    assert client.get(evidence_url(progress)).status_code == 404
    assert client.get(reverse("milestones:evidence", args=[999999])).status_code == 404


def test_evidence_download_404_when_file_is_gone(
    client, contributor_emea, emea_milestone, media
):
    progress = submit(
        emea_milestone,
        contributor_emea,
        evidence=SimpleUploadedFile("gone.pdf", PDF),
    )
    (media / progress.evidence.name).unlink()
    login(client, contributor_emea)
    assert client.get(evidence_url(progress)).status_code == 404


# Quick update ---------------------------------------------------------------


def _quick_post_data(form, **values) -> dict:
    """Post data as the browser would send back ``form`` as rendered, with
    ``values`` ("status-<id>" / "percent-<id>" -> new value) changed."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        data[name] = "" if value is None else str(value)
        if field.show_hidden_initial:
            # The hidden initial value travels with the form (Django
            # propagates it when the form comes back).
            data[f"initial-{name}"] = form.data.get(f"initial-{name}", data[name])
    data.update({k: str(v) for k, v in values.items()})
    return data


@pytest.fixture
def three_rows(milestone_in, org):
    return [milestone_in(org.fr, name=f"Row {n}") for n in range(3)]


def test_quick_update_lists_only_updatable_milestones(
    client, contributor_emea, three_rows, apac_milestone
):
    login(client, contributor_emea)
    response = client.get(QUICK)
    assert response.status_code == 200
    assert response.context["form"].milestones == three_rows
    assert "Tokyo data platform" not in response.text


def test_quick_update_saves_changed_rows_only(client, contributor_emea, three_rows):
    a, b, c = three_rows
    login(client, contributor_emea)
    form = client.get(QUICK).context["form"]
    data = _quick_post_data(
        form,
        **{f"status-{a.pk}": Status.ON_TRACK, f"percent-{b.pk}": "35.5"},
    )
    response = client.post(QUICK, data)
    assert response.status_code == 302
    a.refresh_from_db()
    b.refresh_from_db()
    c.refresh_from_db()
    assert a.status == Status.ON_TRACK and a.version == 2
    assert b.percent_complete == Decimal("35.5") and b.version == 2
    assert c.version == 1  # untouched
    assert a.history.first().history_change_reason == "Quick update"
    assert a.history.first().history_user == contributor_emea
    page = client.get(response["Location"])
    assert "Saved status and percent complete of 2 milestones" in page.text


def test_quick_update_is_all_or_nothing(client, contributor_emea, three_rows):
    a, b, _ = three_rows
    login(client, contributor_emea)
    form = client.get(QUICK).context["form"]
    data = _quick_post_data(
        form,
        **{f"percent-{a.pk}": "50", f"percent-{b.pk}": "140"},
    )
    response = client.post(QUICK, data)
    assert response.status_code == 200
    rows = {r.milestone.pk: r for r in response.context["form"].rows()}
    assert "from 0 to 100" in rows[b.pk].percent.errors[0]
    assert not rows[a.pk].has_errors
    assert 'value="140"' in response.text and 'value="50"' in response.text
    assert "Nothing was saved" in response.text
    for m in three_rows:
        fresh = Milestone.objects.get(pk=m.pk)
        assert fresh.version == 1 and fresh.percent_complete == 0


def test_quick_update_refuses_rows_out_of_scope(
    client, contributor_emea, three_rows, apac_milestone
):
    a = three_rows[0]
    login(client, contributor_emea)
    form = client.get(QUICK).context["form"]
    data = _quick_post_data(form, **{f"percent-{a.pk}": "50"})
    data[f"version-{apac_milestone.pk}"] = "1"
    data[f"status-{apac_milestone.pk}"] = Status.DELAYED
    data[f"percent-{apac_milestone.pk}"] = "99"
    response = client.post(QUICK, data)
    assert response.status_code == 200
    assert "Nothing was saved" in response.text
    assert Milestone.objects.get(pk=a.pk).version == 1
    assert Milestone.objects.get(pk=apac_milestone.pk).version == 1


def test_quick_update_conflict_with_oneself_says_another_window(
    client, contributor_emea, three_rows
):
    a, b, _ = three_rows
    login(client, contributor_emea)
    form = client.get(QUICK).context["form"]
    submit(b, contributor_emea, percent_complete=Decimal("70"))
    data = _quick_post_data(form, **{f"percent-{b.pk}": "30"})

    response = client.post(QUICK, data)

    rows = {r.milestone.pk: r for r in response.context["form"].rows()}
    message = " ".join(rows[b.pk].errors)
    assert "Changed by you, in another window" in message


def test_quick_update_refuses_rows_changed_meanwhile(
    client, contributor_emea, pmo, three_rows
):
    a, b, _ = three_rows
    login(client, contributor_emea)
    form = client.get(QUICK).context["form"]
    submit(b, pmo, percent_complete=Decimal("70"))
    data = _quick_post_data(form, **{f"percent-{a.pk}": "20", f"percent-{b.pk}": "30"})
    response = client.post(QUICK, data)
    assert response.status_code == 200
    rows = {r.milestone.pk: r for r in response.context["form"].rows()}
    message = " ".join(rows[b.pk].errors)
    assert f"Changed by {pmo}" in message and "70 %" in message
    assert Milestone.objects.get(pk=a.pk).version == 1
    assert Milestone.objects.get(pk=b.pk).percent_complete == Decimal("70")
    # The user's values are kept and now based on the current version.
    again = response.context["form"]
    assert again[f"percent-{b.pk}"].value() == "30"
    assert again[f"version-{b.pk}"].value() == "2"
    response = client.post(QUICK, _quick_post_data(again))
    assert response.status_code == 302
    assert Milestone.objects.get(pk=b.pk).percent_complete == Decimal("30")
    assert Milestone.objects.get(pk=a.pk).percent_complete == Decimal("20")


def test_quick_update_untouched_row_changed_by_others_is_no_conflict(
    client, contributor_emea, pmo, three_rows
):
    a, b, _ = three_rows
    login(client, contributor_emea)
    form = client.get(QUICK).context["form"]
    submit(b, pmo, percent_complete=Decimal("70"))
    response = client.post(QUICK, _quick_post_data(form, **{f"percent-{a.pk}": "5"}))
    assert response.status_code == 302
    assert Milestone.objects.get(pk=b.pk).percent_complete == Decimal("70")
    assert Milestone.objects.get(pk=a.pk).percent_complete == Decimal("5")


def test_quick_update_without_changes_saves_nothing(
    client, contributor_emea, three_rows
):
    login(client, contributor_emea)
    form = client.get(QUICK).context["form"]
    response = client.post(QUICK, _quick_post_data(form), follow=True)
    assert "Nothing changed" in response.text
    assert all(m.version == 1 for m in Milestone.objects.all())


# Query counts ---------------------------------------------------------------


def test_update_page_query_count_is_constant(
    client, contributor_emea, org, milestone_in, django_assert_max_num_queries
):
    target = milestone_in(org.fr)
    for _ in range(2):
        submit(target, contributor_emea, evidence=None)
        submit(milestone_in(org.de), contributor_emea)
    login(client, contributor_emea)
    client.get(update_url(target))
    with CaptureQueriesContext(connection) as few:
        assert client.get(update_url(target)).status_code == 200
    for _ in range(18):
        submit(target, contributor_emea)
        submit(milestone_in(org.de), contributor_emea)
    with django_assert_max_num_queries(len(few)):
        response = client.get(update_url(target))
    assert len(response.context["updates"]) == 5


def test_quick_update_query_count_is_constant(
    client, contributor_emea, org, milestone_in, django_assert_max_num_queries
):
    rows = [milestone_in(org.fr) for _ in range(2)]
    login(client, contributor_emea)
    client.get(QUICK)
    with CaptureQueriesContext(connection) as few:
        form = client.get(QUICK).context["form"]
    data = _quick_post_data(form, **{f"percent-{m.pk}": "15" for m in rows})
    with CaptureQueriesContext(connection) as few_saved:
        assert client.post(QUICK, data).status_code == 302

    rows += [milestone_in(org.de) for _ in range(18)]
    with django_assert_max_num_queries(len(few)):
        form = client.get(QUICK).context["form"]
    assert len(form.milestones) == 20
    data = _quick_post_data(form, **{f"percent-{m.pk}": "25" for m in rows})
    with django_assert_max_num_queries(len(few_saved)):
        assert client.post(QUICK, data).status_code == 302
    assert set(Milestone.objects.values_list("percent_complete", flat=True)) == {
        Decimal("25")
    }
