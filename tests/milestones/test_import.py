"""Milestone import and export in the admin (django-import-export, natural keys)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.roles import Role
from milestones import services
from milestones.models import Milestone, Status
from milestones.resources import MilestoneResource
from portal.models import AuditEvent
from tests.factories import make_milestone, make_portfolio

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
CSV, XLSX = "0", "1"  # positions in MilestoneAdmin.import_formats
HEADERS = [
    "code",
    "name",
    "portfolio",
    "category",
    "objective",
    "org_unit",
    "owner",
    "success_criteria",
    "approved_budget",
    "planned_start",
    "planned_completion",
    "status",
    "percent_complete",
]


@pytest.fixture
def plan(org, portfolio, member):
    """An owner and an objective the files refer to by natural key."""
    owner = member(Role.MILESTONE_OWNER, org.emea, username="owner-fr")
    services.objective_create(
        actor=None, portfolio=portfolio, code="OBJ-1", title="Automate reporting"
    )
    return owner


def url(name: str, *args) -> str:
    return reverse(f"admin:milestones_milestone_{name}", args=args)


def row(**overrides) -> dict:
    values = {
        "code": "M-1",
        "name": "Reporting bot live",
        "portfolio": "ai-transformation",
        "category": "Quick Wins",
        "objective": "OBJ-1",
        "org_unit": "fr",
        "owner": "owner-fr",
        "success_criteria": "Monthly report produced without manual steps.",
        "approved_budget": "120000",
        "planned_start": "2026-02-01",
        "planned_completion": "2026-06-30",
        "status": "Not started",
        "percent_complete": "0",
    }
    values.update(overrides)
    return values


def csv_file(rows: list[dict], name: str = "plan.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode())


def upload(client, file, fmt: str = CSV, reason: str = "Q1 plan"):
    data = {"import_file": file, "format": fmt, "resource": "0", "reason": reason}
    return client.post(url("import"), data)


def confirm(client, preview):
    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in form.fields}
    return client.post(url("process_import"), data)


@pytest.fixture
def signed_in(client):
    def login(user):
        client.force_login(user, backend=BACKEND)
        return client

    return login


# Import ------------------------------------------------------------------------


def test_good_csv_imports_every_row_through_the_services(signed_in, pmo, plan, org):
    client = signed_in(pmo)
    rows = [
        row(),
        row(code="M-2", name="Forecasting pilot", org_unit="de", owner=""),
        row(code="M-3", name="Chatbot", objective="", status="on_track"),
    ]

    preview = upload(client, csv_file(rows))

    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["new"] == 3
    assert Milestone.objects.count() == 0  # the preview was a dry run

    done = confirm(client, preview)

    assert done.status_code == 302
    assert Milestone.objects.count() == 3
    bot = Milestone.objects.get(code="M-1")
    assert (bot.portfolio.slug, bot.category.name) == (
        "ai-transformation",
        "Quick Wins",
    )
    assert (bot.org_unit, bot.owner, bot.objective.code) == (org.fr, plan, "OBJ-1")
    assert bot.approved_budget == Decimal("120000")
    assert Milestone.objects.get(code="M-3").status == Status.ON_TRACK
    records = Milestone.history.filter(history_type="+")
    assert records.count() == 3
    assert set(records.values_list("history_user", flat=True)) == {pmo.pk}


def test_csv_with_bad_rows_imports_nothing_and_reports_each_row(signed_in, pmo, plan):
    client = signed_in(pmo)
    rows = [
        row(code="OK-1"),
        row(code="BAD-2", org_unit="atlantis"),
        row(code="BAD-3", percent_complete="140"),
        row(code="BAD-4", planned_start="2026-09-01", planned_completion="2026-03-01"),
        row(code="BAD-5", approved_budget="-5000"),
        row(code="OK-6"),
    ]

    response = upload(client, csv_file(rows))

    assert response.status_code == 200
    assert "confirm_form" not in response.context
    result = response.context["result"]
    reasons = {bad.number: bad.error_dict for bad in result.invalid_rows}
    assert sorted(reasons) == [2, 3, 4, 5]
    assert reasons[2]["org_unit"] == ["No org unit 'atlantis' that you may see."]
    assert "less than or equal to 100" in " ".join(reasons[3]["percent_complete"])
    assert "cannot be before the planned start" in " ".join(
        reasons[4]["planned_completion"]
    )
    assert "greater than or equal to 0" in " ".join(reasons[5]["approved_budget"])
    page = response.content.decode()
    assert "Nothing was imported: 4 invalid rows" in page
    assert (
        "Row 2:\n    org_unit: No org unit &#x27;atlantis&#x27; that you may see."
        in page
    )
    assert "Row 5:\n    approved_budget: Ensure this value is greater than" in page
    assert Milestone.objects.count() == 0


def test_an_invalid_row_rolls_back_the_rows_before_it(pmo, plan):
    """All or nothing even without the admin's preview step."""
    dataset = tablib.Dataset(headers=HEADERS)
    dataset.append(list(row().values()))
    dataset.append(list(row(code="M-2", category="No such category").values()))

    result = MilestoneResource(user=pmo).import_data(
        dataset, dry_run=False, reason="Direct import"
    )

    assert [bad.number for bad in result.invalid_rows] == [2]
    assert result.invalid_rows[0].error_dict["category"] == [
        "No category 'No such category' in portfolio 'ai-transformation'."
    ]
    assert Milestone.objects.count() == 0


def test_xlsx_imports_too(signed_in, pmo, plan):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADERS)
    sheet.append(
        [
            "X-1",
            "Spreadsheet milestone",
            "ai-transformation",
            "Foundation",
            "OBJ-1",
            "fr-paris",
            "owner-fr",
            "Done when done.",
            75000,
            date(2026, 3, 1),  # real date cells
            date(2026, 9, 30),
            "in_progress",
            12.5,
        ]
    )
    content = io.BytesIO()
    workbook.save(content)
    client = signed_in(pmo)

    preview = upload(client, SimpleUploadedFile("plan.xlsx", content.getvalue()), XLSX)
    assert not preview.context["result"].has_validation_errors()
    assert confirm(client, preview).status_code == 302

    imported = Milestone.objects.get(code="X-1")
    assert imported.planned_completion == date(2026, 9, 30)
    assert imported.percent_complete == Decimal("12.5")
    assert imported.org_unit.code == "fr-paris"
    assert imported.history.get().history_user == pmo


def test_import_updates_by_id_with_version_and_reason(signed_in, pmo, org, portfolio):
    existing = make_milestone(portfolio, org.fr, code="U-1", name="Before")
    client = signed_in(pmo)
    rows = [
        {
            "id": existing.pk,
            "version": existing.version,
            "name": "After",
            "org_unit": "de",
            "approved_budget": str(existing.approved_budget),  # unchanged
            "percent_complete": "40",
            "status": "at_risk",
        }
    ]

    preview = upload(client, csv_file(rows), reason="Handed over to Germany")
    assert preview.context["result"].totals["update"] == 1
    assert confirm(client, preview).status_code == 302

    existing.refresh_from_db()
    assert (existing.name, existing.org_unit) == ("After", org.de)
    assert (existing.status, existing.percent_complete) == ("at_risk", Decimal("40"))
    assert existing.version == 3  # one plan edit, one progress change
    reasons = set(
        existing.history.filter(history_type="~").values_list(
            "history_change_reason", "history_user"
        )
    )
    assert reasons == {("Handed over to Germany", pmo.pk)}


def test_import_refuses_baseline_changes_of_existing_milestones(
    signed_in, pmo, org, portfolio
):
    """Baselines change through approved requests; the row says where."""
    existing = make_milestone(portfolio, org.fr, code="B-1")
    rows = [{"id": existing.pk, "name": "Renamed", "approved_budget": "999999"}]

    response = upload(signed_in(pmo), csv_file(rows))

    (bad,) = response.context["result"].invalid_rows
    request_page = reverse("approvals:request", args=[existing.pk])
    assert bad.error_dict["approved_budget"] == [
        f"Baseline: request the change at {request_page}."
    ]
    existing.refresh_from_db()
    assert (existing.name, existing.version) != ("Renamed", 2)
    assert existing.version == 1


def test_import_refuses_a_stale_version(signed_in, pmo, org, portfolio):
    existing = make_milestone(portfolio, org.fr, name="Before")
    services.milestone_update(
        actor=None, milestone=existing, expected_version=1, name="Edited meanwhile"
    )
    rows = [{"id": existing.pk, "version": 1, "name": "From an old export"}]

    response = upload(signed_in(pmo), csv_file(rows))

    (bad,) = response.context["result"].invalid_rows
    assert "changed by someone else" in " ".join(
        m for msgs in bad.error_dict.values() for m in msgs
    )
    existing.refresh_from_db()
    assert existing.name == "Edited meanwhile"


def test_import_outside_the_importers_scope_is_refused(
    signed_in, org, member, portfolio, plan
):
    emea_pmo = member(Role.PORTFOLIO_MANAGER, org.emea)
    make_milestone(portfolio, org.fr)  # EMEA sees the global portfolio...
    asia = make_portfolio(org.apac, slug="asia", name="Asia")
    rows = [
        row(code="W-1"),  # ...but may not plan in it
        row(code="A-1", portfolio=asia.slug, objective=""),
    ]

    response = upload(signed_in(emea_pmo), csv_file(rows))

    reasons = {
        bad.number: bad.error_dict for bad in response.context["result"].invalid_rows
    }
    assert sorted(reasons) == [1, 2]
    assert "may not change" in " ".join(reasons[1]["__all__"])
    assert reasons[2]["portfolio"] == ["No portfolio 'asia' that you may see."]
    assert not Milestone.objects.filter(code__in=["W-1", "A-1"]).exists()


def test_import_needs_a_reason(signed_in, pmo, plan):
    response = upload(signed_in(pmo), csv_file([row()]), reason="")
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert Milestone.objects.count() == 0


def test_contributor_cannot_import(signed_in, contributor_emea, plan):
    client = signed_in(contributor_emea)
    assert client.get(url("changelist")).status_code == 200
    assert client.get(url("import")).status_code == 403
    assert upload(client, csv_file([row()])).status_code == 403
    assert client.post(url("process_import"), {}).status_code == 403
    assert Milestone.objects.count() == 0


# Export ------------------------------------------------------------------------


def test_export_lists_only_milestones_in_scope_by_natural_keys(
    signed_in, org, member, portfolio
):
    emea_pmo = member(Role.PORTFOLIO_MANAGER, org.emea)
    make_milestone(portfolio, org.fr, code="FR-1")
    make_milestone(portfolio, org.jp, code="JP-1")
    client = signed_in(emea_pmo)
    form = client.get(url("export")).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v not in (None, False, [])}
    data["format"] = CSV

    response = client.post(url("export"), data)

    assert response.status_code == 200
    exported = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["code"] for r in exported] == ["FR-1"]
    (line,) = exported
    assert (line["portfolio"], line["org_unit"]) == ("ai-transformation", "fr")
    assert (line["category"], line["version"]) == ("Foundation", "1")
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT)
    assert event.user == emea_pmo
    assert (event.details["rows"], event.details["format"]) == (1, "csv")


def test_exported_file_imports_back_unchanged(signed_in, pmo, org, portfolio):
    make_milestone(portfolio, org.fr, code="RT-1")
    dataset = MilestoneResource(user=pmo).export()

    result = MilestoneResource(user=pmo).import_data(
        dataset, dry_run=False, reason="Round trip"
    )

    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["update"] == 1
    assert Milestone.objects.get(code="RT-1").version == 1  # nothing changed


# Preview, then confirm: the confirm re-checks every row -------------------------


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_confirm_refuses_a_row_changed_since_the_preview(
    signed_in, pmo, org, portfolio
):
    existing = make_milestone(portfolio, org.fr, name="Before")
    client = signed_in(pmo)
    # No version column: the preview's view of the row is what the confirm
    # checks against.
    preview = upload(client, csv_file([{"id": existing.pk, "name": "From the file"}]))
    assert preview.context["result"].totals["update"] == 1
    services.milestone_update(
        actor=None, milestone=existing, expected_version=1, name="Edited meanwhile"
    )

    done = confirm(client, preview)

    assert done.status_code == 200  # the page again, not a redirect to success
    text = " ".join(_messages(done))
    assert "Nothing was imported" in text
    assert "Row 1" in text and "changed since the preview" in text
    assert not any("Import finished" in m for m in _messages(done))
    existing.refresh_from_db()
    assert (existing.name, existing.version) == ("Edited meanwhile", 2)
    assert Milestone.history.filter(id=existing.pk).count() == 2


def test_confirm_fails_the_whole_file_when_one_row_went_stale(
    signed_in, pmo, org, portfolio
):
    first = make_milestone(portfolio, org.fr, name="First")
    second = make_milestone(portfolio, org.de, name="Second")
    client = signed_in(pmo)
    rows = [
        {"id": first.pk, "version": 1, "name": "First, renamed"},
        {"id": second.pk, "version": 1, "name": "Second, renamed"},
    ]
    preview = upload(client, csv_file(rows))
    services.milestone_update(
        actor=None, milestone=second, expected_version=1, name="Second, edited"
    )

    done = confirm(client, preview)

    text = " ".join(_messages(done))
    assert "Nothing was imported" in text and "Row 2" in text
    first.refresh_from_db()
    assert (first.name, first.version) == ("First", 1)


def test_confirm_refuses_a_new_row_whose_code_was_taken_since_the_preview(
    signed_in, pmo, plan, org, portfolio
):
    client = signed_in(pmo)
    preview = upload(client, csv_file([row(code="M-9")]))
    assert preview.context["result"].totals["new"] == 1
    make_milestone(portfolio, org.fr, code="M-9", name="Created meanwhile")

    done = confirm(client, preview)

    assert "changed since the preview" in " ".join(_messages(done))
    assert Milestone.objects.filter(code="M-9").count() == 1
    assert Milestone.objects.get(code="M-9").name == "Created meanwhile"


def test_confirm_plan_cannot_be_forged(signed_in, pmo, org, portfolio):
    existing = make_milestone(portfolio, org.fr, name="Before")
    client = signed_in(pmo)
    preview = upload(client, csv_file([{"id": existing.pk, "name": "From the file"}]))
    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in form.fields}
    data["plan"] = data["plan"][:-3] + "xyz"

    done = client.post(url("process_import"), data)

    assert done.status_code == 200
    existing.refresh_from_db()
    assert existing.name == "Before"


@pytest.mark.parametrize(
    ("content", "fmt", "expected"),
    [
        (b"name,code\n\xff\xfe\x00bad", CSV, "The file is not UTF-8 text"),
        (b"name,code\nA,B\n", XLSX, "not an Excel workbook"),
    ],
)
def test_unreadable_file_is_explained_without_exception_names(
    signed_in, pmo, plan, content, fmt, expected
):
    file = SimpleUploadedFile("plan.bin", content)

    response = upload(signed_in(pmo), file, fmt=fmt)

    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["import_file"])
    assert expected in errors
    for name in ("UnicodeDecodeError", "BadZipFile", "Error", "encountered"):
        assert name not in errors
    assert Milestone.objects.count() == 0


def _admin_export(client, fmt):
    form = client.get(url("export")).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v not in (None, False, [])}
    data["format"] = fmt
    return client.post(url("export"), data)


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://attacker.example","x")', "@SUM(1+1)", "+1", "-2", "\t=1"],
)
def test_admin_export_neutralises_formulas_in_csv_and_xlsx(
    signed_in, pmo, org, portfolio, name
):
    from portal.spreadsheet import neutralise
    from reporting import exports

    make_milestone(portfolio, org.fr, code="F-1", name=name, weight=Decimal("2"))
    client = signed_in(pmo)

    as_csv = _admin_export(client, CSV)
    (line,) = csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig")))
    as_xlsx = _admin_export(client, XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    header = [c.value for c in sheet[1]]
    cells = dict(zip(header, [c.value for c in sheet[2]], strict=True))

    assert line["name"] == "'" + name
    assert cells["name"] == "'" + name
    # Numbers stay numbers.
    assert line["weight"] in ("2", "2.00") and "'" not in line["weight"]
    # One rule, shared with the portal's exports.
    assert exports._safe is neutralise
    assert neutralise(-5) == -5 and neutralise("plain") == "plain"
