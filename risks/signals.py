"""Signals the risks app sends for later stages to react to.

``escalation_opened``
    Sent after the sweep that opened an escalation commits, once per
    escalation, with keyword arguments ``escalation_id`` (int) and ``trigger``
    (a ``risks.models.Trigger`` value). A hook for integrations: nothing in
    Cairn listens to it. (The reauthorization request of a budget overrun is
    opened by the sweep itself, in the same transaction, through
    ``approvals.services.approval_requests_for_escalations``.)
"""

from django.dispatch import Signal

escalation_opened = Signal()
