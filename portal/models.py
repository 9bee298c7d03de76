"""Shared infrastructure rows: the notification outbox.

See ``portal.notifications`` for how rows get here and how they are delivered.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.policy import Scope
from accounts.querysets import RestrictedQuerySet


class NotificationQuerySet(RestrictedQuerySet):
    def pending(self):
        return self.filter(status=Notification.Status.PENDING)

    def in_portal(self):
        return self.filter(channel=Notification.Channel.PORTAL)

    def unread(self):
        return self.in_portal().filter(read_at__isnull=True)


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
