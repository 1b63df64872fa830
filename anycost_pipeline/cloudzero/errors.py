"""Typed errors for the AnyCost Stream API. Their text never holds the API key."""


class CloudZeroError(RuntimeError):
    """A call to AnyCost Stream failed."""

    def __init__(self, status: int | None, message: str, advice: str, host: str = "") -> None:
        where = f"CloudZero ({host})" if host else "CloudZero"
        if status:
            text = f"{where} answered HTTP {status}: {message}."
        else:
            text = f"No answer from {where}: {message}."
        self._describe(f"{text} {advice}".strip(), status, message, advice, host)

    def _describe(
        self, text: str, status: int | None, message: str, advice: str, host: str
    ) -> None:
        """What every error of a call carries (status, message, advice, host) and the sentence
        it prints, for errors that word their sentence themselves."""
        self.status = status
        self.server_message = message
        self.advice = advice
        self.host = host
        RuntimeError.__init__(self, text)


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


class UnexpectedAnswer(CloudZeroError):
    """A success answer that is not what the API reference documents."""

    def __init__(self, message: str, advice: str, host: str = "") -> None:
        where = f"CloudZero ({host})" if host else "CloudZero"
        text = f"{where} gave an unexpected answer: {message}. {advice}"
        self._describe(text, None, message, advice, host)


class RefusedBeforeSending(CloudZeroError):
    """Nothing was sent: the adaptor itself stopped, so there is no HTTP status to report."""

    def __init__(self, message: str, advice: str) -> None:
        self._describe(f"{message}. {advice}", None, message, advice, "")


class MonthOverLimit(RefusedBeforeSending):
    """The month is larger than CloudZero accepts per connection; refused before sending."""


class ConnectionBusy(RefusedBeforeSending):
    """Another submission holds the connection for longer than we are willing to wait."""


class LockUnavailable(RefusedBeforeSending):
    """The connection's lock file cannot be created or locked (a read-only folder, or a
    filesystem without file locks); nothing was sent."""


# The scopes CloudZero's AnyCost Stream guide lists for an adaptor's key
# (docs.cloudzero.com/docs/anycost-stream-getting-started, "What you need").
ANYCOST_SCOPES = (
    "connections:create_billing_anycost_billing_drop",
    "connections:create_billing_anycost_validate_billing_drop",
    "connections:read_billing_anycost_billing_drops",
    "connections:read_billing_anycost_billing_drops_month",
)

ADVICE: dict[int, tuple[type[CloudZeroError], str]] = {
    400: (BadRequest, "Fix the rows or the month named above, then rematerialise the month."),
    403: (
        Forbidden,
        "Check CLOUDZERO_API_KEY: it must be a valid key with the four AnyCost Stream scopes "
        f"({', '.join(ANYCOST_SCOPES)}), and the connection id must belong to the same "
        "organisation.",
    ),
    404: (NotFound, "Check the connection id and the month."),
    429: (
        ServerUnavailable,
        "Another request to this connection was in progress, or CloudZero throttled the calls, "
        "for longer than the client waits; make sure only one run sends to this connection at "
        "a time, then run the month again.",
    ),
    413: (
        PayloadTooLarge,
        "The request body was too big; lower cloudzero.limits.body_bytes so the month is cut "
        "into smaller bodies.",
    ),
}


def error_for(status: int | None, message: str, host: str = "") -> CloudZeroError:
    """The typed error for an HTTP status and the server's message."""
    if status in ADVICE:
        cls, advice = ADVICE[status]
        return cls(status, message, advice, host)
    return ServerUnavailable(
        status, message, "CloudZero or the network is unavailable; retry the run later.", host
    )


def unreachable(host: str, what: str, exc: BaseException) -> ServerUnavailable:
    """No HTTP answer at all: say what was tried and the likely cause, without the URL's secrets."""
    return ServerUnavailable(None, f"{type(exc).__name__} during {what}", reach_hint(exc), host)


def reach_hint(exc: BaseException) -> str:
    """The likely cause of a call that got no HTTP answer (proxy, TLS, DNS, timeout), from the
    exception itself."""
    name = type(exc).__name__
    text = str(exc)
    if "ProxyError" in name or "proxy" in text.lower():
        hint = (
            "A proxy refused or dropped the call: check HTTPS_PROXY/HTTP_PROXY and NO_PROXY "
            "(calls to 127.0.0.1 and localhost never use a proxy)."
        )
    elif "SSLError" in name or "CERTIFICATE" in text.upper():
        hint = (
            "TLS failed: the certificate was not trusted (a TLS-inspecting proxy needs its CA in "
            "REQUESTS_CA_BUNDLE)."
        )
    elif "NameResolution" in text or "getaddrinfo" in text or "Name or service" in text:
        hint = "The host name did not resolve: check CLOUDZERO_API_URL and the machine's DNS."
    elif "Timeout" in name:
        hint = "The call timed out: check the network path to the host, or retry later."
    elif "Connection refused" in text or "ConnectionRefused" in text:
        hint = (
            "Nothing listens at that address (connection refused): check CLOUDZERO_API_URL, "
            "its port, and any firewall on the way."
        )
    else:
        hint = "Check CLOUDZERO_API_URL and that the machine can reach the host; retry later."
    return hint
