"""Re-dispatch of stuck outbox rows on its own schedule (every 5 minutes):
before, it ran only inside the daily monitoring, so a message whose task a
killed worker lost waited up to a day."""

from django.db import migrations

NAME = "Re-dispatch stuck notifications"
TASK = "portal.tasks.dispatch_stuck_notifications"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": every,
            "enabled": True,
            "description": "Queues again the pending notifications whose delivery "
            "task was lost (a killed worker, a broker outage).",
        },
    )


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("portal", "0005_token_audit_events"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
