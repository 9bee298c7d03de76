"""The delivery channels. Each ``send_*`` delivers one outbox row or raises
:class:`DeliveryError` (``permanent`` when retrying cannot help)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail

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


def slack_payload(notification) -> dict:
    """Slack incoming webhook: a text with a bold title (Slack mrkdwn)."""
    return {"text": f"*{notification.subject}*\n{_text(notification)}"}


def teams_payload(notification) -> dict:
    """Microsoft Teams incoming webhook: a MessageCard."""
    card = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": notification.subject,
        "themeColor": "C62828",
        "title": notification.subject,
        "text": notification.body.replace("\n", "  \n"),
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


def post_json(url: str, payload: dict) -> None:
    """POST ``payload`` as JSON; any answer but 2xx is a DeliveryError."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"Not an http(s) webhook URL: {url!r}", permanent=True)
    timeout = getattr(settings, "CAIRN_WEBHOOK_TIMEOUT", 10)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "Cairn"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in RETRYABLE_STATUS
        raise DeliveryError(
            f"Webhook answered HTTP {exc.code}", permanent=permanent
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"Webhook unreachable: {reason}") from exc


def send_slack(notification) -> None:
    post_json(notification.address, slack_payload(notification))


def send_teams(notification) -> None:
    post_json(notification.address, teams_payload(notification))


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
