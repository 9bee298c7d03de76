"""``python manage.py seed_demo``: the demo organisation, users and data.

Idempotent: running it again changes nothing but the demo passwords. The
password comes from ``DEMO_PASSWORD`` (default ``demo``) and is only set when
DEBUG is on or ``--force`` is given, so a production database never gets
well-known passwords by accident.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devdata import demo
from devdata.demo_accounts import DEMO_USERS, seed_organisation, seed_users


class Command(BaseCommand):
    help = "Create the demo organisation, users and data (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Set the demo password even though DEBUG is off.",
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to set well-known demo passwords with DEBUG off. "
                "Use --force if you really mean it."
            )
        password = settings.CAIRN_DEMO_PASSWORD
        units = seed_organisation()
        users = seed_users(units, password)
        demo.seed(units=units, users=users, stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS("Demo data ready. Sign in at /accounts/login/ as:")
        )
        for username in ["admin", *[u[0] for u in DEMO_USERS]]:
            self.stdout.write(f"  {username:<18} password: {password}")
