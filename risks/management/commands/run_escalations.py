"""``python manage.py run_escalations``: one escalation sweep, the same code as
the daily Celery task (``risks.tasks.run_escalation_sweep``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from risks import engine


class Command(BaseCommand):
    help = (
        "Run one escalation sweep: open and resolve escalations, notify the "
        "target roles and send the owners' reminders (same code as the task)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--milestone",
            type=int,
            action="append",
            dest="milestones",
            metavar="ID",
            help="Only re-evaluate the delay and budget triggers of this "
            "milestone (repeatable).",
        )
        parser.add_argument(
            "--no-reminders",
            action="store_true",
            help="Skip the owners' stale and due-soon reminders.",
        )

    def handle(self, *args, milestones=None, no_reminders=False, **options):
        if milestones:
            if any(pk <= 0 for pk in milestones):
                raise CommandError("Milestone ids are positive integers.")
            result = engine.escalations_sweep(milestone_ids=milestones)
        else:
            result = engine.monitoring_run(reminders=not no_reminders)
        self.stdout.write(self.style.SUCCESS(str(result)))
