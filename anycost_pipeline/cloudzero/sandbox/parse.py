"""Reading a request body as `json.loads` does, keeping the text of its rows as it came.

The sandbox stores the rows as the text the client sent (re-encoding a million rows costs more
than everything else it does), so it needs the span of the body's `data` list. The body is read
with the standard library's own scanner, key by key; any body this reader does not follow (not
an object, an error anywhere) is handed to `json.loads` itself, so the value, and the error a bad
body gets, are always exactly those of `json.loads`.
"""

import json
from json.decoder import WHITESPACE, scanstring

_scan = json.JSONDecoder().scan_once  # the C scanner behind json.loads: one value at an index


class _NotFollowed(Exception):
    """A body this reader leaves to json.loads (which then gives the value or the error)."""


def parse_body(raw: bytes) -> tuple[object, str | None]:
    """(the body as json.loads reads it, the JSON text of its `data` list, or None).

    Raises json.loads's own error for a body that is not JSON.
    """
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")  # as json.loads does
        return _object(text)
    except (_NotFollowed, StopIteration, ValueError, IndexError):
        return json.loads(raw), None


def _skip(text: str, at: int) -> int:
    return WHITESPACE.match(text, at).end()  # type: ignore[union-attr]


def _object(text: str) -> tuple[dict, str | None]:
    at = _skip(text, 0)
    if text[at : at + 1] != "{":
        raise _NotFollowed
    body: dict = {}
    rows: str | None = None
    at = _skip(text, at + 1)
    if text[at : at + 1] == "}":
        at += 1
    else:
        while True:
            if text[at : at + 1] != '"':
                raise _NotFollowed
            key, at = scanstring(text, at + 1, True)
            at = _skip(text, at)
            if text[at : at + 1] != ":":
                raise _NotFollowed
            at = _skip(text, at + 1)
            start = at
            body[key], at = _scan(text, at)
            if key == "data":  # the last "data" counts, as in json.loads
                rows = text[start:at] if isinstance(body[key], list) else None
            at = _skip(text, at)
            separator = text[at : at + 1]
            at = _skip(text, at + 1)
            if separator == "}":
                break
            if separator != ",":
                raise _NotFollowed
    if _skip(text, at) != len(text):
        raise _NotFollowed  # extra data after the object
    return body, rows
