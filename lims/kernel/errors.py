"""Domain errors. The API maps them to status codes; the CLI to messages."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WorkflowError(DomainError):
    """A transition that is not allowed in the current state (HTTP 409)."""

    status = 409


class InputError(DomainError):
    """Bad input, naming the field (HTTP 422). `errors` maps field -> messages (or, for
    lists of entries, index/row -> field -> messages)."""

    status = 422

    def __init__(self, field: str | dict, message: str = "") -> None:
        self.errors = field if isinstance(field, dict) else {field: [message]}
        super().__init__(message or "invalid " + ", ".join(self.errors))


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403
