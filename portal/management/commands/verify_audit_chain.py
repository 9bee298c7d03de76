"""``python manage.py verify_audit_chain [--since SEQ] [--expect-head SEQ:HASH]
[--progress] [--no-seal] [--batch-size N]``

Seals the rows still queued (see ``portal.audit``), then walks the audit chain
in batches (keyset pages of the primary key), recomputes every keyed link and
every chained row's digest, and stops at the first broken entry, naming it.
``--since`` starts at an entry (trusting the one before it: an incremental
check after a full one); ``--expect-head`` checks an anchor kept outside the
database, so a chain cut short or rewritten up to it fails. Then checks the
rows awaiting their seal and lists rows that were never chained. Prints the
head (sequence and hash) to archive. Exit code 0 when intact, 1 otherwise.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from portal.audit import VERIFY_BATCH_SIZE, seal, verify_chain


def _anchor(value: str) -> tuple[int, str]:
    sequence, _, digest = value.partition(":")
    if not sequence.isdigit() or len(digest) != 64:
        raise CommandError(
            f"--expect-head wants SEQUENCE:HASH (64 hex digits), not {value!r}."
        )
    return int(sequence), digest.lower()


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident audit chain: every link, every history row "
        "and access event it covers, and the rows awaiting their seal. Names "
        "the first broken entry; exit code 1 on any failure."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=VERIFY_BATCH_SIZE,
            help=f"Entries read per query (default {VERIFY_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--since", type=int, default=1, help="Start at this entry (default 1)."
        )
        parser.add_argument(
            "--expect-head",
            default=None,
            help="SEQUENCE:HASH of a head archived earlier (e.g. in a weekly report).",
        )
        parser.add_argument(
            "--progress", action="store_true", help="Show progress on stderr."
        )
        parser.add_argument(
            "--no-seal",
            action="store_true",
            help="Do not seal queued rows first (they are still checked).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="Processes walking the chain at once (default: AUDIT_VERIFY_WORKERS "
            "or the CPU count; a chain under 200,000 entries takes one).",
        )
        parser.add_argument(
            "--database", default="default", help="Database alias (default: default)."
        )

    def handle(
        self,
        *args,
        batch_size,
        since,
        expect_head,
        progress,
        no_seal,
        database,
        workers=None,
        **options,
    ):
        if batch_size < 1:
            raise CommandError("--batch-size must be positive.")
        if since < 1:
            raise CommandError("--since must be 1 or more.")
        if workers is not None and workers < 1:
            raise CommandError("--workers must be 1 or more.")
        anchor = _anchor(expect_head) if expect_head else None
        sealed = 0 if no_seal else seal(using=database)
        started = time.monotonic()
        report = self._progress if progress or sys.stderr.isatty() else None
        result = verify_chain(
            using=database,
            batch_size=batch_size,
            since=since,
            expect_head=anchor,
            progress=report,
            workers=workers,
        )
        if report is not None:
            sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        if result.broken is not None:
            raise CommandError(
                f"Audit chain broken at {result.broken}. "
                f"{result.checked} entries before it are intact.",
                returncode=1,
            )
        problems = result.pending + result.unchained
        if problems:
            listed = "\n  ".join(str(problem) for problem in problems)
            raise CommandError(
                f"The chain's {result.checked} entries are intact, but rows are "
                f"altered, missing or outside it (first {len(problems)}):\n  {listed}",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {result.checked} entries verified in "
                f"{elapsed:.1f} s ({sealed} sealed now); head "
                f"#{result.head_sequence} {result.head_hash}"
            )
        )
        self.stdout.write(f"Anchor: {result.head_sequence}:{result.head_hash}")

    @staticmethod
    def _progress(done: int, total: int) -> None:
        width = 30
        share = done / total if total else 1.0
        bar = "#" * int(share * width)
        sys.stderr.write(f"\r[{bar:<{width}}] {done:,}/{total:,} entries")
        sys.stderr.flush()
