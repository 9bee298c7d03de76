"""The global default escalation rules of DESIGN.md and the daily sweep's
schedule (a django-celery-beat periodic task, editable in the admin)."""

from decimal import Decimal

from django.db import migrations

SWEEP_TASK = "risks.tasks.run_escalation_sweep"
SWEEP_NAME = "Daily escalation sweep and reminders"

# Frozen copy of risks.models.DEFAULT_RULES at the time of this migration.
DEFAULT_RULES = (
    (
        "milestone_delay",
        Decimal("14"),
        "executive",
        "Escalation to the steering committee (the portfolio's executives).",
    ),
    (
        "budget_overrun",
        Decimal("15"),
        "executive",
        "Financial review: a reauthorization is required.",
    ),
    (
        "stakeholder_resistance",
        Decimal("30"),
        "executive",
        "Change-management intervention with executive support.",
    ),
    (
        "technical_blocker",
        Decimal("7"),
        "portfolio_manager",
        "Architecture review and solution acceleration.",
    ),
)


def create_defaults(apps, schema_editor):
    EscalationRule = apps.get_model("risks", "EscalationRule")
    HistoricalEscalationRule = apps.get_model("risks", "HistoricalEscalationRule")
    from django.utils import timezone

    for trigger, threshold, role, consequence in DEFAULT_RULES:
        rule, created = EscalationRule.objects.get_or_create(
            portfolio=None,
            trigger=trigger,
            defaults={
                "threshold": threshold,
                "target_role": role,
                "consequence": consequence,
                "active": True,
            },
        )
        if created:
            HistoricalEscalationRule.objects.create(
                id=rule.pk,
                portfolio_id=None,
                trigger=rule.trigger,
                threshold=rule.threshold,
                target_role=rule.target_role,
                consequence=rule.consequence,
                active=rule.active,
                history_date=timezone.now(),
                history_type="+",
                history_change_reason="Default rule of DESIGN.md",
            )

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="6",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=SWEEP_NAME,
        defaults={
            "task": SWEEP_TASK,
            "crontab": schedule,
            "enabled": True,
            "description": "Opens and resolves escalations, notifies the target "
            "roles and sends the owners' reminders (risks.engine.monitoring_run).",
        },
    )


def remove_defaults(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=SWEEP_NAME, task=SWEEP_TASK).delete()
    # Rules stay if escalations refer to them; otherwise remove the defaults.
    EscalationRule = apps.get_model("risks", "EscalationRule")
    EscalationRule.objects.filter(portfolio=None, escalations__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("risks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
