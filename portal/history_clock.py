"""History recorded as of a past moment, for demo data.

simple-history stamps each history row with the time it is written. Demo data
tells a story of the past months (plans made a quarter ago, progress reported
every fortnight since), and an as-of report of a past day should show that
past. :func:`recorded_at` pins the time of every history row written inside it
(through the ``pre_create_historical_record`` signal, so every service path is
covered), and the rows are then chained into the audit trail as usual.

Only seed commands use it: it never runs in a request, and a pinned moment is
never in the future.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone
from simple_history.signals import pre_create_historical_record

_moment: ContextVar[datetime | None] = ContextVar("cairn_history_moment", default=None)


@contextmanager
def recorded_at(moment: datetime) -> Iterator[None]:
    """History rows written inside this block are dated ``moment`` (capped at
    now)."""
    token = _moment.set(min(moment, timezone.now()))
    try:
        yield
    finally:
        _moment.reset(token)


def _pin(sender, history_instance, **kwargs) -> None:
    moment = _moment.get()
    if moment is not None:
        history_instance.history_date = moment


def connect_receivers() -> None:
    pre_create_historical_record.connect(_pin, dispatch_uid="cairn-history-clock")
