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

``completion_gate_moved``
    Sent inside the transaction of a progress write (a single update or a
    bulk one) whose milestones entered or left Pending validation, with
    ``entered`` (the milestones, saved), ``left`` (their ids), ``actor`` and
    ``reason`` (what wrote them, e.g. "progress update #12"). Receivers write
    in the same transaction: the approvals app opens a completion validation
    for each entered milestone and withdraws those of the left ones; an
    exception undoes the write.
"""

from django.dispatch import Signal

milestone_updated = Signal()
completion_gate_moved = Signal()
