"""`anycost check`: does the configured key reach each connection, and is each pulled source's
API key accepted? Reads only, sends nothing, keeps nothing."""

from anycost_pipeline.cli.common import connection_id, open_client, progress, say, where
from anycost_pipeline.cloudzero.check import ConnectionCheck, check_connection
from anycost_pipeline.config import ConfigError, load_config
from anycost_pipeline.figures import counted
from anycost_pipeline.months import Month
from anycost_pipeline.sources.key_check import KeyCheck, check_key


def check() -> int:
    """One drop-list read per connection with the configured key, and one first-page request
    per source with an API key; exit 1 when any fails."""
    config = load_config()
    say(
        f"Checking {counted(len(config.connections), 'connection')} at {where(config)}: one read of each "
        "drop list; nothing is sent."
    )
    verdicts: list[ConnectionCheck] = []
    for name in config.connections:
        progress(f"asking about connection {name}")
        try:
            cid = connection_id(config, name)
        except ConfigError as error:
            verdicts.append(ConnectionCheck(name, False, f"{error}."))
        else:
            with open_client(config, cid) as client:
                verdicts.append(check_connection(client, name, cid))
        say(f"  {name}: {verdicts[-1].text}")
    keys = _source_keys(config.sources)
    failed = [v for v in verdicts if not v.ok]
    refused = [k for k in keys if k.ok is False]
    if failed or refused:
        if failed:
            say(f"\n{len(failed)} of {counted(len(verdicts), 'connection')} failed the check.")
        if refused:
            tried = [k for k in keys if k.ok is not None]
            say(f"\n{len(refused)} of {counted(len(tried), 'source key')} failed the check.")
        return 1
    say(
        f"\nAll {counted(len(verdicts), 'connection')} OK."
        if len(verdicts) > 1
        else "\nThe connection is OK."
    )
    accepted = [k for k in keys if k.ok]
    if accepted:
        say(f"{counted(len(accepted), 'source key').capitalize()} accepted.")
    return 0


def _source_keys(sources: dict) -> list[KeyCheck]:
    """One request per source with an API key: the current month's first page."""
    if not sources:
        return []
    month = Month.current()
    say(
        f"\nTrying the API key of each pulled source: one request for the first page of {month}; "
        "no other page, nothing kept."
    )
    checks = []
    for name, source in sources.items():
        if getattr(source, "auth", None) is not None:
            progress(f"asking about source {name}")
        checks.append(check_key(name, source, month))
        say(f"  {name}: {checks[-1].text}")
    return checks
