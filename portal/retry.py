"""One transparent retry of a transaction that lost a deadlock.

Cairn takes row locks in one order everywhere (see README, "Reliability":
the rows that compete, by table in the documented order and by id within a
table, each with ``select_for_update(of=("self",), no_key=True)`` so foreign
key checks of other transactions are not blocked), so deadlocks should not
happen. Should one still happen (PostgreSQL aborts one of the transactions
with ``deadlock_detected``, or ``serialization_failure`` under a stricter
isolation level), the loser is rolled back whole: running the service once
more is safe, and the person's update is saved instead of answering 500.

:func:`retry_on_deadlock` decorates a service *outside* its
``transaction.atomic``; when the service is called inside a transaction that
someone else opened, it does not retry (only the outermost transaction can
be run again) and the error goes to that caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: PostgreSQL's SQLSTATEs of a transaction that may simply be run again.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a deadlock or serialization failure."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES


def retry_on_deadlock(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` (a service owning its transaction) once more if the
    database aborted it as a deadlock victim."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return func(*args, **kwargs)
        try:
            return func(*args, **kwargs)
        except OperationalError as exc:
            if not is_transient(exc):
                raise
            logger.warning("%s lost a deadlock; running it once more", func.__name__)
            return func(*args, **kwargs)

    return wrapper
