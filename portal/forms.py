"""What every page form shares: the service's field errors shown on it."""

from __future__ import annotations

from .errors import DomainError


class ServiceErrorsMixin:
    """A form that shows a service's refusal: each field error on its field
    (on the form when the field is not one of the form's), a message without
    fields on the form."""

    def add_service_errors(self, exc: DomainError) -> None:
        if not exc.errors:
            self.add_error(None, exc.message)  # type: ignore[attr-defined]
            return
        for field, messages in exc.errors.items():
            target = field if field in self.fields else None  # type: ignore[attr-defined]
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(target, message)  # type: ignore[attr-defined]
