"""Reactions of the risks app to other apps' signals (wired in ``apps.py``)."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def on_milestone_updated(sender, milestone_id: int, **kwargs) -> None:
    """After a progress update commits: re-evaluate that milestone's delay and
    budget escalations (a task, so the request does not wait for it)."""
    from .tasks import evaluate_milestone_escalations

    try:
        evaluate_milestone_escalations.delay(milestone_id)
    except Exception:  # noqa: BLE001 - broker down: the daily sweep catches up
        logger.exception("Could not queue the escalation check of %s", milestone_id)
