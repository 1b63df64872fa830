"""The options of the `http` source kind, each a small model: auth (a key, Basic or Digest auth,
more secret headers), a rate-limit reset header, pagination, where the records are (nested,
chosen by a field, followed to their own document) and running totals."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from anycost_pipeline.config.base import StrictModel


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


class HttpAuth(StrictModel):
    """An auth header whose value is read from an environment variable, never from the file.

    With `password_env`, HTTP Basic auth: `env` holds the user name (an API key's id, an
    account id) and `password_env` its password (the key's secret, a token), sent as
    `Authorization: Basic base64(user:password)`. With `extra_headers` (header: variable),
    more secret headers beside `header`, each read from its own variable (an API key and an
    application key, as Datadog asks for).
    """

    header: str = "Authorization"
    env: str = Field(min_length=1)
    prefix: str = ""
    password_env: str | None = Field(default=None, min_length=1)
    extra_headers: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    # With `password_env`: `basic` sends the pair in every request's Authorization header;
    # `digest` answers the API's HTTP Digest challenge (401 + WWW-Authenticate: Digest), so
    # the secret itself never travels (MongoDB Atlas's API keys).
    scheme: Literal["basic", "digest"] = "basic"
    # Said when the variable is unset or the API refuses the key (401/403): which key to create.
    hint: str = ""

    @model_validator(mode="after")
    def _basic(self) -> "HttpAuth":
        if self.password_env is not None and self.prefix:
            raise ValueError(
                "auth: `prefix` does not go with `password_env` (HTTP Basic auth writes its own "
                "`Basic ` prefix); leave prefix out"
            )
        if self.scheme == "digest" and (self.password_env is None or self.prefix):
            raise ValueError(
                "auth: `scheme: digest` needs `password_env` (env holds the user name, e.g. a "
                "public key, password_env the password, e.g. the private key) and no `prefix`"
            )
        if self.header.lower() in (h.lower() for h in self.extra_headers):
            raise ValueError(
                f"auth.extra_headers: {self.header} is the auth header already (`header`); "
                "name each other header once"
            )
        return self

    @property
    def names(self) -> list[str]:
        """Every environment variable the auth reads, `env` first."""
        named = [self.env] + ([self.password_env] if self.password_env else [])
        return named + list(self.extra_headers.values())

    @property
    def variables(self) -> str:
        """The environment variable(s) in words: `X`, or `X and Y` for Basic auth."""
        names = self.names
        if len(names) == 1:
            return f"environment variable {names[0]}"
        return f"environment variables {', '.join(names[:-1])} and {names[-1]}"

    @property
    def headers_said(self) -> str:
        """The header(s) the key goes in, in words: `the X header`, `the X and Y headers`."""
        headers = [self.header, *self.extra_headers]
        if len(headers) == 1:
            return f"the {headers[0]} header"
        return f"the {', '.join(headers[:-1])} and {headers[-1]} headers"


class WaitHeader(StrictModel):
    """A header that says how long to wait after a 429 or 503 without `Retry-After`: a number
    of seconds from now (`seconds`, as Confluent's X-RateLimit-Reset) or the unix second the
    limit resets at (`epoch_seconds`, as GitHub's x-ratelimit-reset)."""

    name: str = Field(min_length=1)
    form: Literal["seconds", "epoch_seconds"] = "seconds"


class NoPages(StrictModel):
    type: Literal["none"] = "none"


class NextLinkPages(StrictModel):
    """Each response names the URL of the next page (absent or empty on the last page)."""

    type: Literal["next_link"]
    next: str = Field(min_length=1, description="dotted path of the next URL in the response")


class CursorPages(StrictModel):
    """Each response holds a cursor that is sent back as a query parameter for the next page.

    The last page has none (absent, empty or `null`). With `more`, the dotted path of a boolean
    (e.g. `has_more`), the pages go on only while it is true, and a true `more` without a cursor
    is an error rather than a silently shortened month.
    """

    type: Literal["cursor"]
    cursor: str = Field(min_length=1, description="dotted path of the next cursor in the response")
    param: str = "cursor"
    more: str | None = Field(
        default=None, min_length=1, description="dotted path of a boolean: more pages follow"
    )


class NumberedPages(StrictModel):
    """Pages by number, until a page comes back empty (or shorter than `size`)."""

    type: Literal["page"]
    param: str = "page"
    first: int = 1
    size_param: str | None = None
    size: int | None = Field(default=None, ge=1)


Pagination = Annotated[
    NoPages | NextLinkPages | CursorPages | NumberedPages, Field(discriminator="type")
]


def _named_fields(value: object) -> object:
    return {name: name for name in value} if isinstance(value, list) else value


class NestedRecords(StrictModel):
    """Records one level down: each item of the list at `path` (a time bucket, say) holds its own
    list `each`; the records are those inner items, each with `parent_fields` of its item copied
    in (record column name: dotted path in the item; a list copies under the same names)."""

    path: str = Field(default="", description="dotted path of the outer list; empty: the body")
    each: str = Field(min_length=1, description="dotted path of the record list in each item")
    parent_fields: Annotated[
        dict[str, str],
        BeforeValidator(_named_fields, json_schema_input_type=dict[str, str] | list[str]),
    ] = Field(default_factory=dict)


def values_listed(value: object) -> object:
    """`where`'s shorthand: a single value stands for a list of one."""
    if isinstance(value, dict):
        return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
    return value


class Cumulative(StrictModel):
    """Figures that are running totals (month to date, day over day), turned into each
    record's own amount: its value minus the previous record's of the same group, in `order`;
    the first record of a group keeps its value. Exact decimals, nothing rounded."""

    columns: Annotated[list[str], BeforeValidator(_listed)] = Field(min_length=1)
    order: str = Field(min_length=1, description="the column that orders a group: ISO dates")
    by: Annotated[list[str], BeforeValidator(_listed)] = Field(default_factory=list)
    # `month`: the running total starts again with each calendar month of `order` (month to
    # date); `never`: one running total per group over all that was pulled.
    resets: Literal["month", "never"] = "month"


class Follow(StrictModel):
    """Each listed record points to a document that holds the records (an invoice listed by
    id, its line items in its own document): for each, GET `url`, a template of the listed
    record's fields (`{id}`) beside the month's and the source's placeholders, and read the
    records at `records` there, each with the document's `fields` copied in (record column
    name: dotted path in the document)."""

    url: str = Field(min_length=1)
    records: str = Field(default="", description="dotted path of the record list; empty: the body")
    fields: Annotated[
        dict[str, str],
        BeforeValidator(_named_fields, json_schema_input_type=dict[str, str] | list[str]),
    ] = Field(default_factory=dict)
