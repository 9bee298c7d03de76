"""Back office for portfolios, objectives, milestones and what hangs off them.

Every class inherits ``accounts.admin_base.RestrictedAdmin`` (rows, choices and
list filters scoped by the access policy; out of scope answers 404; history is
read-only) and writes only through ``milestones.services``: ``save_model``,
``save_formset``, ``delete_model`` and actions call a service with the signed-in
user as the actor. A service's refusal never becomes a 500: the attempt is
rolled back and the form comes back with the service's reasons (see
``ServiceAdmin``). Rows that no service edits (checkpoints, allocations,
objectives, KPIs, KPI measurements, progress updates) can be added here when a
service creates them, and are read-only once saved.
"""

from __future__ import annotations

import zipfile
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats

from accounts import policy
from accounts.admin_base import RelatedInScopeFilter, RestrictedAdmin
from accounts.models import OrgUnit
from accounts.roles import CHANGE, UPDATE, VIEW
from portal import audit
from portal.errors import DomainError
from portal.models import AuditEvent

from . import fields as milestone_fields
from . import services
from .admin_forms import (
    BulkProgressForm,
    CategoryInlineFormSet,
    MilestoneAdminForm,
    MilestoneConfirmImportForm,
    MilestoneImportForm,
    PortfolioAdminForm,
    import_plan_sign,
    percent_text,
)
from .models import (
    DEFAULT_CATEGORIES,
    KPI,
    MILESTONE_BASELINE_FIELDS,
    Checkpoint,
    Dependency,
    KPIMeasurement,
    Milestone,
    MilestoneCategory,
    Portfolio,
    ProgressUpdate,
    ResourceAllocation,
    Status,
    StrategicObjective,
)
from .resources import MilestoneResource


def _row_messages(row) -> list[str]:
    """A refused import row's reasons, column by column, as sentences."""
    found = [
        f"{field}: {' '.join(str(m) for m in errors)}"
        for field, errors in row.field_specific_errors.items()
    ]
    return found + [str(m) for m in row.non_field_specific_errors]


MILESTONE_FIELDS = frozenset(f.name for f in Milestone._meta.fields)
MILESTONE_WRITABLE = frozenset(milestone_fields.PLAN)
# Shown on a milestone's change page, changed only by progress updates.
MILESTONE_EXECUTION = (*milestone_fields.EXECUTION, "last_progress_at", "version")


def _can(request, action: str, obj) -> bool:
    """``policy.can``, remembered for the request (inlines ask it repeatedly)."""
    cache = getattr(request, "_milestones_can", None)
    if cache is None:
        cache = request._milestones_can = {}
    key = (action, obj._meta.label, obj.pk)
    if key not in cache:
        cache[key] = policy.can(request.user, action, obj)
    return cache[key]


def _restricted(model, request, action: str = VIEW):
    return policy.restrict(model._default_manager.all(), request.user, action)


def _copy_state(source, target) -> None:
    """Make the admin's object reflect what the service saved."""
    for field in type(source)._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


def _values(obj, names) -> dict:
    return {name: getattr(obj, name) for name in names}


# Bases ---------------------------------------------------------------------


def for_form(exc: DomainError, form, source: str | None = None) -> DomainError:
    """Key a service's refusal to the admin form it is shown on.

    ``RestrictedAdmin`` redisplays the form with these errors: on the form's own
    fields (a ``reason`` error on the change reason field), else form-wide with
    the service's message, prefixed by the inline the refused rows came from.
    """
    errors: dict = {}
    unplaced = not exc.errors
    for key, messages_ in exc.errors.items():
        name = "change_reason" if key == "reason" else key
        if name in form.fields and (source is None or name == "change_reason"):
            errors[name] = messages_
        else:
            unplaced = True
    if unplaced:
        errors[None] = [f"{source}: {exc.message}" if source else exc.message]
    return type(exc)(exc.message, errors=errors)


class ServiceAdmin(RestrictedAdmin):
    """A RestrictedAdmin whose saves go through services.

    Subclasses implement ``create`` (and ``update`` when ``editable``, ``delete``
    when ``deletable``). A ``DomainError`` from a service rolls the whole save
    back, inlines included, and ``RestrictedAdmin`` shows the form again with
    the user's input and the service's reasons.
    """

    save_as = False
    #: A service edits existing rows (otherwise they are view-only here).
    editable = True
    #: A service deletes rows.
    deletable = False

    def has_change_permission(self, request, obj=None):
        if obj is not None and not self.editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)

    # Writes ---------------------------------------------------------------

    def create(self, request, obj, form):
        raise NotImplementedError

    def update(self, request, obj, form):
        raise NotImplementedError

    def delete(self, request, obj) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        try:
            saved = (self.update if change else self.create)(request, obj, form)
        except DomainError as exc:
            raise for_form(exc, form) from exc
        if saved is not None and saved is not obj:
            _copy_state(saved, obj)

    def save_formset(self, request, form, formset, change):
        # commit=False writes nothing; it lists new, changed and deleted rows
        # (the admin's change message reads those lists too).
        formset.save(commit=False)
        inline = getattr(formset, "service_inline", None)
        if inline is None or not (
            formset.new_objects or formset.changed_objects or formset.deleted_objects
        ):
            return
        try:
            inline.save_rows(request, form.instance, formset, form, change)
        except DomainError as exc:
            source = str(inline.verbose_name_plural or inline.opts.verbose_name_plural)
            raise for_form(exc, form, source[:1].upper() + source[1:]) from exc

    def delete_model(self, request, obj):
        self.delete(request, obj)


class ServiceInline(admin.TabularInline):
    """An inline scoped by the policy whose rows are written through services."""

    extra = 0
    #: What the user needs on the parent object to add or edit rows here.
    parent_action = CHANGE
    addable = True
    editable = False
    deletable = False

    def get_queryset(self, request):
        return policy.restrict(super().get_queryset(request), request.user, VIEW)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if getattr(related, "access_scope", None) is not None:
            kwargs.setdefault("queryset", _restricted(related, request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _parent_allows(self, request, obj) -> bool:
        if obj is None:
            return True
        # Rows are saved with their parent's form: it must be editable too.
        parent_admin = self.admin_site._registry.get(self.parent_model)
        if parent_admin is not None and not parent_admin.has_change_permission(
            request, obj
        ):
            return False
        return _can(request, self.parent_action, obj)

    def has_add_permission(self, request, obj=None):
        return (
            self.addable
            and super().has_add_permission(request, obj)
            and self._parent_allows(request, obj)
        )

    def has_change_permission(self, request, obj=None):
        return (
            self.editable
            and super().has_change_permission(request, obj)
            and self._parent_allows(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return (
            self.deletable
            and super().has_delete_permission(request, obj)
            and self._parent_allows(request, obj)
        )

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.service_inline = self
        return formset

    def save_rows(self, request, parent, formset, form, change) -> None:
        """Write the formset's new/changed/deleted rows through services."""
        raise NotImplementedError


class ReadOnlyInline(ServiceInline):
    addable = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


# List filters ----------------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    """Open milestones past their planned completion (``overdue()``)."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.overdue()
        if self.value() == "no":
            return queryset.exclude(pk__in=Milestone.objects.overdue().values("pk"))
        return queryset


class CategoryFilter(RelatedInScopeFilter):
    """Categories of the visible milestones, named with their portfolio
    (every portfolio has a "Foundation")."""

    def field_choices(self, field, request, model_admin):
        categories = (
            MilestoneCategory.objects.filter(self.in_scope(request, model_admin))
            .select_related("portfolio")
            .order_by("portfolio__name", "order", "name")
        )
        return [(c.pk, f"{c.portfolio.name} · {c.name}") for c in categories]


# Portfolios, categories, objectives -------------------------------------------


class CategoryInline(ServiceInline):
    """A portfolio's weighted categories, saved together by ``categories_set``."""

    model = MilestoneCategory
    formset = CategoryInlineFormSet
    fields = ["name", "weight", "business_impact", "order"]
    editable = True
    deletable = True

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj else 1

    def save_rows(self, request, parent, formset, form, change) -> None:
        if not change:
            return  # created with the portfolio (PortfolioAdmin.save_related)
        services.categories_set(
            actor=request.user,
            portfolio=parent,
            categories=category_rows(formset),
            reason=form.cleaned_data.get("change_reason", ""),
        )


def category_rows(formset) -> list[dict[str, Any]]:
    """The categories a formset keeps, in order, as ``categories_set`` takes them."""
    rows: list[dict[str, Any]] = []
    for row_form in formset.forms:
        data = getattr(row_form, "cleaned_data", None)
        if not data or formset._should_delete_form(row_form):
            continue
        rows.append(
            {
                "id": row_form.instance.pk,
                "name": data["name"],
                "weight": data["weight"],
                "business_impact": data.get("business_impact", ""),
                "order": data.get("order", len(rows)),
            }
        )
    return rows


class ObjectiveInline(ServiceInline):
    model = StrategicObjective
    fields = ["code", "title", "description", "owner"]

    def save_rows(self, request, parent, formset, form, change) -> None:
        for objective in formset.new_objects:
            created = services.objective_create(
                actor=request.user, portfolio=parent, **_values(objective, self.fields)
            )
            objective.pk = created.pk


@admin.register(Portfolio)
class PortfolioAdmin(ServiceAdmin):
    form = PortfolioAdminForm
    list_display = [
        "name",
        "slug",
        "org_unit",
        "sponsor",
        "currency",
        "period_start",
        "period_end",
    ]
    list_filter = ["org_unit"]
    search_fields = ["name", "slug"]
    list_select_related = ["org_unit", "sponsor"]
    inlines = [CategoryInline, ObjectiveInline]
    plan_fields = [
        "slug",
        "name",
        "description",
        "currency",
        "org_unit",
        "sponsor",
        "period_start",
        "period_end",
    ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.plan_fields
        if self.has_change_permission(request, obj):
            return [*self.plan_fields, "change_reason"]
        return self.plan_fields

    def get_readonly_fields(self, request, obj=None):
        # No service edits a portfolio's own fields once it exists.
        return self.plan_fields if obj else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "org_unit":
            kwargs["queryset"] = _restricted(OrgUnit, request, CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def create(self, request, obj, form):
        return None  # needs the categories: done in save_related

    def update(self, request, obj, form):
        return obj  # only its categories and objectives change (inlines)

    def save_related(self, request, form, formsets, change):
        if not change:
            categories = next(
                (fs for fs in formsets if fs.model is MilestoneCategory), None
            )
            rows = category_rows(categories) if categories is not None else []
            try:
                created = services.portfolio_create(
                    actor=request.user,
                    **{name: form.cleaned_data[name] for name in self.plan_fields},
                    categories=[
                        (r["name"], r["weight"], r["business_impact"]) for r in rows
                    ]
                    or DEFAULT_CATEGORIES,
                )
            except DomainError as exc:
                raise for_form(exc, form) from exc
            _copy_state(created, form.instance)
        super().save_related(request, form, formsets, change)


@admin.register(MilestoneCategory)
class MilestoneCategoryAdmin(ServiceAdmin):
    """Read-only list: categories and weights change on their portfolio's page,
    all together, so that the weights keep summing to 100 %."""

    list_display = ["name", "portfolio", "weight", "business_impact", "order"]
    list_filter = ["portfolio"]
    search_fields = ["name", "portfolio__name"]
    list_select_related = ["portfolio"]
    editable = False

    def has_add_permission(self, request):
        return False


@admin.register(StrategicObjective)
class StrategicObjectiveAdmin(ServiceAdmin):
    list_display = ["code", "title", "portfolio", "owner"]
    list_filter = ["portfolio"]
    search_fields = ["code", "title"]
    list_select_related = ["portfolio", "owner"]
    fields = ["portfolio", "code", "title", "description", "owner"]
    editable = False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "portfolio":
            kwargs["queryset"] = _restricted(Portfolio, request, CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def create(self, request, obj, form):
        return services.objective_create(
            actor=request.user,
            portfolio=obj.portfolio,
            **_values(obj, ["code", "title", "description", "owner"]),
        )


# Milestones -------------------------------------------------------------------


class PredecessorInline(ServiceInline):
    """What this milestone depends on (it is the successor)."""

    model = Dependency
    fk_name = "successor"
    fields = ["predecessor", "type", "lag_days"]
    autocomplete_fields = ["predecessor"]
    verbose_name = "predecessor"
    verbose_name_plural = "dependencies: predecessors of this milestone"
    editable = True
    deletable = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("predecessor")

    def save_rows(self, request, parent, formset, form, change) -> None:
        actor = request.user
        for dependency in formset.deleted_objects:
            services.dependency_remove(actor=actor, dependency=dependency)
        for dependency, changed in formset.changed_objects:
            if "predecessor" in changed:
                stored = Dependency.objects.get(pk=dependency.pk)
                services.dependency_remove(actor=actor, dependency=stored)
                dependency.pk = self._add(actor, parent, dependency).pk
            else:
                services.dependency_update(
                    actor=actor,
                    dependency=dependency,
                    type=dependency.type,
                    lag_days=dependency.lag_days,
                )
        for dependency in formset.new_objects:
            dependency.pk = self._add(actor, parent, dependency).pk

    @staticmethod
    def _add(actor, successor, dependency) -> Dependency:
        return services.dependency_add(
            actor=actor,
            predecessor=dependency.predecessor,
            successor=successor,
            type=dependency.type,
            lag_days=dependency.lag_days,
        )


class SuccessorInline(ReadOnlyInline):
    """Milestones that depend on this one (edited on their own pages)."""

    model = Dependency
    fk_name = "predecessor"
    fields = ["successor", "type", "lag_days"]
    verbose_name = "successor"
    verbose_name_plural = "dependencies: milestones that depend on this one"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("successor")


class CheckpointInline(ServiceInline):
    model = Checkpoint
    fields = ["name", "due_date", "completed_on", "notes"]

    def save_rows(self, request, parent, formset, form, change) -> None:
        for checkpoint in formset.new_objects:
            created = services.checkpoint_create(
                actor=request.user, milestone=parent, **_values(checkpoint, self.fields)
            )
            checkpoint.pk = created.pk


class AllocationInline(ServiceInline):
    model = ResourceAllocation
    fields = ["org_unit", "fte", "role"]
    verbose_name_plural = "resources required: people (FTE per org unit)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("org_unit")

    def save_rows(self, request, parent, formset, form, change) -> None:
        for allocation in formset.new_objects:
            created = services.allocation_create(
                actor=request.user, milestone=parent, **_values(allocation, self.fields)
            )
            allocation.pk = created.pk


@admin.register(Milestone)
class MilestoneAdmin(ImportExportMixin, ServiceAdmin):
    form = MilestoneAdminForm
    list_display = [
        "name",
        "code",
        "portfolio",
        "category",
        "org_unit",
        "owner",
        "status",
        "percent_complete",
        "planned_completion",
        "is_overdue",
    ]
    list_filter = [
        "portfolio",
        ("category", CategoryFilter),
        "status",
        "org_unit",
        "owner",
        OverdueFilter,
        "type",
    ]
    search_fields = ["name", "code", "description"]
    list_select_related = ["portfolio", "category", "org_unit", "owner", "objective"]
    list_per_page = 100
    # No second COUNT(*) over every visible milestone on each page.
    show_full_result_count = False
    inlines = [PredecessorInline, SuccessorInline, CheckpointInline, AllocationInline]
    actions = ["set_status"]

    # django-import-export
    resource_classes = [MilestoneResource]
    import_formats = [base_formats.CSV, base_formats.XLSX]
    export_formats = [base_formats.CSV, base_formats.XLSX]
    import_form_class = MilestoneImportForm
    confirm_form_class = MilestoneConfirmImportForm
    import_template_name = "admin/milestones/milestone/import.html"

    main_fields = [
        "name",
        "code",
        "portfolio",
        "objective",
        "category",
        "org_unit",
        "owner",
        "type",
        "description",
    ]
    documentation_fields = [
        "success_criteria",
        "validation_method",
        "risk_factors",
        "stakeholder_impact",
        "communication_plan",
        "technology_required",
        "business_impact",
        "requires_validation",
    ]
    baseline_fields = [
        "weight",
        "approved_budget",
        "planned_start",
        "planned_completion",
    ]

    @admin.display(description="overdue", boolean=True)
    def is_overdue(self, obj):
        return not obj.is_closed and obj.planned_completion < timezone.localdate()

    def _plans(self, request, obj) -> bool:
        """Whether the user may change plans (baseline, scope), not only own."""
        return (
            request.user.is_superuser
            or _can(request, CHANGE, obj.portfolio)
            or _can(request, CHANGE, obj.org_unit)
        )

    def get_fieldsets(self, request, obj=None):
        main = list(self.main_fields)
        baseline = list(self.baseline_fields)
        if obj is not None:
            main.append("actual_start")
            if self.has_change_permission(request, obj):
                main.append("expected_version")
                baseline.append("change_reason")
        sets = [
            (None, {"fields": main}),
            ("Documentation", {"fields": self.documentation_fields}),
            ("Baseline", {"fields": baseline}),
        ]
        if obj is not None:
            # The baseline changes only through an approved request.
            sets[2][1]["description"] = format_html(
                "Approved budget, planned dates, success criteria and weight "
                'change only through an approved request: <a href="{}">request '
                "a reauthorization or a baseline change</a>.",
                reverse("approvals:request", args=[obj.pk]),
            )
        if obj is not None:
            sets.append(
                (
                    "Execution (changed by progress updates)",
                    {"fields": list(MILESTONE_EXECUTION)},
                )
            )
        return sets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The baseline is read-only for everyone: approvals change it.
        readonly = ["portfolio", *MILESTONE_EXECUTION, *MILESTONE_BASELINE_FIELDS]
        if not self._plans(request, obj):
            readonly += [*services.MILESTONE_SCOPE_FIELDS]
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            # Categories and objectives of the milestone's own portfolio only.
            for name in ("category", "objective"):
                field = form.base_fields.get(name)
                if field is not None:
                    field.queryset = field.queryset.filter(portfolio=obj.portfolio_id)
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "portfolio":
            kwargs["queryset"] = _restricted(Portfolio, request, CHANGE)
        elif db_field.name in ("category", "objective"):
            queryset = _restricted(db_field.related_model, request)
            kwargs["queryset"] = queryset.select_related("portfolio")
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name in ("category", "objective") and field is not None:
            field.label_from_instance = lambda row: f"{row.portfolio.name} · {row}"
        return field

    def create(self, request, obj, form):
        values = {
            name: value
            for name, value in form.cleaned_data.items()
            if name in MILESTONE_FIELDS
        }
        portfolio = values.pop("portfolio")
        return services.milestone_create(
            actor=request.user, portfolio=portfolio, **values
        )

    def update(self, request, obj, form):
        values = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in MILESTONE_WRITABLE
        }
        return services.milestone_update(
            actor=request.user,
            milestone=obj,
            expected_version=form.cleaned_data.get("expected_version"),
            reason=form.cleaned_data.get("change_reason", ""),
            **values,
        )

    # The bulk action ------------------------------------------------------

    @admin.action(
        description="Set status / percent complete of selected milestones…",
        permissions=["change"],
    )
    def set_status(self, request, queryset):
        """One reason, one service call, one bulk history insert per batch."""
        if "apply" in request.POST:
            form = BulkProgressForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                change = {"status": data["status"]}
                if data["percent_complete"] is not None:
                    change["percent_complete"] = data["percent_complete"]
                ids = list(queryset.values_list("pk", flat=True))
                # A refusal propagates: RestrictedAdmin rolls back and says why.
                rows = services.milestones_bulk_set_progress(
                    actor=request.user,
                    changes={pk: dict(change) for pk in ids},
                    reason=data["reason"],
                )
                label = Status(data["status"]).label
                percent = change.get("percent_complete")
                detail = f" at {percent_text(percent)} %" if percent is not None else ""
                self.message_user(
                    request,
                    f"{len(rows)} milestone(s) set to {label}{detail}.",
                    messages.SUCCESS,
                )
                return None
        else:
            form = BulkProgressForm(initial={"status": Status.AT_RISK})
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        context = {
            **self.admin_site.each_context(request),
            "title": "Set status of milestones",
            "opts": self.opts,
            "form": form,
            "count": queryset.count(),
            "examples": list(queryset.values_list("name", flat=True)[:10]),
            "selected": selected,
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/milestones/milestone/set_status.html", context
        )

    # Import / export --------------------------------------------------------

    def has_import_permission(self, request):
        # Importing plans milestones: the add and change permissions.
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        # An export takes data out: it is an access event in the audit log.
        audit.event_record(
            kind=AuditEvent.Kind.EXPORT,
            user=request.user,
            request=request,
            details={
                "what": "milestones_admin_export",
                "format": file_format.get_title(),
                "rows": queryset.count(),
                "query": request.GET.urlencode(),
            },
        )
        return data

    def get_import_resource_kwargs(self, request, **kwargs):
        # A preview leaves what it saw of each row here, for the confirm form.
        sink = request.__dict__.setdefault("_milestone_import_plan", {})
        return {"user": request.user, "plan_sink": sink}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["reason"] = import_form.cleaned_data["reason"]
            plan = getattr(request, "_milestone_import_plan", {}).get("plan", {})
            initial["plan"] = import_plan_sign(
                plan, file_name=initial["import_file_name"]
            )
        return initial

    def get_import_data_kwargs(self, **kwargs):
        form = kwargs.get("form")
        kwargs = super().get_import_data_kwargs(**kwargs)
        if form is not None and form.is_valid():
            kwargs["reason"] = form.cleaned_data.get("reason", "")
            if "plan_rows" in form.cleaned_data:
                kwargs["plan"] = form.cleaned_data["plan_rows"]
        return kwargs

    def add_data_read_fail_error_to_form(self, form, e):
        """A file that cannot be read, said as a person would (never the
        exception's class name)."""
        chosen = (
            form.cleaned_data.get("format") if hasattr(form, "cleaned_data") else None
        )
        formats = self.get_import_formats()
        try:
            title = formats[int(chosen)]().get_title().upper()
        except (TypeError, ValueError, IndexError):
            title = "the chosen format"
        if isinstance(e, UnicodeError):
            message = (
                'The file is not UTF-8 text. Save it as "CSV UTF-8" or upload '
                "it as XLSX."
            )
        elif isinstance(e, zipfile.BadZipFile) or title == "XLSX":
            message = (
                "The file is not an Excel workbook (.xlsx). Choose the format "
                "that matches the file, or save it as .xlsx."
            )
        else:
            message = (
                f"The file could not be read as {title}. Check that the format "
                "chosen matches the file."
            )
        form.add_error("import_file", message)

    def process_result(self, result, request):
        """After a confirm: success only for what was saved. A file refused
        at the confirm (a row changed since the preview, or any other row
        error) saved nothing; the page says so, row by row."""
        if not result.has_errors() and not result.has_validation_errors():
            return super().process_result(result, request)
        problems = [
            f"Row {row.number}: {' '.join(_row_messages(row))}"
            for row in result.invalid_rows
        ] + [
            f"Row {error.number}: {error.error}"
            for _, errors in result.row_errors()
            for error in errors
        ]
        messages.error(
            request, "Nothing was imported. " + " ".join(problems or ["See below."])
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Import",
            "opts": self.model._meta,
            "result": result,
            "form": self.get_import_form_class(request)(
                self.get_import_formats(),
                self.get_import_resource_classes(request),
                initial=self.get_import_form_initial(request),
            ),
            "media": self.media,
            "import_error_display": self.import_error_display,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)


@admin.register(Dependency)
class DependencyAdmin(ServiceAdmin):
    list_display = ["predecessor", "successor", "type", "lag_days", "portfolio"]
    list_filter = ["type", "successor__portfolio"]
    search_fields = ["predecessor__name", "successor__name"]
    list_select_related = ["predecessor", "successor", "successor__portfolio"]
    autocomplete_fields = ["predecessor", "successor"]
    fields = ["predecessor", "successor", "type", "lag_days"]
    deletable = True

    @admin.display(description="portfolio", ordering="successor__portfolio__name")
    def portfolio(self, obj):
        return obj.successor.portfolio

    def get_readonly_fields(self, request, obj=None):
        return ["predecessor", "successor"] if obj else []

    def create(self, request, obj, form):
        return services.dependency_add(
            actor=request.user,
            predecessor=obj.predecessor,
            successor=obj.successor,
            type=obj.type,
            lag_days=obj.lag_days,
        )

    def update(self, request, obj, form):
        return services.dependency_update(
            actor=request.user, dependency=obj, type=obj.type, lag_days=obj.lag_days
        )

    def delete(self, request, obj) -> None:
        services.dependency_remove(actor=request.user, dependency=obj)


@admin.register(Checkpoint)
class CheckpointAdmin(ServiceAdmin):
    list_display = ["name", "milestone", "due_date", "completed_on"]
    list_filter = ["milestone__portfolio"]
    search_fields = ["name", "milestone__name"]
    list_select_related = ["milestone"]
    autocomplete_fields = ["milestone"]
    fields = ["milestone", "name", "due_date", "completed_on", "notes"]
    editable = False

    def create(self, request, obj, form):
        return services.checkpoint_create(
            actor=request.user,
            milestone=obj.milestone,
            **_values(obj, ["name", "due_date", "completed_on", "notes"]),
        )


@admin.register(ProgressUpdate)
class ProgressUpdateAdmin(ServiceAdmin):
    """Submitted progress reports: immutable, for everyone, superusers included.

    They are written only by ``milestone_submit_update`` (the update page and
    the API), never here.
    """

    list_display = [
        "milestone",
        "submitted_at",
        "author",
        "status",
        "percent_complete",
        "actual_spend",
    ]
    list_filter = ["status", "milestone__portfolio", "milestone__org_unit"]
    search_fields = ["milestone__name", "achievements", "blockers", "next_steps"]
    list_select_related = ["milestone", "author"]
    editable = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ResourceAllocation)
class ResourceAllocationAdmin(ServiceAdmin):
    list_display = ["milestone", "org_unit", "fte", "role"]
    list_filter = ["org_unit", "milestone__portfolio"]
    search_fields = ["role", "milestone__name"]
    list_select_related = ["milestone", "org_unit"]
    autocomplete_fields = ["milestone"]
    fields = ["milestone", "org_unit", "fte", "role"]
    editable = False

    def create(self, request, obj, form):
        return services.allocation_create(
            actor=request.user,
            milestone=obj.milestone,
            **_values(obj, ["org_unit", "fte", "role"]),
        )


class MeasurementInline(ServiceInline):
    model = KPIMeasurement
    fields = ["measured_on", "value", "note", "recorded_by"]
    readonly_fields = ["recorded_by"]
    parent_action = UPDATE

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")

    def save_rows(self, request, parent, formset, form, change) -> None:
        for measurement in formset.new_objects:
            created = services.kpi_record(
                actor=request.user,
                kpi=parent,
                **_values(measurement, ["measured_on", "value", "note"]),
            )
            measurement.pk = created.pk


@admin.register(KPI)
class KPIAdmin(ServiceAdmin):
    list_display = [
        "name",
        "portfolio",
        "objective",
        "milestone",
        "kind",
        "baseline",
        "target",
        "unit",
    ]
    list_filter = ["portfolio", "kind", "direction"]
    search_fields = ["name"]
    list_select_related = ["portfolio", "objective", "milestone"]
    autocomplete_fields = ["milestone"]
    fields = [
        "portfolio",
        "objective",
        "milestone",
        "name",
        "kind",
        "unit",
        "direction",
        "baseline",
        "target",
    ]
    inlines = [MeasurementInline]

    def get_readonly_fields(self, request, obj=None):
        # No service edits a KPI; its page stays open to record measurements.
        return self.fields if obj else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "portfolio":
            kwargs["queryset"] = _restricted(Portfolio, request, CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def create(self, request, obj, form):
        return services.kpi_create(
            actor=request.user,
            portfolio=obj.portfolio,
            **_values(obj, [f for f in self.fields if f != "portfolio"]),
        )

    def update(self, request, obj, form):
        return obj


@admin.register(KPIMeasurement)
class KPIMeasurementAdmin(ServiceAdmin):
    list_display = ["kpi", "measured_on", "value", "recorded_by"]
    list_filter = ["kpi__portfolio"]
    search_fields = ["kpi__name", "note"]
    list_select_related = ["kpi", "recorded_by"]
    fields = ["kpi", "measured_on", "value", "note"]
    editable = False

    def create(self, request, obj, form):
        return services.kpi_record(
            actor=request.user,
            kpi=obj.kpi,
            **_values(obj, ["measured_on", "value", "note"]),
        )
