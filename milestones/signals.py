"""Signals the milestones app sends for other apps to react to.

``milestone_updated``
    Sent after a progress update is committed, with keyword arguments
    ``milestone_id`` (int), ``update_id`` (int) and ``actor_id`` (int or None).
    It is also sent after an approved request changed the milestone (a new
    baseline or a validated completion), then with ``update_id`` None.
    It is sent from ``transaction.on_commit``, so receivers see committed data
    and a receiver's failure cannot undo the update. The risks app listens to
    it to evaluate escalations for that one milestone; the milestones app
itself to reschedule the portfolio (``tasks.refresh_portfolio_outlook``).
"""

from django.dispatch import Signal

milestone_updated = Signal()
