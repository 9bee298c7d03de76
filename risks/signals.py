"""Signals the risks app sends for later stages to react to.

``escalation_opened``
    Sent after the sweep that opened an escalation commits, once per
    escalation, with keyword arguments ``escalation_id`` (int) and ``trigger``
    (a ``risks.models.Trigger`` value). The approvals flow listens for
    ``budget_overrun`` to open one reauthorization request per escalation.
"""

from django.dispatch import Signal

escalation_opened = Signal()
