"""Domain errors raised by services and shown by the API, the admin and the commands alike.

Each carries an HTTP status and a stable ``code`` for the API; ``str(exc)`` is the message a
person reads in the admin or a terminal.
"""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, attr: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.attr = attr


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class PermissionDenied(DomainError):
    """The actor may do the request's main action but not something it would imply (e.g.
    creating the tags a tagging call names)."""

    status_code = 403
    code = "permission_denied"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(DomainError):
    status_code = 412
    code = "precondition_failed"
