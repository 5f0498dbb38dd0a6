"""Domain errors. The API maps them to status codes; the CLI to messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Text(str):
    """A message in English that keeps its template and values, so that a page can say it in
    the reader's language (lims.web.i18n.localized); the API, the CLI and the logs get the
    English. Values are formatted by the reader's locale there (a Decimal gets its comma)."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Text:
        text = super().__new__(cls, template % values if values else template)
        text.template = template
        text.values = values
        return text


# The name pybabel extracts by default: a service writes N_("...", value=...) and the template
# lands in the message catalogue without every `pybabel extract` needing a keyword option.
N_ = Text


def either(words: Sequence[str]) -> str:
    """"a or b or c", in the reader's language where it is shown; each word as given (a Text,
    such as a state's name, is said in that language too)."""
    if len(words) == 1:
        return words[0]
    return N_("%(first)s or %(rest)s", first=words[0], rest=either(words[1:]))


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
        super().__init__(message or N_("invalid %(fields)s", fields=", ".join(self.errors)))


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403
