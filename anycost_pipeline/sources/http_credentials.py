"""The `http` kind's credentials: the auth header(s) read from environment variables (a key,
Basic auth, Digest auth, more secret headers), kept to the configured host and cleaned out of
every message; and what to say when the API refuses them."""

import base64
import ipaddress
import json
import os
from urllib.parse import quote, urlsplit

from requests.auth import HTTPDigestAuth

from anycost_pipeline.config import HttpAuth, HttpSource
from anycost_pipeline.sources.errors import KeyNotSet, SourceHttpError

# Headers that carry credentials: besides the source's `auth` header, never sent to another host.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class Credentials:
    """The source's headers, with its credentials kept to the configured host.

    The auth header goes only to URLs of the same origin (scheme, host and port) as the
    configured URL: a redirect or a `next_link` page to another host gets the plain headers
    alone. Messages are cleaned of the credential, in case the API echoes it back.
    """

    def __init__(self, name: str, source: HttpSource, url: str) -> None:
        self.origin = origin(url)
        self.plain = {"Accept": "application/json", **source.headers}
        self.secret: dict[str, str] = {}
        self.digest: HTTPDigestAuth | None = None
        self.hidden: list[str] = []
        if source.auth:
            auth = source.auth
            named = auth.names
            values = [os.environ.get(variable, "").strip() for variable in named]
            unset = [variable for variable, value in zip(named, values) if not value]
            if unset:
                unset_words = (
                    f"environment variable {unset[0]} is"
                    if len(unset) == 1
                    else f"environment variables {' and '.join(unset)} are"
                )
                raise KeyNotSet(
                    f"source {name!r}: {unset_words} not set; {_holds(auth)}"
                    + (f"; {auth.hint}" if auth.hint else "")
                )
            scheme, host, _ = self.origin
            if scheme != "https" and not is_loopback(host):
                raise SourceHttpError(
                    f"source {name!r}: {url} is plain http, which would send "
                    f"{auth.headers_said} unencrypted; use an https:// URL (plain http "
                    "with auth is allowed only to this machine: localhost, 127.0.0.1, ::1)"
                )
            given = dict(zip(named, values))
            if auth.scheme == "digest":
                assert auth.password_env is not None
                self.digest = HTTPDigestAuth(given[auth.env], given[auth.password_env])
                value = given[auth.password_env]
            elif auth.password_env is None:
                value = given[auth.env]
                self.secret[auth.header] = auth.prefix + value
            else:
                user_password = f"{given[auth.env]}:{given[auth.password_env]}"
                value = base64.b64encode(user_password.encode()).decode()
                self.secret[auth.header] = "Basic " + value
            for header, variable in auth.extra_headers.items():
                self.secret[header] = given[variable]
            self.hidden = [
                form
                for one in (*values, value)
                for form in (one, json.dumps(one)[1:-1], quote(one, safe=""))
            ]

    def sent_to(self, url: str) -> bool:
        """Whether a request to `url` carried the credential."""
        return (bool(self.secret) or self.digest is not None) and origin(url) == self.origin

    def digest_for(self, url: str) -> HTTPDigestAuth | None:
        """The Digest auth that answers the API's challenge, for the configured host only."""
        return self.digest if origin(url) == self.origin else None

    def for_url(self, url: str) -> dict[str, str]:
        if origin(url) == self.origin:
            return {**self.plain, **self.secret}
        return {k: v for k, v in self.plain.items() if k.lower() not in CREDENTIAL_HEADERS}

    def redact(self, text: str) -> str:
        for secret in sorted(set(self.hidden), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


def _holds(auth: HttpAuth) -> str:
    """What the auth's variables hold, in words."""
    if auth.password_env is not None:
        said = f"{auth.env} holds the user name (the key) and {auth.password_env} " + (
            "the password (the secret) of HTTP Digest auth"
            if auth.scheme == "digest"
            else f"the password (the secret) of the {auth.header} header's Basic auth"
        )
    elif not auth.extra_headers:
        return f"it holds the value of the {auth.header} header"
    else:
        said = f"{auth.env} holds the value of the {auth.header} header"
    return said + "".join(
        f", {variable} that of the {header} header"
        for header, variable in auth.extra_headers.items()
    )


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, lower case, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port or default


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refused(auth: HttpAuth | None, status: int, sent: bool) -> str:
    """What to do about a 401 or 403 to a request that carried the source's key."""
    if auth is None or not sent or status not in (401, 403):
        return ""
    said = (
        f". The API refused the key in {auth.variables} ({auth.headers_said}): check "
        "that it holds a valid, current key"
        if status == 401
        else f". The key in {auth.variables} ({auth.headers_said}) is not "
        "allowed this call: it may lack a scope, role or permission"
    )
    return said + (f"; {auth.hint}" if auth.hint else "")
