"""Whether each pulled source's API key is accepted: one request for the first page of a month,
nothing followed or kept. What each answer means is decided here, so `anycost check` and any
other caller say the same."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from anycost_pipeline.config import AnySource, HttpSource
from anycost_pipeline.months import Month
from anycost_pipeline.sources.errors import KeyNotSet, KeyRefused, SourceHttpError

CHECK_RETRIES = 1
CHECK_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class KeyCheck:
    """The verdict on one source's key, as one line for the person running the check; `ok` is
    None when there is no key to try."""

    source: str
    ok: bool | None
    text: str


def check_key(name: str, source: AnySource, month: Month) -> KeyCheck:
    """Ask the source's API for the month's first page with its key and say what it means."""
    if not isinstance(source, HttpSource):
        return KeyCheck(name, None, f"skipped: a {source.kind} source has no API key to try")
    if source.auth is None:
        return KeyCheck(name, None, "skipped: no `auth`, so no key to try")
    from anycost_pipeline.sources.http import first_page  # requests, only for an http source

    prefix = f"source {name!r}: "
    # A check should answer in seconds: one retry, and no long wait on a rate limit.
    quick = source.model_copy(
        update={
            "retries": min(source.retries, CHECK_RETRIES),
            "retry_after_cap_seconds": min(source.retry_after_cap_seconds, CHECK_WAIT_SECONDS),
        }
    )
    try:
        answered = first_page(name, quick, month)
    except KeyNotSet as error:
        return KeyCheck(name, False, f"key not set: {str(error).removeprefix(prefix)}")
    except KeyRefused as error:
        return KeyCheck(name, False, f"key refused: {str(error).removeprefix(prefix)}")
    except SourceHttpError as error:
        return KeyCheck(name, False, f"could not be checked: {str(error).removeprefix(prefix)}")
    where = urlsplit(answered)
    return KeyCheck(
        name,
        True,
        f"key accepted: the key in {source.auth.variables} read the first page of {month} "
        f"from {where.scheme}://{where.netloc}{where.path}; nothing was kept",
    )
