"""Milestone import and export (django-import-export), by natural keys.

Columns name related rows the way people know them: the portfolio by slug, the
category by name (within the row's portfolio), the objective by code (within
the portfolio), the org unit by code and the owner by username. Lookups only
reach rows the importing user may see.

An import is all or nothing: every row is validated and saved through
``milestones.services`` inside one transaction, and a single invalid row rolls
the whole file back; each bad row is reported with its number and reasons.
A row with an ``id`` (or a ``code`` already used in its portfolio) updates that
milestone through ``milestone_update`` (checked against ``version`` when the
column is filled); other rows create one through ``milestone_create``. Status
and percent complete of an existing milestone change through
``milestones_bulk_set_progress``. History records the importing user.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import Q
from import_export import fields, resources, widgets

from accounts import policy
from accounts.models import OrgUnit, User
from accounts.roles import CHANGE, VIEW
from portal.errors import DomainError
from portal.spreadsheet import neutralise

from . import fields as milestone_fields
from . import services
from .models import (
    Milestone,
    MilestoneCategory,
    Portfolio,
    Status,
    StrategicObjective,
)

PROGRESS_FIELDS = ("status", "percent_complete")
LOOKUP_BATCH = 500
RELATED = ("portfolio", "category", "objective", "org_unit", "owner")
COLUMNS = (
    "id",
    "code",
    "name",
    "portfolio",
    "category",
    "objective",
    "org_unit",
    "owner",
    "type",
    "description",
    "success_criteria",
    "validation_method",
    "risk_factors",
    "stakeholder_impact",
    "communication_plan",
    "technology_required",
    "business_impact",
    "requires_validation",
    "weight",
    "approved_budget",
    "planned_start",
    "planned_completion",
    "actual_start",
    "status",
    "percent_complete",
    "version",
)
# Exported for reading; an import ignores them (they change through updates).
EXPORT_ONLY = (
    "actual_spend",
    "estimate_at_completion",
    "forecast_completion",
    "actual_completion",
)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets turn codes like 12 into 12.0
    return str(value).strip()


class NumberWidget(widgets.DecimalWidget):
    """Decimals with a readable error instead of a traceback."""

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row, **kwargs)
        except (InvalidOperation, ValueError, TypeError):
            raise ValueError(f"{value!r} is not a number.") from None


class IsoDateWidget(widgets.DateWidget):
    """ISO dates (2026-03-31) or spreadsheet date cells."""

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date) or value in (None, ""):
            return value or None
        try:
            return super().clean(_text(value), row, **kwargs)
        except ValueError:
            raise ValueError(f"{value!r} is not a date like 2026-03-31.") from None


class ChoiceWidget(widgets.Widget):
    """A choice by its value (``at_risk``) or its label (``At risk``)."""

    def __init__(self, choices: type[models.TextChoices], **kwargs):
        self.choices = choices
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if not text:
            return None
        for choice in self.choices:
            if text.lower() in (choice.value.lower(), choice.label.lower()):
                return choice.value
        allowed = ", ".join(c.value for c in self.choices)
        raise ValueError(f"Unknown value {text!r}; use one of: {allowed}.")


class ScopedKeyWidget(widgets.ForeignKeyWidget):
    """A related row by a natural key, among the rows the importer may see."""

    def __init__(self, model, field: str, *, noun: str, **kwargs):
        self.noun = noun
        super().__init__(model, field, **kwargs)

    def get_queryset(self, value, row, *args, **kwargs):
        user = kwargs.get("user")
        return policy.restrict(self.model._default_manager.all(), user, VIEW)

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if not text:
            return None
        # One lookup per distinct key and file: ``import_data`` passes a dict.
        memo = kwargs.get("lookups")
        key = (self.model._meta.label_lower, self.field, text, self.context(row))
        if memo is not None and key in memo:
            found = memo[key]
        else:
            try:
                found = self.get_queryset(text, row, **kwargs).get(**{self.field: text})
            except self.model.DoesNotExist:
                found = ValueError(self.missing(text, row))
            except self.model.MultipleObjectsReturned:
                found = ValueError(f"Several {self.noun}s match {text!r}.")
            if memo is not None:
                memo[key] = found
        if isinstance(found, ValueError):
            raise ValueError(str(found))
        return found

    def context(self, row) -> str:
        """What else the lookup depends on besides the key."""
        return ""

    def missing(self, text: str, row) -> str:
        return f"No {self.noun} {text!r} that you may see."


class PortfolioChildWidget(ScopedKeyWidget):
    """A category or objective, looked up within the row's portfolio."""

    def get_queryset(self, value, row, *args, **kwargs):
        queryset = super().get_queryset(value, row, *args, **kwargs)
        return queryset.filter(portfolio__slug=_text((row or {}).get("portfolio")))

    def context(self, row) -> str:
        return _text((row or {}).get("portfolio"))

    def missing(self, text: str, row) -> str:
        slug = _text((row or {}).get("portfolio"))
        return f"No {self.noun} {text!r} in portfolio {slug!r}."


class MilestoneResource(resources.ModelResource):
    """Milestones as spreadsheet rows, saved through the milestones services."""

    portfolio = fields.Field(
        attribute="portfolio",
        column_name="portfolio",
        widget=ScopedKeyWidget(Portfolio, "slug", noun="portfolio"),
    )
    category = fields.Field(
        attribute="category",
        column_name="category",
        widget=PortfolioChildWidget(MilestoneCategory, "name", noun="category"),
    )
    objective = fields.Field(
        attribute="objective",
        column_name="objective",
        widget=PortfolioChildWidget(StrategicObjective, "code", noun="objective"),
    )
    org_unit = fields.Field(
        attribute="org_unit",
        column_name="org_unit",
        widget=ScopedKeyWidget(OrgUnit, "code", noun="org unit"),
    )
    owner = fields.Field(
        attribute="owner",
        column_name="owner",
        widget=ScopedKeyWidget(User, "username", noun="user"),
    )
    type = fields.Field(
        attribute="type",
        column_name="type",
        widget=ChoiceWidget(Milestone.Type),
        default=Milestone.Type.STRATEGIC,
    )
    status = fields.Field(
        attribute="status",
        column_name="status",
        widget=ChoiceWidget(Status),
        default=Status.NOT_STARTED,
    )
    version = fields.Field(attribute="version", column_name="version", readonly=True)
    actual_spend = fields.Field(
        attribute="actual_spend", readonly=True, widget=NumberWidget()
    )
    estimate_at_completion = fields.Field(
        attribute="estimate_at_completion", readonly=True, widget=NumberWidget()
    )
    forecast_completion = fields.Field(
        attribute="forecast_completion", readonly=True, widget=IsoDateWidget()
    )
    actual_completion = fields.Field(
        attribute="actual_completion", readonly=True, widget=IsoDateWidget()
    )

    class Meta:
        model = Milestone
        name = "Milestones by natural keys"
        fields = (*COLUMNS, *EXPORT_ONLY)
        export_order = (*COLUMNS, *EXPORT_ONLY)
        import_id_fields = ("id",)
        clean_model_instances = True
        use_transactions = True

    def __init__(self, *, user=None, plan_sink: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        # (portfolio slug, code) -> milestones, read for a whole file at once.
        self._by_code: dict[tuple[str, str], list[Milestone]] | None = None
        # What a preview saw of each row: row number -> [milestone id, version]
        # (``[None, None]`` for a new row). A preview writes it into
        # ``plan_sink``; a confirm passes it back as ``plan`` and every row
        # must still be what the preview showed.
        self._plan_sink = plan_sink
        self._seen: dict[str, list[int | None]] = {}
        self._plan: dict[str, list[int | None]] | None = None

    def get_user_visible_fields(self):
        # The columns an import reads (the export-only ones are left out).
        return [
            field
            for field in self.get_import_fields()
            if not field.readonly or field.column_name == "version"
        ]

    @classmethod
    def widget_from_django_field(cls, f, default=widgets.Widget):
        if isinstance(f, models.DecimalField):
            return NumberWidget
        if isinstance(f, models.DateField) and not isinstance(f, models.DateTimeField):
            return IsoDateWidget
        return super().widget_from_django_field(f, default)

    # Reads -----------------------------------------------------------------

    def get_queryset(self):
        """The milestones an import may update: those the user may change."""
        return policy.restrict(
            Milestone.objects.select_related(*RELATED), self.user, CHANGE
        )

    def export(self, queryset=None, **kwargs):
        if queryset is None:
            queryset = policy.restrict(Milestone.objects.all(), self.user, VIEW)
        return super().export(queryset.select_related(*RELATED), **kwargs)

    def export_field(self, field, instance, **kwargs):
        # Text a spreadsheet would run as a formula is made inert, as in the
        # portal's exports; numbers and dates stay numbers and dates.
        value = super().export_field(field, instance, **kwargs)
        if isinstance(
            field.widget,
            widgets.NumberWidget | widgets.DateWidget | widgets.DateTimeWidget,
        ):
            return value
        return neutralise(value)

    def get_instance(self, instance_loader, row):
        """The milestone a row updates: by id, else by code in its portfolio."""
        raw_id = _text(row.get("id"))
        if raw_id:
            try:
                pk = int(Decimal(raw_id))
            except (InvalidOperation, ValueError):
                raise ValidationError({"id": f"{raw_id!r} is not an id."}) from None
            try:
                return self.get_queryset().get(pk=pk)
            except Milestone.DoesNotExist:
                raise ValidationError(
                    {"id": f"No milestone with id {pk} that you may change."}
                ) from None
        code, slug = _text(row.get("code")), _text(row.get("portfolio"))
        if code and slug:
            if self._by_code is not None:
                matches = self._by_code.get((slug, code), [])
            else:
                matches = list(
                    self.get_queryset().filter(portfolio__slug=slug, code=code)[:2]
                )
            if len(matches) > 1:
                raise ValidationError(
                    {
                        "code": f"Several milestones of {slug} use code {code!r}; "
                        "give the id."
                    }
                )
            if matches:
                return matches[0]
        return None

    # Writes ----------------------------------------------------------------

    def import_data(
        self,
        dataset,
        dry_run=False,
        raise_errors=False,
        use_transactions=None,
        collect_failed_rows=False,
        rollback_on_validation_errors=False,
        **kwargs,
    ):
        # All or nothing, whoever calls: one transaction, rolled back if any
        # row is invalid.
        if kwargs.get("user") is not None:
            self.user = kwargs["user"]
        kwargs["user"] = self.user
        # Within one file, a related row is looked up once per natural key and
        # a permission checked once per object (the file is one transaction).
        kwargs["lookups"] = {}
        self._plan = kwargs.pop("plan", None)
        if self._plan is not None and len(self._plan) != len(dataset):
            raise ValueError("The file does not match its preview.")
        self._seen = {}
        with policy.remembered():
            result = super().import_data(
                dataset,
                dry_run=dry_run,
                raise_errors=raise_errors,
                use_transactions=True,
                collect_failed_rows=collect_failed_rows,
                rollback_on_validation_errors=True,
                **kwargs,
            )
        if dry_run and self._plan_sink is not None:
            self._plan_sink["plan"] = dict(self._seen)
        return result

    def before_import(self, dataset, **kwargs):
        if self.user is None:
            raise ValueError("An import needs the importing user.")
        headers = set(dataset.headers or ())
        if "id" not in headers:
            # Rows without an id are new, unless their code names a milestone.
            dataset.append_col([""] * len(dataset), header="id")
        if not headers & {"id", "portfolio"}:
            raise ValueError("The file needs an id or a portfolio column.")
        self._by_code = self._milestones_by_code(dataset)

    def _milestones_by_code(self, dataset) -> dict[tuple[str, str], list[Milestone]]:
        """The milestones the rows' codes name in their portfolios, in a query
        per 500 codes rather than one per row."""
        if "code" not in (dataset.headers or ()) or "portfolio" not in (
            dataset.headers or ()
        ):
            return {}
        named = {
            (_text(row.get("portfolio")), _text(row.get("code")))
            for row in dataset.dict
        }
        pairs = sorted((slug, code) for slug, code in named if slug and code)
        found: dict[tuple[str, str], list[Milestone]] = {}
        for start in range(0, len(pairs), LOOKUP_BATCH):
            chunk = pairs[start : start + LOOKUP_BATCH]
            wanted = Q(pk__in=[])
            for slug, code in chunk:
                wanted |= Q(portfolio__slug=slug, code=code)
            for milestone in self.get_queryset().filter(wanted).order_by("pk"):
                key = (milestone.portfolio.slug, milestone.code)
                found.setdefault(key, []).append(milestone)
        return found

    def after_init_instance(self, instance, new, row, **kwargs):
        """Record what this row targets; on a confirm, refuse a row whose
        target changed since the preview (a milestone edited meanwhile, or a
        code taken by a milestone created meanwhile)."""
        seen = [None, None] if new else [instance.pk, instance.version]
        number = str(kwargs["row_number"])
        self._seen[number] = seen
        if self._plan is None:
            return
        previewed = self._plan.get(number)
        if previewed == seen:
            return
        if previewed is None or previewed[0] is None:
            what = (
                "it was a new milestone in the preview, but code "
                f"{instance.code!r} now names an existing milestone"
            )
        elif new:
            what = "the milestone it updated in the preview is no longer there"
        elif previewed[0] != instance.pk:
            what = "it now names another milestone"
        else:
            what = (
                f"the milestone was changed by someone else (version "
                f"{previewed[1]} in the preview, {instance.version} now)"
            )
        raise ValidationError(
            {
                NON_FIELD_ERRORS: [
                    f"This row changed since the preview: {what}. "
                    "Preview the file again."
                ]
            }
        )

    def validate_instance(
        self, instance, import_validation_errors=None, validate_unique=True
    ):
        # A row whose cells are fine is validated in full by the service that
        # saves it; only a row with bad cells is cleaned here, so that its
        # other problems are reported together with them.
        if import_validation_errors:
            super().validate_instance(
                instance, import_validation_errors, validate_unique
            )

    def save_instance(self, instance, is_create, row, **kwargs):
        present = {
            field.attribute
            for field in self.get_import_fields()
            if field.column_name in row and not field.readonly
        } - {"id"}
        reason = (kwargs.get("reason") or "").strip() or self._default_reason(kwargs)
        try:
            with transaction.atomic():
                if is_create:
                    saved = self._create(instance, present)
                else:
                    saved = self._update(instance, present, row, reason)
        except DomainError as exc:
            raise self._row_errors(exc) from exc
        for field in Milestone._meta.concrete_fields:
            setattr(instance, field.attname, getattr(saved, field.attname))
        instance._state.adding = False

    def _row_errors(self, exc: DomainError) -> ValidationError:
        """A service's refusal as the row's errors: on the columns it names,
        else (its message) on the whole row."""
        columns = {f.attribute for f in self.get_import_fields() if not f.readonly} - {
            "id"
        }
        errors: dict[str, list[str]] = {}
        for key, messages in exc.errors.items():
            listed = messages if isinstance(messages, list) else [messages]
            name = key if key in columns else NON_FIELD_ERRORS
            errors.setdefault(name, []).extend(str(m) for m in listed)
        if not exc.errors or NON_FIELD_ERRORS in errors:
            errors[NON_FIELD_ERRORS] = [exc.message]
        return ValidationError(errors)

    def _default_reason(self, kwargs: dict[str, Any]) -> str:
        name = kwargs.get("file_name") or "a file"
        return f"Imported from {name}"[:100]

    def _create(self, instance: Milestone, present: set[str]) -> Milestone:
        values = {name: getattr(instance, name) for name in present}
        portfolio = values.pop("portfolio", None)
        if portfolio is None:
            raise ValidationError({"portfolio": "A new milestone needs a portfolio."})
        return services.milestone_create(actor=self.user, portfolio=portfolio, **values)

    def _update(
        self, instance: Milestone, present: set[str], row, reason: str
    ) -> Milestone:
        if (
            "portfolio" in present
            and instance.portfolio_id != self._stored(instance).portfolio_id
        ):
            raise ValidationError(
                {"portfolio": "A milestone cannot move to another portfolio."}
            )
        raw_version = _text(row.get("version"))
        try:
            expected = int(Decimal(raw_version)) if raw_version else None
            if expected is None and self._plan is not None:
                # No version column: the version the preview saw, so a change
                # that lands between this row's check and its save is refused.
                expected = instance.version
        except (InvalidOperation, ValueError):
            raise ValidationError(
                {NON_FIELD_ERRORS: [f"{raw_version!r} is not a version number."]}
            ) from None
        editable = set(milestone_fields.PLAN)
        values = {name: getattr(instance, name) for name in present & editable}
        saved = services.milestone_update(
            actor=self.user,
            milestone=instance,
            expected_version=expected,
            reason=reason,
            **values,
        )
        progress = {
            name: getattr(instance, name)
            for name in present & set(PROGRESS_FIELDS)
            if getattr(instance, name) != getattr(saved, name)
        }
        if progress:
            (saved,) = services.milestones_bulk_set_progress(
                actor=self.user,
                changes={saved.pk: progress},
                expected_versions={saved.pk: saved.version},
                reason=reason,
            )
        return saved

    @staticmethod
    def _stored(instance: Milestone) -> Milestone:
        return Milestone.objects.only("portfolio").get(pk=instance.pk)
