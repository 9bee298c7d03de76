"""Notifications: an outbox delivered by Celery, on four channels.

Any app queues messages with :func:`portal.notifications.services.notifications_enqueue`
(a list of :class:`Message`), inside its own transaction. Each message has a
``dedupe_key``: the outbox keeps one row per key (a unique constraint), so a
retried task or a second run enqueues nothing new. After the transaction
commits, one ``portal.tasks.deliver_notification`` task per new row delivers it;
failures are retried with exponential back-off and, after the last attempt,
the row is marked failed without holding up the others.

Channels: ``email`` (Django's email backend), ``slack`` and ``teams``
(incoming webhooks; the URL is the row's address) and ``portal`` (the row is
the notification the user reads at ``/notifications/``; nothing to send).
"""

from .messages import Message

__all__ = ["Message"]
