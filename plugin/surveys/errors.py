"""Why an answer was refused. Each channel maps these to one status code and message."""

from __future__ import annotations


class SurveyError(Exception):
    """Base class; `code` picks the translated message (`errors.{code}` in the catalogues)."""

    code = "error"


class AnswerInvalid(SurveyError):
    """Bad input (HTTP 422): names the field; nothing was stored."""

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code or f"{field}_invalid"


class NoPendingSurvey(SurveyError):
    """No survey is waiting for this subscriber (HTTP 409)."""

    code = "no_pending"

    def __init__(self, message: str = "There is no survey waiting for you.") -> None:
        super().__init__(message)
        self.message = message


class AnswerLocked(SurveyError):
    """The answer's edit window has passed: it is final (HTTP 409)."""

    code = "locked"

    def __init__(self, message: str = "Your answer is final and can no longer be changed.") -> None:
        super().__init__(message)
        self.message = message
