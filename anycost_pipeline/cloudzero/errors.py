"""Typed errors for the AnyCost Stream API. Their text never holds the API key."""


class CloudZeroError(RuntimeError):
    """A call to AnyCost Stream failed."""

    def __init__(self, status: int | None, message: str, advice: str) -> None:
        self.status = status
        self.server_message = message
        where = f"HTTP {status}" if status else "no answer"
        super().__init__(f"CloudZero answered {where}: {message}. {advice}")


class BadRequest(CloudZeroError):
    """400: CloudZero refused the body; the data or the month must be fixed."""


class Forbidden(CloudZeroError):
    """403: the key is wrong or lacks a scope."""


class NotFound(CloudZeroError):
    """404: no such drop or connection."""


class PayloadTooLarge(CloudZeroError):
    """413: the body was too big; it must be split."""


class ServerUnavailable(CloudZeroError):
    """429 or 5xx after every retry, or no connection at all."""


class RefusedBeforeSending(CloudZeroError):
    """Nothing was sent: the adaptor itself stopped, so there is no HTTP status to report."""

    def __init__(self, message: str, advice: str) -> None:
        self.status = None
        self.server_message = message
        RuntimeError.__init__(self, f"{message}. {advice}")


class MonthOverLimit(RefusedBeforeSending):
    """The month is larger than CloudZero accepts per connection; refused before sending."""


class ConnectionBusy(RefusedBeforeSending):
    """Another submission holds the connection for longer than we are willing to wait."""


ADVICE: dict[int, tuple[type[CloudZeroError], str]] = {
    400: (BadRequest, "Fix the rows or the month named above, then rematerialise the month."),
    403: (
        Forbidden,
        "Check CLOUDZERO_API_KEY: it must be a valid key with the four AnyCost Stream scopes "
        "(create, read and validate billing drops, and read connections), and the connection id "
        "must belong to the same organisation.",
    ),
    404: (NotFound, "Check the connection id and the month."),
    429: (
        ServerUnavailable,
        "Another request to this connection was in progress, or CloudZero throttled the calls, "
        "for longer than the retries waited; make sure only one run sends to this connection at "
        "a time, then rematerialise the month.",
    ),
    413: (
        PayloadTooLarge,
        "The request body was too big; lower the body size target so the month is cut into "
        "smaller bodies.",
    ),
}


def error_for(status: int | None, message: str) -> CloudZeroError:
    """The typed error for an HTTP status and the server's message."""
    if status in ADVICE:
        cls, advice = ADVICE[status]
        return cls(status, message, advice)
    return ServerUnavailable(
        status, message, "CloudZero or the network is unavailable; retry the run later."
    )
