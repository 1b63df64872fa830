"""The errors of the source kinds whose readers load heavy libraries (requests, database
drivers), kept here so catching them does not import those libraries for a files source."""


class SourceHttpError(ValueError):
    """The API could not be read: unreachable, refused, or an unexpected answer."""


class SourceSqlError(ValueError):
    """The database could not be queried."""
