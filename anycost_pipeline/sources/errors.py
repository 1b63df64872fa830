"""The errors of the source kinds whose readers load heavy libraries (requests, database
drivers), kept here so catching them does not import those libraries for a files source."""


class SourceHttpError(ValueError):
    """The API could not be read: unreachable, refused, or an unexpected answer."""


class KeyNotSet(SourceHttpError):
    """An environment variable the source's auth reads is not set: nothing was requested."""


class KeyRefused(SourceHttpError):
    """The API answered 401 or 403 to a request that carried the source's key."""


class SourceSqlError(ValueError):
    """The database could not be queried."""
