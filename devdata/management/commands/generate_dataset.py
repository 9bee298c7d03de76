"""``python manage.py generate_dataset --milestones N --seed S``: benchmark data.

Deterministic synthetic data at scale; the logic lives in
``devdata.dataset`` (see its docstring for what is generated). Each run
writes into its own namespace (``ds<seed>`` or ``--prefix``) and refuses one
that is already in use.
"""

from __future__ import annotations

import argparse
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devdata.dataset import DatasetOptions, digest, generate
from portal.errors import DomainError


def whole_number(minimum: int):
    """An argparse type: an integer of at least ``minimum``, clearly refused."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date as YYYY-MM-DD, got {text!r}"
        ) from None


class Command(BaseCommand):
    help = "Generate deterministic synthetic data at scale for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument(
            "--milestones",
            type=whole_number(1),
            required=True,
            help="Number of milestones to create (1 or more).",
        )
        parser.add_argument(
            "--seed",
            type=whole_number(0),
            default=1,
            help="Random seed; the same seed gives the same data (default 1).",
        )
        parser.add_argument(
            "--portfolios",
            type=whole_number(1),
            help="Number of portfolios (default: one per 500 milestones, max 50).",
        )
        parser.add_argument(
            "--updates-per-milestone",
            type=whole_number(0),
            default=4,
            help="Progress updates per started milestone (default 4).",
        )
        parser.add_argument(
            "--risks",
            type=whole_number(0),
            default=0,
            help="Risks to create, with stakeholder assessments (default 0).",
        )
        parser.add_argument(
            "--history-rows",
            type=whole_number(0),
            default=0,
            help="Top the history tables up to this many rows with milestone "
            "revision records (default 0: no top-up).",
        )
        parser.add_argument(
            "--as-of",
            type=iso_date,
            help="The dataset's 'today' (YYYY-MM-DD, default today); dates are "
            "relative to it.",
        )
        parser.add_argument(
            "--prefix",
            help="Namespace for codes, usernames and slugs (default ds<seed>).",
        )
        parser.add_argument(
            "--password",
            help="Password for the generated users (DEBUG only; default: "
            "unusable passwords).",
        )

    def handle(self, *args, **options):
        if options["password"] and not settings.DEBUG:
            raise CommandError("--password is only accepted with DEBUG on.")
        dataset = DatasetOptions(
            milestones=options["milestones"],
            seed=options["seed"],
            portfolios=options["portfolios"],
            updates_per_milestone=options["updates_per_milestone"],
            risks=options["risks"],
            history_rows=options["history_rows"],
            as_of=options["as_of"],
            prefix=options["prefix"],
            password=options["password"],
        )
        try:
            ctx = generate(dataset, log=self.stdout.write)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Dataset {ctx.prefix!r} ready (as of {ctx.as_of}); "
                f"digest {digest(ctx.prefix)}"
            )
        )
