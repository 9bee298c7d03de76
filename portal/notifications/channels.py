"""The delivery channels. Each ``send_*`` delivers one outbox row or raises
:class:`DeliveryError` (``permanent`` when retrying cannot help)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.mail import send_mail

from . import safe_http

# HTTP answers worth retrying: timeouts, rate limits and server errors.
RETRYABLE_STATUS = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """A channel could not deliver the message."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _full_link(link: str) -> str:
    if not link or "://" in link:
        return link
    base = getattr(settings, "CAIRN_BASE_URL", "").rstrip("/")
    return f"{base}{link}"


def _text(notification) -> str:
    link = _full_link(notification.link)
    return f"{notification.body}\n\n{link}".strip() if link else notification.body


def send_email(notification) -> None:
    if not notification.address:
        raise DeliveryError("No email address.", permanent=True)
    try:
        send_mail(
            notification.subject,
            _text(notification),
            settings.DEFAULT_FROM_EMAIL,
            [notification.address],
            fail_silently=False,
        )
    except OSError as exc:  # smtplib errors are OSErrors
        raise DeliveryError(f"Email not sent: {exc}") from exc


def delivery_key(notification) -> str:
    """The outbox row's idempotency key: the same on every attempt, so a
    receiver that sees it twice (a worker killed after the POST, before it
    recorded the success) can drop the repeat."""
    return f"cairn-notification-{notification.pk}"


def slack_payload(notification) -> dict:
    """Slack incoming webhook: a text with a bold title (Slack mrkdwn), and
    the outbox reference, so a repeat is recognisable in the channel too."""
    return {
        "text": f"*{notification.subject}*\n{_text(notification)}\n"
        f"_Cairn ref. #{notification.pk}_"
    }


def teams_payload(notification) -> dict:
    """Microsoft Teams incoming webhook: a MessageCard, with the outbox
    reference as a fact."""
    card = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": notification.subject,
        "themeColor": "C62828",
        "title": notification.subject,
        "text": notification.body.replace("\n", "  \n"),
        "sections": [
            {"facts": [{"name": "Cairn ref.", "value": f"#{notification.pk}"}]}
        ],
    }
    link = _full_link(notification.link)
    if link:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Open in Cairn",
                "targets": [{"os": "default", "uri": link}],
            }
        ]
    return card


def post_json(url: str, payload: dict, *, key: str = "") -> None:
    """POST ``payload`` as JSON to a webhook (``portal.notifications.safe_http``:
    allowed hosts, public addresses, no redirects), with ``key`` as the
    ``Idempotency-Key``; any answer but 2xx is a DeliveryError."""
    timeout = getattr(settings, "CAIRN_WEBHOOK_TIMEOUT", 10)
    headers = {"Content-Type": "application/json", "User-Agent": "Cairn"}
    if key:
        headers["Idempotency-Key"] = key
    body = json.dumps(payload).encode("utf-8")
    try:
        status = safe_http.post(url, body, headers, timeout)
    except safe_http.WebhookRefused as exc:
        raise DeliveryError(f"Webhook refused: {exc}", permanent=True) from exc
    except OSError as exc:
        raise DeliveryError(f"Webhook unreachable: {exc}") from exc
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise DeliveryError(
            f"Webhook answered a redirect (HTTP {status}), which is not followed",
            permanent=True,
        )
    permanent = 400 <= status < 500 and status not in RETRYABLE_STATUS
    raise DeliveryError(f"Webhook answered HTTP {status}", permanent=permanent)


def send_slack(notification) -> None:
    post_json(
        notification.address,
        slack_payload(notification),
        key=delivery_key(notification),
    )


def send_teams(notification) -> None:
    post_json(
        notification.address,
        teams_payload(notification),
        key=delivery_key(notification),
    )


def send_portal(notification) -> None:
    """The row itself is the in-portal notification: nothing to send."""


SENDERS = {
    "email": send_email,
    "slack": send_slack,
    "teams": send_teams,
    "portal": send_portal,
}


def send(notification) -> None:
    try:
        sender = SENDERS[notification.channel]
    except KeyError as exc:
        raise DeliveryError(
            f"Unknown channel {notification.channel!r}", permanent=True
        ) from exc
    sender(notification)
