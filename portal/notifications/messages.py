"""What a caller hands to the outbox."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One message for one channel.

    ``recipient_id`` is the user for ``email`` and ``portal``; ``address`` the
    email address or webhook URL. ``dedupe_key`` must name the message
    uniquely (for example ``escalation:12:email:7``).
    """

    channel: str
    dedupe_key: str
    subject: str
    body: str
    recipient_id: int | None = None
    address: str = ""
    link: str = ""
