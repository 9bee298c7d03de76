"""Reactions of the scheduling app to the milestones app's signals (wired in
``apps.py``)."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def on_milestone_updated(sender, milestone_id: int, **kwargs) -> None:
    """After a change commits: reschedule the milestone's portfolio in the
    background, so readers of the dashboard do not wait for it."""
    from .tasks import refresh_portfolio_outlook

    try:
        refresh_portfolio_outlook.delay(milestone_id)
    except Exception:  # noqa: BLE001 - broker down: the next reader computes it
        logger.exception("Could not queue the outlook refresh of %s", milestone_id)
