"""Domain failures, raised by services and translated once per surface.

Views turn them into form errors or messages, the API into status codes
(``portal.api.exception_handler``), the admin into messages.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every failure a service reports to its caller."""

    status_code = 400

    def __init__(self, message: str = "", *, errors: dict | None = None) -> None:
        self.message = message or self.__class__.__doc__ or ""
        # Field name -> list of messages, for forms and the API's 400 body.
        self.errors = errors or {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        if self.errors:
            return {
                k: v if isinstance(v, list) else [v] for k, v in self.errors.items()
            }
        return {"detail": self.message}


class Invalid(DomainError):
    """The input breaks a rule."""

    status_code = 400


class Forbidden(DomainError):
    """The user may see the object but may not take this action."""

    status_code = 403


class NotFound(DomainError):
    """The object does not exist or is outside the user's scope."""

    status_code = 404


class Conflict(DomainError):
    """Someone else changed the object since it was read (stale version)."""

    status_code = 409
