"""Shared infrastructure rows: the notification outbox.

See ``portal.notifications`` for how rows get here and how they are delivered.
"""

from __future__ import annotations

from typing import Self

from django.conf import settings
from django.db import models

from accounts.policy import Scope
from accounts.querysets import RestrictedQuerySet


class NotificationQuerySet(RestrictedQuerySet["Notification"]):
    def pending(self) -> Self:
        return self.filter(status=Notification.Status.PENDING)

    def in_portal(self) -> Self:
        return self.filter(channel=Notification.Channel.PORTAL)

    def unread(self) -> Self:
        """In-portal, not read, and still asking for something (a resolved
        one, about a request since decided, no longer counts)."""
        return self.in_portal().filter(read_at__isnull=True, resolved_at__isnull=True)


class Notification(models.Model):
    """One message to deliver on one channel: the outbox row.

    ``dedupe_key`` is unique: whoever enqueues the same message twice (a retried
    task, a second sweep) gets the existing row, so each message is sent once.
    Email rows carry the address, webhook rows the URL, in-portal rows are
    the notification the user reads at ``/notifications/``.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"
        PORTAL = "portal", "In the portal"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        help_text="Empty for a channel post (Slack, Teams).",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(
        max_length=500, blank=True, help_text="Email address or webhook URL."
    )
    subject = models.CharField(max_length=250)
    body = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="What it asked for was settled (a request decided).",
    )
    resolution = models.CharField(max_length=200, blank=True)

    objects = NotificationQuerySet.as_manager()
    access_scope = Scope(owner="recipient")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "channel", "-created_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                name="notification_recipient_or_address",
                condition=models.Q(recipient__isnull=False) | ~models.Q(address=""),
                violation_error_message="A notification needs a recipient or an "
                "address.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.subject}"


# The audit trail (see ``portal.audit``) ---------------------------------------


class AuditEvent(models.Model):
    """An access event: something that happened that is not a row change
    (a sign-in, a failed sign-in, a lock-out, a sign-out, a report download,
    an export). Written by ``portal.audit.event_record`` and chained like a
    history row; never changed afterwards.

    ``user`` keeps no database constraint, so an event outlives its user;
    ``username`` is the name given (for a failed sign-in, perhaps no user's).
    """

    class Kind(models.TextChoices):
        LOGIN = "login", "Signed in"
        LOGIN_FAILED = "login_failed", "Failed sign-in"
        LOCKED_OUT = "locked_out", "Locked out"
        LOGOUT = "logout", "Signed out"
        REPORT_DOWNLOAD = "report_download", "Report download"
        EXPORT = "export", "Export"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    object_type = models.CharField(
        max_length=100, blank=True, help_text="Model label of the object concerned."
    )
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField("object", max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "access event"
        indexes = [
            models.Index(fields=["at", "id"], name="auditevent_at_id"),
            models.Index(fields=["user", "at"], name="auditevent_user_at"),
        ]

    def __str__(self) -> str:
        who = self.username or "unknown"
        return f"{self.get_kind_display()}: {who} at {self.at:%Y-%m-%d %H:%M:%S}"


class AuditChainEntry(models.Model):
    """One link of the tamper-evident audit chain: a history row or an access
    event (``source`` label + ``source_id``), the SHA-256 ``digest`` of its
    canonical content, the previous entry's hash and this entry's ``hash``.

    ``sequence`` counts 1, 2, 3... with no gap; it is the primary key, so
    two entries can never claim the same place (no fork). ``hash`` is not
    indexed: nothing looks an entry up by it, and an index over random
    digests costs every append a random write into a large tree (measured at
    9 ms an entry with a million entries on PostgreSQL).
    """

    sequence = models.PositiveBigIntegerField(primary_key=True)
    source = models.CharField(max_length=100)
    source_id = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    chained_at = models.DateTimeField()
    # The key (``AUDIT_CHAIN_KEYS``) that made ``digest`` and ``hash`` (HMACs);
    # empty for the plain SHA-256 entries chained before keys existed, which
    # are only valid as a prefix of the chain.
    key_id = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["sequence"]
        verbose_name = "audit chain entry"
        verbose_name_plural = "audit chain entries"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"], name="audit_chain_row_once"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.source} #{self.source_id}"


class AuditPending(models.Model):
    """A chained row waiting for the sealer: written in the transaction that
    writes the row, with the keyed digest of the row as it was written.

    Appending here takes no lock (an id from a sequence), so writers never
    wait on one another; ``portal.audit.seal`` moves these rows into the
    chain in order, every minute (beat) and before each verification.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=100)
    source_id = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    key_id = models.CharField(max_length=20)
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = "audit row awaiting its seal"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"], name="audit_pending_row_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} #{self.source_id} (pending)"
