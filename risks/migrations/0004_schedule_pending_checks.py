"""The queued milestone checks are drained every minute, so an update made
while the broker was down is escalated without waiting for the daily sweep."""

from django.db import migrations

NAME = "Evaluate queued milestone checks"
TASK = "risks.tasks.evaluate_pending_checks"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": every,
            "enabled": True,
            "description": "Evaluates the escalations of milestones changed more "
            "than a minute ago whose own check never ran (broker down, task lost).",
        },
    )


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("risks", "0003_plausible_dates"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
