"""Back office for the risk register, issues, stakeholder assessments,
escalation rules, escalations and portfolio notification channels.

Querysets go through the access policy (``RestrictedAdmin``); writes through
``risks.services``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html

from accounts import policy
from accounts.admin_base import RestrictedAdmin
from accounts.roles import CHANGE, UPDATE, VIEW
from milestones.models import Milestone, Portfolio
from portal.errors import DomainError
from portal.notifications import safe_http

from . import selectors, services
from .models import (
    Escalation,
    EscalationRule,
    Issue,
    PortfolioChannels,
    Risk,
    StakeholderAssessment,
    parse_threshold,
)


def badge(value: str, text: str):
    """A coloured label; the colour of each severity and escalation status is
    a class in portal/portal.css (the CSP allows no inline style)."""
    return format_html(
        '<span class="cairn-badge cairn-badge-{}">{}</span>', value, text
    )


class ServiceAdmin(RestrictedAdmin):
    """Saves through a service (:meth:`save_via_service`). A refusal the form
    could not foresee is shown as a message and nothing is saved."""

    def save_via_service(self, request, obj, form, change):
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        try:
            saved = self.save_via_service(request, obj, form, change)
        except DomainError as exc:
            request._cairn_refused = exc
            self.message_domain_error(request, exc)
            return
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        # Relations are the services' business too.
        if getattr(request, "_cairn_refused", None) is None:
            for formset in formsets:
                self.save_formset(request, form, formset, change=change)

    def log_addition(self, request, obj, message):
        if getattr(request, "_cairn_refused", None) is None:
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if getattr(request, "_cairn_refused", None) is None:
            return super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_cairn_refused", None) is not None:
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_cairn_refused", None) is not None:
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        # No "added successfully" after a refusal.
        if getattr(request, "_cairn_refused", None) is not None and (
            level != messages.ERROR
        ):
            return
        return super().message_user(request, message, level, *args, **kwargs)

    def scoped(self, request, model, action: str):
        return policy.restrict(model._default_manager.all(), request.user, action)


def _changed(form, names):
    return {
        name: form.cleaned_data[name] for name in names if name in form.changed_data
    }


# Risks -------------------------------------------------------------------------


@admin.register(Risk)
class RiskAdmin(ServiceAdmin):
    change_action = UPDATE
    list_display = [
        "title",
        "portfolio",
        "milestone",
        "probability",
        "impact",
        "score",
        "severity_badge",
        "status",
        "owner",
        "next_review",
    ]
    list_filter = ["severity", "status", "category", "portfolio"]
    search_fields = ["title", "description", "milestone__name"]
    list_select_related = ["portfolio", "milestone", "owner"]
    readonly_fields = ["score", "severity_badge"]
    fields = [
        "portfolio",
        "milestone",
        "title",
        "description",
        "category",
        ("probability", "impact"),
        ("score", "severity_badge"),
        "owner",
        "mitigation",
        "contingency",
        "status",
        "next_review",
    ]
    ordering = ["-score", "title"]

    @admin.display(description="severity", ordering="score")
    def severity_badge(self, obj):
        if not obj.severity:
            return "—"
        return badge(obj.severity, obj.get_severity_display())

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "portfolio"] if obj else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # The portfolio may be one the user only sees through its milestones;
        # the service then requires a milestone they may update.
        if db_field.name == "portfolio":
            kwargs["queryset"] = self.scoped(request, Portfolio, VIEW)
        if db_field.name == "milestone":
            kwargs["queryset"] = self.scoped(request, Milestone, UPDATE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_via_service(self, request, obj, form, change):
        if change:
            data = _changed(form, services.RISK_FIELDS)
            return services.risk_update(actor=request.user, risk=obj, **data)
        data = {
            f: form.cleaned_data[f]
            for f in services.RISK_FIELDS
            if f in form.cleaned_data
        }
        return services.risk_create(
            actor=request.user, portfolio=form.cleaned_data["portfolio"], **data
        )


# Issues ------------------------------------------------------------------------


@admin.register(Issue)
class IssueAdmin(ServiceAdmin):
    change_action = UPDATE
    list_display = [
        "title",
        "kind",
        "severity_badge",
        "portfolio",
        "owner",
        "opened_at",
        "resolved_at",
    ]
    list_filter = [
        "kind",
        "severity",
        "portfolio",
        ("resolved_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["title", "description"]
    list_select_related = ["portfolio", "owner"]
    fields = [
        "portfolio",
        "milestones",
        "title",
        "description",
        "kind",
        "severity",
        "owner",
        "opened_at",
        "resolved_at",
        "resolution",
    ]
    readonly_fields = ["resolved_at"]
    actions = ["resolve"]

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj):
        return badge(obj.severity, obj.get_severity_display())

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["portfolio", "opened_at", "resolved_at", "resolution"]
        return ["resolved_at", "resolution"]

    def get_changeform_initial_data(self, request):
        return {
            "opened_at": timezone.now(),
            **super().get_changeform_initial_data(request),
        }

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "portfolio":
            kwargs["queryset"] = self.scoped(request, Portfolio, VIEW)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "milestones":
            kwargs["queryset"] = self.scoped(request, Milestone, UPDATE)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_via_service(self, request, obj, form, change):
        if change:
            data = _changed(form, services.ISSUE_FIELDS)
            return services.issue_update(actor=request.user, issue=obj, **data)
        data = {
            f: form.cleaned_data[f]
            for f in services.ISSUE_FIELDS
            if f in form.cleaned_data
        }
        return services.issue_create(
            actor=request.user,
            portfolio=form.cleaned_data["portfolio"],
            opened_at=form.cleaned_data.get("opened_at"),
            **data,
        )

    @admin.action(description="Resolve the selected issues", permissions=["change"])
    def resolve(self, request, queryset):
        done = 0
        for issue in queryset.filter(resolved_at__isnull=True):
            try:
                services.issue_resolve(actor=request.user, issue=issue)
                done += 1
            except DomainError as exc:
                self.message_domain_error(request, exc)
        if done:
            self.message_user(request, f"{done} issue(s) resolved.")


# Stakeholder assessments ----------------------------------------------------------


@admin.register(StakeholderAssessment)
class StakeholderAssessmentAdmin(ServiceAdmin):
    change_action = UPDATE
    list_display = [
        "stakeholder_group",
        "portfolio",
        "milestone",
        "resistance_percent",
        "engagement_score",
        "assessed_on",
    ]
    list_filter = ["portfolio", "assessed_on"]
    search_fields = ["stakeholder_group", "notes"]
    list_select_related = ["portfolio", "milestone"]
    fields = [
        "portfolio",
        "milestone",
        "stakeholder_group",
        "resistance_percent",
        "engagement_score",
        "assessed_on",
        "notes",
    ]

    def get_readonly_fields(self, request, obj=None):
        # An assessment is a record of a date; a new one supersedes it.
        return self.fields if obj else []

    def get_changeform_initial_data(self, request):
        return {
            "assessed_on": timezone.localdate(),
            **super().get_changeform_initial_data(request),
        }

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # The portfolio may be one the user only sees through its milestones;
        # the service then requires a milestone they may update.
        if db_field.name == "portfolio":
            kwargs["queryset"] = self.scoped(request, Portfolio, VIEW)
        if db_field.name == "milestone":
            kwargs["queryset"] = self.scoped(request, Milestone, UPDATE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_via_service(self, request, obj, form, change):
        data = form.cleaned_data
        return services.assessment_create(
            actor=request.user,
            portfolio=data["portfolio"],
            milestone=data.get("milestone"),
            stakeholder_group=data["stakeholder_group"],
            resistance_percent=data["resistance_percent"],
            engagement_score=data["engagement_score"],
            assessed_on=data.get("assessed_on"),
            notes=data.get("notes", ""),
        )


# Escalation rules ----------------------------------------------------------------


class EscalationRuleForm(forms.ModelForm):
    # Taken as text so a malformed value gets the rule's own clear message.
    threshold = forms.CharField(
        help_text="Days for delays and blockers, percent for overruns and "
        "resistance; escalates when strictly exceeded."
    )

    class Meta:
        model = EscalationRule
        fields = [
            "portfolio",
            "trigger",
            "threshold",
            "target_role",
            "consequence",
            "active",
        ]

    def clean(self):
        data = super().clean()
        trigger = data.get("trigger") or getattr(self.instance, "trigger", None)
        if "threshold" in data and trigger:
            try:
                data["threshold"] = parse_threshold(trigger, data["threshold"])
            except ValidationError as exc:
                self.add_error("threshold", exc.message_dict["threshold"])
        return data


@admin.register(EscalationRule)
class EscalationRuleAdmin(ServiceAdmin):
    form = EscalationRuleForm
    list_display = ["trigger", "scope", "threshold_display", "target_role", "active"]
    list_filter = ["trigger", "active", "target_role"]
    list_select_related = ["portfolio"]
    ordering = ["portfolio__name", "trigger"]

    def get_queryset(self, request):
        # Everyone who may read rules reads the global defaults too.
        return selectors.escalation_rules_for(request.user)

    @admin.display(description="applies to", ordering="portfolio__name")
    def scope(self, obj):
        return obj.portfolio or "Global default"

    @admin.display(description="threshold", ordering="threshold")
    def threshold_display(self, obj):
        return f"> {obj.threshold_display}"

    def get_readonly_fields(self, request, obj=None):
        return ["portfolio", "trigger"] if obj else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "portfolio":
            kwargs["queryset"] = self.scoped(request, Portfolio, CHANGE)
            if not request.user.is_superuser:
                kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_view_permission(self, request, obj=None):
        if obj is not None and obj.portfolio_id is None:
            return super().has_view_permission(request, None)
        return super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.portfolio_id is None:
            return request.user.is_superuser
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Switch a rule off instead: escalations refer to it. Administrators
        # only may delete one. (Without an object the base check stands, so a
        # page out of scope stays 404.)
        allowed = obj is None or request.user.is_superuser
        return allowed and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_via_service(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            return services.escalation_rule_update(
                actor=request.user,
                rule=obj,
                **_changed(form, services.RULE_FIELDS),
            )
        return services.escalation_rule_create(
            actor=request.user,
            portfolio=data.get("portfolio"),
            trigger=data["trigger"],
            threshold=data["threshold"],
            target_role=data["target_role"],
            consequence=data.get("consequence", ""),
            active=data.get("active", True),
        )


# Escalations ---------------------------------------------------------------------


@admin.register(Escalation)
class EscalationAdmin(RestrictedAdmin):
    list_display = [
        "summary",
        "trigger_display",
        "portfolio",
        "status_badge",
        "opened_at",
        "acknowledged_by",
        "resolved_at",
    ]
    list_filter = ["status", "rule__trigger", "portfolio"]
    search_fields = ["summary", "subject_key"]
    list_select_related = ["rule", "portfolio", "acknowledged_by"]
    date_hierarchy = "opened_at"
    actions = ["acknowledge"]
    fields = [
        "summary",
        "rule",
        "status",
        "portfolio",
        "org_unit",
        "milestone",
        "issue",
        "assessment",
        "measured",
        "threshold",
        "opened_at",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_at",
    ]
    readonly_fields = fields

    @admin.display(description="trigger", ordering="rule__trigger")
    def trigger_display(self, obj):
        return obj.rule.get_trigger_display()

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    def has_add_permission(self, request):
        return False  # only the sweep opens escalations

    def has_delete_permission(self, request, obj=None):
        # Escalations are a record: only administrators may delete one.
        # (Without an object the base check stands, so a page out of scope
        # stays 404.)
        allowed = obj is None or request.user.is_superuser
        return allowed and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("risks.change_escalation")

    @admin.action(
        description="Acknowledge the selected escalations",
        permissions=["acknowledge"],
    )
    def acknowledge(self, request, queryset):
        done = 0
        for escalation in queryset.filter(status=Escalation.Status.OPEN):
            try:
                services.escalation_acknowledge(
                    actor=request.user, escalation=escalation
                )
                done += 1
            except DomainError as exc:
                self.message_domain_error(request, exc)
        if done:
            self.message_user(request, f"{done} escalation(s) acknowledged.")
        elif not queryset.filter(status=Escalation.Status.OPEN).exists():
            self.message_user(
                request, "None of the selected escalations is open.", messages.WARNING
            )


# Portfolio channels --------------------------------------------------------------


@admin.register(PortfolioChannels)
class PortfolioChannelsAdmin(ServiceAdmin):
    """The webhook URLs are secrets: shown in full only in the form of
    someone who may change them, masked everywhere else."""

    list_display = ["portfolio", "slack_webhook", "teams_webhook"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_select_related = ["portfolio"]
    fields = ["portfolio", "slack_webhook_url", "teams_webhook_url"]
    masked_fields = ["portfolio", "slack_webhook", "teams_webhook"]

    @admin.display(description="Slack webhook URL")
    def slack_webhook(self, obj):
        return safe_http.mask_url(obj.slack_webhook_url) or "—"

    @admin.display(description="Teams webhook URL")
    def teams_webhook(self, obj):
        return safe_http.mask_url(obj.teams_webhook_url) or "—"

    def get_fields(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return self.masked_fields
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return self.masked_fields
        return ["portfolio"] if obj else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "portfolio":
            kwargs["queryset"] = self.scoped(request, Portfolio, CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_via_service(self, request, obj, form, change):
        return services.portfolio_channels_set(
            actor=request.user,
            portfolio=obj.portfolio,
            slack_webhook_url=form.cleaned_data.get("slack_webhook_url", ""),
            teams_webhook_url=form.cleaned_data.get("teams_webhook_url", ""),
        )
