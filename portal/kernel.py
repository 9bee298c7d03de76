"""The service kernel: the steps every app's services take the same way.

- ``invalid_from(exc)``: a Django ``ValidationError`` as the domain's
  ``Invalid``, field by field (each message once).
- ``set_history_user(obj, actor)``, ``set_change_reason(obj, reason)``: who
  and why on the history row of ``obj``'s next save or delete.
- ``validated_save(obj, actor=..., reason=...)``: record who and why for
  history, run the model's validation (``full_clean``: fields, ``clean()``,
  constraints), save in a savepoint, and turn a database refusal into
  ``Invalid``: the one validate-and-save step of every service.

Who may act is the access policy's (``accounts.policy.require``); how pages
show these errors is ``portal.middleware.DomainErrorMiddleware`` (404, 403)
and ``portal.forms.ServiceErrorsMixin`` (field errors).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model

from .errors import Invalid

M = TypeVar("M", bound=Model)


def _once(messages: Iterable[str]) -> list[str]:
    # A rule checked both in clean() and by a constraint reports twice.
    return list(dict.fromkeys(messages))


def invalid_from(exc: ValidationError) -> Invalid:
    """Turn a Django ValidationError into the domain's Invalid, field by field."""
    if hasattr(exc, "error_dict"):
        errors = {
            field: _once(m for e in errs for m in e.messages)
            for field, errs in exc.error_dict.items()
        }
        message = " ".join(_once(m for msgs in errors.values() for m in msgs))
        return Invalid(message, errors=errors)
    messages = _once(exc.messages)
    return Invalid(" ".join(messages), errors={"__all__": messages})


def set_history_user(obj: Model, actor: object) -> None:
    """Name ``actor`` (a user, or None for system work) as who made the change
    on the history row the next save or delete of ``obj`` writes."""
    # django-simple-history reads this attribute; models do not declare it.
    obj._history_user = actor  # type: ignore[attr-defined]


def set_change_reason(obj: Model, reason: str | None) -> None:
    """Give the history row the next save or delete of ``obj`` writes its
    change reason."""
    obj._change_reason = reason  # type: ignore[attr-defined]  # as above


def validated_save(
    obj: M,
    *,
    actor: object,
    reason: str | None = None,
    update_fields: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> M:
    """Validate and save ``obj`` with ``actor`` and ``reason`` on its history
    row; ``Invalid`` (nothing saved) when validation or the database refuses."""
    set_history_user(obj, actor)
    set_change_reason(obj, reason or None)
    try:
        obj.full_clean(exclude=list(exclude) if exclude is not None else None)
    except ValidationError as exc:
        raise invalid_from(exc) from exc
    try:
        with transaction.atomic():
            obj.save(update_fields=update_fields)
    except IntegrityError as exc:
        raise Invalid(f"Refused by the database: {exc}") from exc
    return obj
