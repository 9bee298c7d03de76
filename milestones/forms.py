"""Forms of the contributor pages: they validate input only; services decide.

- :class:`MyMilestoneFilterSet` — portfolio, status, name and flag filters of
  the lists (the shared ``MilestoneFilterSet``, narrowed).
- :class:`ProgressUpdateForm` — one progress update, carrying the milestone
  version it was rendered from (optimistic locking).
- :class:`QuickUpdateForm` — status and percent for many milestones at once.
- :func:`validate_evidence` — size, extension and content checks of an evidence
  file, shared by every surface that accepts one.
"""

from __future__ import annotations

import codecs
import zipfile
from decimal import Decimal
from pathlib import PurePath

import django_filters as filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import filesizeformat

from portal.forms import ServiceErrorsMixin

from .filtersets import MilestoneFilterSet
from .models import Milestone, Status
from .querysets import DUE_SOON_DAYS, STALE_DAYS

PERCENT_MESSAGES = {
    "min_value": "Percent complete is a number from 0 to 100.",
    "max_value": "Percent complete is a number from 0 to 100.",
}
MONEY_MESSAGES = {"min_value": "An amount cannot be negative."}


def plain(value: Decimal | None) -> Decimal | None:
    """A decimal without trailing zeros (40, not 40.00) for form fields."""
    if value is None:
        return None
    return Decimal(f"{value.normalize():f}")


# Evidence ---------------------------------------------------------------

EXTENSION_ALIASES = {"jpeg": "jpg"}
SNIFF_BYTES = 8192
ZIP_MAGIC = b"PK\x03\x04"


def _is_office(file, folder: str) -> bool:
    """An Office Open XML package whose parts live under ``folder``."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "[Content_Types].xml" in names and any(
        name.startswith(folder) for name in names
    )


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        # Incremental: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


# What the first bytes of each allowed type look like. Types without an
# entry here (added through settings) are checked by extension only.
SNIFFERS = {
    "pdf": lambda head, file: head.startswith(b"%PDF-"),
    "png": lambda head, file: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "jpg": lambda head, file: head.startswith(b"\xff\xd8\xff"),
    "xlsx": lambda head, file: head.startswith(ZIP_MAGIC) and _is_office(file, "xl/"),
    "docx": lambda head, file: head.startswith(ZIP_MAGIC) and _is_office(file, "word/"),
    "csv": lambda head, file: _is_text(head),
    "txt": lambda head, file: _is_text(head),
}


def allowed_evidence_types() -> list[str]:
    return [t.lower().lstrip(".") for t in settings.EVIDENCE_ALLOWED_TYPES]


def validate_evidence(file) -> None:
    """Refuse an evidence file that is too large or not of an allowed type.

    The type is checked twice: by the name's extension and by the content's
    leading bytes, so a renamed executable is not accepted as a PDF.
    """
    limit = settings.EVIDENCE_MAX_BYTES
    if file.size is not None and file.size > limit:
        raise ValidationError(
            f"The file is {filesizeformat(file.size)}; "
            f"the limit is {filesizeformat(limit)}.",
            code="too_large",
        )
    allowed = allowed_evidence_types()
    extension = PurePath(file.name or "").suffix.lower().lstrip(".")
    kind = EXTENSION_ALIASES.get(extension, extension)
    if not kind or (kind not in allowed and extension not in allowed):
        raise ValidationError(
            f"Files of type “{extension or 'unknown'}” are not accepted. "
            f"Allowed: {', '.join(allowed)}.",
            code="type",
        )
    sniffer = SNIFFERS.get(kind)
    if sniffer is None:
        return
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    matches = sniffer(head, file)
    file.seek(0)
    if not matches:
        raise ValidationError(
            f"The file's content is not a valid {kind.upper()} file.",
            code="content",
        )


# Filters ----------------------------------------------------------------


class MyMilestoneFilterSet(MilestoneFilterSet):
    """The shared milestone filters, as the contributor lists offer them.

    Portfolio (by slug, among the portfolios the user may see), status, name,
    and a flag computed by ``MilestoneQuerySet.with_figures`` (the queryset
    handed in must carry those annotations).
    """

    FLAGS = (
        ("overdue", "Overdue"),
        ("due_soon", f"Due within {DUE_SOON_DAYS} days"),
        ("stale", f"No update for {STALE_DAYS} days"),
    )

    # A declared filter leaves the class (FilterSet's metaclass), so this one
    # replaces the API's multiple choice without a clash the stubs see.
    status = filters.ChoiceFilter(  # type: ignore[assignment]
        choices=Status.choices, empty_label="All"
    )
    flag = filters.ChoiceFilter(
        choices=FLAGS, method="filter_flag", empty_label="Any", label="Flag"
    )

    class Meta(MilestoneFilterSet.Meta):
        fields = ["portfolio", "status", "flag", "q"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Declared filters of the parent are inherited whatever Meta says.
        for name in set(self.filters) - set(self.Meta.fields):
            del self.filters[name]
        portfolio = self.filters["portfolio"]
        portfolio.label = "Portfolio"
        portfolio.extra["empty_label"] = "All"
        self.filters["q"].label = "Name or code"

    def filter_flag(self, queryset, name, value):
        return queryset.filter(**{f"is_{value}": True})

    @property
    def active(self) -> bool:
        """Whether any valid filter narrows the list."""
        if not self.is_bound:
            return False
        if not hasattr(self.form, "cleaned_data"):
            self.form.full_clean()
        return any(self.form.cleaned_data.values())


# Progress update --------------------------------------------------------


def _status_choices(current: str | None) -> list[tuple[str, str]]:
    # Pending validation is reached by submitting Completed on a milestone
    # that requires validation, and Cancelled is a plan change (the plan's
    # editors cancel in the back office): each is offered only when it is
    # already set.
    hidden = (Status.PENDING_VALIDATION, Status.CANCELLED)
    return [
        (value, label)
        for value, label in Status.choices
        if value not in hidden or value == current
    ]


class ProgressUpdateForm(ServiceErrorsMixin, forms.Form):
    """A progress update, as rendered from one version of a milestone."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    status = forms.ChoiceField(
        choices=Status.choices,
        help_text="Completed sets 100 %; it may need validation first.",
    )
    percent_complete = forms.DecimalField(
        label="Percent complete",
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        error_messages=PERCENT_MESSAGES,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    actual_spend = forms.DecimalField(
        label="Actual spend",
        min_value=Decimal("0"),
        max_digits=16,
        decimal_places=2,
        error_messages=MONEY_MESSAGES,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    estimate_at_completion = forms.DecimalField(
        label="Estimate at completion",
        required=False,
        min_value=Decimal("0"),
        max_digits=16,
        decimal_places=2,
        error_messages=MONEY_MESSAGES,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    forecast_completion = forms.DateField(
        label="Forecast completion",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    achievements = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    blockers = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    next_steps = forms.CharField(
        label="Next steps", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    evidence = forms.FileField(
        required=False,
        validators=[validate_evidence],
        help_text="Optional.",
    )

    #: Fields whose values the service applies to the milestone itself.
    MILESTONE_FIELDS = (
        "status",
        "percent_complete",
        "actual_spend",
        "estimate_at_completion",
        "forecast_completion",
    )

    def __init__(self, *args, milestone: Milestone, **kwargs):
        self.milestone = milestone
        if not kwargs.get("data") and not args:
            kwargs.setdefault("initial", self.initial_for(milestone))
        super().__init__(*args, **kwargs)
        status_field = self.fields["status"]
        assert isinstance(status_field, forms.ChoiceField)
        status_field.choices = _status_choices(milestone.status)
        allowed = allowed_evidence_types()
        self.fields["evidence"].help_text = (
            f"Optional. {', '.join(t.upper() for t in allowed)}; "
            f"at most {filesizeformat(settings.EVIDENCE_MAX_BYTES)}."
        )
        self.fields["evidence"].widget.attrs["accept"] = ",".join(
            f".{t}" for t in allowed
        )

    @staticmethod
    def initial_for(milestone: Milestone) -> dict:
        return {
            "version": milestone.version,
            "status": milestone.status,
            "percent_complete": plain(milestone.percent_complete),
            "actual_spend": milestone.actual_spend,
            "estimate_at_completion": milestone.estimate_at_completion,
            "forecast_completion": milestone.forecast_completion,
        }

    def clean_forecast_completion(self):
        forecast = self.cleaned_data.get("forecast_completion")
        start = self.milestone.planned_start
        if forecast and start and forecast < start:
            raise ValidationError(
                "The forecast completion cannot be before the planned start "
                f"({date_filter(start, 'j M Y')}).",
                code="before_start",
            )
        return forecast

    def service_kwargs(self) -> dict:
        """The cleaned input as ``milestone_submit_update`` keywords."""
        data = self.cleaned_data
        return {
            "expected_version": data["version"],
            "status": data["status"],
            "percent_complete": data["percent_complete"],
            "actual_spend": data["actual_spend"],
            "estimate_at_completion": data.get("estimate_at_completion"),
            "forecast_completion": data.get("forecast_completion"),
            "achievements": data.get("achievements", ""),
            "blockers": data.get("blockers", ""),
            "next_steps": data.get("next_steps", ""),
            "evidence": data.get("evidence") or None,
        }


# Quick update -----------------------------------------------------------


class QuickRow:
    """One milestone's row of the quick update form."""

    def __init__(self, form: QuickUpdateForm, milestone: Milestone) -> None:
        self.milestone = milestone
        self.status = form[f"status-{milestone.pk}"]
        self.percent = form[f"percent-{milestone.pk}"]
        self.version = form[f"version-{milestone.pk}"]
        self.errors = form.row_errors.get(milestone.pk, [])

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.status.errors or self.percent.errors)


class QuickUpdateForm(forms.Form):
    """Status and percent complete for each of ``milestones``.

    Each row carries the version it was rendered from and the values it was
    rendered with (hidden initial values), so only rows the user changed are
    saved and a row someone else changed meanwhile is refused.
    """

    def __init__(self, *args, milestones, **kwargs):
        super().__init__(*args, **kwargs)
        self.milestones = list(milestones)
        self.row_errors: dict[int, list[str]] = {}
        for m in self.milestones:
            self.fields[f"version-{m.pk}"] = forms.IntegerField(
                widget=forms.HiddenInput, initial=m.version, min_value=1
            )
            self.fields[f"status-{m.pk}"] = forms.ChoiceField(
                label=f"Status of {m.name}",
                choices=_status_choices(m.status),
                initial=m.status,
                show_hidden_initial=True,
            )
            self.fields[f"percent-{m.pk}"] = forms.DecimalField(
                label=f"Percent complete of {m.name}",
                min_value=Decimal("0"),
                max_value=Decimal("100"),
                max_digits=5,
                decimal_places=2,
                initial=plain(m.percent_complete),
                show_hidden_initial=True,
                error_messages=PERCENT_MESSAGES,
                widget=forms.NumberInput(
                    attrs={"step": "any", "inputmode": "decimal", "class": "pct"}
                ),
            )

    @staticmethod
    def posted_ids(data) -> list[int]:
        """Milestone ids present in posted data (from the version fields)."""
        ids = []
        for key in data:
            prefix, _, pk = key.partition("-")
            if prefix == "version" and pk.isdigit():
                ids.append(int(pk))
        return ids

    def rows(self) -> list[QuickRow]:
        return [QuickRow(self, m) for m in self.milestones]

    def add_row_error(self, pk: int, message: str) -> None:
        self.row_errors.setdefault(pk, []).append(message)

    def changes(self) -> tuple[dict[int, dict], dict[int, int]]:
        """The rows the user changed, and the versions they were rendered from."""
        changes: dict[int, dict] = {}
        versions: dict[int, int] = {}
        for m in self.milestones:
            wanted = {}
            # BoundField._has_changed: Django's own test, missing in the stubs.
            if self[f"status-{m.pk}"]._has_changed():  # type: ignore[attr-defined]
                wanted["status"] = self.cleaned_data[f"status-{m.pk}"]
            if self[f"percent-{m.pk}"]._has_changed():  # type: ignore[attr-defined]
                wanted["percent_complete"] = self.cleaned_data[f"percent-{m.pk}"]
            if wanted:
                changes[m.pk] = wanted
                versions[m.pk] = self.cleaned_data[f"version-{m.pk}"]
        return changes, versions

    @property
    def has_row_errors(self) -> bool:
        return bool(self.row_errors)
